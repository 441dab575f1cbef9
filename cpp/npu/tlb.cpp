#include "npu/tlb.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>

namespace h2m2::npu {

namespace {

// Walkers start free "forever ago", so the first walk starts at its lookup time whatever it is.
constexpr Picoseconds kLongAgo = std::numeric_limits<Picoseconds>::min() / 4;

// Bounds the hash index (2x entries, 32-bit slot numbers) far below anything realistic.
constexpr int kMaxEntries = 1 << 24;

bool is_power_of_two(std::int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

int log2_exact(std::int64_t v) {
  int b = 0;
  while ((std::int64_t{1} << b) < v) ++b;
  return b;
}

[[noreturn]] void throw_unmapped(std::uint64_t logical, std::uint64_t page, const std::string& why) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(logical));
  throw std::out_of_range("h2m2: logical address " + std::string(buf) + " (page " +
                          std::to_string(page) + ") is not mapped" + why);
}

}  // namespace

void TlbConfig::validate() const {
  const auto fail = [](const std::string& what) { throw std::invalid_argument("tlb: " + what); };
  if (entries <= 0) fail("entries=" + std::to_string(entries) + " must be positive");
  if (ways < 0) {
    fail("ways=" + std::to_string(ways) + " must be non-negative (0: fully associative)");
  }
  if (ways > entries) {
    fail("ways=" + std::to_string(ways) + " must not exceed entries=" + std::to_string(entries));
  }
  if (ways > 0 && entries % ways != 0) {
    fail("entries=" + std::to_string(entries) + " must be a multiple of ways=" + std::to_string(ways));
  }
  if (!is_power_of_two(page_bytes)) {
    fail("page_bytes=" + std::to_string(page_bytes) + " must be a positive power of two");
  }
  if (walk_latency_ps < 0) {
    fail("walk_latency_ps=" + std::to_string(walk_latency_ps) + " must be non-negative");
  }
  if (entries > kMaxEntries) {
    fail("entries=" + std::to_string(entries) + " must be at most " + std::to_string(kMaxEntries));
  }
  if (concurrent_walks < 1) {
    fail("concurrent_walks=" + std::to_string(concurrent_walks) + " must be at least 1");
  }
}

Tlb::Tlb(const TlbConfig& cfg) : cfg_(cfg) {
  cfg_.validate();
  const auto entries = static_cast<std::uint32_t>(cfg_.entries);
  ways_ = cfg_.ways == 0 ? entries : static_cast<std::uint32_t>(cfg_.ways);
  sets_ = entries / ways_;
  tag_.assign(entries, 0);
  valid_from_.assign(entries, 0);
  valid_.assign(entries, 0);
  prefetched_.assign(entries, 0);
  prev_.assign(entries, kNone);
  next_.assign(entries, kNone);
  head_.assign(sets_, kNone);
  tail_.assign(sets_, kNone);
  for (std::uint32_t set = 0; set < sets_; ++set) {
    const std::uint32_t base = set * ways_;
    for (std::uint32_t i = base; i < base + ways_; ++i) {
      prev_[i] = i == base ? kNone : i - 1;
      next_[i] = i + 1 == base + ways_ ? kNone : i + 1;
    }
    head_[set] = base;
    tail_[set] = base + ways_ - 1;
  }
  int bits = 1;
  while ((std::uint64_t{1} << bits) < 2 * std::uint64_t{entries}) ++bits;
  index_shift_ = 64 - bits;
  index_mask_ = (std::uint64_t{1} << bits) - 1;
  index_page_.assign(index_mask_ + 1, 0);
  index_slot_.assign(index_mask_ + 1, kNone);
  const auto walkers = static_cast<std::size_t>(cfg_.concurrent_walks);
  walker_free_.assign(walkers, kLongAgo);
  walker_page_.assign(walkers, 0);
  walker_slot_.assign(walkers, kNone);
  walker_prefetch_.assign(walkers, 0);
}

std::size_t Tlb::home(std::uint64_t page) const {
  return static_cast<std::size_t>((page * 0x9E3779B97F4A7C15ull) >> index_shift_);  // Fibonacci hash
}

std::uint32_t Tlb::find(std::uint64_t page) const {
  for (std::size_t i = home(page);; i = (i + 1) & index_mask_) {
    const std::uint32_t s = index_slot_[i];
    if (s == kNone || index_page_[i] == page) return s;
  }
}

