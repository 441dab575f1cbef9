// TimingState: the earliest legal issue time of every command on every node of one channel.
//
// Models: all inter-command timing rules of a standard (same-node rows, sibling rows such as
// tCCD_R between stack IDs, and rolling windows such as tFAW), compiled from DramConfig tables.
// Owns: per channel, rank, bank group and bank an array "earliest cycle for command c" (STYLE 9):
// issuing a command raises those times with max(), checking legality is one max over four loads.
// Clock: the memory's command clock, in cycles. Hot path: yes; no allocation after init().
// Contract: rank-wide commands (PREA, REFab) pass bankgroup = bank = -1 and are checked and
// updated only at channel and rank scope (the standards encode their bank effects there).
// earliest() and the gates answer only for the commands named as queried at init().
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/time.hpp"
#include "dram/command.hpp"
#include "dram/dram_config.hpp"

namespace h2m2::dram {

class TimingState {
 public:
  // `queried`: bit c set if earliest() (or a gate) will be asked for command c. Rules that only
  // limit commands never asked about are dropped: their columns would be written, never read
  // (e.g. PREA and REFab under per-bank refresh). earliest() stays exact for queried commands.
  // `same_rules`: a TimingState initialised from the same configuration and `queried` (another
  // channel of the memory) whose rule tables this one shares instead of building its own copy:
  // ~11 KB per channel, which 192 pseudo-channels would otherwise pull through the caches.
  void init(const DramConfig& cfg, std::uint32_t queried, const TimingState* same_rules = nullptr);

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

  // earliest() for a command of one bank (bg, bank >= 0) that keeps its own column: every one
  // but RDA and WRA (the controller's candidates: ACT, PRE, RD, WR). No column lookup, which
  // is a load on the path from a picked bank to its legality.
  Cycle earliest_own(Command c, int rank, int bg, int bank) const {
    const auto ci = static_cast<std::size_t>(idx(c));
    const Cycle e = std::max(channel_[ci], rank_[idx_rank(rank)][ci]);
    return std::max(e, std::max(bg_[static_cast<std::size_t>(bg)][ci], bank_[static_cast<std::size_t>(bank)][ci]));
  }

  // The channel- and rank-level part of earliest(): a gate shared by every bank of the rank.
  Cycle rank_gate(Command c, int rank) const {
    const auto ci = static_cast<std::size_t>(query_[static_cast<std::size_t>(idx(c))]);
    return std::max(channel_[ci], rank_[idx_rank(rank)][ci]);
  }
  Cycle channel_gate(Command c) const {
    return channel_[static_cast<std::size_t>(query_[static_cast<std::size_t>(idx(c))])];
  }

  // Record that `c` issued at cycle t on (rank, bg, bank) (-1, -1 for rank-wide commands).
  // Defined below, inline: the controller calls it for every command.
  void issue(Command c, Cycle t, int rank, int bg, int bank);

 private:
  using Times = std::array<Cycle, kCommands>;
  // The rules one issued command imposes on one node: "command following[i] no earlier than
  // t + latency[i]", over distinct columns (so their order does not matter).
  struct RuleList {
    int n = 0;
    std::array<std::uint8_t, kCommands> following{};
    std::array<Cycle, kCommands> latency{};
  };
  // A rolling window (at most `window` preceding commands per `latency` cycles on one node): a
  // ring per node of the last `window` issue times, filled with kPast at the start so that it is
  // always full (a gate from kPast is negative and raises nothing, as if no gate applied yet).
  // Issuing overwrites the oldest time; the next limited command then waits until the new oldest
  // is `latency` old, i.e. `limits` applied from that oldest time.
  struct WindowSpec {
    Scope scope = Scope::Rank;
    int window = 1;
    RuleList limits;  // the commands it limits (aliases resolved), each at `latency`
  };
  struct Window {
    std::vector<Cycle> ring;  // nodes * window, oldest at head[node]
    std::vector<int> head;    // per node
  };
  static constexpr Cycle kPast = -kNever;
  // Everything issuing one command does to the tables, kept together so issue() touches one
  // block: the rules on its own node at each scope, the rules on its siblings, its windows.
  struct Effects {
    std::array<RuleList, kScopes> same{};
    std::array<RuleList, kScopes> sibling{};
    bool has_sibling = false;
    std::uint32_t windows = 0;  // bit w set: the command counts in window w
  };
  // The rules, fixed by the configuration: what issuing each command does, and the windows.
  struct Rules {
    std::array<Effects, kCommands> effects{};  // per (preceding) command
    std::vector<WindowSpec> windows;
  };

