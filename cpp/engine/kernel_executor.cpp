#include "engine/kernel_executor.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace h2m2::engine {

namespace {
constexpr std::uint64_t kRemoteBit = std::uint64_t{1} << 63;
constexpr int kJobBits = 20;  // request id = core << kJobBits | job
constexpr std::uint64_t job_key(std::uint64_t core, int job) {
  return core << kJobBits | static_cast<std::uint64_t>(job);
}
constexpr std::size_t key_core(std::uint64_t key) { return static_cast<std::size_t>(key >> kJobBits); }
constexpr int key_job(std::uint64_t key) {
  return static_cast<int>(key & ((std::uint64_t{1} << kJobBits) - 1));
}
// [base, end) of logical addresses (CoreProgram::load_base / store_base); empty by default.
struct Region {
  std::uint64_t base = 0, end = 0;
};
}  // namespace

// One DMA job: the loads (or the stores) of one tile, walked request by request.
struct KernelExecutor::Job {
  std::int64_t tile = 0;
  bool store = false;
  bool live = false;
  // address generator
  const std::vector<npu::StreamPattern>* patterns = nullptr;
  std::int64_t tile_in_group = 0;
  std::size_t pattern = 0;
  std::int64_t row = 0;
  std::int64_t offset = 0;
  std::int64_t rot = 0;  // the pattern's stream starts `rot` bytes in and wraps (tile stagger)
  bool issued_all = false;
  std::int64_t outstanding = 0;
  std::int64_t issued = 0;
  Picoseconds back_at = 0;  // loads elided by the compute-bound shortcut: back no earlier
};

struct KernelExecutor::Core {
  int task = 0;
  int device = 0;
  int core = 0;
  const npu::CoreProgram* program = nullptr;
  std::vector<std::int64_t> group_end;  // cumulative tile counts
  std::int64_t tiles = 0;
  std::int64_t next_load = 0;    // next tile whose loads are admitted
  std::int64_t admitted = 0;     // tiles admitted so far (indices may jump over a skipped range)
  std::int64_t computed = 0;     // tiles computed so far
  std::int64_t skip_from = -1;   // `sampled`: tiles [skip_from, skip_to) are not simulated
  std::int64_t skip_to = -1;
  std::int64_t loaded = 0;       // tiles whose loads all returned, in order
  std::vector<std::uint8_t> load_done;  // ring over in-flight tiles
  std::vector<Picoseconds> load_ready;  // same ring: when the slot's loads were all back
  std::int64_t next_compute = 0;
  bool computing = false;
  Picoseconds compute_free = 0;
  Picoseconds prologue_end = 0;
  std::int64_t stores_outstanding = 0;
  bool done = false;
  Picoseconds end = 0;
  // DMA
  std::vector<Job> jobs;
  std::vector<int> free_jobs;
  std::vector<int> fifo;  // job ids in issue order (ring)
  std::size_t fifo_head = 0;
  std::int64_t inflight = 0;
  Picoseconds dma_wake = 0;
  Cycle issue_cycle = -1;  // core clock cycle of the last issue, and requests issued in it
  int issued_in_cycle = 0;
  std::uint64_t cached_page = ~std::uint64_t{0};
  int cached_device = -1;
  std::uint64_t cached_frame_base = 0;
  Picoseconds translation_ready = 0;
  std::int64_t tx_bytes = 32;
  // NpuConfig::dma_stagger, one of two ways (docs/assumptions.md):
  // - region stagger: loads (and stores of a declared region) start region_rot bytes into the
  //   core's region, whole row periods long, and wrap around;
  // - tile stagger (any other region): each single-stream load pattern starts stagger/stagger_of
  //   of the way in and wraps around.
  Region load_region, store_region;
  std::uint64_t region_rot = 0;
  int stagger = 0;  // this core's index among the task's cores; 0: no tile stagger
  int stagger_of = 1;
  // sampling
  std::uint64_t requests_total = 0;
  std::uint64_t requests_done = 0;
  Picoseconds compute_busy = 0;
  std::uint64_t bytes_moved = 0;
  std::vector<std::int64_t> load_requests;  // per group: load requests of one tile
  // compute-bound shortcut (ExecOptions::compute_slack)
  int slack_run = 0;                  // consecutive started tiles of slack_group with slack
  std::size_t slack_group = ~std::size_t{0};
  bool elide = false;                 // loads of newly admitted tiles are not simulated ...
  std::int64_t elide_requests = 0;    // ... while a tile has at most the measured group's load
  Cycle elide_compute = 0;            // requests, and no more of them per compute cycle
  std::uint64_t requests_elided = 0;
  Picoseconds skipped_ps = 0;         // compute of the tiles skipped by this core
  // placement classes (`sampled`; only kept for a task whose tiles are not all of one class)
  bool mixed = false;
  std::vector<Placement> tile_class;  // per tile
  Placement cur_class;                // of the tile whose loads were issued last
  Placement slack_class;              // of the tiles counted in slack_run
  Placement elide_class;              // of the tiles whose loads the shortcut hides
  std::int64_t skip_base = 0;         // tiles of earlier skips (all before [skip_from, skip_to))
  // mixed: tiles of the current class that finished computing since the task's last placement
  // event, the first and the last of their finishing times
  std::int64_t epoch_tiles = 0;
  Picoseconds epoch_first = 0, epoch_last = 0;
};

namespace {
// The load ring slot of a tile: tiles are numbered in admission order with the skipped range
// [skip_from, skip_to) left out, so a skip of any length keeps the slots of in-flight tiles apart.
// Earlier skips (skip_base tiles) lie before every tile still in flight.
template <typename C>
std::size_t load_slot(const C& c, std::int64_t tile) {
  const std::int64_t seq =
      (c.skip_from >= 0 && tile >= c.skip_to ? tile - (c.skip_to - c.skip_from) : tile) - c.skip_base;
  return static_cast<std::size_t>(seq % static_cast<std::int64_t>(c.load_done.size()));
}

// Tile stagger: where a load job's stream starts in pattern p: core c of C starts c/C of the way
// into a single-stream pattern (whole transactions); multi-row patterns (Linear tiles, whose
// cores read the same W rows side by side) and stores start at the beginning.
template <typename C>
std::int64_t stream_rotation(const C& c, const npu::StreamPattern& p) {
  if (c.stagger == 0 || p.rows != 1) return 0;
  return p.row_bytes * c.stagger / c.stagger_of / c.tx_bytes * c.tx_bytes;
}

// Region stagger: a planned address of a load (store) region_rot bytes on, wrapping around the
// core's load (store) region, so every byte of it is still moved once. Addresses outside the
// region (stores without one) stay.
template <typename C>
std::uint64_t staggered(const C& c, std::uint64_t a, bool store) {
  const Region& r = store ? c.store_region : c.load_region;
  if (c.region_rot == 0 || a < r.base || a >= r.end) return a;
  a += c.region_rot;
  return a >= r.end ? a - (r.end - r.base) : a;
}

// Logical address of job j's next request in pattern p (the current one).
template <typename C, typename J>
std::uint64_t request_address(const C& c, const J& j, const npu::StreamPattern& p) {
  std::int64_t off = j.offset + j.rot;
  if (off >= p.row_bytes) off -= p.row_bytes;
  return staggered(
      c, p.base + static_cast<std::uint64_t>(p.tile_offset(j.tile_in_group) + j.row * p.row_stride + off),
      j.store);
}
}  // namespace