void Tlb::index_insert(std::uint64_t page, std::uint32_t slot) {
  std::size_t i = home(page);
  while (index_slot_[i] != kNone) i = (i + 1) & index_mask_;
  index_page_[i] = page;
  index_slot_[i] = slot;
}

void Tlb::index_erase(std::uint64_t page) {
  std::size_t i = home(page);
  while (index_slot_[i] != kNone && index_page_[i] != page) i = (i + 1) & index_mask_;
  if (index_slot_[i] == kNone) return;
  // Backward-shift deletion: pull later members of the probe run into the hole, unless their
  // home lies cyclically in (hole, position], where they must stay.
  for (std::size_t j = (i + 1) & index_mask_; index_slot_[j] != kNone; j = (j + 1) & index_mask_) {
    const std::size_t k = home(index_page_[j]);
    const bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
    if (stays) continue;
    index_page_[i] = index_page_[j];
    index_slot_[i] = index_slot_[j];
    i = j;
  }
  index_slot_[i] = kNone;
}

void Tlb::unlink(std::uint32_t s) {
  const std::uint32_t set = s / ways_;
  const std::uint32_t p = prev_[s];
  const std::uint32_t n = next_[s];
  if (p != kNone) next_[p] = n; else head_[set] = n;
  if (n != kNone) prev_[n] = p; else tail_[set] = p;
}

void Tlb::touch(std::uint32_t s) {
  const std::uint32_t set = s / ways_;
  if (head_[set] == s) return;
  unlink(s);
  prev_[s] = kNone;
  next_[s] = head_[set];
  prev_[head_[set]] = s;
  head_[set] = s;
}

void Tlb::to_tail(std::uint32_t s) {
  const std::uint32_t set = s / ways_;
  if (tail_[set] == s) return;
  unlink(s);
  next_[s] = kNone;
  prev_[s] = tail_[set];
  next_[tail_[set]] = s;
  tail_[set] = s;
}

void Tlb::drop(std::uint32_t s) {
  index_erase(tag_[s]);
  valid_[s] = 0;
  prefetched_[s] = 0;
  to_tail(s);  // invalid slots are reused first
}

std::uint32_t Tlb::fill(std::uint64_t page, Picoseconds valid_from, bool prefetched) {
  const std::uint32_t s = tail_[static_cast<std::size_t>(page % sets_)];  // invalid, else LRU
  if (valid_[s]) index_erase(tag_[s]);
  tag_[s] = page;
  valid_from_[s] = valid_from;
  valid_[s] = 1;
  prefetched_[s] = prefetched ? 1 : 0;
  index_insert(page, s);
  touch(s);
  return s;
}

Picoseconds Tlb::demand_walk(std::uint64_t page, Picoseconds t) {
  const std::size_t n = walker_free_.size();
  std::size_t w = n;
  // 1. The first walker idle at t.
  for (std::size_t i = 0; i < n && w == n; ++i) {
    if (walker_free_[i] <= t) w = i;
  }
  // 2. Otherwise cancel the prefetch that has made the least progress (latest end).
  if (w == n) {
    for (std::size_t i = 0; i < n; ++i) {
      if (walker_prefetch_[i] && (w == n || walker_free_[i] > walker_free_[w])) w = i;
    }
    if (w != n) {
      const std::uint32_t s = walker_slot_[w];
      if (s != kNone && valid_[s] && prefetched_[s] && tag_[s] == walker_page_[w] &&
          valid_from_[s] == walker_free_[w]) {
        drop(s);
      }
      walker_free_[w] = t;
    }
  }
  // 3. Otherwise queue behind the walker that frees first.
  if (w == n) {
    w = 0;
    for (std::size_t i = 1; i < n; ++i) {
      if (walker_free_[i] < walker_free_[w]) w = i;
    }
  }
  const Picoseconds ready = std::max(t, walker_free_[w]) + cfg_.walk_latency_ps;
  walker_free_[w] = ready;
  walker_page_[w] = page;
  walker_prefetch_[w] = 0;
  walker_slot_[w] = fill(page, ready, false);
  ++stats_.walks;
  return ready;
}

