// MemorySystem: many channels behind one address mapping, in one clock domain.
//
// Models: the memory side of one device (e.g. 6 HBM3 stacks = 192 pseudo-channels, or 32 LPDDR5X
// channels). Owns the controllers, the address mapping, the optional command log and completion
// buffer. Clock: the memory's command clock (cycles); the engine converts with ClockDomain.
// Hot path: step() and the trace front end.
// Front end of run_trace(): one FIFO per channel. The requests of a channel enter its controller
// queue in trace order, any number per cycle, no earlier than their arrival cycle; a full queue
// holds back only its own channel (as with one DMA stream per channel, or a requester with many
// requests in flight). Channels share nothing else, so each runs to the end of its requests on
// its own; the trace is processed in chunks (bounded memory) and a channel pauses when its FIFO
// runs dry before the last chunk, which makes chunking invisible in the results.
// Contract: addresses are below capacity_bytes() (checked, std::invalid_argument otherwise);
// arrival cycles are non-decreasing and relative to the start of the call.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "common/time.hpp"
#include "dram/address_mapping.hpp"
#include "dram/command_log.hpp"
#include "dram/controller.hpp"
#include "dram/dram_config.hpp"
#include "dram/dram_stats.hpp"

namespace h2m2::dram {

class MemorySystem {
 public:
  explicit MemorySystem(const DramConfig& cfg);

  const DramConfig& config() const { return cfg_; }
  std::uint64_t capacity_bytes() const { return mapping_.capacity_bytes(); }
  std::uint64_t row_period_bytes() const { return mapping_.row_period_bytes(); }
  Cycle now() const { return now_; }
  int channels() const { return static_cast<int>(channels_.size()); }
  DecodedAddress decode(std::uint64_t addr) const { return mapping_.decode(addr); }

  // Bulk trace run. `is_write` and `arrival` may be null (all reads / all at the current cycle).
  // `interrupted` is polled every few thousand cycles; when it returns true the run stops early
  // and run_trace returns the number of requests that entered the memory system.
  std::size_t run_trace(const std::uint64_t* addr, const std::uint8_t* is_write,
                        const std::int64_t* arrival, std::size_t n,
                        const std::function<bool()>& interrupted = {});

  // Incremental interface for the multi-device engine. now() is the last cycle processed;
  // try_enqueue() puts a request in its controller queue to arrive at now() + 1 (the next clock
  // edge), and returns false if that queue is full. advance_to(t) processes cycles up to and
  // including t. Completions (id, cycle of the last data beat) are appended to completions()
  // when the column command issues, so their cycles may lie ahead of now().
  bool try_enqueue(std::uint64_t addr, bool is_write, std::uint64_t id);
  void advance_to(Cycle t);
  Cycle next_event_after_now() const;  // the next cycle > now() at which a channel has work
  int pending() const { return pending_; }
  void set_track_completions(bool on) { track_completions_ = on; }
  std::vector<Completion>& completions() { return completions_; }

  DramStats stats() const;
  // One channel's counters (latencies are kept for all channels together, in stats()).
  const DramCounters& channel_stats(int channel) const { return channels_[static_cast<std::size_t>(channel)].stats(); }
  const CommandLog& command_log() const { return log_; }
  void clear_command_log() { log_.clear(); }

 private:
  // The controller's flat indices of a decoded address (fits: Controller::init rejects > 64 banks).
  BankAddress locate(const DecodedAddress& d) const {
    const int bg = d.rank * cfg_.bank_groups + d.bankgroup;
    return BankAddress{d.row, d.column, static_cast<std::uint8_t>(d.rank), static_cast<std::uint8_t>(bg),
                       static_cast<std::uint8_t>(bg * cfg_.banks_per_group + d.bank)};
  }
  // Run channel c on its FIFO entries [begin, end) of fifo_ (ids from first_id on), starting at
  // cycle clock_[c]. With `drain`, run until its queue is empty; otherwise pause when the FIFO
  // runs dry.
  void run_channel(int c, std::size_t begin, std::size_t end, std::uint64_t first_id, bool drain);
  void check_address(std::uint64_t addr) const {
    if (addr >= mapping_.capacity_bytes()) address_error(addr);
  }
  [[noreturn]] void address_error(std::uint64_t addr) const;

  std::unique_ptr<std::uint32_t[]> channel_of_;  // one chunk, in trace order: each request's channel
  std::unique_ptr<Arrival[]> fifo_;   // the same chunk, grouped by channel (decoded)
  std::size_t buffer_size_ = 0;       // entries allocated in channel_of_ and fifo_
  std::vector<std::size_t> fill_;
  std::vector<std::size_t> bucket_;  // per channel: start of its group in fifo_
  std::vector<Cycle> clock_;         // per channel: the cycle it has reached

  DramConfig cfg_;
  AddressMapping mapping_;
  std::vector<Controller> channels_;
  std::unique_ptr<LatencyHistogram[]> latency_;  // [0] reads, [1] writes, of every channel
  CommandLog log_;
  std::vector<Completion> completions_;
  bool track_completions_ = false;
  Cycle now_ = 0;
  int pending_ = 0;
  std::uint64_t next_id_ = 0;
};

}  // namespace h2m2::dram
