// TimingState: the earliest legal issue time of every command on every node of one channel.
//
// Models: all inter-command timing rules of a standard (same-node rows, sibling rows such as
// tCCD_R between stack IDs, and rolling windows such as tFAW), compiled from DramConfig tables.
// Owns: per channel, rank, bank group and bank an array "earliest cycle for command c" (STYLE 9):
// issuing a command raises those times with max(), checking legality is one max over four loads.
// Clock: the memory's command clock, in cycles. Hot path: yes; no allocation after init().
// Contract: rank-wide commands (PREA, REFab) pass bankgroup = bank = -1 and are checked and
// updated only at channel and rank scope (the standards encode their bank effects there).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "common/time.hpp"
#include "dram/command.hpp"
#include "dram/dram_config.hpp"

namespace h2m2::dram {

class TimingState {
 public:
  void init(const DramConfig& cfg);

  // Earliest cycle at which `c` may issue on (rank, bank group, bank). Flat indices:
  // bg = rank * bank_groups + g, bank = bg * banks_per_group + b; -1 for rank-wide commands.
  Cycle earliest(Command c, int rank, int bg, int bank) const {
    const int ci = query_[static_cast<std::size_t>(idx(c))];
    Cycle e = std::max(channel_[static_cast<std::size_t>(ci)], rank_[idx_rank(rank)][static_cast<std::size_t>(ci)]);
    if (bg >= 0) {
      e = std::max(e, bg_[static_cast<std::size_t>(bg)][static_cast<std::size_t>(ci)]);
      e = std::max(e, bank_[static_cast<std::size_t>(bank)][static_cast<std::size_t>(ci)]);
    }
    return e;
  }

  // The channel- and rank-level part of earliest(): a gate shared by every bank of the rank.
  Cycle rank_gate(Command c, int rank) const {
    const auto ci = static_cast<std::size_t>(query_[static_cast<std::size_t>(idx(c))]);
    return std::max(channel_[ci], rank_[idx_rank(rank)][ci]);
  }
  Cycle channel_gate(Command c) const {
    return channel_[static_cast<std::size_t>(query_[static_cast<std::size_t>(idx(c))])];
  }

  void issue(Command c, Cycle t, int rank, int bg, int bank);

 private:
  using Times = std::array<Cycle, kCommands>;
  struct RuleList {
    int n = 0;
    std::array<std::uint8_t, kCommands> following{};
    std::array<Cycle, kCommands> latency{};
  };
  struct Window {
    WindowRule rule;
    std::vector<Cycle> ring;   // nodes * window, oldest at head[node]
    std::vector<int> head;     // per node
    std::vector<int> count;    // per node
    int n_following = 0;       // the commands it limits (aliases resolved)
    std::array<std::uint8_t, kCommands> following{};
  };

  static std::size_t idx_rank(int r) { return static_cast<std::size_t>(r); }
  static void apply(const RuleList& rules, Cycle t, Times& times) {
    for (int i = 0; i < rules.n; ++i) {
      Cycle& slot = times[rules.following[static_cast<std::size_t>(i)]];
      const Cycle v = t + rules.latency[static_cast<std::size_t>(i)];
      if (v > slot) slot = v;
    }
  }
  Times* node_times(Scope s, int rank, int bg, int bank);

  int ranks_ = 1, bank_groups_ = 1, banks_per_group_ = 1;
  Times channel_{};
  std::vector<Times> rank_, bg_, bank_;
  std::array<std::array<RuleList, kCommands>, kScopes> same_{};
  std::array<std::array<RuleList, kCommands>, kScopes> sibling_{};
  std::array<bool, kCommands> has_sibling_{};
  std::vector<Window> windows_;
  std::array<std::uint32_t, kCommands> windows_of_{};  // per command: bit w set if it counts in window w
  // Column of the times tables that holds each command. A command whose column would always equal
  // another's (RDA and RD, WRA and WR in the shipped standards: same rules as the following
  // command everywhere) shares it, so issue() updates fewer entries.
  std::array<std::uint8_t, kCommands> query_{};
};

}  // namespace h2m2::dram
