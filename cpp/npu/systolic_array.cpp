// SystolicArray timing (closed forms in systolic_array.hpp).
#include "npu/systolic_array.hpp"

#include <algorithm>

namespace h2m2::npu {

namespace {
std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }
}  // namespace

Cycle SystolicArray::tile_cycles(std::int64_t m) const {
  if (m <= 0) return 0;
  return fill_cycles() + m + drain_cycles();
}

std::int64_t SystolicArray::weight_tiles(std::int64_t k, std::int64_t n) const {
  if (k <= 0 || n <= 0) return 0;
  return ceil_div(k, rows_) * ceil_div(n, cols_);
}

Cycle SystolicArray::steady_cycles(std::int64_t m, std::int64_t k, std::int64_t n) const {
  if (m <= 0) return 0;
  return weight_tiles(k, n) * std::max(m, rows_);
}

Cycle SystolicArray::pipeline_overhead_cycles(std::int64_t m) const {
  if (m <= 0) return 0;
  return fill_cycles() + m - std::max(m, rows_) + drain_cycles();
}

Cycle SystolicArray::gemm_cycles(std::int64_t m, std::int64_t k, std::int64_t n) const {
  if (m <= 0 || k <= 0 || n <= 0) return 0;
  return steady_cycles(m, k, n) + pipeline_overhead_cycles(m);
}

}  // namespace h2m2::npu
