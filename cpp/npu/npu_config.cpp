// NpuConfig::validate(): configuration errors are raised here, once, before any planning.
#include "npu/npu_config.hpp"

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>

#include "npu/vector_unit.hpp"

namespace h2m2::npu {

namespace {

template <typename T>
void require_positive(const std::string& obj, const char* field, T value) {
  if (value <= 0) {
    std::ostringstream os;
    os << obj << ": " << field << "=" << value << " must be positive";
    throw std::invalid_argument(os.str());
  }
}

void require_costs(const std::string& obj, const char* field,
                   const std::array<double, kVectorOps>& costs) {
  for (int i = 0; i < kVectorOps; ++i) {
    const double c = costs[static_cast<std::size_t>(i)];
    if (!std::isfinite(c) || c < 0.0) {
      std::ostringstream os;
      os << obj << ": " << field << "[" << vector_op_name(static_cast<VectorOp>(i)) << "]=" << c
         << " must be finite and non-negative";
      throw std::invalid_argument(os.str());
    }
  }
}

}  // namespace

void NpuConfig::validate() const {
  const std::string& obj = name.empty() ? std::string("npu") : name;
  require_positive(obj, "cores", cores);
  require_positive(obj, "clock_ps", clock_ps);
  require_positive(obj, "sa_rows", sa_rows);
  require_positive(obj, "sa_cols", sa_cols);
  require_positive(obj, "mv_lanes", mv_lanes);
  require_positive(obj, "mv_width", mv_width);
  require_positive(obj, "vector_width", vector_width);
  require_positive(obj, "sfu_width", sfu_width);
  require_positive(obj, "spm_bytes", spm_bytes);
  require_positive(obj, "spm_buffers", spm_buffers);  // >= 1: one buffer means no double buffering
  require_positive(obj, "element_bytes", element_bytes);
  require_positive(obj, "dma_max_inflight", dma_max_inflight);
  require_positive(obj, "dma_issue_per_cycle", dma_issue_per_cycle);
  require_positive(obj, "tile_target_bytes", tile_target_bytes);
  if (mv_max_rows < 0) {
    throw std::invalid_argument(
        obj + ": mv_max_rows=" + std::to_string(mv_max_rows) +
        " must be non-negative (0 sends every Linear to the systolic array)");
  }
  require_costs(obj, "vector_ops_per_element", vector_ops_per_element);
  require_costs(obj, "sfu_ops_per_element", sfu_ops_per_element);
}

}  // namespace h2m2::npu
