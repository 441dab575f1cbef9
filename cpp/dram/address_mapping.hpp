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
  // Bytes spanned by the fields below the row field: addresses this far apart differ only in
  // the row (before XOR hashing), i.e. hit the same banks in different rows.
  std::uint64_t row_period_bytes() const { return row_period_bytes_; }

  // The channel field of decode(addr) alone.
  int channel_of(std::uint64_t addr) const {
    const std::uint64_t y = (addr >> offset_bits_) >> channel_shift_;
    return static_cast<int>(channel_bits_ >= 0 ? y & channel_mask_ : y % channels_);
  }

  DecodedAddress decode(std::uint64_t addr) const {
    // Every field is a shift and a mask, of the bits below the channel field or of the number
    // above it (the quotient by the channel count: a shift too when that is a power of two).
    const std::uint64_t x = addr >> offset_bits_;
    const std::uint64_t y = x >> channel_shift_;
    std::uint64_t hi, channel;
    if (channel_bits_ >= 0) {
      channel = y & channel_mask_;
      hi = y >> channel_bits_;
    } else {
      hi = y / channels_;
      channel = y - hi * channels_;
    }
    const std::uint64_t src[2] = {x, hi};
    auto field = [&](int id) {
      const Part& p = parts_[static_cast<std::size_t>(id)];
      return (src[p.above_channel] >> p.shift) & p.mask;
    };
    const std::uint64_t row = field(4);
    DecodedAddress d;
    d.channel = static_cast<int>(channel);
    d.rank = static_cast<int>(field(1));
    d.bankgroup = static_cast<int>(field(2));
    d.bank = static_cast<int>(field(3));
    d.row = static_cast<std::int32_t>(row);
    d.column = static_cast<std::int32_t>(field(5));
    if (xor_bank_) {
      d.bank ^= static_cast<int>(row & bank_mask_);
      d.bankgroup ^= static_cast<int>((row >> bank_bits_) & bg_mask_);
    }
    return d;
  }

 private:
  // A power-of-two field: (x >> shift) & mask, where x is the address in transactions if the
  // field lies below the channel field, else the part of it above the channel field.
  struct Part {
    std::size_t above_channel = 0;
    int shift = 0;
    std::uint64_t mask = 0;
  };
  std::array<Part, 6> parts_{};  // by field id (the channel entry is unused)
  int channel_shift_ = 0;        // bits below the channel field
  int channel_bits_ = 0;         // log2 of the channel count, -1 if not a power of two
  std::uint64_t channel_mask_ = 0, channels_ = 1;
  int offset_bits_ = 0;
  bool xor_bank_ = false;
  int bank_bits_ = 0;
  std::uint64_t bank_mask_ = 0, bg_mask_ = 0;
  std::uint64_t capacity_bytes_ = 0;
  std::uint64_t row_period_bytes_ = 0;
};

}  // namespace h2m2::dram