struct KernelExecutor::Remote {
  int core = 0;
  int job = 0;
  int target = 0;
  std::uint64_t physical = 0;
  bool is_write = false;
  int stage = 0;  // 0 request on the link, 1 in remote memory, 2 data on the link back
};

KernelExecutor::KernelExecutor(std::vector<Device*> devices, link::Link* link,
                               std::function<bool()> interrupted)
    : devices_(std::move(devices)), link_(link), interrupted_(std::move(interrupted)) {}

KernelExecutor::~KernelExecutor() = default;

void KernelExecutor::admit_loads(Core& c, Picoseconds t) {
  const auto buffers = static_cast<std::int64_t>(devices_[static_cast<std::size_t>(c.device)]->config.npu.spm_buffers);
  while (c.next_load < c.tiles && c.admitted < c.computed + buffers) {
    if (c.next_load == c.skip_from) c.next_load = c.skip_to;
    const std::int64_t tile = c.next_load++;
    ++c.admitted;
    std::size_t g = 0;
    while (c.group_end[g] <= tile) ++g;
    const npu::TileGroup& grp = c.program->groups[g];
    const std::int64_t in_group = tile - (g ? c.group_end[g - 1] : 0);
    if (c.elide) {
      // compute-bound shortcut: a group whose tiles load no more, relative to their compute,
      // than the measured one has its loads hidden too; any other group ends the shortcut
      const std::int64_t req = c.load_requests[g];
      c.elide = req <= c.elide_requests && req * c.elide_compute <= c.elide_requests * grp.compute_cycles &&
                (!c.mixed || c.tile_class[static_cast<std::size_t>(tile)] == c.elide_class);
    }
    if (grp.loads.empty() || c.elide) {
      if (c.mixed && c.tile_class[static_cast<std::size_t>(tile)] != c.cur_class) {
        c.cur_class = c.tile_class[static_cast<std::size_t>(tile)];
        placement_event(c.task, t, true);
      }
      const auto slot = load_slot(c, tile);
      c.load_done[slot] = 1;
      c.load_ready[slot] = t;
      c.requests_elided += static_cast<std::uint64_t>(c.load_requests[g]);
      continue;
    }
    if (c.free_jobs.empty()) {
      c.free_jobs.push_back(static_cast<int>(c.jobs.size()));
      c.jobs.emplace_back();
    }
    const int id = c.free_jobs.back();
    c.free_jobs.pop_back();
    Job& j = c.jobs[static_cast<std::size_t>(id)];
    j = Job{};
    j.tile = tile;
    j.live = true;
    j.patterns = &grp.loads;
    j.tile_in_group = in_group;
    j.rot = stream_rotation(c, grp.loads.front());
    c.fifo.push_back(id);
  }
}

void KernelExecutor::start_compute(Core& c, Picoseconds t) {
  if (c.computing || c.next_compute >= c.tiles) return;
  // tiles complete their loads in order of admission; a tile may compute once its loads are in
  const std::int64_t tile = c.next_compute;
  const auto slot = load_slot(c, tile);
  if (c.computed >= c.admitted || !c.load_done[slot]) return;
  c.load_done[slot] = 0;
  std::size_t g = 0;
  while (c.group_end[g] <= tile) ++g;
  const Device& dev = *devices_[static_cast<std::size_t>(c.device)];
  const Picoseconds begin = std::max({t, c.compute_free, c.prologue_end});
  const Picoseconds dur = dev.npu_clock.to_ps(c.program->groups[g].compute_cycles);
  if (opts_.sample) {
    // slack: how long the tile's loads were back before it could start (compute-bound evidence)
    if (g != c.slack_group || (c.mixed && c.tile_class[static_cast<std::size_t>(tile)] != c.slack_class)) {
      c.slack_group = g;
      if (c.mixed) c.slack_class = c.tile_class[static_cast<std::size_t>(tile)];
      c.slack_run = 0;
    }
    const auto slack = static_cast<double>(begin - c.load_ready[slot]);
    c.slack_run = dur > 0 && slack >= opts_.compute_slack * static_cast<double>(dur) ? c.slack_run + 1 : 0;
  }
  c.computing = true;
  c.compute_free = begin + dur;
  c.compute_busy += dur;
  if (opts_.record_spans && dur > 0) spans_.push_back(Span{1, c.device, c.core, 1, begin, begin + dur});
  heap_.push_back(Event{begin + dur, 1, static_cast<std::uint64_t>(&c - cores_.data())});
  std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
}

void KernelExecutor::loads_back(Core& c, int id, Picoseconds t) {
  Job& j = c.jobs[static_cast<std::size_t>(id)];
  if (j.back_at > t) {  // elided: the rest of its loads are still streaming
    heap_.push_back(Event{j.back_at, 2, job_key(static_cast<std::uint64_t>(&c - cores_.data()), id)});
    std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
    return;
  }
  j.live = false;
  c.free_jobs.push_back(id);
  const auto slot = load_slot(c, j.tile);
  c.load_done[slot] = 1;
  c.load_ready[slot] = t;
  start_compute(c, t);
}

void KernelExecutor::complete(Core& c, int id, Picoseconds t) {
  Job& j = c.jobs[static_cast<std::size_t>(id)];
  if (--j.outstanding > 0 || !j.issued_all) return;
  if (j.store) {
    j.live = false;
    c.free_jobs.push_back(id);
    --c.stores_outstanding;
  } else {
    loads_back(c, id, t);
  }
  if (!c.done && c.next_compute == c.tiles && !c.computing && c.stores_outstanding == 0) {
    const Device& dev = *devices_[static_cast<std::size_t>(c.device)];
    c.done = true;
    c.end = std::max(t, c.compute_free) + dev.npu_clock.to_ps(c.program->epilogue_cycles);
    --running_;
    if (c.mixed) placement_event(c.task, t, false);
  }
}

void KernelExecutor::request_done(std::uint64_t id, Picoseconds t) {
  const int job = key_job(id);
  Core& c = cores_[key_core(id)];
  --c.inflight;
  ++c.requests_done;
  if (c.dma_wake > t) c.dma_wake = t;  // a freed slot may let the DMA go on
  complete(c, job, t);
}

