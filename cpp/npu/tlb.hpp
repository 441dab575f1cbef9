// Tlb and Mmu: address translation in front of a chip's DMA engines.
//
// Models: a set-associative TLB with LRU replacement over pages of `page_bytes` (default 2 MB),
// a page-table walk of `walk_latency_ps` on a miss, at most `concurrent_walks` walks in flight
// (later misses queue), misses to a page already being walked wait for that walk, and an
// optional next-page prefetch (a miss on page p also walks p+1 if absent and a walker is free).
// The Mmu pairs the TLB with the page table shared from Python (one flat array per chip: for
// each logical page, the device that holds it and the physical frame there) and returns where a
// logical address lives.
// Time: picoseconds. Hot path: lookup() once per page a DMA stream enters (the DMA remembers the
// current page, so not once per memory request). No allocation after construction.
// Contract: lookups come with non-decreasing times per Tlb. The page-table arrays outlive the Mmu.
//
// Model details (docs/assumptions.md):
// - Organisation: sets = entries / ways (ways = 0: one set, fully associative); entries must be a
//   multiple of ways. The set of page p is p mod sets; neither sets nor entries need be a power
//   of two. Replacement is true LRU within the set (a hit or a fill makes the entry youngest).
// - A walk reserves its entry when it starts; the entry carries `valid_from` = walk end and is
//   usable from then on. A lookup that finds its page still being walked waits for that walk: it
//   counts as a miss that starts no walk (so misses = lookups that waited, demand walks =
//   walks - prefetches) and adds its wait to walk_wait_ps.
// - Walkers: a demand walk starts at max(t, earliest time a walker is free): it takes a walker
//   idle at t, else the one that frees first. A walker running a prefetch counts as free for a demand walk: the
//   prefetch is cancelled (its entry dropped), so prefetch never delays a demand walk. A prefetch
//   someone already waits for is promoted to a demand walk and is no longer cancellable.
// - Prefetch (prefetch_next): tagged next-page prefetch. A demand miss on page p, and the first
//   demand lookup of a prefetched entry, walk p+1 at the lookup time if p+1 is neither present
//   nor in flight and a walker is free then; a prefetch never queues. The first-touch trigger is
//   what keeps a stream one page ahead: with the miss trigger alone every second page of a
//   stream misses. The TLB does not know the page table, so it may prefetch one page past a
//   mapped region (a wasted walk, no other effect).
// - Lookup cost is O(1) in the associativity (hash index + per-set LRU list), O(walkers) on a
//   miss.
// - invalidate()/flush() drop entries (also ones being walked); the walkers stay busy until their
//   walks end, and the results of dropped walks are discarded.
#pragma once

#include <cstdint>
#include <vector>

#include "common/time.hpp"

namespace h2m2::npu {

struct TlbConfig {
  int entries = 2048;
  int ways = 0;                          // 0: fully associative
  std::int64_t page_bytes = 2LL << 20;   // 2 MB
  Picoseconds walk_latency_ps = 300000;  // 300 ns (H2M2 Table 2)
  int concurrent_walks = 8;              // OPEN: see docs/assumptions.md
  bool prefetch_next = true;
  void validate() const;                 // throws std::invalid_argument naming the field
};

struct TlbStats {
  std::uint64_t lookups = 0, hits = 0, misses = 0, prefetches = 0, walks = 0;
  Picoseconds walk_wait_ps = 0;  // summed over misses: ready time - lookup time
};

class Tlb {
 public:
  explicit Tlb(const TlbConfig& cfg);
  // Time at which the translation of logical page `page` is available to a lookup at time t.
  Picoseconds lookup(std::uint64_t page, Picoseconds t);
  void invalidate(std::uint64_t page);  // shootdown after a migration
  // `sampled` skip-ahead: enter page as the skipped stream's next-page prefetch would have left
  // it (valid from t, marked prefetched so its first use prefetches the next page). No walker is
  // used and nothing is counted; a page already present is left alone.
  void warm(std::uint64_t page, Picoseconds t);
  void flush();
  const TlbConfig& config() const { return cfg_; }
  const TlbStats& stats() const { return stats_; }

 private:
  static constexpr std::uint32_t kNone = 0xFFFFFFFFu;

