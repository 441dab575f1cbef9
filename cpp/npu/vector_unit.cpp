// VectorUnit timing and the default per-op costs.
#include "npu/vector_unit.hpp"

#include <cmath>
#include <stdexcept>

namespace h2m2::npu {

namespace {

constexpr std::array<const char*, kVectorOps> kNames = {
    "softmax", "layernorm", "rmsnorm", "gelu",     "silu",
    "swiglu",  "rope",      "residual_add", "quantize", "dequantize"};

std::size_t idx(VectorOp op) { return static_cast<std::size_t>(op); }

}  // namespace

void default_vector_costs(NpuConfig& cfg) {
  auto set = [&cfg](VectorOp op, double vector_ops, double sfu_ops) {
    cfg.vector_ops_per_element[idx(op)] = vector_ops;
    cfg.sfu_ops_per_element[idx(op)] = sfu_ops;
  };
  // softmax: running max (1), x - max (1), sum of exp (1), multiply by 1/sum (1); exp on the SFU.
  set(VectorOp::Softmax, 4.0, 1.0);
  // layernorm: sum for the mean (1), x - mean (1), square-accumulate for the variance (1),
  // multiply by rsqrt (1), gamma (1), beta (1); the per-row rsqrt is amortised.
  set(VectorOp::LayerNorm, 6.0, 0.0);
  // rmsnorm: square-accumulate (1), multiply by rsqrt (1), gamma (1); rsqrt amortised.
  set(VectorOp::RmsNorm, 3.0, 0.0);
  // gelu (tanh form 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3)))): x^2, x^3 (2), FMA with x (1),
  // scale (1), 1+ (1), times x (1), times 0.5 (1); tanh on the SFU.
  set(VectorOp::Gelu, 7.0, 1.0);
  // silu: x * sigmoid(x): one multiply; sigmoid on the SFU.
  set(VectorOp::Silu, 1.0, 1.0);
  // swiglu, per output element: silu(gate) (1 mul + SFU sigmoid) times up (1 mul).
  set(VectorOp::SwiGlu, 2.0, 1.0);
  // rope with precomputed sin/cos tables: x*cos (1), rotate-half permute/negate (1), *sin (1),
  // add (1).
  set(VectorOp::Rope, 4.0, 0.0);
  // residual add: one add.
  set(VectorOp::ResidualAdd, 1.0, 0.0);
  // quantize to INT8: scale multiply (1), round-and-clip (1).
  set(VectorOp::Quantize, 2.0, 0.0);
  // dequantize from INT8: convert (1), scale multiply (1).
  set(VectorOp::Dequantize, 2.0, 0.0);
}

const char* vector_op_name(VectorOp op) {
  const auto i = idx(op);
  return i < kNames.size() ? kNames[i] : "unknown";
}

VectorOp parse_vector_op(const std::string& name) {
  std::string valid;
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (name == kNames[i]) return static_cast<VectorOp>(i);
    valid += (i ? ", " : "") + std::string(kNames[i]);
  }
  throw std::invalid_argument("npu: unknown vector op '" + name + "' (valid: " + valid + ")");
}

VectorUnit::VectorUnit(const NpuConfig& cfg)
    : vector_width_(static_cast<double>(cfg.vector_width)),
      sfu_width_(static_cast<double>(cfg.sfu_width)),
      vector_ops_(cfg.vector_ops_per_element),
      sfu_ops_(cfg.sfu_ops_per_element) {}

Cycle VectorUnit::cycles(VectorOp op, std::int64_t elements) const {
  if (elements <= 0 || idx(op) >= kNames.size()) return 0;
  const double e = static_cast<double>(elements);
  // Integral and dyadic costs keep e * cost exact below 2^53, so ceil() sees the true quotient.
  const double vec = std::ceil(e * vector_ops_[idx(op)] / vector_width_);
  const double sfu = std::ceil(e * sfu_ops_[idx(op)] / sfu_width_);
  return static_cast<Cycle>(vec) + static_cast<Cycle>(sfu);
}

}  // namespace h2m2::npu
