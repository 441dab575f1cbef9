// NpuConfig: the validated description of one accelerator chip (H2M2 Table 1 defaults).
//
// Built in Python (python/h2m2/hardware.py) and handed to the engine as a plain struct. Clock:
// the NPU core clock (default 1 GHz = 1000 ps). Every OPEN choice of the paper is a field here
// and a line in docs/assumptions.md.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "common/time.hpp"

namespace h2m2::npu {

// Vector / special-function operations with a per-element cost.
enum class VectorOp : std::uint8_t {
  Softmax, LayerNorm, RmsNorm, Gelu, Silu, SwiGlu, Rope, ResidualAdd, Quantize, Dequantize, kCount
};
inline constexpr int kVectorOps = static_cast<int>(VectorOp::kCount);

// Which core's DMA engine goes first when several may issue in the same instant (they share the
// memory's queues): in turn, or the one that has computed the smallest share of its tiles (turn
// order among equals), which holds the cores of a kernel together (docs/assumptions.md).
enum class DmaArbitration : std::uint8_t { RoundRobin, LeastProgress };

// Which unit a kernel's inner loop runs on.
enum class Unit : std::uint8_t { MatrixMatrix, MatrixVector, Vector, kCount };

struct NpuConfig {
  std::string name = "npu";
  int cores = 4;
  Picoseconds clock_ps = 1000;        // 1 GHz
  int sa_rows = 128;                  // systolic array: rows (K direction, weights held)
  int sa_cols = 128;                  // columns (N direction)
  int mv_lanes = 32;                  // matrix-vector unit: lanes ...
  int mv_width = 128;                 // ... each a 128-wide dot product per cycle
  int vector_width = 128;             // vector unit: elements per cycle (OPEN)
  int sfu_width = 32;                 // special-function unit: transcendental ops per cycle (OPEN)
  // Per-element cost of each VectorOp: vector-unit operations and SFU operations per element.
  std::array<double, kVectorOps> vector_ops_per_element{};
  std::array<double, kVectorOps> sfu_ops_per_element{};
  std::int64_t spm_bytes = 16LL << 20;  // one scratchpad buffer; there are spm_buffers of them
  int spm_buffers = 2;                  // double buffering
  int mv_max_rows = 8;                  // a Linear with at most this many input rows runs on the MV unit
  int element_bytes = 1;                // INT8
  // Streamed bytes per tile the planner aims for (soft: rounded to whole unit passes; hard cap is
  // one scratchpad buffer). Smaller tiles expose less un-overlapped load/compute at a kernel's
  // start and end and give `sampled` more identical tiles; larger ones mean fewer DMA restarts.
  std::int64_t tile_target_bytes = 1LL << 20;
  // DMA engine (per core)
  int dma_max_inflight = 256;           // memory requests in flight per core
  int dma_issue_per_cycle = 4;          // requests one DMA engine can issue per NPU cycle
  // Keep cores in lockstep out of each other's banks: a core whose loads are one region a whole
  // number of the memory's row periods long starts c/C of a period in (region stagger), any
  // other core starts each single-stream load tile c/C of the way in (tile stagger); both wrap
  // around (KernelExecutor, docs/assumptions.md).
  bool dma_stagger = true;
  DmaArbitration dma_arbitration = DmaArbitration::LeastProgress;
  void validate() const;                // throws std::invalid_argument naming the field
};

}  // namespace h2m2::npu
