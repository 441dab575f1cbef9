#include "dram/timing_state.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace h2m2::dram {

void TimingState::init(const DramConfig& cfg) {
  ranks_ = cfg.ranks;
  bank_groups_ = cfg.bank_groups;
  banks_per_group_ = cfg.banks_per_group;
  const auto n_rank = static_cast<std::size_t>(ranks_);
  const auto n_bg = n_rank * static_cast<std::size_t>(bank_groups_);
  const auto n_bank = n_bg * static_cast<std::size_t>(banks_per_group_);
  channel_.fill(0);
  rank_.assign(n_rank, Times{});
  bg_.assign(n_bg, Times{});
  bank_.assign(n_bank, Times{});
  // Share the column of a following command with another whose rules are identical everywhere.
  for (int f = 0; f < kCommands; ++f) query_[static_cast<std::size_t>(f)] = static_cast<std::uint8_t>(f);
  auto same_column = [&](int a, int b) {
    const auto ai = static_cast<std::size_t>(a), bi = static_cast<std::size_t>(b);
    for (std::size_t si = 0; si < static_cast<std::size_t>(kScopes); ++si) {
      for (std::size_t pi = 0; pi < static_cast<std::size_t>(kCommands); ++pi) {
        if (cfg.same[si][pi][ai] != cfg.same[si][pi][bi]) return false;
        if (cfg.sibling[si][pi][ai] != cfg.sibling[si][pi][bi]) return false;
      }
    }
    for (const WindowRule& w : cfg.windows) {
      if (((w.following_mask >> a) & 1u) != ((w.following_mask >> b) & 1u)) return false;
    }
    return true;
  };
  if (same_column(idx(Command::RDA), idx(Command::RD))) query_[idx(Command::RDA)] = idx(Command::RD);
  if (same_column(idx(Command::WRA), idx(Command::WR))) query_[idx(Command::WRA)] = idx(Command::WR);
  for (int s = 0; s < kScopes; ++s) {
    for (int p = 0; p < kCommands; ++p) {
      Effects& fx = effects_[static_cast<std::size_t>(p)];
      if (s == 0) fx = Effects{};
      RuleList& same = fx.same[static_cast<std::size_t>(s)];
      RuleList& sib = fx.sibling[static_cast<std::size_t>(s)];
      same = RuleList{};
      sib = RuleList{};
      for (int f = 0; f < kCommands; ++f) {
        const auto si = static_cast<std::size_t>(s), pi = static_cast<std::size_t>(p),
                   fi = static_cast<std::size_t>(f);
        if (query_[fi] != f) continue;  // kept in the shared column
        if (cfg.same[si][pi][fi] >= 0) {
          same.following[static_cast<std::size_t>(same.n)] = static_cast<std::uint8_t>(f);
          same.latency[static_cast<std::size_t>(same.n++)] = cfg.same[si][pi][fi];
        }
        if (cfg.sibling[si][pi][fi] >= 0) {
          sib.following[static_cast<std::size_t>(sib.n)] = static_cast<std::uint8_t>(f);
          sib.latency[static_cast<std::size_t>(sib.n++)] = cfg.sibling[si][pi][fi];
          fx.has_sibling = true;
        }
      }
    }
  }
  windows_.clear();
  if (cfg.windows.size() > 32) {
    throw std::invalid_argument(cfg.name + ": " + std::to_string(cfg.windows.size()) +
                                " window rules; at most 32 are supported");
  }
  for (const WindowRule& w : cfg.windows) {
    std::size_t nodes = 1;
    if (w.scope == Scope::Rank) nodes = n_rank;
    if (w.scope == Scope::BankGroup) nodes = n_bg;
    if (w.scope == Scope::Bank) nodes = n_bank;
    Window win;
    win.rule = w;
    win.ring.assign(nodes * static_cast<std::size_t>(w.window), 0);
    win.head.assign(nodes, 0);
    win.count.assign(nodes, 0);
    for (int f = 0; f < kCommands; ++f) {
      if ((w.following_mask & (1u << f)) && query_[static_cast<std::size_t>(f)] == f) {
        win.following[static_cast<std::size_t>(win.n_following++)] = static_cast<std::uint8_t>(f);
      }
    }
    for (int p = 0; p < kCommands; ++p) {
      if (w.preceding_mask & (1u << p)) effects_[static_cast<std::size_t>(p)].windows |= 1u << windows_.size();
    }
    windows_.push_back(std::move(win));
  }
}

TimingState::Times* TimingState::node_times(Scope s, int rank, int bg, int bank) {
  switch (s) {
    case Scope::Channel: return &channel_;
    case Scope::Rank: return &rank_[static_cast<std::size_t>(rank)];
    case Scope::BankGroup: return bg >= 0 ? &bg_[static_cast<std::size_t>(bg)] : nullptr;
    case Scope::Bank: return bank >= 0 ? &bank_[static_cast<std::size_t>(bank)] : nullptr;
    default: return nullptr;
  }
}

void TimingState::issue(Command c, Cycle t, int rank, int bg, int bank) {
  const Effects& fx = effects_[static_cast<std::size_t>(idx(c))];
  apply(fx.same[0], t, channel_);
  apply(fx.same[1], t, rank_[static_cast<std::size_t>(rank)]);
  if (bg >= 0) {
    apply(fx.same[2], t, bg_[static_cast<std::size_t>(bg)]);
    apply(fx.same[3], t, bank_[static_cast<std::size_t>(bank)]);
  }
  if (fx.has_sibling) {
    const RuleList& sr = fx.sibling[1];
    if (sr.n) {
      for (int r = 0; r < ranks_; ++r)
        if (r != rank) apply(sr, t, rank_[static_cast<std::size_t>(r)]);
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
    Window& w = windows_[static_cast<std::size_t>(__builtin_ctz(wm))];
    int node = 0;
    if (w.rule.scope == Scope::Rank) node = rank;
    if (w.rule.scope == Scope::BankGroup) node = bg;
    if (w.rule.scope == Scope::Bank) node = bank;
    if (node < 0) continue;
    Times* times = node_times(w.rule.scope, rank, bg, bank);
    const auto nd = static_cast<std::size_t>(node);
    const int W = w.rule.window;
    Cycle* ring = &w.ring[nd * static_cast<std::size_t>(W)];
    int& head = w.head[nd];
    int& count = w.count[nd];
    // Push t; when the ring holds W times, the next limited command must wait until the oldest
    // of them is `latency` old (at most W preceding commands in any latency-long span).
    if (count < W) {
      ring[(head + count) % W] = t;
      ++count;
    } else {
      ring[head] = t;
      if (++head == W) head = 0;
    }
    if (count == W) {
      const Cycle gate = ring[head] + w.rule.latency;
      for (int i = 0; i < w.n_following; ++i) {
        Cycle& slot = (*times)[w.following[static_cast<std::size_t>(i)]];
        slot = std::max(slot, gate);
      }
    }
  }
}

}  // namespace h2m2::dram
