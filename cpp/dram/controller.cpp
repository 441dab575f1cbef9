#include "dram/controller.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace h2m2::dram {

// The small helpers of the hot path are defined `inline` (each is used only in this file): the
// module is compiled -fPIC, where GCC otherwise treats a global function as interposable and
// neither inlines it nor calls it directly.

void Controller::init(const DramConfig& cfg, int channel, CommandLog* log,
                      std::vector<Completion>* sink, LatencyHistogram* latency,
                      const Controller* same_config) {
  channel_ = channel;
  ranks_ = cfg.ranks;
  bank_groups_ = cfg.bank_groups;
  banks_per_group_ = cfg.banks_per_group;
  banks_per_rank_ = bank_groups_ * banks_per_group_;
  banks_ = ranks_ * banks_per_rank_;
  rank_shift_ = __builtin_ctz(static_cast<unsigned>(banks_per_rank_));
  nCL_ = cfg.nCL;
  nCWL_ = cfg.nCWL;
  nBL_ = cfg.nBL;
  nREFI_ = cfg.nREFI;
  nREFIpb_ = cfg.nREFIpb;
  // Refresh busy time, read from the rules that keep a refreshed rank/bank from activating.
  nRFC_ = std::max<Cycle>(0, cfg.same[idx(Scope::Rank)][idx(Command::REFab)][idx(Command::ACT)]);
  nRFCpb_ = std::max<Cycle>(0, cfg.same[idx(Scope::Bank)][idx(Command::REFpb)][idx(Command::ACT)]);
  row_hit_cap_ = cfg.row_hit_cap;
  write_high_ = cfg.write_high_watermark;
  write_low_ = cfg.write_low_watermark;
  dual_bus_ = cfg.dual_command_bus;
  page_policy_ = cfg.page_policy;
  refresh_mode_ = cfg.refresh;
  log_ = cfg.record_commands ? log : nullptr;
  sink_ = sink;
  latency_ = latency;
  // The commands whose earliest time is ever asked for: the candidates' (ACT, PRE, RD, WR; the
  // auto-precharge forms issue in their place) and those of the refresh mode.
  std::uint32_t queried = 1u << idx(Command::ACT) | 1u << idx(Command::PRE) |
                          1u << idx(Command::RD) | 1u << idx(Command::WR);
  if (refresh_mode_ == RefreshMode::AllBank) queried |= 1u << idx(Command::PREA) | 1u << idx(Command::REFab);
  if (refresh_mode_ == RefreshMode::PerBank) queried |= 1u << idx(Command::REFpb);
  timing_.init(cfg, queried, same_config ? &same_config->timing_ : nullptr);

  const int sizes[2] = {cfg.read_queue, cfg.write_queue};
  const auto nb = static_cast<std::size_t>(banks_);
  for (int q = 0; q < 2; ++q) {
    slots_[q].assign(static_cast<std::size_t>(sizes[q]), Request{});
    free_[q].clear();
    for (int s = sizes[q] - 1; s >= 0; --s) free_[q].push_back(s);
    free_count_[q] = sizes[q];
    queue_[q].assign(nb, BankQueue{});
    for (int b = 0; b < banks_; ++b) {
      Candidate& c = queue_[q][static_cast<std::size_t>(b)].cand;
      c.bank = static_cast<std::uint8_t>(b);
      c.bg = static_cast<std::uint8_t>(b / banks_per_group_);
      c.rank = static_cast<std::uint8_t>(b / banks_per_rank_);
    }
    for (std::uint64_t& m : class_mask_[q]) m = 0;
    cand_key_[q].assign(64, ~std::uint64_t{0});  // 64: pick() reads key[63] for an empty set
    wheel_[q] = Wheel{};
    count_total_[q] = 0;
  }
  if (banks_ > 64) {
    throw std::invalid_argument(cfg.name + ": " + std::to_string(banks_) +
                                " banks per channel; the controller supports at most 64");
  }
  if (banks_per_rank_ & (banks_per_rank_ - 1)) {  // rank_shift_ (the address mapping checks it too)
    throw std::invalid_argument(cfg.name + ": banks per rank must be a power of two");
  }
  rank_bits_.assign(static_cast<std::size_t>(ranks_), 0);
  for (int b = 0; b < banks_; ++b) rank_bits_[static_cast<std::size_t>(b / banks_per_rank_)] |= std::uint64_t{1} << b;
  open_row_.assign(nb, -1);
  streak_.assign(nb, 0);
  blocked_.assign(nb, 0);
  open_count_.assign(static_cast<std::size_t>(ranks_), 0);

  // Stagger refreshes over channels and ranks so a memory system never refreshes all at once.
  const auto n_ranks_total = static_cast<Cycle>(cfg.channels) * ranks_;
  refresh_due_.assign(static_cast<std::size_t>(ranks_), kNever);
  refresh_pending_.assign(static_cast<std::size_t>(ranks_), 0);
  refresh_bank_.assign(static_cast<std::size_t>(ranks_), 0);
  for (int r = 0; r < ranks_; ++r) {
    const Cycle k = static_cast<Cycle>(channel) * ranks_ + r;
    if (refresh_mode_ == RefreshMode::AllBank) {
      refresh_due_[static_cast<std::size_t>(r)] = nREFI_ + k * nREFI_ / n_ranks_total;
    } else if (refresh_mode_ == RefreshMode::PerBank) {
      refresh_due_[static_cast<std::size_t>(r)] = nREFIpb_ + k * nREFIpb_ / n_ranks_total;
    }
  }
  writing_ = false;
  next_seq_ = 0;
  next_event_ = kNever;
  for (Cycle d : refresh_due_) next_event_ = std::min(next_event_, d);
  refresh_next_ = next_event_;
  stats_ = DramCounters{};
}

