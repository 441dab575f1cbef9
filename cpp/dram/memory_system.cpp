#include "dram/memory_system.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace h2m2::dram {

MemorySystem::MemorySystem(const DramConfig& cfg) : cfg_(cfg) {
  cfg_.validate();
  mapping_.init(cfg_);
  channels_.resize(static_cast<std::size_t>(cfg_.channels));
  latency_ = std::make_unique<LatencyHistogram[]>(2);
  for (int c = 0; c < cfg_.channels; ++c) {
    channels_[static_cast<std::size_t>(c)].init(cfg_, c, &log_, nullptr, latency_.get(),
                                                 c > 0 ? channels_.data() : nullptr);
  }
}

void MemorySystem::address_error(std::uint64_t addr) const {
  throw std::invalid_argument(cfg_.name + ": address 0x" + [&] {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(addr));
    return std::string(buf);
  }() + " is beyond the capacity of " + std::to_string(mapping_.capacity_bytes()) + " bytes");
}

void MemorySystem::run_channel(int c, std::size_t begin, std::size_t end, std::uint64_t first_id,
                               bool drain) {
  Controller& ch = channels_[static_cast<std::size_t>(c)];
  Cycle t = clock_[static_cast<std::size_t>(c)];
  std::size_t i = begin;
  int served = 0;
  ch.run(fifo_.get(), i, end, first_id, drain, t, served);
  pending_ -= served;
  clock_[static_cast<std::size_t>(c)] = t;
  if (t > now_) now_ = t;
}

std::size_t MemorySystem::run_trace(const std::uint64_t* addr, const std::uint8_t* is_write,
                                    const std::int64_t* arrival, std::size_t n,
                                    const std::function<bool()>& interrupted) {
  const auto n_ch = static_cast<std::size_t>(channels_.size());
  // Requests per chunk. The statistics do not depend on it; the command log's row order does
  // (channels log as they run, chunk by chunk), so a logged run always uses 2^18. With few
  // channels a small chunk keeps the FIFO buffer (32 bytes a request) in the L2 cache next to
  // the controllers, which pays for the per-chunk restart of each channel; with many channels
  // the controllers themselves no longer stay cached, and a channel's restart (its state
  // fetched again) needs long runs. Measured, 1 Mi random reads: 32 channels 4.95 (2^18) ->
  // 5.08 M req/s (2^14); 96 channels 4.63 (2^18), 4.54 (2^17), 4.26 (2^16), 3.9 (2^14).
  const std::size_t kChunk = n_ch <= 32 && !cfg_.record_commands ? std::size_t{1} << 14
                                                                  : std::size_t{1} << 18;
  const Cycle base = now_;
  clock_.assign(n_ch, base);
  bucket_.assign(n_ch + 1, 0);
  std::size_t done = 0;
  for (std::size_t lo = 0; lo < n || lo == 0; lo += kChunk) {
    const std::size_t hi = std::min(n, lo + kChunk);
    // Validate and count per channel, then decode each request straight into its channel's
    // group (a staging copy of the decoded chunk cost more memory traffic than decoding the
    // channel field twice).
    std::fill(bucket_.begin(), bucket_.end(), 0);
    if (buffer_size_ < hi - lo) {
      buffer_size_ = hi - lo;
      channel_of_.reset(new std::uint32_t[buffer_size_]);  // default-initialised: not zero-filled
      fifo_.reset(new Arrival[buffer_size_]);
    }
    for (std::size_t i = lo; i < hi; ++i) {
      check_address(addr[i]);
      if (arrival && (arrival[i] < 0 || (i > 0 && arrival[i] < arrival[i - 1]))) {
        throw std::invalid_argument(cfg_.name + ": arrival cycle of request " + std::to_string(i) +
                                    " must be non-negative and not before the previous one");
      }
      const auto c = static_cast<std::uint32_t>(mapping_.channel_of(addr[i]));
      channel_of_[i - lo] = c;
      ++bucket_[static_cast<std::size_t>(c) + 1];
    }
    for (std::size_t c = 0; c < n_ch; ++c) bucket_[c + 1] += bucket_[c];
    fill_.assign(bucket_.begin(), bucket_.end() - 1);
    for (std::size_t i = lo; i < hi; ++i) {
      const DecodedAddress d = mapping_.decode(addr[i]);
      Arrival& q = fifo_[fill_[channel_of_[i - lo]]++];
      q.arrival = base + (arrival ? arrival[i] : 0);
      q.index = static_cast<std::uint32_t>(i - lo);
      q.where = locate(d);
      q.is_write = is_write && is_write[i];
    }
    pending_ += static_cast<int>(hi - lo);
    const bool last = hi == n;
    for (std::size_t c = 0; c < n_ch; ++c) {
      run_channel(static_cast<int>(c), bucket_[c], bucket_[c + 1], next_id_ + lo, last);
      if (interrupted && interrupted()) {
        next_id_ += n;
        return lo;
      }
    }
    done = hi;
    if (last) break;
  }
  next_id_ += n;
  return done;
}

