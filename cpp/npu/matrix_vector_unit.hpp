// MatrixVectorUnit: timing of the matrix-vector (MV) unit of one NPU core.
//
// Models: `lanes` (default 32) dot-product lanes, each `width` (default 128) elements wide, i.e.
// lanes x width MACs per cycle. For out[m x n] += in[m x k] * W[k x n] one input row is
// processed at a time; per cycle each lane takes `width` elements of k for one output column:
//   cycles(m, k, n) = m * ceil(k / width) * ceil(n / lanes)
// The unit is fully pipelined; its adder-tree latency (~log2(width) cycles, once per kernel) is
// not charged. The formula is additive over k- and n-blocks that are multiples of width / lanes,
// which is how the tile planner cuts tiles.
// Owns: the two dimensions. Clock: NPU core cycles. Not on the hot path.
// Contract: the NpuConfig was validated; shapes <= 0 give 0 cycles.
// Spec: H2M2 Table 1 (32 x (128x1) lanes per core), docs/assumptions.md.
#pragma once

#include <cstdint>

#include "common/time.hpp"
#include "npu/npu_config.hpp"

namespace h2m2::npu {

class MatrixVectorUnit {
 public:
  explicit MatrixVectorUnit(const NpuConfig& cfg) : lanes_(cfg.mv_lanes), width_(cfg.mv_width) {}

  Cycle cycles(std::int64_t m, std::int64_t k, std::int64_t n) const;

 private:
  std::int64_t lanes_;
  std::int64_t width_;
};

}  // namespace h2m2::npu
