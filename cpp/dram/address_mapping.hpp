// AddressMapping: physical byte address -> (channel, rank, bank group, bank, row, column).
//
// Models: a bit-field (mixed-radix) interleaving, fields listed least significant first above the
// offset inside one column command, with optional XOR hashing of the bank and bank-group indices
// with the low row bits. Every field except `channel` is a power of two (shift and mask); the
// channel count may be any positive number (modulo and divide), so 6 HBM stacks map without holes.
// Hot path: decode() is called once per request; no allocation.
// Contract: callers check addr < capacity_bytes() (decode() does not).
#pragma once

#include <array>
#include <cstdint>

#include "dram/dram_config.hpp"

namespace h2m2::dram {

struct DecodedAddress {
  int channel = 0;
  int rank = 0;
  int bankgroup = 0;
  int bank = 0;
  std::int32_t row = 0;
  std::int32_t column = 0;
};

class AddressMapping {
 public:
  void init(const DramConfig& cfg);
  std::uint64_t capacity_bytes() const { return capacity_bytes_; }

  DecodedAddress decode(std::uint64_t addr) const {
    std::uint64_t x = addr >> offset_bits_;
    std::array<std::uint64_t, 6> v{};
    for (int i = 0; i < 6; ++i) {
      const Field& f = fields_[static_cast<std::size_t>(i)];
      if (f.bits >= 0) {
        v[static_cast<std::size_t>(f.id)] = x & f.mask;
        x >>= f.bits;
      } else {
        v[static_cast<std::size_t>(f.id)] = x % f.size;
        x /= f.size;
      }
    }
    DecodedAddress d;
    d.channel = static_cast<int>(v[0]);
    d.rank = static_cast<int>(v[1]);
    d.bankgroup = static_cast<int>(v[2]);
    d.bank = static_cast<int>(v[3]);
    d.row = static_cast<std::int32_t>(v[4]);
    d.column = static_cast<std::int32_t>(v[5]);
    if (xor_bank_) {
      d.bank ^= static_cast<int>(v[4] & bank_mask_);
      d.bankgroup ^= static_cast<int>((v[4] >> bank_bits_) & bg_mask_);
    }
    return d;
  }

 private:
  struct Field {
    int id = 0;
    int bits = -1;  // -1: not a power of two, use size
    std::uint64_t mask = 0;
    std::uint64_t size = 1;
  };
  std::array<Field, 6> fields_{};
  int offset_bits_ = 0;
  bool xor_bank_ = false;
  int bank_bits_ = 0;
  std::uint64_t bank_mask_ = 0, bg_mask_ = 0;
  std::uint64_t capacity_bytes_ = 0;
};

}  // namespace h2m2::dram