void Tlb::maybe_prefetch(std::uint64_t page, Picoseconds t) {
  if (page == std::numeric_limits<std::uint64_t>::max()) return;
  const std::uint64_t next = page + 1;
  if (find(next) != kNone) return;  // present or already being walked
  for (std::size_t w = 0; w < walker_free_.size(); ++w) {
    if (walker_free_[w] > t) continue;
    const Picoseconds ready = t + cfg_.walk_latency_ps;
    walker_free_[w] = ready;
    walker_page_[w] = next;
    walker_prefetch_[w] = 1;
    walker_slot_[w] = fill(next, ready, true);
    ++stats_.prefetches;
    ++stats_.walks;
    return;
  }
}

void Tlb::promote_walk(std::uint64_t page, Picoseconds ready) {
  for (std::size_t w = 0; w < walker_free_.size(); ++w) {
    if (walker_prefetch_[w] && walker_page_[w] == page && walker_free_[w] == ready) {
      walker_prefetch_[w] = 0;
    }
  }
}

Picoseconds Tlb::lookup(std::uint64_t page, Picoseconds t) {
  ++stats_.lookups;
  const std::uint32_t s = find(page);
  if (s != kNone) {
    touch(s);
    Picoseconds ready = t;
    if (valid_from_[s] > t) {  // still being walked: wait for that walk
      ready = valid_from_[s];
      ++stats_.misses;
      stats_.walk_wait_ps += ready - t;
      if (prefetched_[s]) promote_walk(page, ready);
    } else {
      ++stats_.hits;
    }
    if (prefetched_[s]) {  // first demand use of a prefetched entry: keep the stream ahead
      prefetched_[s] = 0;
      if (cfg_.prefetch_next) maybe_prefetch(page, t);
    }
    return ready;
  }
  ++stats_.misses;
  const Picoseconds ready = demand_walk(page, t);
  stats_.walk_wait_ps += ready - t;
  if (cfg_.prefetch_next) maybe_prefetch(page, t);
  return ready;
}

void Tlb::invalidate(std::uint64_t page) {
  const std::uint32_t s = find(page);
  if (s != kNone) drop(s);
}

void Tlb::flush() {
  // Every slot becomes invalid, so the LRU order no longer matters: any tail is a free slot.
  std::fill(valid_.begin(), valid_.end(), std::uint8_t{0});
  std::fill(prefetched_.begin(), prefetched_.end(), std::uint8_t{0});
  std::fill(index_slot_.begin(), index_slot_.end(), kNone);
}

Mmu::Mmu(const TlbConfig& cfg, PageTableView table) : tlb_(cfg), table_(table) {
  if (table_.pages > 0 && (table_.device == nullptr || table_.frame == nullptr)) {
    throw std::invalid_argument("mmu: a page table of " + std::to_string(table_.pages) +
                                " pages needs device and frame arrays");
  }
  shift_ = log2_exact(tlb_.config().page_bytes);  // a power of two: checked by TlbConfig
}

void Tlb::warm(std::uint64_t page, Picoseconds t) {
  if (find(page) != kNone) return;
  fill(page, t, true);
}

void Mmu::warm(std::uint64_t logical, Picoseconds t) {
  const std::uint64_t page = logical >> shift_;
  if (page < table_.pages && table_.device[page] >= 0) tlb_.warm(page, t);
}

Translation Mmu::translate(std::uint64_t logical, Picoseconds t) {
  const std::uint64_t page = logical >> shift_;
  if (page >= table_.pages) {
    throw_unmapped(logical, page, " (the page table has " + std::to_string(table_.pages) + " pages)");
  }
  const std::int32_t device = table_.device[page];
  const std::int64_t frame = table_.frame[page];
  if (device < 0) throw_unmapped(logical, page, " (device " + std::to_string(device) + ")");
  if (frame < 0) throw_unmapped(logical, page, " (negative frame " + std::to_string(frame) + ")");
  Translation out;
  out.ready = tlb_.lookup(page, t);
  out.device = device;
  const std::uint64_t offset = logical & ((std::uint64_t{1} << shift_) - 1);
  out.physical = static_cast<std::uint64_t>(frame) * static_cast<std::uint64_t>(tlb_.config().page_bytes) +
                 offset;
  return out;
}

}  // namespace h2m2::npu