  // Entry lookup is O(1) whatever the associativity: a hash index (page -> slot, open
  // addressing with linear probing, sized to at least twice the entries) finds the entry, and
  // each set keeps its slots in a doubly linked list from most to least recently used, with
  // invalid slots at the least-recent end, so the victim is the list tail.
  std::uint32_t find(std::uint64_t page) const;  // slot of page, or kNone
  std::uint32_t fill(std::uint64_t page, Picoseconds valid_from, bool prefetched);
  void drop(std::uint32_t slot);
  void touch(std::uint32_t slot);      // make the most recently used of its set
  void to_tail(std::uint32_t slot);    // make the least recently used of its set
  void unlink(std::uint32_t slot);
  std::size_t home(std::uint64_t page) const;
  void index_insert(std::uint64_t page, std::uint32_t slot);
  void index_erase(std::uint64_t page);
  // Start a demand walk for page at t (cancelling a prefetch if that frees a walker); returns
  // the walk's end.
  Picoseconds demand_walk(std::uint64_t page, Picoseconds t);
  void maybe_prefetch(std::uint64_t page, Picoseconds t);
  void promote_walk(std::uint64_t page, Picoseconds ready);  // a prefetch now waited for

  TlbConfig cfg_;
  TlbStats stats_;
  std::uint64_t sets_ = 1;
  std::uint32_t ways_ = 1;  // resolved: entries when cfg_.ways == 0
  // Entries, set-major (set s owns slots [s * ways_, (s + 1) * ways_)).
  std::vector<std::uint64_t> tag_;
  std::vector<Picoseconds> valid_from_;
  std::vector<std::uint8_t> valid_;
  std::vector<std::uint8_t> prefetched_;  // filled by a prefetch, not yet used by a demand lookup
  std::vector<std::uint32_t> prev_, next_;        // LRU list links within the set
  std::vector<std::uint32_t> head_, tail_;        // per set: most / least recently used slot
  // Hash index.
  std::vector<std::uint64_t> index_page_;
  std::vector<std::uint32_t> index_slot_;  // kNone: empty bucket
  std::uint64_t index_mask_ = 0;
  int index_shift_ = 64;
  // Walkers: when each is free, and what it is walking (for cancel/promote).
  std::vector<Picoseconds> walker_free_;
  std::vector<std::uint64_t> walker_page_;
  std::vector<std::uint32_t> walker_slot_;
  std::vector<std::uint8_t> walker_prefetch_;
};

// A view of a page table owned by Python (numpy arrays kept alive by the binding).
struct PageTableView {
  const std::int32_t* device = nullptr;  // per logical page: device index, -1 = unmapped
  const std::int64_t* frame = nullptr;   // per logical page: physical frame on that device
  std::uint64_t pages = 0;
};

struct Translation {
  Picoseconds ready = 0;   // when the translation is known
  int device = -1;
  std::uint64_t physical = 0;  // byte address in that device's memory
};

class Mmu {
 public:
  Mmu(const TlbConfig& cfg, PageTableView table);
  // Translate a logical byte address at time t; throws std::out_of_range for an unmapped page
  // (a mapping bug upstream, reported with the address and page).
  Translation translate(std::uint64_t logical, Picoseconds t);
  // Tlb::warm for the page of a logical address (an unmapped page is left to translate()).
  void warm(std::uint64_t logical, Picoseconds t);
  // The device holding the page of a logical address (-1: unmapped), from the page table alone
  // (no TLB access, no time): `sampled` classifies tiles by where their bytes live with it.
  int device_of(std::uint64_t logical) const {
    const std::uint64_t page = logical >> shift_;
    return page < table_.pages ? table_.device[page] : -1;
  }
  // The physical byte address of a logical one on its device, from the page table alone (no TLB
  // access, no time); the logical address itself for an unmapped page.
  std::uint64_t physical_of(std::uint64_t logical) const {
    const std::uint64_t page = logical >> shift_;
    if (page >= table_.pages || table_.device[page] < 0 || table_.frame[page] < 0) return logical;
    return (static_cast<std::uint64_t>(table_.frame[page]) << shift_) | (logical & (page_bytes() - 1));
  }
  std::uint64_t page_bytes() const { return std::uint64_t{1} << shift_; }
  int page_shift() const { return shift_; }
  Tlb& tlb() { return tlb_; }
  const Tlb& tlb() const { return tlb_; }
  void set_table(PageTableView table) { table_ = table; }

 private:
  Tlb tlb_;
  PageTableView table_;
  int shift_ = 21;
};

}  // namespace h2m2::npu
