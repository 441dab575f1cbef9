// Controller: the memory controller of one scheduled channel (an HBM pseudo-channel, an LPDDR
// x16 channel, a DDR5 sub-channel).
//
// Models: read and write queues; FR-FCFS scheduling (ready row hits first, then the oldest ready
// request's row command) with a cap on row-hit streaks while another row of the bank waits;
// write draining between a high and a low watermark; open- or closed-page policy; all-bank or
// per-bank refresh; one command per cycle, or one row plus one column command per cycle on a
// dual command bus (HBM).
// Owns: the bank state (open row per bank), the request slots (no allocation after init), the
// TimingState of the channel, its statistics.
// Clock: the memory's command clock; every time is a cycle count. Hot path: yes.
// Event-driven contract: tick(t) must be called at next_event() (or later); it issues what is
// legal at t and sets next_event() to a lower bound of the first cycle at which a command may be
// legal: t + 1 after a row command (row commands come in runs under load, where searching costs
// more than an idle tick), else the result of a search over the waiting candidates. Between
// ticks nothing happens, so idle cycles cost nothing. enqueue() moves next_event() earlier if
// the new request may issue sooner.
//
// Bank state machine (per bank): Closed --ACT--> Open(row) --PRE/RDA/WRA/PREA--> Closed;
// refresh requires Closed (REFab: every bank of the rank).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "common/time.hpp"
#include "dram/address_mapping.hpp"
#include "dram/command_log.hpp"
#include "dram/dram_config.hpp"
#include "dram/dram_stats.hpp"
#include "dram/timing_state.hpp"

namespace h2m2::dram {

// Where a request goes inside its channel, in the controller's flat indices: bg = rank *
// bank_groups + bank group, bank = bg * banks_per_group + bank (a channel has at most 64 banks).
// No initialisers: the front end keeps large uninitialised buffers of these.
struct BankAddress {
  std::int32_t row, column;
  std::uint8_t rank, bg, bank;
};

struct Completion {
  std::uint64_t id;
  Cycle done;  // cycle of the last data beat
};

// A request of a trace waiting in front of one controller (the front end's per-channel FIFO).
// 32 bytes (with padding) and no initialisers: the front end keeps large uninitialised buffers
// of these.
struct Arrival {
  Cycle arrival;
  std::uint32_t index;  // position in the trace chunk: id = the chunk's first id + index
  BankAddress where;
  bool is_write;
};
static_assert(sizeof(Arrival) == 32, "the trace FIFO's entry size");

class Controller {
 public:
  // `latency`: where request latencies go ([0] reads, [1] writes, in cycles from arrival to the
  // last data beat): the memory system's, shared by its channels (a 35 KB histogram of which a
  // request touches one line; a pair per channel put 192 pseudo-channels' worth of them in the
  // host's caches). `same_config`: an initialised controller of the same configuration (another
  // channel of the memory system) whose immutable timing rules this one shares.
  void init(const DramConfig& cfg, int channel, CommandLog* log, std::vector<Completion>* sink,
            LatencyHistogram* latency, const Controller* same_config = nullptr);

  bool can_accept(bool is_write) const {
    return free_count_[is_write ? 1 : 0] > 0;
  }
  void enqueue(const BankAddress& a, bool is_write, std::uint64_t id, Cycle now);

  // Issue whatever is legal at cycle t; returns how many requests completed their column command.
  int tick(Cycle t);

  // Trace front end: starting at cycle t, enqueue fifo[i, end) in order (ids first_id + index),
  // each no earlier than its arrival cycle and while the queue has room, and tick at every next
  // event. Returns when the FIFO runs dry, or with `drain` when the last request has been served
  // (then at the cycle after its tick). Updates i, t and `served` (requests completed).
  // One loop with tick() inlined: per event, the call and the loop of a caller cost about as much
  // as deciding an idle event.
  void run(const Arrival* fifo, std::size_t& i, std::size_t end, std::uint64_t first_id, bool drain,
           Cycle& t, int& served);
  Cycle next_event() const { return next_event_; }
  void set_completion_sink(std::vector<Completion>* sink) { sink_ = sink; }
  int pending() const { return count_total_[0] + count_total_[1]; }
  const DramCounters& stats() const { return stats_; }