void Controller::enqueue(const BankAddress& a, bool is_write, std::uint64_t id, Cycle now) {
  const int q = is_write ? 1 : 0;
  const int slot = free_[q][static_cast<std::size_t>(--free_count_[q])];
  Request& r = slots_[q][static_cast<std::size_t>(slot)];
  r.id = id;
  r.seq = static_cast<std::uint32_t>(next_seq_++);
  r.arrival = static_cast<std::uint32_t>(now);
  r.row = a.row;
  r.column = a.column;
  r.next = -1;
  r.own_act = r.own_pre = false;
  const auto b = static_cast<std::size_t>(a.bank);
  BankQueue& bq = queue_[q][b];
  if (bq.tail >= 0) {
    slots_[q][static_cast<std::size_t>(bq.tail)].next = slot;
  } else {
    bq.head = static_cast<Slot>(slot);
  }
  bq.tail = static_cast<Slot>(slot);
  const int count = bq.count++;
  const int hits = bq.hits;
  const std::int32_t open = open_row_[b];
  const bool hit = open == r.row;
  bq.hits = static_cast<Slot>(bq.hits + hit);
  ++count_total_[q];
  // Wake the channel only if the request may change what issues before the next event: a
  // change of the write-drain mode, or a new candidate of the served queue that is legal
  // earlier. The youngest request changes the bank's candidate only if it is the first, the
  // first hit to the open row, or the first non-hit behind a streak at the cap.
  Cycle wake = kNever;
  if (count == 0 || (open >= 0 && (hit ? hits == 0 : (count == hits && streak_[b] >= row_hit_cap_)))) {
    update_candidates(a.bank, q);
    if (q == (writing_ ? 1 : 0)) wake = std::max(now, bq.bound);
  }
  if (next_writing(count_total_[0], count_total_[1]) != writing_) wake = now;
  if (wake < next_event_) next_event_ = wake;
}

inline void Controller::unlink(int q, int bank, int slot, int prev) {
  const auto b = static_cast<std::size_t>(bank);
  const int nxt = slots_[q][static_cast<std::size_t>(slot)].next;
  BankQueue& bq = queue_[q][b];
  if (prev >= 0) {
    slots_[q][static_cast<std::size_t>(prev)].next = nxt;
  } else {
    bq.head = static_cast<Slot>(nxt);
  }
  if (bq.tail == slot) bq.tail = static_cast<Slot>(prev);
  --bq.count;
  --count_total_[q];
  free_[q][static_cast<std::size_t>(free_count_[q]++)] = slot;
}

