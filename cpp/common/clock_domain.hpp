// ClockDomain: one clock (NPU core clock, a DRAM command clock, a link clock).
//
// Owns: the period in picoseconds. The only place where cycles and picoseconds are converted.
// Contract: the period is positive (checked at construction). cycle_at() rounds down (the cycle
// in progress at a time), cycle_not_before() rounds up (the first edge at or after a time).
// Hot path: yes, header-only.
#pragma once

#include <stdexcept>
#include <string>

#include "common/time.hpp"

namespace h2m2 {

class ClockDomain {
 public:
  explicit ClockDomain(Picoseconds period_ps) : period_ps_(period_ps) {
    if (period_ps <= 0) {
      throw std::invalid_argument("ClockDomain: period_ps=" + std::to_string(period_ps) +
                                  " must be positive");
    }
  }
  Picoseconds period_ps() const { return period_ps_; }
  Picoseconds to_ps(Cycle c) const { return c * period_ps_; }
  Cycle cycle_at(Picoseconds t) const { return t / period_ps_; }
  Cycle cycle_not_before(Picoseconds t) const { return (t + period_ps_ - 1) / period_ps_; }

 private:
  Picoseconds period_ps_;
};

}  // namespace h2m2
