// Time and identifiers shared by every part of the engine.
//
// Models: nothing; defines the integer time units. Global time is int64 picoseconds; each clock
// domain counts its own cycles (int64). Conversion between the two lives only in clock_domain.hpp.
// Hot path: yes (header-only constants).
#pragma once

#include <cstdint>
#include <limits>

namespace h2m2 {

using Picoseconds = std::int64_t;
using Cycle = std::int64_t;

// "No event scheduled": later than any reachable time, and safe to add small latencies to.
inline constexpr Cycle kNever = std::numeric_limits<Cycle>::max() / 4;

}  // namespace h2m2
