// KernelExecutor: runs tile programs (TilePlans) on devices, every memory request at cycle level.
//
// Models, per core: a DMA engine that walks the load and store patterns of each tile as
// transaction-sized memory requests (bounded in flight, a bounded number issued per NPU cycle),
// translating each new page through the chip's MMU; local pages go to the chip's memory system,
// remote pages cross the link to the other device's memory and back (zero-copy). A tile computes
// once all its loads have returned and the previous tile has finished; the next tiles' loads
// proceed meanwhile into the free scratchpad buffers (double buffering). Several kernels on
// several devices run concurrently in one loop; each memory runs in its own clock domain.
// With ExecOptions::sample (the `sampled` fidelity), once each kernel's aggregate request rate is
// steady, every core skips the same number of identical tiles of its current group, whose time is
// their requests at the steady rate; the tiles already being loaded are renumbered to the end of
// the group (only their addresses move) and with the rest of the last `tail_tiles` are simulated
// at cycle level, so the drain and the imbalance between cores at the end are simulated, not
// guessed. A kernel whose memory stays well ahead of its compute (compute-bound, judged from its
// first tiles) stops simulating loads: they are hidden behind compute, and skipped tiles cost
// exactly their compute. Skipped tiles must also be placed like the measured ones: every tile is
// classified by its bytes not on the core's own device (loads, stores; from the chip's page
// table), a skip covers only tiles of the class the window measured, all running cores must be in
// one class, and a kernel whose tiles are not all of one class measures anew (and may skip again)
// after each change of class or of the set of running cores, timing that skip by whole tile
// periods. docs/fidelity.md describes all three.
// Time: global picoseconds. Hot path: the request loop (no allocation per request; pools and
// vectors are sized up front). Contract: the TilePlans and devices outlive run().
#pragma once

#include <cstdint>
#include <functional>
#include <unordered_map>
#include <vector>

#include "common/time.hpp"
#include "engine/device.hpp"
#include "link/link.hpp"
#include "npu/kernel.hpp"

namespace h2m2::engine {

struct KernelTask {
  int device = 0;
  const npu::TilePlan* plan = nullptr;
};

struct ExecOptions {
  bool sample = false;
  double tolerance = 0.01;      // relative difference of the two halves of the steady window
  int min_tiles = 3;            // tiles every core completes before a task may count as steady
  Picoseconds window_ps = 250000;  // progress sampling period
  int windows = 8;              // windows in the steady window
  // The skip rate is measured from the first window by which every core has computed
  // `ramp_tiles` tiles (the cold start is over) to the skip, when that is longer than the steady
  // window: LPDDR tile rounds vary by +-15%, so a 2 us window alone misjudges by a few percent.
  int ramp_tiles = 2;
  int tail_tiles = 3;           // tiles per core simulated after the skip, in-flight ones included
  // Compute-bound shortcut: a task is compute-bound when memory keeps ahead of compute by at
  // least `compute_slack` x a tile's compute: predicted once every core has `predict_fraction`
  // of its first tile's loads back (one tile round of loads and stores at the rate achieved so
  // far), or observed once every unfinished core has started its last `slack_tiles` tiles of one
  // group that long after their loads were back. Then loads of the rest of the kernel are not
  // simulated (they are hidden behind compute), the loads under way finish at the rate achieved
  // since the first request returned, and skipped tiles take exactly their compute.
  // compute_slack <= 0: off.
  double compute_slack = 0.25;
  int slack_tiles = 2;
  double predict_fraction = 0.25;
  bool record_spans = false;
};

struct CoreTiming {
  int device = 0;
  int core = 0;
  Picoseconds end_ps = 0;
  std::int64_t tiles = 0;
  std::int64_t tiles_simulated = 0;
  Picoseconds compute_busy_ps = 0;  // simulated part only
};

struct KernelTiming {
  int device = 0;
  Picoseconds end_ps = 0;  // relative to the start of the run
  bool extrapolated = false;
  double simulated_fraction = 1.0;  // of the kernel's load+store bytes
  std::uint64_t requests = 0;       // simulated memory requests
  std::uint64_t remote_requests = 0;
  std::vector<CoreTiming> cores;
};

// A span for the timeline export. kind: 0 device (device -1: the whole system), 1 core,
// 2 link direction (device = direction), 3 DRAM channel. what: 0 kernel, 1 tile compute,
// 2 link transfer, 3 barrier, 4 channel busy.
struct Span {
  int kind = 0;
  int device = 0;
  int index = 0;
  int what = 0;
  Picoseconds begin = 0, end = 0;
};

class KernelExecutor {
 public:
  // `devices[i]` is device i; `link` connects devices 0 and 1 (may be null with one device).
  // `interrupted` is polled now and then; returning true aborts run() with std::runtime_error.
  KernelExecutor(std::vector<Device*> devices, link::Link* link,
                 std::function<bool()> interrupted = {});
  ~KernelExecutor();  // defined where Core and Remote are complete
  KernelExecutor(const KernelExecutor&) = delete;
  KernelExecutor& operator=(const KernelExecutor&) = delete;

  std::vector<KernelTiming> run(const std::vector<KernelTask>& tasks, const ExecOptions& opts);
  const std::vector<Span>& spans() const { return spans_; }

