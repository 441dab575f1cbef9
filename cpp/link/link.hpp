// Link: a chip-to-chip (or host) link with a bandwidth per direction, a latency and a transfer
// granularity. Transfers in flight in one direction share its bandwidth equally (processor
// sharing), so two concurrent transfers of X bytes both finish after ~2X / bandwidth.
//
// Owns: the active transfers of each direction and the link's statistics.
// Time: picoseconds (global engine time). Hot path: start()/advance_to() run once per remote
// memory request, so they do not allocate in steady state.
// Contract: calls come with non-decreasing times. A transfer of B bytes is carried as
// ceil(B / granularity) * granularity bytes; it is delivered `latency_ps` after its last byte
// leaves the sender.
// Arithmetic: exact integers. The bandwidth is held as bytes per second (bandwidth_GBps * 1e9,
// rounded to a whole byte/s) and service is counted in 1e-12 byte units, so one picosecond of
// the link serves exactly `bytes per second` units. A serialization end is the first whole
// picosecond at which the transfer has all its bytes (rounded up: never early); between events
// each active transfer is credited the rounded-down equal share. Per-transfer progress is kept
// as a virtual finish tag (remaining bytes = tag - service received by every active transfer),
// so advancing time is O(1) and an event is O(active transfers).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/time.hpp"

namespace h2m2::link {

struct LinkConfig {
  std::string name = "link";
  double bandwidth_GBps = 480.0;      // per direction
  Picoseconds latency_ps = 500000;    // 500 ns
  std::int64_t granularity_bytes = 64;
  void validate() const;              // throws std::invalid_argument naming the field
};

struct LinkStats {
  std::uint64_t transfers[2] = {0, 0};
  std::uint64_t bytes[2] = {0, 0};        // payload bytes requested
  std::uint64_t wire_bytes[2] = {0, 0};   // after rounding to the granularity
  Picoseconds busy_ps[2] = {0, 0};        // time with at least one transfer being serialized
                                          // (wire in use; the latency flight does not count),
                                          // accounted up to the last start()/advance_to() time
};

class Link {
 public:
  explicit Link(const LinkConfig& cfg);
  const LinkConfig& config() const { return cfg_; }

  // Start a transfer of `bytes` (> 0) in `direction` (0 or 1) at time t; returns its id.
  std::uint64_t start(int direction, std::int64_t bytes, Picoseconds t);
  // Earliest delivery time of a transfer in flight (kNever if none).
  Picoseconds next_delivery() const;
  // Advance to t and append (id, delivery time) of every transfer delivered at or before t.
  void advance_to(Picoseconds t, std::vector<std::pair<std::uint64_t, Picoseconds>>& delivered);
  // Time for `bytes` (>= 0) on an otherwise idle link: wire bytes / bandwidth (rounded up to a
  // whole picosecond, as start() does) + latency.
  Picoseconds idle_transfer_ps(std::int64_t bytes) const;
  const LinkStats& stats() const { return stats_; }

 private:
  LinkConfig cfg_;
  LinkStats stats_;

  // Service is counted in units of 1e-12 byte; needs 128 bits (1 GiB = 1.1e21 units).
  __extension__ typedef __int128 Wide;  // GCC/Clang; __extension__ keeps -Wpedantic quiet

  struct Active {
    std::uint64_t id;
    Wide finish;  // virtual finish tag: service at which the last byte has left
  };
  struct Delivery {
    Picoseconds at;
    std::uint64_t id;
  };
  struct Direction {
    std::vector<Active> active;      // transfers being serialized (unordered)
    Wide served = 0;                 // service received by each active transfer so far
    Wide min_finish = 0;             // smallest finish tag among `active`
    Picoseconds last = 0;            // time `served` refers to
    std::vector<Delivery> flight;    // serialized, in flight for latency_ps; FIFO by time
    std::size_t head = 0;            // first undelivered entry of `flight`
  };

  // First picosecond at which the transfer with the smallest tag has all its bytes.
  Picoseconds next_serialization_end(const Direction& d) const;
  // Credit every active transfer of `d` (and busy time) from d.last up to t.
  void credit(int dir, Picoseconds t);
  // Process serialization ends up to and including t, moving finished transfers into flight.
  void serialize_until(int dir, Picoseconds t);
  void check_time(const char* what, Picoseconds t) const;

  Wide rate_units_per_ps_ = 1;  // = bytes per second
  Direction dirs_[2];
  Picoseconds now_ = 0;
  std::uint64_t next_id_ = 0;
};

}  // namespace h2m2::link
