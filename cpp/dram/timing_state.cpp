#include "dram/timing_state.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace h2m2::dram {

void TimingState::init(const DramConfig& cfg, std::uint32_t queried, const TimingState* same_rules) {
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
  if (same_rules) {
    rules_ = same_rules->rules_;
    query_ = same_rules->query_;
  } else {
    build_rules(cfg, queried);
  }
  // every window starts full of kPast issue times (no gate yet)
  windows_.clear();
  for (const WindowSpec& w : rules_->windows) {
    std::size_t nodes = 1;
    if (w.scope == Scope::Rank) nodes = n_rank;
    if (w.scope == Scope::BankGroup) nodes = n_bg;
    if (w.scope == Scope::Bank) nodes = n_bank;
    windows_.push_back(Window{std::vector<Cycle>(nodes * static_cast<std::size_t>(w.window), kPast),
                              std::vector<int>(nodes, 0)});
  }
}

void TimingState::build_rules(const DramConfig& cfg, std::uint32_t queried) {
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
  std::uint32_t read_columns = 0;  // the columns earliest() will read
  for (int c = 0; c < kCommands; ++c) {
    if (queried & (1u << c)) read_columns |= 1u << query_[static_cast<std::size_t>(c)];
  }
  auto rules = std::make_shared<Rules>();
  for (int s = 0; s < kScopes; ++s) {
    for (int p = 0; p < kCommands; ++p) {
      Effects& fx = rules->effects[static_cast<std::size_t>(p)];
      RuleList& same = fx.same[static_cast<std::size_t>(s)];
      RuleList& sib = fx.sibling[static_cast<std::size_t>(s)];
      for (int f = 0; f < kCommands; ++f) {
        const auto si = static_cast<std::size_t>(s), pi = static_cast<std::size_t>(p),
                   fi = static_cast<std::size_t>(f);
        if (!(read_columns & (1u << f))) continue;  // never read, or kept in the shared column
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
  if (cfg.windows.size() > 32) {
    throw std::invalid_argument(cfg.name + ": " + std::to_string(cfg.windows.size()) +
                                " window rules; at most 32 are supported");
  }
  for (const WindowRule& w : cfg.windows) {
    WindowSpec spec;
    spec.scope = w.scope;
    spec.window = w.window;
    for (int f = 0; f < kCommands; ++f) {
      if ((w.following_mask & (1u << f)) && (read_columns & (1u << f))) {
        spec.limits.following[static_cast<std::size_t>(spec.limits.n)] = static_cast<std::uint8_t>(f);
        spec.limits.latency[static_cast<std::size_t>(spec.limits.n++)] = w.latency;
      }
    }
    const std::uint32_t bit = 1u << rules->windows.size();
    for (int p = 0; p < kCommands; ++p) {
      if (w.preceding_mask & (1u << p)) rules->effects[static_cast<std::size_t>(p)].windows |= bit;
    }
    rules->windows.push_back(spec);
  }
  rules_ = std::move(rules);
}

}  // namespace h2m2::dram
