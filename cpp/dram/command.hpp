// DRAM commands and constraint scopes.
//
// The numeric values are shared with python/h2m2/dram/standard.py (Command, Scope); change both
// together. A standard says which rules relate these commands; the engine knows only what each
// command does to bank state:
//   ACT   closed bank -> open (row)          PRE   open bank -> closed
//   PREA  every bank of the rank -> closed   RD/WR open bank, row stays open
//   RDA/WRA  open bank -> closed after the access (auto-precharge)
//   REFab all banks of the rank closed; REFpb one closed bank
#pragma once

#include <cstdint>

namespace h2m2::dram {

enum class Command : std::uint8_t { ACT, PRE, PREA, RD, WR, RDA, WRA, REFab, REFpb, kCount };
enum class Scope : std::uint8_t { Channel, Rank, BankGroup, Bank, kCount };

inline constexpr int kCommands = static_cast<int>(Command::kCount);
inline constexpr int kScopes = static_cast<int>(Scope::kCount);

inline constexpr int idx(Command c) { return static_cast<int>(c); }
inline constexpr int idx(Scope s) { return static_cast<int>(s); }

inline constexpr bool is_column(Command c) {
  return c == Command::RD || c == Command::WR || c == Command::RDA || c == Command::WRA;
}
inline constexpr bool is_rank_wide(Command c) {
  return c == Command::PREA || c == Command::REFab;
}

}  // namespace h2m2::dram