void Controller::recount_hits(int bank) {
  // One pass per queue counts the hits to the newly opened row and finds the candidate: the
  // oldest hit, else the oldest request of another row (a streak cannot be capped right after
  // an ACT).
  const auto b = static_cast<std::size_t>(bank);
  const std::int32_t row = open_row_[b];
  for (int q = 0; q < 2; ++q) {
    BankQueue& bq = queue_[q][b];
    if (bq.count == 0) {  // no request, so no candidate either (cleared when it emptied)
      bq.hits = 0;
      continue;
    }
    const Request* slots = slots_[q].data();
    int n = 0, hit = -1, hit_prev = -1, other = -1, other_prev = -1;
    for (int prev = -1, s = bq.head; s >= 0; prev = s, s = slots[s].next) {
      if (slots[s].row == row) {
        if (n++ == 0) {
          hit = s;
          hit_prev = prev;
        }
      } else if (other < 0) {
        other = s;
        other_prev = prev;
      }
    }
    bq.hits = static_cast<Slot>(n);
    if (blocked_[b] || streak_[b] >= row_hit_cap_) {
      update_candidate(q, bank);
    } else if (n > 0) {
      set_candidate(q, bank, hit, hit_prev, q ? Command::WR : Command::RD);
    } else {
      set_candidate(q, bank, other, other_prev, Command::PRE);
    }
  }
}

inline void Controller::update_candidates(int bank, int only_q) {
  if (only_q >= 0) {
    update_candidate(only_q, bank);
  } else {
    update_candidate(0, bank);
    update_candidate(1, bank);
  }
}

// Forced inline: GCC keeps it out of line (it has several callers), and the call's register
// saves cost more than the common early return (measured: random -1% instructions, +3% speed).
[[gnu::always_inline]] inline void Controller::update_candidate(int q, int bank) {
  const auto b = static_cast<std::size_t>(bank);
  BankQueue& bq = queue_[q][b];
  Candidate& c = bq.cand;
  const int count = bq.count;
  if (count == 0 || blocked_[b]) {
    if (c.slot < 0) return;  // had none either
    class_mask_[q][class_of(c.cmd)] &= ~(std::uint64_t{1} << bank);
    c.slot = -1;
    cand_key_[q][b] = ~std::uint64_t{0};
    set_bound(q, bank, kNever);
    return;
  }
  const std::int32_t open = open_row_[b];
  const int hits = bq.hits;
  const bool capped = streak_[b] >= row_hit_cap_ && count > hits;
  const Request* slots = slots_[q].data();
  int prev = -1, s = bq.head;
  Command cmd;
  if (open >= 0 && hits > 0 && !capped) {
    // the oldest row hit
    while (slots[s].row != open) {
      prev = s;
      s = slots[s].next;
    }
    cmd = q ? Command::WR : Command::RD;
  } else {
    // the oldest request that needs a row command (with a capped streak: for another row)
    if (open >= 0) {
      while (slots[s].row == open) {
        prev = s;
        s = slots[s].next;
      }
    }
    cmd = open < 0 ? Command::ACT : Command::PRE;
  }
  set_candidate(q, bank, s, prev, cmd);
}

inline void Controller::set_candidate(int q, int bank, int slot, int prev, Command cmd) {
  const auto b = static_cast<std::size_t>(bank);
  Candidate& c = queue_[q][b].cand;
  const std::uint64_t bit = std::uint64_t{1} << bank;
  if (c.slot < 0 || cmd != c.cmd) {
    if (c.slot >= 0) class_mask_[q][class_of(c.cmd)] &= ~bit;
    class_mask_[q][class_of(cmd)] |= bit;
  }
  c.slot = static_cast<Slot>(slot);
  c.prev = static_cast<Slot>(prev);
  c.cmd = cmd;
  cand_key_[q][b] = full_seq(slots_[q][static_cast<std::size_t>(slot)].seq) << 6 | b;
  set_bound(q, bank, timing_.earliest_own(cmd, c.rank, c.bg, c.bank));
}