bool MemorySystem::try_enqueue(std::uint64_t addr, bool is_write, std::uint64_t id) {
  check_address(addr);
  // a full queue is common under a streaming DMA: find it out before decoding the rest
  Controller& ch = channels_[static_cast<std::size_t>(mapping_.channel_of(addr))];
  if (!ch.can_accept(is_write)) return false;
  ch.enqueue(locate(mapping_.decode(addr)), is_write, id, now_ + 1);
  ++pending_;
  return true;
}

void MemorySystem::advance_to(Cycle t) {
  std::vector<Completion>* sink = track_completions_ ? &completions_ : nullptr;
  for (Controller& c : channels_) {
    c.set_completion_sink(sink);
    // Each tick strictly after the previous one (as in run_channel): a controller can issue once
    // per cycle, and a next event reported in the past must not tick the same cycle forever.
    for (Cycle last = now_; c.next_event() <= t;) {
      const Cycle at = std::max(c.next_event(), last + 1);
      if (at > t) break;
      pending_ -= c.tick(at);
      last = at;
    }
  }
  now_ = std::max(now_, t);
}

Cycle MemorySystem::next_event_after_now() const {
  Cycle next = kNever;
  for (const Controller& c : channels_) next = std::min(next, std::max(c.next_event(), now_ + 1));
  return next;
}

DramStats MemorySystem::stats() const {
  DramStats s;
  for (const Controller& c : channels_) s.DramCounters::merge(c.stats());
  s.read_latency.merge(latency_[0]);
  s.write_latency.merge(latency_[1]);
  return s;
}

void DramConfig::validate() const {
  auto fail = [&](const std::string& what) { throw std::invalid_argument(name + ": " + what); };
  if (tck_ps <= 0) fail("tck_ps=" + std::to_string(tck_ps) + " must be positive");
  if (channels <= 0) fail("channels=" + std::to_string(channels) + " must be positive");
  if (ranks <= 0 || bank_groups <= 0 || banks_per_group <= 0 || rows <= 0 || bursts_per_row <= 0)
    fail("organisation sizes must be positive");
  if (ranks > 32767 || bank_groups > 32767 || banks_per_group > 32767 || rows > (1LL << 31) ||
      bursts_per_row > (1LL << 31))
    fail("organisation sizes exceed the command log's field widths");
  if (nBL <= 0) fail("nBL=" + std::to_string(nBL) + " must be positive");
  if (nCL < 0 || nCWL < 0) fail("nCL and nCWL must not be negative");
  if (refresh == RefreshMode::AllBank && nREFI <= 0) fail("nREFI must be positive");
  if (refresh == RefreshMode::PerBank && nREFIpb <= 0) fail("nREFIpb must be positive");
  if (read_queue <= 0 || write_queue <= 0) fail("queue sizes must be positive");
  if (read_queue > 32767 || write_queue > 32767) fail("queue sizes must be at most 32767 (16-bit slots)");
  if (write_low_watermark < 0 || write_high_watermark > write_queue ||
      write_low_watermark >= write_high_watermark)
    fail("write watermarks must satisfy 0 <= low < high <= write_queue");
  if (row_hit_cap <= 0) fail("row_hit_cap=" + std::to_string(row_hit_cap) + " must be positive");
  for (const WindowRule& w : windows) {
    if (w.window < 1 || w.latency < 0) fail("window rules need window >= 1 and latency >= 0");
  }
}

}  // namespace h2m2::dram