 private:
  struct Job;
  struct Core;
  struct Remote;
  // Where a tile's bytes live, as far as timing goes: its load and store bytes whose pages are not
  // on the core's own device (read or written over the link). Tiles of one class are
  // interchangeable for `sampled`.
  struct Placement {
    std::int64_t remote_load = 0;
    std::int64_t remote_store = 0;
    bool operator==(const Placement& o) const { return remote_load == o.remote_load && remote_store == o.remote_store; }
    bool operator!=(const Placement& o) const { return !(*this == o); }
  };
  void classify_tiles(Core& c) const;
  // A mixed task's classes changed (a core entered another class, or finished): re-sample.
  void placement_event(int task, Picoseconds t, bool class_change);
  struct Event {
    Picoseconds time;
    int kind;  // 0 memory completion, 1 compute done, 2 loads of an elided job back
    std::uint64_t a;
    bool operator>(const Event& o) const { return time > o.time || (time == o.time && a > o.a); }
  };

  void admit_loads(Core& c, Picoseconds t);
  bool compute_bound(std::size_t task) const;
  void predict_compute_bound(Picoseconds now);
  double recent_rate(std::size_t task) const;  // requests per ps since the first came back
  std::vector<std::uint8_t> cbound_predicted_;  // per task: 0 not yet judged, 1 no, 2 yes
  // `rate`: the core's load requests per ps, at which the loads under way finish (0: at once).
  void elide_loads(Core& c, Picoseconds t, double rate);
  // A load job's requests are all back at t: its tile's loads are in (at back_at if later).
  void loads_back(Core& c, int job, Picoseconds t);
  void start_compute(Core& c, Picoseconds t);
  void issue(Core& c, Picoseconds t);
  // Brings a device's memory up to time t (an idle memory is left behind until it is needed).
  static void sync_memory(Device& dev, Picoseconds t) { sync_memory_to(dev, dev.mem_clock.cycle_at(t)); }
  static void sync_memory_to(Device& dev, Cycle c) {  // the same, at memory cycle c
    if (dev.memory.now() < c) dev.memory.advance_to(c);
  }
  void complete(Core& c, int job, Picoseconds t);
  void request_done(std::uint64_t id, Picoseconds t);
  bool steady(std::size_t task) const;
  bool any_steady() const;
  double steady_rate(std::size_t task) const;  // requests per ps, 0 while not steady
  Picoseconds stretch_period(std::size_t task) const;  // mixed task after a placement event
  void log_progress(Picoseconds now);
  Picoseconds next_sample_ = 0;
  void skip_ahead(Picoseconds now);
  std::pair<std::int64_t, std::size_t> skip_start(const Core& c) const;  // first tile to skip, its group

  std::vector<Device*> devices_;
  link::Link* link_;
  std::function<bool()> interrupted_;
  std::vector<Core> cores_;
  std::vector<Remote> remotes_;
  std::vector<int> free_remotes_;
  std::vector<Event> heap_;
  // Memory completions of one device by memory cycle: a ring of buckets over the next kSpan
  // cycles (completions come a fixed few tens of cycles after their command), so the hot path
  // pays no heap operation per request. Anything outside the ring goes to heap_. Events are
  // taken in (time, id) order, merged with heap_. 256 buckets: their headers (6 KB) stay in the
  // host's L1 (4096 took a cache miss per completion on LPDDR; 3% of a kernel's time).
  struct Calendar {
    static constexpr Cycle kSpan = Cycle{1} << 8;
    std::vector<std::vector<std::uint64_t>> buckets;
    Cycle cursor = 0;        // no completion is due before this cycle
    std::size_t count = 0;
    std::size_t front = 0;   // ids of the cursor bucket taken so far (sorted once when opened)
    bool open = false;
  };
  std::vector<Calendar> calendars_;  // per device
  bool calendar_front(std::size_t d);  // advances the cursor to the next due bucket; false if none
  void dispatch(const Event& e);
  std::vector<std::pair<std::uint64_t, Picoseconds>> delivered_;
  std::unordered_map<std::uint64_t, int> link_pending_;  // link transfer id -> remote request
  std::vector<std::pair<Picoseconds, int>> retry_remote_;  // remote requests waiting for a queue slot
  void on_compute_done(Core& c, Picoseconds t);
  void on_delivered(std::uint64_t transfer, Picoseconds t);
  std::vector<Span> spans_;
  std::vector<std::vector<std::pair<Picoseconds, std::uint64_t>>> progress_;  // per task
  std::vector<std::int64_t> ramp_;  // per task: first progress sample after the ramp (-1: not yet)
  std::vector<std::size_t> cores_per_task_;
  std::vector<std::vector<std::size_t>> device_cores_;  // core indices per device
  std::vector<std::size_t> rotation_;                   // per device: DMA arbitration start
  std::vector<std::vector<std::size_t>> issue_order_;   // per device: this instant's DMA order
  // Per task: tiles not all of one placement class; time of the last class change (a core
  // starting a tile of another class, or a core finishing); a skip may still happen (one per
  // stretch between such changes; a task of one class skips at most once).
  std::vector<std::uint8_t> mixed_;
  std::vector<Picoseconds> epoch_;
  std::vector<std::uint8_t> skip_open_;
  bool sampling_ = false;  // some task may still skip or is mixed: keep the progress log
  std::vector<Picoseconds> skipped_ps_;            // per task: time of the tiles not simulated
  std::vector<std::uint64_t> skipped_requests_;    // per task
  ExecOptions opts_;
  int running_ = 0;
};

}  // namespace h2m2::engine