void KernelExecutor::issue(Core& c, Picoseconds t) {
  Device& dev = *devices_[static_cast<std::size_t>(c.device)];
  const npu::NpuConfig& npu = dev.config.npu;
  // At most dma_issue_per_cycle requests per core clock cycle, however often the loop calls.
  const Cycle cycle = dev.npu_clock.cycle_at(t);
  if (cycle != c.issue_cycle) {
    c.issue_cycle = cycle;
    c.issued_in_cycle = 0;
  }
  int budget = npu.dma_issue_per_cycle - c.issued_in_cycle;
  // (pages are a power of two: shifts, not divisions, on the per-request path)
  const int page_shift = dev.mmu.page_shift();
  const std::uint64_t offset_mask = (std::uint64_t{1} << page_shift) - 1;
  const Cycle mem_cycle = dev.mem_clock.cycle_at(t);  // sync_memory(dev, t), divided once
  const auto core_index = static_cast<std::uint64_t>(&c - cores_.data());
  while (budget > 0 && c.inflight < npu.dma_max_inflight && c.fifo_head < c.fifo.size()) {
    const int id = c.fifo[c.fifo_head];
    Job& j = c.jobs[static_cast<std::size_t>(id)];
    if (c.mixed && j.issued == 0 && !j.store && c.tile_class[static_cast<std::size_t>(j.tile)] != c.cur_class) {
      c.cur_class = c.tile_class[static_cast<std::size_t>(j.tile)];  // the stream enters another class
      placement_event(c.task, t, true);
    }
    const npu::StreamPattern& p = (*j.patterns)[j.pattern];
    const std::uint64_t addr = request_address(c, j, p);
    const std::uint64_t page = addr >> page_shift;
    if (page != c.cached_page) {
      const npu::Translation tr = dev.mmu.translate(addr, t);
      c.cached_page = page;
      c.cached_device = tr.device;
      c.cached_frame_base = tr.physical - (addr & offset_mask);
      c.translation_ready = tr.ready;
    }
    if (c.translation_ready > t) {
      c.dma_wake = c.translation_ready;
      return;
    }
    const std::uint64_t physical = c.cached_frame_base + (addr & offset_mask);
    const std::uint64_t req_id = job_key(core_index, id);
    if (c.cached_device == c.device) {
      sync_memory_to(dev, mem_cycle);
      if (!dev.memory.try_enqueue(physical, j.store, req_id)) {
        c.dma_wake = t + dev.mem_clock.period_ps();  // queue full: retry next memory cycle
        return;
      }
    } else {
      if (!link_ || c.cached_device < 0 || c.cached_device >= static_cast<int>(devices_.size())) {
        throw std::invalid_argument("h2m2: a page of device " + std::to_string(c.cached_device) +
                                    " is used by device " + std::to_string(c.device) +
                                    " but no link connects them");
      }
      int r;
      if (free_remotes_.empty()) {
        r = static_cast<int>(remotes_.size());
        remotes_.emplace_back();
      } else {
        r = free_remotes_.back();
        free_remotes_.pop_back();
      }
      Remote& rm = remotes_[static_cast<std::size_t>(r)];
      rm = Remote{static_cast<int>(core_index), id, c.cached_device, physical, j.store, 0};
      // A read sends a request packet; a write sends its data. Either way one transaction's
      // worth of wire bytes (rounded to the link granularity) leaves toward the remote device.
      link_pending_[link_->start(c.device, c.tx_bytes, t)] = r;
    }
    ++j.outstanding;
    ++j.issued;
    ++c.inflight;
    c.bytes_moved += static_cast<std::uint64_t>(c.tx_bytes);
    --budget;
    ++c.issued_in_cycle;
    // advance the address generator by one transaction
    j.offset += c.tx_bytes;
    if (j.offset >= p.row_bytes) {
      j.offset = 0;
      if (++j.row >= p.rows) {
        j.row = 0;
        if (++j.pattern >= j.patterns->size()) {
          j.issued_all = true;
          ++c.fifo_head;
        } else if (!j.store) {
          j.rot = stream_rotation(c, (*j.patterns)[j.pattern]);
        }
      }
    }
  }
  if (c.fifo_head < c.fifo.size() && c.inflight < npu.dma_max_inflight) {
    c.dma_wake = budget > 0 ? t + dev.npu_clock.period_ps() : dev.npu_clock.to_ps(cycle + 1);
  } else {
    c.dma_wake = kNever;  // woken by a completion or a new job
  }
}

void KernelExecutor::on_compute_done(Core& c, Picoseconds t) {
  c.computing = false;
  if (c.mixed) {
    // whole periods between tiles of the class being issued (tiles loaded before a change of
    // class do not count)
    if (c.tile_class[static_cast<std::size_t>(c.next_compute)] != c.cur_class) {
      c.epoch_tiles = 0;
    } else {
      if (c.epoch_tiles++ == 0) c.epoch_first = t;
      c.epoch_last = t;
    }
  }
  const std::int64_t tile = c.next_compute++;
  if (c.next_compute == c.skip_from) c.next_compute = c.skip_to;
  ++c.computed;
  std::size_t g = 0;
  while (c.group_end[g] <= tile) ++g;
  const npu::TileGroup& grp = c.program->groups[g];
  if (!grp.stores.empty()) {
    if (c.free_jobs.empty()) {
      c.free_jobs.push_back(static_cast<int>(c.jobs.size()));
      c.jobs.emplace_back();
    }
    const int id = c.free_jobs.back();
    c.free_jobs.pop_back();
    Job& j = c.jobs[static_cast<std::size_t>(id)];
    j = Job{};
    j.tile = tile;
    j.store = true;
    j.live = true;
    j.patterns = &grp.stores;
    j.tile_in_group = tile - (g ? c.group_end[g - 1] : 0);
    c.fifo.push_back(id);
    ++c.stores_outstanding;
  }
  admit_loads(c, t);
  c.dma_wake = std::min(c.dma_wake, t);
  start_compute(c, t);
  if (!c.done && c.next_compute == c.tiles && !c.computing && c.stores_outstanding == 0) {
    const Device& dev = *devices_[static_cast<std::size_t>(c.device)];
    c.done = true;
    c.end = t + dev.npu_clock.to_ps(c.program->epilogue_cycles);
    --running_;
    if (c.mixed) placement_event(c.task, t, false);
  }
}

void KernelExecutor::on_delivered(std::uint64_t transfer, Picoseconds t) {
  const auto it = link_pending_.find(transfer);
  if (it == link_pending_.end()) return;  // not ours (the link may carry other traffic)
  const int r = it->second;
  link_pending_.erase(it);
  Remote& rm = remotes_[static_cast<std::size_t>(r)];
  if (rm.stage == 0) {
    // arrived at the remote device: access its memory (ids with the remote bit point here)
    Device& dev = *devices_[static_cast<std::size_t>(rm.target)];
    sync_memory(dev, t);
    if (!dev.memory.try_enqueue(rm.physical, rm.is_write, kRemoteBit | static_cast<std::uint64_t>(r))) {
      // remote queue full: hold the request on the link side and retry a memory cycle later
      retry_remote_.push_back({t + dev.mem_clock.period_ps(), r});
      return;
    }
    rm.stage = 1;
    return;
  }
  // stage 2: data back at the requester
  const std::uint64_t id = job_key(static_cast<std::uint64_t>(rm.core), rm.job);
  free_remotes_.push_back(r);
  request_done(id, t);
}