inline void Controller::set_bound(int q, int b, Cycle e) {
  Cycle& bound = queue_[q][static_cast<std::size_t>(b)].bound;
  if (e == bound) return;  // filed already
  Wheel& w = wheel_[q];
  const std::uint64_t bit = std::uint64_t{1} << b;
  // Take the bank out of wherever it is filed (clearing a bit it does not hold is harmless).
  const auto old_slot = static_cast<std::size_t>(bound & (Wheel::kSlots - 1));
  w.ready &= ~bit;
  w.far &= ~bit;
  if ((w.slot[old_slot] &= ~bit) == 0) w.occupied &= ~(std::uint64_t{1} << old_slot);
  bound = e;
  file(w, b, e);
}

void Controller::refile_far(int q) {
  Wheel& w = wheel_[q];
  std::uint64_t far = w.far;
  w.far = 0;
  w.far_min = kNever;
  while (far) {
    const int b = __builtin_ctzll(far);
    far &= far - 1;
    file(w, b, queue_[q][static_cast<std::size_t>(b)].bound);
  }
}

inline void Controller::close_bank(int bank) {
  const auto b = static_cast<std::size_t>(bank);
  if (open_row_[b] < 0) return;
  open_row_[b] = -1;
  --open_count_[static_cast<std::size_t>(bank >> rank_shift_)];
  queue_[0][b].hits = queue_[1][b].hits = 0;
  streak_[b] = 0;
  update_candidates(bank);
}

void Controller::log_command(Cycle t, Command c, int rank, int bg, int bank, std::int32_t row,
                             std::int32_t col) {
  const int g = bg >= 0 ? bg % bank_groups_ : -1;
  const int b = bank >= 0 ? bank % banks_per_group_ : -1;
  log_->record(t, channel_, rank, g, b, row, col, c);
}

inline void Controller::issue_column(int q, const Candidate& c, Cycle t) {
  Request& r = slots_[q][static_cast<std::size_t>(c.slot)];
  const int bank = c.bank;
  const auto b = static_cast<std::size_t>(bank);
  Command cmd = c.cmd;
  // (the other queue's state of the bank is read only under a closed-page policy: a cache miss)
  if (page_policy_ == PagePolicy::Closed && queue_[q][b].hits == 1 && queue_[1 - q][b].hits == 0) {
    cmd = q ? Command::WRA : Command::RDA;
  }
  timing_.issue(cmd, t, c.rank, c.bg, c.bank);
  record(t, cmd, c.rank, c.bg, c.bank, r.row, r.column);
  const Cycle done = t + (q ? nCWL_ : nCL_) + nBL_;
  const Cycle latency = static_cast<std::uint32_t>(static_cast<std::uint32_t>(done) - r.arrival);
  if (q) {
    ++stats_.writes;
    latency_[1].add(latency);
  } else {
    ++stats_.reads;
    latency_[0].add(latency);
  }
  if (r.own_pre) {
    ++stats_.row_conflicts;
  } else if (r.own_act) {
    ++stats_.row_misses;
  } else {
    ++stats_.row_hits;
  }
  if (done > stats_.last_completion) stats_.last_completion = done;
  if (sink_) sink_->push_back(Completion{r.id, done});
  --queue_[q][b].hits;
  ++streak_[b];
  unlink(q, bank, c.slot, c.prev);
  if (cmd == Command::RDA || cmd == Command::WRA) {
    close_bank(bank);
  } else {
    // The streak reaching the cap can change the other queue's candidate too.
    update_candidates(bank, streak_[b] == row_hit_cap_ ? -1 : q);
  }
}

inline void Controller::issue_row(int q, const Candidate& c, Cycle t) {
  Request& r = slots_[q][static_cast<std::size_t>(c.slot)];
  const auto b = static_cast<std::size_t>(c.bank);
  timing_.issue(c.cmd, t, c.rank, c.bg, c.bank);
  if (c.cmd == Command::ACT) {
    record(t, c.cmd, c.rank, c.bg, c.bank, r.row, -1);
    open_row_[b] = r.row;
    ++open_count_[static_cast<std::size_t>(c.rank)];
    streak_[b] = 0;
    r.own_act = true;
    recount_hits(c.bank);
  } else {  // PRE
    record(t, c.cmd, c.rank, c.bg, c.bank, -1, -1);
    close_bank(c.bank);
    r.own_pre = true;
  }
}

