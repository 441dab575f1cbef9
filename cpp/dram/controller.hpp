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
// legal at t and returns the next cycle at which anything may change. Between ticks nothing
// happens, so idle cycles cost nothing. enqueue() wakes the channel.
//
// Bank state machine (per bank): Closed --ACT--> Open(row) --PRE/RDA/WRA/PREA--> Closed;
// refresh requires Closed (REFab: every bank of the rank).
#pragma once

#include <cstdint>
#include <vector>

#include "common/time.hpp"
#include "dram/address_mapping.hpp"
#include "dram/command_log.hpp"
#include "dram/dram_config.hpp"
#include "dram/dram_stats.hpp"
#include "dram/timing_state.hpp"

namespace h2m2::dram {

struct Completion {
  std::uint64_t id;
  Cycle done;  // cycle of the last data beat
};

class Controller {
 public:
  void init(const DramConfig& cfg, int channel, CommandLog* log, std::vector<Completion>* sink);

  bool can_accept(bool is_write) const {
    return free_[is_write ? 1 : 0].size() > 0;
  }
  void enqueue(const DecodedAddress& a, bool is_write, std::uint64_t id, Cycle now);

  // Issue whatever is legal at cycle t; returns how many requests completed their column command.
  int tick(Cycle t);
  Cycle next_event() const { return next_event_; }
  void set_completion_sink(std::vector<Completion>* sink) { sink_ = sink; }
  int pending() const { return count_total_[0] + count_total_[1]; }
  const DramStats& stats() const { return stats_; }

 private:
  struct Request {
    std::uint64_t id;
    std::uint64_t seq;
    Cycle arrival;
    std::int32_t row, column;
    std::int32_t rank, bg, bank;  // flat indices
    int next;                     // next slot in the bank's list, -1 at the tail
    bool own_act, own_pre;
  };
  // The next command a bank wants for one queue, kept up to date on every event of that bank.
  // Its earliest issue cycle is cached in lower_bound_[q][bank]: issuing commands only raises
  // earliest times, so a scan skips the bank while that bound is in the future (kNever: nothing
  // to do, because the bank has no request or waits for a refresh).
  struct Candidate {
    int slot = -1;
    int prev = -1;  // slot before it in the bank list (-1: it is the head)
    std::uint64_t seq = ~std::uint64_t{0};
    Command cmd = Command::ACT;
    std::int32_t rank = 0, bg = 0, bank = 0;  // flat indices, copied from the request
  };
  void update_candidates(int bank, int q = -1);
  // Consider the banks in `mask` as candidates at cycle t (see tick()).
  void scan(int q, std::uint64_t mask, Cycle t, Candidate& best, Cycle& next);

  void refresh(Cycle t, bool& row_bus_used, Cycle& next);
  void refresh_rank(int r, Cycle t, bool& row_bus_used, Cycle& next);
  void issue_column(int q, const Candidate& c, Cycle t);
  void issue_row(int q, const Candidate& c, Cycle t);
  void issue_rank_wide(Command c, int rank, Cycle t);
  void record(Cycle t, Command c, int rank, int bg, int bank, std::int32_t row, std::int32_t col);
  void close_bank(int bank);
  void recount_hits(int bank);
  void unlink(int q, int bank, int slot, int prev);
  Cycle earliest(Command c, const Request& r) const { return timing_.earliest(c, r.rank, r.bg, r.bank); }

  // configuration (resolved at init)
  int channel_ = 0;
  int ranks_ = 1, bank_groups_ = 1, banks_per_group_ = 1, banks_per_rank_ = 1, banks_ = 1;
  Cycle nCL_ = 0, nCWL_ = 0, nBL_ = 0, nREFI_ = 0, nREFIpb_ = 0, nRFC_ = 0, nRFCpb_ = 0;
  int row_hit_cap_ = 16, write_high_ = 48, write_low_ = 16;
  bool dual_bus_ = false;
  PagePolicy page_policy_ = PagePolicy::Open;
  RefreshMode refresh_mode_ = RefreshMode::AllBank;
  CommandLog* log_ = nullptr;
  std::vector<Completion>* sink_ = nullptr;

  TimingState timing_;

  // request slots and per-bank FIFO lists, per queue (0 reads, 1 writes)
  std::vector<Request> slots_[2];
  std::vector<int> free_[2];
  std::vector<int> head_[2], tail_[2], count_[2], hits_[2];
  std::vector<Candidate> cand_[2];   // per bank
  std::vector<Cycle> lower_bound_[2];  // per bank, dense so the scan is a tight loop
  // Bit b set: bank b's candidate is an ACT / a PRE / a column command (banks <= 64 per channel).
  std::uint64_t act_mask_[2] = {0, 0}, pre_mask_[2] = {0, 0}, col_mask_[2] = {0, 0};
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
  DramStats stats_;
};

}  // namespace h2m2::dram
