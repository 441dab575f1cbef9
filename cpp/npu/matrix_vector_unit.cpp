// MatrixVectorUnit timing (closed form in matrix_vector_unit.hpp).
#include "npu/matrix_vector_unit.hpp"

namespace h2m2::npu {

Cycle MatrixVectorUnit::cycles(std::int64_t m, std::int64_t k, std::int64_t n) const {
  if (m <= 0 || k <= 0 || n <= 0) return 0;
  return m * ((k + width_ - 1) / width_) * ((n + lanes_ - 1) / lanes_);
}

}  // namespace h2m2::npu
