// Engine: runs programs of sublayers on several devices at a chosen fidelity.
//
// Models: a decode (or prefill) iteration as a sequence of sublayers; in each sublayer one fused
// kernel per device runs concurrently, then a barrier, then the activation exchange over the
// link, then the next sublayer. Fidelity:
//   cycle     every memory request of every kernel, all devices of a sublayer in one loop;
//   sampled   each kernel alone on its device until its per-tile period is steady, then
//             extrapolated; results memoised by the kernel's signature (given by the caller);
//   analytic  roofline: max(bytes / (peak bandwidth x measured efficiency), compute time), the
//             efficiency measured once per device by the sampled model.
// Epochs: run_epochs() asks a callback for each epoch's program (the mapping policy lives in
// Python) and hands it the previous epoch's results.
// Owns: device and link configurations, page-table views, the memo, accumulated statistics.
// Time: picoseconds. Not itself on the hot path (KernelExecutor is).
#pragma once

#include <array>
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/time.hpp"
#include "dram/dram_stats.hpp"
#include "engine/device.hpp"
#include "engine/kernel_executor.hpp"
#include "link/link.hpp"
#include "npu/kernel.hpp"
#include "npu/tlb.hpp"

namespace h2m2::engine {

enum class Fidelity : std::uint8_t { Cycle, Sampled, Analytic };

struct EngineConfig {
  std::vector<DeviceConfig> devices;
  bool has_link = false;
  link::LinkConfig link;
  Fidelity fidelity = Fidelity::Sampled;
  double sample_tolerance = 0.01;
  int sample_min_tiles = 3;
  int sample_tail_tiles = 3;          // tiles per core simulated after the skip (in-flight included)
  double sample_compute_slack = 0.25; // compute-bound shortcut margin (<= 0: off); ExecOptions
  int sample_slack_tiles = 2;         // tiles with that slack that prove a kernel compute-bound
  bool record_spans = false;
  // `sampled`: threads that simulate a program's kernels (each kernel alone on fresh devices, so
  // results do not depend on this or on the order; 1: one after the other in this thread).
  int threads = 1;
};

struct KernelSpec {
  std::string name;
  int device = 0;
  npu::KernelDesc desc;
  std::string signature;  // memo key for `sampled` (empty: never memoised)
};

struct SublayerSpec {
  std::string name;
  std::vector<KernelSpec> kernels;
  std::array<std::int64_t, 2> exchange_bytes{0, 0};  // after the barrier: device 0 -> 1, 1 -> 0
  Picoseconds barrier_ps = 0;
};

struct KernelResult {
  std::string name;
  int device = 0;
  Picoseconds time_ps = 0;
  bool extrapolated = false;
  bool memo_hit = false;
  double simulated_fraction = 1.0;
  std::uint64_t requests = 0;  // simulated memory requests
  npu::Unit unit = npu::Unit::MatrixVector;
  std::int64_t load_bytes = 0, store_bytes = 0, ops = 0;
  std::int64_t tiles = 0;
  Picoseconds compute_ps = 0;  // busiest core's compute time over the whole kernel
  dram::DramStats dram;        // of the simulated part, on this kernel's device
  npu::TlbStats tlb;
};

struct SublayerResult {
  std::string name;
  Picoseconds start_ps = 0;
  Picoseconds kernels_ps = 0;   // slowest kernel
  Picoseconds barrier_ps = 0;
  Picoseconds exchange_ps = 0;
  Picoseconds end_ps = 0;
  std::vector<KernelResult> kernels;
};

struct EpochState {
  int epoch = 0;
  Picoseconds start_ps = 0;
  std::vector<SublayerResult> previous;  // the last epoch's sublayers (empty at epoch 0)
};

class Engine {
 public:
  Engine(EngineConfig cfg, std::vector<npu::PageTableView> tables);

  void set_page_tables(std::vector<npu::PageTableView> tables);
  std::vector<SublayerResult> run_program(const std::vector<SublayerSpec>& program, Picoseconds start = 0);
  // Runs `epochs` epochs; the callback returns each epoch's program (an empty program stops).
  std::vector<std::vector<SublayerResult>> run_epochs(
      int epochs, const std::function<std::vector<SublayerSpec>(const EpochState&)>& next_program);
  // Moves `bytes` over the link (direction 0: device 0 -> 1) on an idle link.
  Picoseconds transfer_ps(int direction, std::int64_t bytes) const;

  double bandwidth_efficiency(int device);  // analytic calibration (measured, then cached)
  const std::vector<Span>& spans() const { return spans_; }
  std::size_t memo_size() const { return memo_.size(); }
  void clear_memo() { memo_.clear(); }
  // A memoised result (nullptr when absent), and the insertion of one computed by another engine
  // of the same configuration (an existing entry is kept: one signature, one result).
  const KernelResult* memo_entry(const std::string& signature) const {
    auto it = memo_.find(signature);
    return it == memo_.end() ? nullptr : &it->second;
  }
  bool memo_insert(const std::string& signature, KernelResult r) { return memo_.emplace(signature, std::move(r)).second; }
  void set_interrupt(std::function<bool()> poll) { interrupted_ = std::move(poll); }
  const EngineConfig& config() const { return cfg_; }

 private:
  // A kernel `sampled` simulated ahead of its sublayer (by presimulate), with its spans from 0.
  struct Presimulated {
    KernelResult result;
    std::vector<Span> spans;
    std::exception_ptr error;
  };
  SublayerResult run_sublayer(const SublayerSpec& s, Picoseconds start);
  // `sampled` with threads > 1: simulates, `threads` at a time, every kernel of the program that
  // run_sublayer would simulate (one per signature not memoised, every unsigned kernel) into
  // presimulated_, keyed by signature or, unsigned, by the KernelSpec's address.
  void presimulate(const std::vector<SublayerSpec>& program);
  // presimulate's guess of a kernel's `sampled` cost (only the order of the jobs depends on it).
  double sampled_cost(const DeviceConfig& dc, const npu::TilePlan& plan) const;
  // Simulates kernels on fresh devices; spans (if recorded) go to `spans`, shifted by `offset`.
  std::vector<KernelResult> simulate(const std::vector<KernelSpec>& kernels,
                                     const std::vector<npu::TilePlan>& plans, bool sample,
                                     Picoseconds offset,
                                     const std::vector<npu::PageTableView>& tables,
                                     std::vector<Span>& spans) const;
  static std::string presimulated_key(const KernelSpec& k);
  KernelResult analytic(const KernelSpec& k, const npu::TilePlan& plan);

  EngineConfig cfg_;
  std::vector<npu::PageTableView> tables_;
  std::unordered_map<std::string, KernelResult> memo_;
  std::vector<double> efficiency_;  // per device, < 0 until measured
  std::vector<Span> spans_;
  std::function<bool()> interrupted_;
  std::unordered_map<std::string, Presimulated> presimulated_;  // only during run_program
};

}  // namespace h2m2::engine