bool KernelExecutor::calendar_front(std::size_t d) {
  Calendar& cal = calendars_[d];
  if (cal.count == 0) return false;
  for (;;) {
    auto& bucket = cal.buckets[static_cast<std::size_t>(cal.cursor & (Calendar::kSpan - 1))];
    if (cal.front < bucket.size()) return true;
    bucket.clear();
    cal.front = 0;
    cal.open = false;
    ++cal.cursor;
  }
}

void KernelExecutor::dispatch(const Event& e) {
  if (e.kind == 1) {
    on_compute_done(cores_[static_cast<std::size_t>(e.a)], e.time);
  } else if (e.kind == 2) {
    loads_back(cores_[key_core(e.a)], key_job(e.a), e.time);
  } else if (e.a & kRemoteBit) {
    // remote memory access done: send the data (read) or nothing more (write) back
    const int r = static_cast<int>(e.a & ~kRemoteBit);
    Remote& rm = remotes_[static_cast<std::size_t>(r)];
    if (rm.is_write) {
      const std::uint64_t id = job_key(static_cast<std::uint64_t>(rm.core), rm.job);
      free_remotes_.push_back(r);
      request_done(id, e.time);
    } else {
      rm.stage = 2;
      const Core& c = cores_[static_cast<std::size_t>(rm.core)];
      link_pending_[link_->start(rm.target, c.tx_bytes, e.time)] = r;
    }
  } else {
    request_done(e.a, e.time);
  }
}

void KernelExecutor::log_progress(Picoseconds now) {
  // One sample per task per window: the requests done so far (fine-grained, every core).
  while (next_sample_ < now) {
    for (std::size_t t = 0; t < progress_.size(); ++t) {
      std::uint64_t done = 0;
      for (const Core& c : cores_) {
        if (c.task == static_cast<int>(t)) done += c.requests_done;
      }
      progress_[t].emplace_back(next_sample_, done);
      if (ramp_[t] < 0) {
        bool ramped = true;
        for (const Core& c : cores_) {
          if (c.task == static_cast<int>(t) && !c.done && c.computed < opts_.ramp_tiles) ramped = false;
        }
        if (ramped) ramp_[t] = static_cast<std::int64_t>(progress_[t].size()) - 1;
      }
    }
    next_sample_ += opts_.window_ps;
  }
}

double KernelExecutor::steady_rate(std::size_t task) const {
  // Requests per ps, once the last `windows` windows are steady (their first and second halves
  // agree within the tolerance) and every core has finished `min_tiles` tiles: measured since the
  // ramp (ExecOptions::ramp_tiles) if that span is longer than the steady window.
  const auto& log = progress_[task];
  const auto w = static_cast<std::size_t>(opts_.windows);
  const std::size_t n = log.size();
  if (n < w + 1) return 0.0;
  for (const Core& c : cores_) {
    if (c.task == static_cast<int>(task) && !c.done && c.computed < opts_.min_tiles) return 0.0;
  }
  auto rate = [&](std::size_t a, std::size_t b) {
    const double dt = static_cast<double>(log[b].first - log[a].first);
    return dt > 0 ? static_cast<double>(log[b].second - log[a].second) / dt : 0.0;
  };
  std::size_t a = n - 1 - w, m = n - 1 - w / 2;
  const std::size_t b = n - 1;
  if (mixed_[task]) {
    // One placement class on every running core. After a change of classes the skip is timed
    // by whole tile periods (stretch_period), as a remote stream's rate varies within a tile.
    const Core* first = nullptr;
    for (const Core& c : cores_) {
      if (c.task != static_cast<int>(task) || c.done) continue;
      if (first && c.cur_class != first->cur_class) return 0.0;
      first = &c;
    }
    if (epoch_[task] > 0) return stretch_period(task) > 0 ? 1.0 : 0.0;
  }
  const double early = rate(a, m), late = rate(m, b), all = rate(a, b);
  if (all <= 0 || std::fabs(late - early) > opts_.tolerance * all) return 0.0;
  const std::int64_t ramp = ramp_[task];
  return ramp >= 0 && static_cast<std::size_t>(ramp) < a ? rate(static_cast<std::size_t>(ramp), b) : all;
}

bool KernelExecutor::steady(std::size_t task) const {
  return compute_bound(task) || steady_rate(task) > 0.0;
}

bool KernelExecutor::any_steady() const {
  // Tasks run on their own chips and memories, so each skips as soon as it is steady itself.
  for (std::size_t t = 0; t < progress_.size(); ++t) {
    if (!skip_open_[t]) continue;
    bool running = false;
    for (const Core& c : cores_) running |= (c.task == static_cast<int>(t) && !c.done);
    if (running && steady(t)) return true;
  }
  return false;
}

Picoseconds KernelExecutor::stretch_period(std::size_t task) const {
  // The longest mean tile period of the running cores since the last placement event, once every
  // one has finished `min_tiles` tiles since then (min_tiles - 1 whole periods); 0 before.
  Picoseconds period = 0;
  for (const Core& c : cores_) {
    if (c.task != static_cast<int>(task) || c.done) continue;
    if (c.epoch_tiles < opts_.min_tiles) return 0;
    period = std::max(period, (c.epoch_last - c.epoch_first) / (c.epoch_tiles - 1));
  }
  return period;
}

void KernelExecutor::placement_event(int task, Picoseconds t, bool class_change) {
  const auto ti = static_cast<std::size_t>(task);
  for (Core& c : cores_) {
    if (c.task == task) c.epoch_tiles = 0;
  }
  epoch_[ti] = t;
  skip_open_[ti] = 1;
  // a compute-bound prediction judged other tiles; from now on only observed slack counts
  if (class_change && cbound_predicted_[ti] == 2) cbound_predicted_[ti] = 1;
}

void KernelExecutor::classify_tiles(Core& c) const {
  // Bytes of each tile not on the core's own device, page by page from the chip's page table.
  const npu::Mmu& mmu = devices_[static_cast<std::size_t>(c.device)]->mmu;
  const std::uint64_t page = mmu.page_bytes();
  auto remote_in = [&](std::uint64_t a, std::uint64_t end) {
    std::int64_t bytes = 0;
    while (a < end) {
      const std::uint64_t next = std::min(end, (a / page + 1) * page);
      if (mmu.device_of(a) != c.device) bytes += static_cast<std::int64_t>(next - a);
      a = next;
    }
    return bytes;
  };
  auto remote = [&](const std::vector<npu::StreamPattern>& pats, std::int64_t i, bool store) {
    const Region& reg = store ? c.store_region : c.load_region;
    std::int64_t bytes = 0;
    for (const npu::StreamPattern& p : pats) {
      for (std::int64_t r = 0; r < p.rows; ++r) {
        const std::uint64_t a = staggered(c, p.base + static_cast<std::uint64_t>(p.tile_offset(i) + r * p.row_stride), store);
        const std::uint64_t end = a + static_cast<std::uint64_t>(p.row_bytes);
        if (end > reg.end && a < reg.end) {  // the region stagger wraps this run around
          bytes += remote_in(a, reg.end) + remote_in(reg.base, reg.base + (end - reg.end));
        } else {
          bytes += remote_in(a, end);
        }
      }
    }
    return bytes;
  };
  c.tile_class.clear();
  c.tile_class.reserve(static_cast<std::size_t>(c.tiles));
  for (const npu::TileGroup& g : c.program->groups) {
    for (std::int64_t i = 0; i < g.count; ++i) {
      c.tile_class.push_back(Placement{remote(g.loads, i, false), remote(g.stores, i, true)});
    }
  }
}

