// VectorUnit: timing of one core's vector unit together with its special-function unit (SFU).
//
// Models: elementwise and row-reduction work (softmax, norms, activations, rotary embedding,
// residual add, INT8 (de)quantisation) as a per-element cost: `vector_ops_per_element[op]`
// simple operations (add, mul, max, compare, FMA counts one) on a `vector_width`-wide unit and
// `sfu_ops_per_element[op]` transcendental operations (exp, tanh, sigmoid) on a `sfu_width`-wide
// SFU. The two run one after the other (conservative; a pipelined VU->SFU->VU would take the
// max of the two terms instead):
//   cycles(op, elements) = ceil(elements * vector_ops[op] / vector_width)
//                        + ceil(elements * sfu_ops[op]    / sfu_width)
// Per-row scalars (a softmax row's reciprocal, a norm's rsqrt) are amortised over the row and not
// charged. default_vector_costs() gives the per-op defaults (OPEN in the paper: DFX-style unit).
// Owns: a copy of the per-op costs. Clock: NPU core cycles. Not on the hot path.
// Contract: the NpuConfig was validated (non-negative finite costs, positive widths).
// Spec: H2M2 Table 1 (vector unit and SFU, widths OPEN), docs/assumptions.md.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "common/time.hpp"
#include "npu/npu_config.hpp"

namespace h2m2::npu {

// Fills cfg.vector_ops_per_element and cfg.sfu_ops_per_element with the defaults (see the .cpp
// for the derivation of every entry). NpuConfig{} itself has all costs zero.
void default_vector_costs(NpuConfig& cfg);

// Lowercase names used by the bindings and in messages: "softmax", "layernorm", "rmsnorm",
// "gelu", "silu", "swiglu", "rope", "residual_add", "quantize", "dequantize".
const char* vector_op_name(VectorOp op);
// Inverse of vector_op_name(); throws std::invalid_argument listing the valid names.
VectorOp parse_vector_op(const std::string& name);

class VectorUnit {
 public:
  explicit VectorUnit(const NpuConfig& cfg);

  Cycle cycles(VectorOp op, std::int64_t elements) const;

 private:
  double vector_width_;
  double sfu_width_;
  std::array<double, kVectorOps> vector_ops_;
  std::array<double, kVectorOps> sfu_ops_;
};

}  // namespace h2m2::npu