void Controller::issue_rank_wide(Command c, int rank, Cycle t) {
  timing_.issue(c, t, rank, -1, -1);
  record(t, c, rank, -1, -1, -1, -1);
  if (c == Command::PREA) {
    const int first = rank * banks_per_rank_;
    for (int b = first; b < first + banks_per_rank_; ++b) close_bank(b);
  }
}

void Controller::refresh(Cycle t, bool& row_bus_used, Cycle& next) {
  if (t < refresh_next_) {
    next = std::min(next, refresh_next_);
    return;
  }
  // Each rank reports when it next needs a look: its due time, or while its refresh waits, the
  // earliest time of the refresh's command (issuing other commands only moves that later, and
  // nothing else changes the command: the rank or bank is blocked).
  Cycle wake = kNever;
  for (int r = 0; r < ranks_; ++r) refresh_rank(r, t, row_bus_used, wake);
  refresh_next_ = wake;
  next = std::min(next, wake);
}

void Controller::refresh_rank(int r, Cycle t, bool& row_bus_used, Cycle& next) {
  const auto ri = static_cast<std::size_t>(r);
  if (!refresh_pending_[ri]) {
    if (t < refresh_due_[ri]) {
      next = std::min(next, refresh_due_[ri]);
      return;
    }
    // Due: stop serving the rank (all-bank) or the bank (per-bank) until the refresh is issued.
    refresh_pending_[ri] = 1;
    const int first = refresh_mode_ == RefreshMode::AllBank ? r * banks_per_rank_
                                                            : r * banks_per_rank_ + refresh_bank_[ri];
    const int last = refresh_mode_ == RefreshMode::AllBank ? first + banks_per_rank_ : first + 1;
    for (int b = first; b < last; ++b) {
      blocked_[static_cast<std::size_t>(b)] = 1;
      update_candidates(b);
    }
  }
  if (refresh_mode_ == RefreshMode::AllBank) {
    const Command c = open_count_[ri] > 0 ? Command::PREA : Command::REFab;
    const Cycle e = timing_.earliest(c, r, -1, -1);
    if (e > t || row_bus_used) {
      next = std::min(next, std::max(e, t + 1));
      return;
    }
    issue_rank_wide(c, r, t);
    row_bus_used = true;
    next = std::min(next, t + 1);
    if (c == Command::REFab) {
      stats_.refresh_cycles += static_cast<std::uint64_t>(nRFC_);
      refresh_pending_[ri] = 0;
      refresh_due_[ri] += nREFI_;
      for (int b = r * banks_per_rank_; b < (r + 1) * banks_per_rank_; ++b) {
        blocked_[static_cast<std::size_t>(b)] = 0;
        update_candidates(b);
      }
    }
    return;
  }
  const int bank = r * banks_per_rank_ + refresh_bank_[ri];
  const int bg = bank / banks_per_group_;
  const bool open = open_row_[static_cast<std::size_t>(bank)] >= 0;
  const Command c = open ? Command::PRE : Command::REFpb;
  const Cycle e = timing_.earliest(c, r, bg, bank);
  if (e > t || row_bus_used) {
    next = std::min(next, std::max(e, t + 1));
    return;
  }
  timing_.issue(c, t, r, bg, bank);
  record(t, c, r, bg, bank, -1, -1);
  row_bus_used = true;
  next = std::min(next, t + 1);
  if (open) {
    close_bank(bank);
    return;
  }
  stats_.refresh_cycles += static_cast<std::uint64_t>(nRFCpb_);
  refresh_pending_[ri] = 0;
  refresh_due_[ri] += nREFIpb_;
  blocked_[static_cast<std::size_t>(bank)] = 0;
  update_candidates(bank);
  refresh_bank_[ri] = (refresh_bank_[ri] + 1) % banks_per_rank_;
}