std::vector<KernelTiming> KernelExecutor::run(const std::vector<KernelTask>& tasks, const ExecOptions& opts) {
  opts_ = opts;
  cores_.clear();
  remotes_.clear();
  free_remotes_.clear();
  heap_.clear();
  calendars_.assign(devices_.size(), Calendar{});
  for (Calendar& cal : calendars_) cal.buckets.resize(static_cast<std::size_t>(Calendar::kSpan));
  spans_.clear();
  link_pending_.clear();
  retry_remote_.clear();
  progress_.assign(tasks.size(), {});
  ramp_.assign(tasks.size(), -1);
  cbound_predicted_.assign(tasks.size(), 0);
  next_sample_ = 0;
  sampling_ = opts.sample;
  mixed_.assign(tasks.size(), 0);
  epoch_.assign(tasks.size(), 0);
  skip_open_.assign(tasks.size(), 1);
  skipped_ps_.assign(tasks.size(), 0);
  skipped_requests_.assign(tasks.size(), 0);
  cores_per_task_.assign(tasks.size(), 0);
  running_ = 0;
  for (std::size_t ti = 0; ti < tasks.size(); ++ti) {
    const KernelTask& task = tasks[ti];
    if (task.device < 0 || task.device >= static_cast<int>(devices_.size()) || !task.plan) {
      throw std::invalid_argument("h2m2: kernel task " + std::to_string(ti) + " names device " +
                                  std::to_string(task.device) + " of " + std::to_string(devices_.size()));
    }
    const Device& dev = *devices_[static_cast<std::size_t>(task.device)];
    if (static_cast<int>(task.plan->cores.size()) > dev.config.npu.cores) {
      throw std::invalid_argument("h2m2: a tile plan uses " + std::to_string(task.plan->cores.size()) +
                                  " cores but device " + dev.config.name + " has " +
                                  std::to_string(dev.config.npu.cores));
    }
    for (std::size_t ci = 0; ci < task.plan->cores.size(); ++ci) {
      Core c;
      c.task = static_cast<int>(ti);
      c.device = task.device;
      c.core = static_cast<int>(ci);
      c.program = &task.plan->cores[ci];
      std::int64_t total = 0;
      for (const npu::TileGroup& g : c.program->groups) {
        total += g.count;
        c.group_end.push_back(total);
      }
      c.tiles = total;
      const auto tx = dev.config.dram.transaction_bytes;
      for (const npu::TileGroup& g : c.program->groups) {
        std::int64_t per_tile = 0;
        for (const auto* pats : {&g.loads, &g.stores}) {
          for (const npu::StreamPattern& p : *pats) per_tile += p.rows * ((p.row_bytes + tx - 1) / tx);
        }
        c.requests_total += static_cast<std::uint64_t>(g.count * per_tile);
      }
      ++cores_per_task_[ti];
      c.load_done.assign(static_cast<std::size_t>(dev.config.npu.spm_buffers + 1), 0);
      c.load_ready.assign(c.load_done.size(), 0);
      for (const npu::TileGroup& g : c.program->groups) {
        std::int64_t per_tile = 0;
        for (const npu::StreamPattern& p : g.loads) per_tile += p.rows * ((p.row_bytes + tx - 1) / tx);
        c.load_requests.push_back(per_tile);
      }
      c.prologue_end = dev.npu_clock.to_ps(c.program->prologue_cycles);
      c.tx_bytes = dev.config.dram.transaction_bytes;
      if (dev.config.npu.dma_stagger) {
        const auto region = static_cast<std::uint64_t>(c.program->load_bytes);
        const std::uint64_t period = dev.memory.row_period_bytes();
        if (task.plan->cores.size() > 1 && region > 0 && region % period == 0) {
          // Whole row periods: start at index/cores of the period, measured on the physical
          // address, so cores streaming in lockstep meet in different banks however far apart
          // their regions lie; the wrap, a whole number of periods back, keeps the phase.
          c.load_region = Region{c.program->load_base, c.program->load_base + region};
          c.store_region = Region{c.program->store_base,
                                  c.program->store_base + static_cast<std::uint64_t>(c.program->store_bytes)};
          const std::uint64_t target = period / task.plan->cores.size() * ci;
          const std::uint64_t phase = dev.mmu.physical_of(c.load_region.base) % period;
          c.region_rot = (target + period - phase) % period / static_cast<std::uint64_t>(c.tx_bytes) *
                         static_cast<std::uint64_t>(c.tx_bytes);
        } else {
          c.stagger = c.core;
          c.stagger_of = static_cast<int>(task.plan->cores.size());
        }
      }
      cores_.push_back(std::move(c));
    }
  }
  if (cores_.size() >= (std::size_t{1} << (63 - kJobBits))) throw std::invalid_argument("h2m2: too many cores");
  device_cores_.assign(devices_.size(), {});
  rotation_.assign(devices_.size(), 0);
  issue_order_.assign(devices_.size(), {});
  for (std::size_t i = 0; i < cores_.size(); ++i) device_cores_[static_cast<std::size_t>(cores_[i].device)].push_back(i);
  for (std::size_t d = 0; d < devices_.size(); ++d) issue_order_[d].resize(device_cores_[d].size());
  if (opts_.sample) {
    // placement classes: a task is mixed when its tiles (over all its cores) are not all of one
    std::vector<const Placement*> first(tasks.size(), nullptr);
    for (Core& c : cores_) {
      classify_tiles(c);
      auto& f = first[static_cast<std::size_t>(c.task)];
      for (const Placement& pc : c.tile_class) {
        if (!f) f = &pc;
        if (pc != *f) mixed_[static_cast<std::size_t>(c.task)] = 1;
      }
    }
    for (Core& c : cores_) {
      c.mixed = mixed_[static_cast<std::size_t>(c.task)] != 0;
      if (!c.mixed) {
        std::vector<Placement>().swap(c.tile_class);
      } else if (!c.tile_class.empty()) {
        c.cur_class = c.slack_class = c.tile_class.front();
      }
    }
  }
  for (Core& c : cores_) {
    if (c.tiles == 0) {
      c.done = true;
      c.end = c.prologue_end + devices_[static_cast<std::size_t>(c.device)]->npu_clock.to_ps(c.program->epilogue_cycles);
      continue;
    }
    ++running_;
    admit_loads(c, 0);
    start_compute(c, 0);  // tiles without loads
    c.dma_wake = 0;
  }

  std::vector<std::uint64_t> requests_before(devices_.size(), 0);
  Picoseconds now = 0;
  std::uint64_t iterations = 0;
  while (running_ > 0) {
    // the next instant anything happens
    Picoseconds next = heap_.empty() ? kNever : heap_.front().time;
    for (std::size_t d = 0; d < devices_.size(); ++d) {
      if (calendar_front(d)) next = std::min(next, devices_[d]->mem_clock.to_ps(calendars_[d].cursor));
    }
    for (const Core& c : cores_) {
      if (!c.done) next = std::min(next, c.dma_wake);
    }
    for (Device* d : devices_) {
      if (d->memory.pending() > 0) next = std::min(next, d->mem_clock.to_ps(d->memory.next_event_after_now()));
    }
    if (link_) next = std::min(next, link_->next_delivery());
    for (const auto& rr : retry_remote_) next = std::min(next, rr.first);
    if (next >= kNever) {
      throw std::logic_error("h2m2 internal error: kernel executor stalled; please report");
    }
    now = std::max(now, next);
    // sampling windows that ended before `now` see the progress before this instant's events
    if (sampling_) log_progress(now);
    // Busy memories up to now; their completions become events. An idle memory (nothing queued)
    // only refreshes: it is brought up to date when a request is about to enter it
    // (sync_memory), so the request still arrives at its next clock edge, and at the end.
    // Advancing it in one step or in many issues the same commands.
    for (std::size_t di = 0; di < devices_.size(); ++di) {
      Device* d = devices_[di];
      if (d->memory.pending() == 0) continue;
      Calendar& cal = calendars_[di];
      d->memory.advance_to(d->mem_clock.cycle_at(now));
      auto& done = d->memory.completions();
      if (cal.count == 0 && !done.empty()) {
        // Nothing pending: the ring moves to the first new completion (after an idle stretch the
        // new ones would otherwise lie beyond it and all go to heap_).
        Cycle first = kNever;
        for (const dram::Completion& cpl : done) first = std::min(first, cpl.done);
        if (first > cal.cursor) {
          cal.buckets[static_cast<std::size_t>(cal.cursor & (Calendar::kSpan - 1))].clear();
          cal.cursor = first;
          cal.front = 0;
          cal.open = false;
        }
      }
      for (const dram::Completion& cpl : done) {
        if (cpl.done > cal.cursor && cpl.done - cal.cursor < Calendar::kSpan) {
          cal.buckets[static_cast<std::size_t>(cpl.done & (Calendar::kSpan - 1))].push_back(cpl.id);
          ++cal.count;
        } else if (cpl.done == cal.cursor && !cal.open) {
          cal.buckets[static_cast<std::size_t>(cpl.done & (Calendar::kSpan - 1))].push_back(cpl.id);
          ++cal.count;
        } else {
          heap_.push_back(Event{d->mem_clock.to_ps(cpl.done), 0, cpl.id});
          std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
        }
      }
      done.clear();
    }
    if (link_ && link_->next_delivery() <= now) {
      delivered_.clear();
      link_->advance_to(now, delivered_);
      for (const auto& dl : delivered_) on_delivered(dl.first, dl.second);
    }
    if (!retry_remote_.empty()) {
      auto pending = std::move(retry_remote_);
      retry_remote_.clear();
      for (const auto& rr : pending) {
        if (rr.first > now) {
          retry_remote_.push_back(rr);
          continue;
        }
        Remote& rm = remotes_[static_cast<std::size_t>(rr.second)];
        Device& dev = *devices_[static_cast<std::size_t>(rm.target)];
        sync_memory(dev, now);
        if (dev.memory.try_enqueue(rm.physical, rm.is_write, kRemoteBit | static_cast<std::uint64_t>(rr.second))) {
          rm.stage = 1;
        } else {
          retry_remote_.push_back({now + dev.mem_clock.period_ps(), rr.second});
        }
      }
    }
    for (;;) {
      // the earliest due event, (time, id) order, among heap_ and the devices' calendars
      int from = -2;  // -1: heap_, d >= 0: calendar of device d
      Event best{kNever, 0, 0};
      if (!heap_.empty() && heap_.front().time <= now) {
        best = heap_.front();
        from = -1;
      }
      for (std::size_t d = 0; d < devices_.size(); ++d) {
        if (!calendar_front(d)) continue;
        Calendar& cal = calendars_[d];
        const Picoseconds t = devices_[d]->mem_clock.to_ps(cal.cursor);
        if (t > now) continue;
        auto& bucket = cal.buckets[static_cast<std::size_t>(cal.cursor & (Calendar::kSpan - 1))];
        if (!cal.open) {
          std::sort(bucket.begin(), bucket.end());
          cal.open = true;
        }
        const Event e{t, 0, bucket[cal.front]};
        if (from == -2 || best > e) {
          best = e;
          from = static_cast<int>(d);
        }
      }
      if (from == -2) break;
      if (from == -1) {
        std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
        heap_.pop_back();
      } else {
        Calendar& cal = calendars_[static_cast<std::size_t>(from)];
        ++cal.front;
        --cal.count;
      }
      dispatch(best);
    }
    // The DMA engines of a device share its memory's queues; which core goes first rotates
    // (round-robin arbitration, per device, so another device's events do not change it), and
    // under LeastProgress the cores that have computed a smaller share of their tiles go before
    // the others (a share, so that cores with fewer tiles, or another kernel's, compare fairly).
    for (std::size_t d = 0; d < devices_.size(); ++d) {
      const auto& ids = device_cores_[d];
      auto& order = issue_order_[d];
      for (std::size_t k = 0; k < ids.size(); ++k) order[k] = ids[(k + rotation_[d]) % ids.size()];
      if (devices_[d]->config.npu.dma_arbitration == npu::DmaArbitration::LeastProgress) {
        auto behind = [&](std::size_t a, std::size_t b) {  // computed_a / tiles_a < computed_b / tiles_b
          return cores_[a].computed * cores_[b].tiles < cores_[b].computed * cores_[a].tiles;
        };
        // a stable insertion sort: a chip has a handful of cores
        for (std::size_t k = 1; k < order.size(); ++k) {
          for (std::size_t m = k; m > 0 && behind(order[m], order[m - 1]); --m) std::swap(order[m], order[m - 1]);
        }
      }
      bool any = false;
      for (const std::size_t i : order) {
        Core& c = cores_[i];
        if (!c.done && c.dma_wake <= now) {
          issue(c, now);
          any = true;
        }
      }
      rotation_[d] += any;
    }
    if (sampling_ && opts_.compute_slack > 0.0) predict_compute_bound(now);
    if (sampling_ && any_steady()) skip_ahead(now);
    if ((++iterations & 0xFFFF) == 0 && interrupted_ && interrupted_()) {
      throw std::runtime_error("interrupted");
    }
  }

  // the memories of the kernels' devices end where they would have (their statistics are
  // reported); another device's idle memory is left where it was last needed
  for (const KernelTask& task : tasks) sync_memory(*devices_[static_cast<std::size_t>(task.device)], now);
  std::vector<KernelTiming> out(tasks.size());
  for (std::size_t ti = 0; ti < tasks.size(); ++ti) out[ti].device = tasks[ti].device;
  for (const Core& c : cores_) {
    KernelTiming& k = out[static_cast<std::size_t>(c.task)];
    CoreTiming ct;
    ct.device = c.device;
    ct.core = c.core;
    ct.tiles = c.tiles;
    ct.tiles_simulated = c.computed;
    ct.compute_busy_ps = c.compute_busy;
    ct.end_ps = (c.done ? c.end : now) + c.skipped_ps;
    k.cores.push_back(ct);
  }
  for (std::size_t t = 0; t < out.size(); ++t) {
    KernelTiming& k = out[t];
    for (const CoreTiming& ct : k.cores) k.end_ps = std::max(k.end_ps, ct.end_ps);
    k.end_ps += skipped_ps_[t];
    std::uint64_t total = 0, not_simulated = skipped_requests_[t];
    for (const Core& c : cores_) {
      if (c.task != static_cast<int>(t)) continue;
      total += c.requests_total;
      not_simulated += c.requests_elided;
    }
    k.extrapolated = not_simulated > 0;
    k.simulated_fraction = total ? 1.0 - static_cast<double>(not_simulated) / static_cast<double>(total) : 1.0;
    if (opts_.record_spans) spans_.push_back(Span{0, k.device, 0, 0, 0, k.end_ps});
  }
  for (const Core& c : cores_) {
    out[static_cast<std::size_t>(c.task)].requests += c.bytes_moved / static_cast<std::uint64_t>(c.tx_bytes);
  }
  return out;
}

