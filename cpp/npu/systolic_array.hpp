// SystolicArray: timing of the weight-stationary R x C matrix-matrix (MM) unit of one NPU core.
//
// Models: out[m x n] += in[m x k] * W[k x n] on an R x C array (R = sa_rows along k, C = sa_cols
// along n). Weights stay in the PEs; input rows stream in from the left edge (skewed), partial
// sums flow down and leave at the bottom edge.
//   One weight tile (k <= R, n <= C):
//     fill   = R cycles          weights shift in from the top edge one row per cycle; the shift
//                                chain is R deep whatever k is (unused rows hold zeros)
//     stream = m cycles          one input row enters per cycle
//     drain  = R + C - 2 cycles  the last row's partial sum crosses R rows and the C-column skew
//     tile_cycles(m) = R + m + R + C - 2
//   Whole GEMM (m, k, n): T = ceil(k/R) * ceil(n/C) weight tiles. The PEs double-buffer their
//   weights (TPU-style shadow registers): tile i+1 is shifted in while tile i streams, and
//   tile i's drain overlaps tile i+1's stream (the skewed wavefront switches weights PE by PE).
//   Tile i+1 starts streaming max(m, R) cycles after tile i, so
//     gemm_cycles(m, k, n) = R + (T - 1) * max(m, R) + m + (R + C - 2)
//                          = T * max(m, R)                      (steady_cycles: per-tile period)
//                          + 2R + C - 2 + m - max(m, R)         (pipeline_overhead_cycles: once)
//   T = 1 gives tile_cycles(m). The tile planner charges steady_cycles per scratchpad tile and
//   the overhead once per core (epilogue), so a core's total equals gemm_cycles of its slice.
// Owns: nothing but the two dimensions. Clock: NPU core cycles. Not on the hot path (used by the
// planner, once per kernel). Contract: the NpuConfig was validated; shapes <= 0 give 0 cycles.
// Spec: H2M2 Table 1 (128 x 128 weight-stationary array per core), docs/assumptions.md.
#pragma once

#include <cstdint>

#include "common/time.hpp"
#include "npu/npu_config.hpp"

namespace h2m2::npu {

class SystolicArray {
 public:
  explicit SystolicArray(const NpuConfig& cfg) : rows_(cfg.sa_rows), cols_(cfg.sa_cols) {}

  Cycle fill_cycles() const { return rows_; }
  Cycle drain_cycles() const { return rows_ + cols_ - 2; }
  // One weight tile (k <= R, n <= C), nothing overlapped.
  Cycle tile_cycles(std::int64_t m) const;
  // ceil(k/R) * ceil(n/C)
  std::int64_t weight_tiles(std::int64_t k, std::int64_t n) const;
  // T * max(m, R): the cost of a run of weight tiles inside a continuously busy array.
  Cycle steady_cycles(std::int64_t m, std::int64_t k, std::int64_t n) const;
  // 2R + C - 2 + m - max(m, R): first fill and last drain, paid once per uninterrupted GEMM.
  Cycle pipeline_overhead_cycles(std::int64_t m) const;
  // steady_cycles + pipeline_overhead_cycles (closed form above).
  Cycle gemm_cycles(std::int64_t m, std::int64_t k, std::int64_t n) const;

 private:
  std::int64_t rows_;
  std::int64_t cols_;
};

}  // namespace h2m2::npu