  void build_rules(const DramConfig& cfg, std::uint32_t queried);  // rules_ and query_
  static std::size_t idx_rank(int r) { return static_cast<std::size_t>(r); }
  static void raise(Cycle& slot, Cycle v) { slot = std::max(slot, v); }  // branch-free (cmov)
  // The first rules unrolled: a list holds 0-5 rules, 1-2 on average, so the loop control and
  // the data-dependent "raise?" branch of a plain loop cost more than the updates themselves.
  // The count tests depend only on the command, so they predict well (better than a jump table).
  static void apply(const RuleList& rules, Cycle t, Times& times) {
    const std::uint8_t* f = rules.following.data();
    const Cycle* l = rules.latency.data();
    const int n = rules.n;
    if (n == 0) return;
    raise(times[f[0]], t + l[0]);
    if (n == 1) return;
    raise(times[f[1]], t + l[1]);
    if (n == 2) return;
    raise(times[f[2]], t + l[2]);
    for (int i = 3; i < n; ++i) raise(times[f[i]], t + l[i]);
  }

  int ranks_ = 1, bank_groups_ = 1, banks_per_group_ = 1;
  Times channel_{};
  std::vector<Times> rank_, bg_, bank_;
  Times scratch_{};  // written by issue() in place of the issuing node's sibling rules, never read
  std::shared_ptr<const Rules> rules_;  // shared by the channels of a memory system
  std::vector<Window> windows_;         // per window of rules_->windows: its issue times
  // Column of the times tables that holds each command. A command whose column would always equal
  // another's (RDA and RD, WRA and WR in the shipped standards: same rules as the following
  // command everywhere) shares it, so issue() updates fewer entries.
  std::array<std::uint8_t, kCommands> query_{};
};

inline void TimingState::issue(Command c, Cycle t, int rank, int bg, int bank) {
  const Rules& rules = *rules_;
  const Effects& fx = rules.effects[static_cast<std::size_t>(idx(c))];
  apply(fx.same[0], t, channel_);
  apply(fx.same[1], t, rank_[static_cast<std::size_t>(rank)]);
  if (bg >= 0) {
    apply(fx.same[2], t, bg_[static_cast<std::size_t>(bg)]);
    apply(fx.same[3], t, bank_[static_cast<std::size_t>(bank)]);
  }
  if (fx.has_sibling) {
    const RuleList& sr = fx.sibling[1];
    if (sr.n) {
      // Every rank but the issuing one, which gets the rules on a scratch row instead of a test
      // (which rank issued is data: the test mispredicted on every other column command).
      for (int r = 0; r < ranks_; ++r) {
        Times& dst = r != rank ? rank_[static_cast<std::size_t>(r)] : scratch_;
        apply(sr, t, dst);
      }
    }
    if (bg >= 0) {
      const RuleList& sg = fx.sibling[2];
      if (sg.n) {
        const int first = rank * bank_groups_;
        for (int g = first; g < first + bank_groups_; ++g)
          if (g != bg) apply(sg, t, bg_[static_cast<std::size_t>(g)]);
      }
      const RuleList& sb = fx.sibling[3];
      if (sb.n) {
        const int first = bg * banks_per_group_;
        for (int b = first; b < first + banks_per_group_; ++b)
          if (b != bank) apply(sb, t, bank_[static_cast<std::size_t>(b)]);
      }
    }
  }
  for (std::uint32_t wm = fx.windows; wm; wm &= wm - 1) {
    const auto wi = static_cast<std::size_t>(__builtin_ctz(wm));
    const WindowSpec& spec = rules.windows[wi];
    Window& w = windows_[wi];
    int node = 0;
    Times* times = &channel_;
    switch (spec.scope) {
      case Scope::Rank: node = rank; times = &rank_[static_cast<std::size_t>(rank)]; break;
      case Scope::BankGroup: node = bg; times = bg >= 0 ? &bg_[static_cast<std::size_t>(bg)] : nullptr; break;
      case Scope::Bank: node = bank; times = bank >= 0 ? &bank_[static_cast<std::size_t>(bank)] : nullptr; break;
      default: break;
    }
    if (node < 0) continue;  // a rank-wide command does not count in bank-level windows
    Cycle* ring = &w.ring[static_cast<std::size_t>(node) * static_cast<std::size_t>(spec.window)];
    int& head = w.head[static_cast<std::size_t>(node)];
    ring[head] = t;
    if (++head == spec.window) head = 0;
    apply(spec.limits, ring[head], *times);
  }
}

}  // namespace h2m2::dram