bool KernelExecutor::compute_bound(std::size_t task) const {
  // Every unfinished core has started its last `slack_tiles` tiles (of one group) with their loads
  // back at least compute_slack x the tile's compute earlier: memory keeps ahead of compute.
  if (opts_.compute_slack <= 0.0) return false;
  if (cbound_predicted_[task] == 2) return true;
  bool any = false;
  for (const Core& c : cores_) {
    if (c.task != static_cast<int>(task) || c.done) continue;
    if (c.slack_run < opts_.slack_tiles) return false;
    any = true;
  }
  return any;
}

void KernelExecutor::predict_compute_bound(Picoseconds now) {
  // Once, when every core of a task has started its first tile: one round of the current group's
  // tiles (loads and stores of every core) at the request rate achieved so far (start-up
  // included, so an underestimate) must take at most (1 - compute_slack) of the time the
  // double buffering gives it, (spm_buffers - 1) tiles' compute, on every core. A task of one
  // placement class is judged earlier too, once every core has `predict_fraction` of its first
  // tile's loads back, if its cores have tiles to skip (more than the tail and the buffers in
  // their first group: the rest of the first tile's loads are then extrapolated, a small part
  // of the kernel); a "no" then is not final (the rate so far is lower, start-up included).
  for (std::size_t t = 0; t < cbound_predicted_.size(); ++t) {
    if (cbound_predicted_[t] != 0) continue;
    std::uint64_t done = 0;
    std::int64_t round = 0;
    bool started = true, any = false, early = false;
    for (Core& c : cores_) {
      if (c.task != static_cast<int>(t) || c.done) continue;
      any = true;
      if (c.computed == 0 && !c.computing) {
        std::size_t g = 0;
        while (c.group_end[g] <= c.next_compute) ++g;
        const Device& dev = *devices_[static_cast<std::size_t>(c.device)];
        if (mixed_[t] || c.group_end[g] - c.next_compute <= opts_.tail_tiles + dev.config.npu.spm_buffers ||
            static_cast<double>(c.requests_done) < opts_.predict_fraction * static_cast<double>(c.load_requests[g])) {
          started = false;
          break;
        }
        c.slack_group = g;  // the group the first tile's compute will start
        early = true;
      }
      const npu::TileGroup& grp = c.program->groups[c.slack_group];
      round += c.load_requests[c.slack_group];
      for (const npu::StreamPattern& p : grp.stores) round += p.rows * ((p.row_bytes + c.tx_bytes - 1) / c.tx_bytes);
    }
    if (!any || !started || now <= 0) continue;
    for (const Core& c : cores_) {
      if (c.task == static_cast<int>(t)) done += c.requests_done;
    }
    if (!early) cbound_predicted_[t] = 1;
    if (mixed_[t]) {
      // an aggregate rate says something about every core only if they all stream one class
      const Core* f = nullptr;
      bool one = true;
      for (const Core& c : cores_) {
        if (c.task != static_cast<int>(t) || c.done) continue;
        one = one && (!f || c.cur_class == f->cur_class);
        f = &c;
      }
      if (!one) continue;
    }
    if (done == 0) continue;
    const double round_ps = static_cast<double>(round) * static_cast<double>(now) / static_cast<double>(done);
    bool hidden = true;
    for (const Core& c : cores_) {
      if (c.task != static_cast<int>(t) || c.done) continue;
      const Device& dev = *devices_[static_cast<std::size_t>(c.device)];
      const auto overlap = static_cast<double>(
          (dev.config.npu.spm_buffers - 1) * dev.npu_clock.to_ps(c.program->groups[c.slack_group].compute_cycles));
      hidden = hidden && round_ps <= (1.0 - opts_.compute_slack) * overlap;
    }
    if (hidden) cbound_predicted_[t] = 2;
  }
}