inline int Controller::pick(int q, std::uint64_t eligible, Cycle t) {
  const std::uint64_t* key = cand_key_[q].data();
  // The key of the lowest bank of a set, ~0 if the set is empty, without a branch: bit 63 only
  // keeps the index in range (a real bank 63 is the lowest only if it is the last).
  auto lowest_key = [key](std::uint64_t r) {
    return key[__builtin_ctzll(r | std::uint64_t{1} << 63)] | (std::uint64_t{0} - (r == 0));
  };
  while (eligible) {
    // The oldest of the first four banks without a loop: a set holds 1-3 banks as a rule, and
    // the exit of a loop over them is a branch that mispredicts about once per call.
    std::uint64_t r = eligible;
    std::uint64_t oldest = lowest_key(r);
    r &= r - 1;
    oldest = std::min(oldest, lowest_key(r));
    r &= r - 1;
    oldest = std::min(oldest, lowest_key(r));
    r &= r - 1;
    oldest = std::min(oldest, lowest_key(r));
    r &= r - 1;
    for (; r; r &= r - 1) oldest = std::min(oldest, key[__builtin_ctzll(r)]);
    const int m = static_cast<int>(oldest & 63);
    const Candidate& c = queue_[q][static_cast<std::size_t>(m)].cand;
    const Cycle e = timing_.earliest_own(c.cmd, c.rank, c.bg, c.bank);
    if (e <= t) return m;
    eligible &= ~(std::uint64_t{1} << m);
    set_bound(q, m, e);
  }
  return -1;
}

inline Cycle Controller::candidates_next(int q, Cycle t) const {
  const Wheel& w = wheel_[q];
  const Command col_cmd = q ? Command::WR : Command::RD;
  const Cycle pre_gate = timing_.channel_gate(Command::PRE);
  Cycle best = kNever;
  // v if the set m is not empty, else kNever (v <= kNever), without a branch: which classes and
  // ranks a set holds is data, and the tests mispredict.
  auto when = [](std::uint64_t m, Cycle v) {
    return std::max(v, kNever & (Cycle{0} - static_cast<Cycle>(m == 0)));
  };
  // Banks of `m` may issue at T, and not before their class gate (per rank for ACTs and
  // column commands, as tick() gates them).
  auto consider = [&](std::uint64_t m, Cycle T) {
    best = std::min(best, when(m & class_mask_[q][kPrecharge], std::max(pre_gate, T)));
    const std::uint64_t acts = m & class_mask_[q][kActivate];
    const std::uint64_t cols = m & class_mask_[q][kColumn];
    for (int r = 0; r < ranks_; ++r) {
      const std::uint64_t rank = rank_bits_[static_cast<std::size_t>(r)];
      best = std::min(best, when(acts & rank, std::max(timing_.rank_gate(Command::ACT, r), T)));
      best = std::min(best, when(cols & rank, std::max(timing_.rank_gate(col_cmd, r), T)));
    }
  };
  if (w.ready) {
    consider(w.ready, t + 1);
    if (best == t + 1) return best;  // nothing is earlier
  }
  // Occupied slots in time order from t + 1; a slot at or after the best so far cannot improve.
  const int shift = static_cast<int>((t + 1) & (Wheel::kSlots - 1));
  std::uint64_t occ = shift ? (w.occupied >> shift) | (w.occupied << (Wheel::kSlots - shift))
                            : w.occupied;
  while (occ) {
    const Cycle T = t + 1 + __builtin_ctzll(occ);
    if (T >= best) break;
    occ &= occ - 1;
    consider(w.slot[static_cast<std::size_t>(T & (Wheel::kSlots - 1))], T);
  }
  if (w.far && w.far_min < best) consider(w.far, w.far_min);
  return best;
}

int Controller::tick(Cycle t) { return step(t); }

void Controller::stalled() const {
  throw std::logic_error("h2m2 internal error: DRAM channel " + std::to_string(channel_) +
                         " stalled with requests pending; please report");
}

