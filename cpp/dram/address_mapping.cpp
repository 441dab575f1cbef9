#include "dram/address_mapping.hpp"

#include <stdexcept>
#include <string>

namespace h2m2::dram {

namespace {
int log2_exact(std::uint64_t v) {
  if (v == 0 || (v & (v - 1))) return -1;
  int b = 0;
  while ((std::uint64_t{1} << b) < v) ++b;
  return b;
}
}  // namespace

void AddressMapping::init(const DramConfig& cfg) {
  const std::array<std::uint64_t, 6> sizes{
      static_cast<std::uint64_t>(cfg.channels),       static_cast<std::uint64_t>(cfg.ranks),
      static_cast<std::uint64_t>(cfg.bank_groups),    static_cast<std::uint64_t>(cfg.banks_per_group),
      static_cast<std::uint64_t>(cfg.rows),           static_cast<std::uint64_t>(cfg.bursts_per_row)};
  offset_bits_ = log2_exact(static_cast<std::uint64_t>(cfg.transaction_bytes));
  if (offset_bits_ < 0) {
    throw std::invalid_argument(cfg.name + ": transaction_bytes=" +
                                std::to_string(cfg.transaction_bytes) + " must be a power of two");
  }
  std::array<bool, 6> seen{};
  capacity_bytes_ = static_cast<std::uint64_t>(cfg.transaction_bytes);
  int shift = 0;               // bit position of the next field, from the bottom or above the channel
  std::size_t above = 0;       // 1 once the channel field is passed
  for (int i = 0; i < 6; ++i) {
    const int id = cfg.mapping_lsb_first[static_cast<std::size_t>(i)];
    if (id < 0 || id > 5 || seen[static_cast<std::size_t>(id)]) {
      throw std::invalid_argument(cfg.name + ": address mapping must list each field once");
    }
    seen[static_cast<std::size_t>(id)] = true;
    const std::uint64_t size = sizes[static_cast<std::size_t>(id)];
    const int bits = log2_exact(size);
    if (id == 4) row_period_bytes_ = capacity_bytes_;
    capacity_bytes_ *= size;
    if (id == 0) {
      channel_shift_ = shift;
      channel_bits_ = bits;
      channel_mask_ = bits >= 0 ? size - 1 : 0;
      channels_ = size;
      shift = 0;
      above = 1;
      continue;
    }
    if (bits < 0) {
      throw std::invalid_argument(cfg.name + ": address field " + std::to_string(id) +
                                  " size " + std::to_string(size) + " must be a power of two");
    }
    parts_[static_cast<std::size_t>(id)] = Part{above, shift, size - 1};
    shift += bits;
  }
  xor_bank_ = cfg.xor_bank;
  bank_bits_ = log2_exact(static_cast<std::uint64_t>(cfg.banks_per_group));
  bank_mask_ = static_cast<std::uint64_t>(cfg.banks_per_group - 1);
  bg_mask_ = static_cast<std::uint64_t>(cfg.bank_groups - 1);
}

}  // namespace h2m2::dram