double KernelExecutor::recent_rate(std::size_t task) const {
  // Requests per ps from the first progress sample with a request back to the last (the start-up,
  // TLB walks and the first access latency, left out); before there are two such samples, since
  // the start (0 before the first sample).
  const auto& log = progress_[task];
  if (log.empty() || log.back().first <= 0) return 0.0;
  std::size_t i = 0;
  while (i < log.size() && log[i].second == 0) ++i;
  if (i + 1 >= log.size()) return static_cast<double>(log.back().second) / static_cast<double>(log.back().first);
  return static_cast<double>(log.back().second - log[i].second) / static_cast<double>(log.back().first - log[i].first);
}

void KernelExecutor::elide_loads(Core& c, Picoseconds t, double rate) {
  // From now on the loads of this core's tiles are not simulated: a tile's loads count as back
  // when it is admitted. The admitted load jobs issue nothing more; their requests not yet issued
  // stream on at `rate` in the DMA's order (the first tile's may be half of it), so each job is
  // back when those are and its requests in flight have returned.
  const npu::TileGroup& grp = c.program->groups[c.slack_group];
  c.elide = true;
  c.elide_requests = c.load_requests[c.slack_group];
  c.elide_compute = grp.compute_cycles;
  c.elide_class = c.slack_class;
  std::size_t keep = c.fifo_head;
  double pending = 0.0;  // requests of the elided jobs so far, not issued
  for (std::size_t k = c.fifo_head; k < c.fifo.size(); ++k) {
    const int id = c.fifo[k];
    Job& j = c.jobs[static_cast<std::size_t>(id)];
    std::size_t g = 0;
    while (c.group_end[g] <= j.tile) ++g;
    const std::int64_t req = c.load_requests[g];
    if (j.live && !j.store && req <= c.elide_requests &&
        req * c.elide_compute <= c.elide_requests * c.program->groups[g].compute_cycles &&
        (!c.mixed || c.tile_class[static_cast<std::size_t>(j.tile)] == c.elide_class)) {
      c.requests_elided += static_cast<std::uint64_t>(req - j.issued);
      pending += static_cast<double>(req - j.issued);
      j.issued_all = true;
      if (rate > 0.0) j.back_at = t + static_cast<Picoseconds>(std::llround(pending / rate));
      if (j.outstanding == 0) loads_back(c, id, t);
      continue;
    }
    c.fifo[keep++] = id;
  }
  c.fifo.resize(keep);
  start_compute(c, t);
}