 private:
  // 32 bytes: under streaming every slot of a queue is in use, and the H2M2 HBM's 192
  // pseudo-channels' queues (56-byte requests before) did not fit the host's L2 beside the rest.
  struct Request {
    std::uint64_t id;
    std::uint32_t seq;      // low 32 bits of the channel's arrival count (full_seq: all of it)
    std::uint32_t arrival;  // low 32 bits of the arrival cycle (a latency is below 2^32 cycles)
    std::int32_t row, column;
    int next;               // next slot in the bank's list, -1 at the tail (its bank: the list's)
    bool own_act, own_pre;
  };
  static_assert(sizeof(Request) == 32, "a queued request's size");
  // A queued request's arrival count: at most 2^32 requests apart from the next one's.
  std::uint64_t full_seq(std::uint32_t seq) const {
    return next_seq_ - static_cast<std::uint32_t>(static_cast<std::uint32_t>(next_seq_) - seq);
  }
  // The next command a bank wants for one queue, kept up to date on every event of that bank.
  // Its earliest issue cycle is cached in queue_[q][bank].bound: issuing commands only raises
  // earliest times, so the bank needs no check while that bound is in the future (kNever:
  // nothing to do, because the bank has no request or waits for a refresh).
  // Slot indices are 16-bit (queues hold at most 32767 requests, DramConfig::validate): a
  // BankQueue is then 24 bytes, and the 192 pseudo-channels' read queues fit the host's L2 better.
  using Slot = std::int16_t;
  struct Candidate {
    Slot slot = -1;  // -1: none
    Slot prev = -1;  // slot before it in the bank list (-1: it is the head)
    Command cmd = Command::ACT;
    std::uint8_t rank = 0, bg = 0, bank = 0;  // flat indices of the bank (fixed at init)
  };
  // Candidates are grouped by command class: column commands, PREs, and the ACTs of each rank
  // (masks below). A class shares a gate (the data bus, the PRE-to-PRE rule, a rank's
  // tRRD/tFAW), so one check can skip all of its banks.
  //
  // Timing wheel of the bounds of one queue: which banks may be legal now (bound <= time) and,
  // for the others, when. Scans look only at the ready banks, and the next event is the first
  // wheel slot holding a bank whose class gate is open by then: nothing iterates over waiting
  // banks. Bank b with bound e > time sits in slot[e % 64] if e < time + 64, else in `far`.
  struct Wheel {
    static constexpr int kSlots = 64;
    std::array<std::uint64_t, kSlots> slot{};
    std::uint64_t occupied = 0;  // bit s: slot s is not empty
    std::uint64_t ready = 0;     // banks whose bound is <= time
    std::uint64_t far = 0;       // banks whose bound is >= time + kSlots
    Cycle far_min = kNever;      // at most the smallest bound in `far`
    Cycle time = 0;
  };
  // Set the bound of bank b in queue q (kNever: no candidate) and file it in the wheel.
  void set_bound(int q, int b, Cycle e);
  // Put bank b with bound e in the wheel (it must not be in it).
  static void file(Wheel& w, int b, Cycle e) {
    const std::uint64_t bit = std::uint64_t{1} << b;
    if (e <= w.time) {
      w.ready |= bit;
    } else if (e < w.time + Wheel::kSlots) {
      const auto s = static_cast<std::size_t>(e & (Wheel::kSlots - 1));
      w.slot[s] |= bit;
      w.occupied |= std::uint64_t{1} << s;
    } else if (e < kNever) {
      w.far |= bit;
      w.far_min = std::min(w.far_min, e);
    }
  }
  // Move the wheel of queue q to cycle t: the banks whose bound has come become ready.
  void advance(int q, Cycle t) {
    Wheel& w = wheel_[q];
    if (t <= w.time) return;
    if (t - w.time < Wheel::kSlots) {
      for (Cycle c = w.time + 1; c <= t; ++c) {  // usually one slot: ticks are dense under load
        const auto s = static_cast<std::size_t>(c & (Wheel::kSlots - 1));
        w.ready |= w.slot[s];
        w.slot[s] = 0;
        w.occupied &= ~(std::uint64_t{1} << s);
      }
    } else {
      for (std::uint64_t& s : w.slot) {
        w.ready |= s;
        s = 0;
      }
      w.occupied = 0;
    }
    w.time = t;
    // Also when `far` is empty: a bank taken out of it leaves far_min behind (it is only a lower
    // bound), and a stale far_min below t would make candidates_next() report an event in the
    // past, which the caller's loop would then tick at forever. After this, far_min >= t + 64.
    if (w.far_min < t + Wheel::kSlots) refile_far(q);
  }
  void refile_far(int q);  // file the far banks again relative to the wheel's time

  int step(Cycle t);  // tick(), inlined into run()
  [[noreturn, gnu::cold]] void stalled() const;  // run(): a channel with requests but no event
  void update_candidates(int bank, int q = -1);  // q = -1: both queues
  void update_candidate(int q, int bank);
  void set_candidate(int q, int bank, int slot, int prev, Command cmd);
  // The oldest candidate of queue q legal at cycle t among the banks in `eligible` (ready banks
  // of classes whose gate is open at t), or -1. Oldest first, so only the winner and the older
  // illegal ones are checked; those move back to the wheel with their true earliest time.
  int pick(int q, std::uint64_t eligible, Cycle t);
  // The banks of `banks` (candidates for command c) whose rank's gate for c is open at t.
  // Every rank is tested, without a branch: the ranks a set touches vary, the rank count not.
  std::uint64_t open_ranks(Command c, std::uint64_t banks, Cycle t) const {
    std::uint64_t open = 0;
    for (int r = 0; r < ranks_; ++r) {
      const std::uint64_t is_open = std::uint64_t{0} - (timing_.rank_gate(c, r) <= t);
      open |= rank_bits_[static_cast<std::size_t>(r)] & is_open;
    }
    return banks & open;
  }
  // Write-drain mode for the given queue occupancy, starting from the current mode.
  bool next_writing(int nr, int nw) const {
    if (writing_) return !(nw == 0 || (nw <= write_low_ && nr > 0));
    return nw >= write_high_ || (nr == 0 && nw > 0);
  }
  // Earliest cycle after t at which a candidate of queue q may issue (a lower bound); the wheel
  // must be at t.
  Cycle candidates_next(int q, Cycle t) const;