void Controller::run(const Arrival* fifo, std::size_t& i_io, std::size_t end,
                     std::uint64_t first_id, bool drain, Cycle& t_io, int& served_io) {
  // Locals, not the references: the loop's stores (the whole tick is inlined here) could alias
  // the caller's variables and force a reload and store of each per event.
  std::size_t i = i_io;
  Cycle t = t_io;
  int served = 0;
  while (true) {
    while (i < end && fifo[i].arrival <= t && can_accept(fifo[i].is_write)) {
      const Arrival& a = fifo[i++];
      enqueue(a.where, a.is_write, first_id + a.index, t);
    }
    if (i == end && (!drain || pending() == 0)) break;  // !drain: the next chunk continues at t
    if (next_event_ <= t) {
      served += step(t);
      // The channel's last request was served: stop at the next cycle. The stop cycle becomes
      // now(), where the next run starts, so it must not depend on the channel's next event.
      if (i == end && pending() == 0 && drain) {
        ++t;
        break;
      }
    }
    Cycle next = next_event_;
    if (i < end) next = std::min(next, std::max(fifo[i].arrival, t + 1));
    if (next >= kNever) stalled();
    t = std::max(next, t + 1);
  }
  i_io = i;
  t_io = t;
  served_io += served;
}

[[gnu::always_inline]] inline int Controller::step(Cycle t) {
  ++stats_.ticks;
  Cycle next = refresh_next_;
  bool row_bus_used = false;
  if (t >= refresh_next_) {
    next = kNever;
    refresh(t, row_bus_used, next);
  }

  // Write draining: switch to writes at the high watermark (or when no read waits), back to
  // reads at the low watermark (or when no write waits).
  writing_ = next_writing(count_total_[0], count_total_[1]);
  const int q = writing_ ? 1 : 0;

  // A class is considered only if its gate is open and one of its banks is ready (bound <= t);
  // banks still waiting are not visited. The oldest legal row command of all row classes wins.
  advance(q, t);
  int col = -1, row = -1;
  const std::uint64_t ready = wheel_[q].ready;
  const std::uint64_t col_ready = class_mask_[q][kColumn] & ready;
  // Column commands, like ACTs, are gated per rank first: most column candidates that are
  // ready by their bound but not legal wait for a rank-level rule (tCCD_S, or tCCD_R after the
  // other stack ID's column command), and a failed pick costs more than the rank test.
  const Command col_cmd = q ? Command::WR : Command::RD;
  if (col_ready && (dual_bus_ || !row_bus_used) && timing_.channel_gate(col_cmd) <= t) {
    const std::uint64_t eligible = open_ranks(col_cmd, col_ready, t);
    if (eligible) col = pick(q, eligible, t);
  }
  if (!row_bus_used) {
    std::uint64_t eligible = open_ranks(Command::ACT, class_mask_[q][kActivate] & ready, t);
    const std::uint64_t pre_ready = class_mask_[q][kPrecharge] & ready;
    if (pre_ready && timing_.channel_gate(Command::PRE) <= t) eligible |= pre_ready;
    if (eligible) row = pick(q, eligible, t);
  }

  int served = 0;
  bool row_issued = false;
  if (col >= 0) {
    issue_column(q, queue_[q][static_cast<std::size_t>(col)].cand, t);
    ++served;
    if (row >= 0) {
      // The column command may have changed the row candidate's legality.
      const Candidate& now = queue_[q][static_cast<std::size_t>(row)].cand;
      if (dual_bus_ && earliest(now) <= t) {
        issue_row(q, now, t);
        row_issued = true;
      }
    }
  } else if (row >= 0) {
    issue_row(q, queue_[q][static_cast<std::size_t>(row)].cand, t);
    row_issued = true;
  }

  // The next event: a refresh, a change of the write-drain mode (the counts changed), or the
  // earliest candidate of the served queue. After a row command the next cycle is taken
  // without a search: row commands come in runs while many banks wait (random traffic keeps
  // the row bus ~80% busy), where the search mostly finds t + 1 and costs more than the
  // occasional idle tick. (Any cycle up to the true next event is a correct wake-up.)
  if (row_issued || next_writing(count_total_[0], count_total_[1]) != writing_) {
    next = std::min(next, t + 1);
  } else {
    next = std::min(next, candidates_next(q, t));
  }
  if (pending() > 0 && next == kNever) {
    // Only possible when every queued request waits behind a refresh; its event is in `next`
    // unless refresh is off, which cannot block. Guard against a silent stall.
    next = t + 1;
  }
  next_event_ = next;
  return served;
}

}  // namespace h2m2::dram