std::pair<std::int64_t, std::size_t> KernelExecutor::skip_start(const Core& c) const {
  std::int64_t b = c.next_compute + (c.computing ? 1 : 0);
  std::size_t g = 0;
  while (g < c.group_end.size() && c.group_end[g] <= b) ++g;
  if (g < c.group_end.size() && c.next_load > c.group_end[g]) {
    b = c.next_load;
    while (g < c.group_end.size() && c.group_end[g] <= b) ++g;
  }
  return {b, g};
}

void KernelExecutor::skip_ahead(Picoseconds now) {
  // Every unfinished core of a steady task (each task on its own: the others may still be
  // ramping) skips the same number J of identical tiles of its current group, keeping `tail`
  // tiles to simulate. Memory-bound: the skipped time is their requests at
  // the task's steady rate (or their compute if longer). Compute-bound: each core's skipped time
  // is exactly its J tiles' compute, and the loads of the rest are not simulated.
  // Tiles after the skipped range take the load ring slots the skipped ones would have had.
  for (std::size_t t = 0; t < progress_.size(); ++t) {
    if (!skip_open_[t]) continue;
    const bool cbound = compute_bound(t);
    const double rate = cbound ? 0.0 : steady_rate(t);
    if (!cbound && rate <= 0.0) continue;  // not steady yet: this task skips later
    skip_open_[t] = 0;  // a mixed task reopens at its next placement event
    if (cbound) {
      int running = 0;
      for (const Core& c : cores_) running += c.task == static_cast<int>(t) && !c.done;
      const double core_rate = running > 0 ? recent_rate(t) / running : 0.0;
      for (Core& c : cores_) {
        if (c.task == static_cast<int>(t) && !c.done) elide_loads(c, now, core_rate);
      }
    }
    // Per core: the first tile whose compute has not started (b) and its group. The admitted tiles
    // from b on are relabelled J tiles later (identical tiles: only their addresses move), so
    // they become part of the simulated tail; if they straddle a group end, the skip starts at
    // the next tile to admit instead.
    std::int64_t j = std::numeric_limits<std::int64_t>::max();
    for (const Core& c : cores_) {
      if (c.task != static_cast<int>(t) || c.done) continue;
      const auto [b, g] = skip_start(c);
      std::int64_t end = g < c.group_end.size() ? c.group_end[g] : b;
      if (c.mixed) {
        // only tiles of the class just measured (issued and computed: the slack of a compute-bound
        // core was seen on the computed ones); not while tiles of an earlier skip are in flight
        if ((c.skip_from >= 0 && c.next_compute < c.skip_to) || c.cur_class != c.slack_class) end = b;
        std::int64_t e = b;
        while (e < end && c.tile_class[static_cast<std::size_t>(e)] == c.cur_class) ++e;
        end = e;
      }
      j = std::min({j, end - b - opts_.tail_tiles, end - c.next_load});
    }
    j = j > 0 && j != std::numeric_limits<std::int64_t>::max() ? j : 0;
    if (j <= 0) continue;
    std::uint64_t skipped = 0;
    Picoseconds compute_ps = 0;  // the slowest core's compute for J tiles
    for (Core& c : cores_) {
      if (c.task != static_cast<int>(t) || c.done) continue;
      const auto [b, g] = skip_start(c);
      std::int64_t per_tile = 0;
      const npu::TileGroup& grp = c.program->groups[g];
      for (const auto* pats : {&grp.loads, &grp.stores}) {
        for (const npu::StreamPattern& p : *pats) per_tile += p.rows * ((p.row_bytes + c.tx_bytes - 1) / c.tx_bytes);
      }
      npu::Mmu& mmu = devices_[static_cast<std::size_t>(c.device)]->mmu;
      for (Job& job : c.jobs) {
        if (job.live && !job.store && job.tile >= b) {
          job.tile += j;
          job.tile_in_group += j;
          if (!job.issued_all) {
            // the stream would have reached this page with its translation prefetched
            const npu::StreamPattern& p = (*job.patterns)[job.pattern];
            mmu.warm(request_address(c, job, p), now);
          }
        }
      }
      if (!grp.loads.empty()) {
        // likewise the first tile admitted after the relabelled ones
        const npu::StreamPattern& p = grp.loads.front();
        const std::int64_t first = c.next_load + j - (g ? c.group_end[g - 1] : 0);
        mmu.warm(staggered(c, p.base + static_cast<std::uint64_t>(p.tile_offset(first) + stream_rotation(c, p)), false),
                 now);
      }
      if (c.skip_from >= 0) c.skip_base += c.skip_to - c.skip_from;
      c.skip_from = b;
      c.skip_to = b + j;
      if (c.next_compute == b) c.next_compute = b + j;
      c.next_load += j;
      skipped += static_cast<std::uint64_t>(j * per_tile);
      const Picoseconds core_ps = j * devices_[static_cast<std::size_t>(c.device)]->npu_clock.to_ps(grp.compute_cycles);
      if (cbound) c.skipped_ps += core_ps;
      compute_ps = std::max(compute_ps, core_ps);
    }
    skipped_requests_[t] += skipped;
    if (cbound) continue;  // each core carries its own skipped compute
    // The skipped tiles take as long as their memory traffic at the steady rate, or their compute
    // when that is longer (a compute-bound kernel moves its requests in bursts between tiles).
    const Picoseconds period = mixed_[t] && epoch_[t] > 0 ? stretch_period(t) : 0;
    const auto memory_ps = period > 0 ? j * period
                                      : static_cast<Picoseconds>(std::llround(static_cast<double>(skipped) / rate));
    skipped_ps_[t] += std::max(memory_ps, compute_ps);
  }
  sampling_ = false;
  for (std::size_t t = 0; t < progress_.size(); ++t) sampling_ = sampling_ || mixed_[t] || skip_open_[t];
}

}  // namespace h2m2::engine