  void refresh(Cycle t, bool& row_bus_used, Cycle& next);
  void refresh_rank(int r, Cycle t, bool& row_bus_used, Cycle& next);
  void issue_column(int q, const Candidate& c, Cycle t);
  void issue_row(int q, const Candidate& c, Cycle t);
  void issue_rank_wide(Command c, int rank, Cycle t);
  void record(Cycle t, Command c, int rank, int bg, int bank, std::int32_t row, std::int32_t col) {
    ++stats_.commands[static_cast<std::size_t>(idx(c))];
    if (log_) log_command(t, c, rank, bg, bank, row, col);
  }
  void log_command(Cycle t, Command c, int rank, int bg, int bank, std::int32_t row, std::int32_t col);
  void close_bank(int bank);
  void recount_hits(int bank);
  void unlink(int q, int bank, int slot, int prev);
  Cycle earliest(const Candidate& c) const { return timing_.earliest_own(c.cmd, c.rank, c.bg, c.bank); }

  // configuration (resolved at init)
  int channel_ = 0;
  int ranks_ = 1, bank_groups_ = 1, banks_per_group_ = 1, banks_per_rank_ = 1, banks_ = 1;
  int rank_shift_ = 0;  // log2(banks_per_rank_): bank groups and banks are powers of two
  Cycle nCL_ = 0, nCWL_ = 0, nBL_ = 0, nREFI_ = 0, nREFIpb_ = 0, nRFC_ = 0, nRFCpb_ = 0;
  int row_hit_cap_ = 16, write_high_ = 48, write_low_ = 16;
  bool dual_bus_ = false;
  PagePolicy page_policy_ = PagePolicy::Open;
  RefreshMode refresh_mode_ = RefreshMode::AllBank;
  CommandLog* log_ = nullptr;
  std::vector<Completion>* sink_ = nullptr;
  LatencyHistogram* latency_ = nullptr;  // [0] reads, [1] writes (init)

  TimingState timing_;

  // request slots and per-bank FIFO lists, per queue (0 reads, 1 writes)
  std::vector<Request> slots_[2];
  std::vector<int> free_[2];     // a stack of free slots: free_[q][0, free_count_[q])
  int free_count_[2] = {0, 0};
  // Per queue and bank, kept together since every event of the bank touches them: its FIFO list
  // of requests, how many of them hit the open row, and its candidate with the cached bound.
  struct BankQueue {
    Slot head = -1, tail = -1;  // -1: empty
    Slot count = 0, hits = 0;
    Candidate cand;
    Cycle bound = kNever;  // lower bound of the candidate's issue cycle (kNever: no candidate)
  };
  static_assert(sizeof(BankQueue) == 24, "a bank's queue state");
  std::vector<BankQueue> queue_[2];
  // Per bank: the candidate's age key, seq << 6 | bank (all ones: none). Keys are unique, so the
  // oldest of a set of banks is a plain minimum, and its low bits name the bank.
  std::vector<std::uint64_t> cand_key_[2];
  Wheel wheel_[2];
  // Per queue and class, bit b set: bank b's candidate is of that class (banks <= 64 per channel).
  enum Class { kColumn, kPrecharge, kActivate, kClasses };
  static constexpr Class class_of(Command c) {
    return c == Command::ACT ? kActivate : c == Command::PRE ? kPrecharge : kColumn;
  }
  std::uint64_t class_mask_[2][kClasses] = {};
  std::vector<std::uint64_t> rank_bits_;  // per rank: the bits of its banks
  int count_total_[2] = {0, 0};
  std::uint64_t next_seq_ = 0;
  bool writing_ = false;

  // bank state
  std::vector<std::int32_t> open_row_;  // -1: closed
  std::vector<int> streak_;             // column commands since the row opened
  std::vector<std::uint8_t> blocked_;   // bank waits for a refresh
  std::vector<int> open_count_;         // open banks per rank

  // refresh state per rank
  std::vector<Cycle> refresh_due_;
  Cycle refresh_next_ = kNever;  // earliest due time over ranks with no refresh pending
  std::vector<std::uint8_t> refresh_pending_;
  std::vector<int> refresh_bank_;  // per-bank mode: next bank (inside the rank) to refresh

  Cycle next_event_ = 0;
  DramCounters stats_;
};

}  // namespace h2m2::dram
