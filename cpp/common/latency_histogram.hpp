// LatencyHistogram: a bounded-memory histogram of non-negative integer latencies (cycles).
//
// Exact below 256; above, 128 sub-buckets per power of two (relative error < 0.8%), up to 2^40.
// Owns: a fixed array of counts (no per-sample storage, so a 10^7-request run stays small).
// Hot path: add() is a few integer operations.
#pragma once

#include <array>
#include <cstdint>

namespace h2m2 {

class LatencyHistogram {
 public:
  static constexpr int kLinear = 256;
  static constexpr int kSub = 128;
  static constexpr int kOctaves = 33;
  static constexpr int kBuckets = kLinear + kOctaves * kSub;

  void add(std::int64_t v) {
    if (v < 0) v = 0;
    ++counts_[static_cast<std::size_t>(index(v))];
    ++n_;
    sum_ += v;
    if (v > max_) max_ = v;
  }
  void merge(const LatencyHistogram& o) {
    if (o.n_ == 0) return;  // nothing to add: skip the walk over the buckets
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    n_ += o.n_;
    sum_ += o.sum_;
    if (o.max_ > max_) max_ = o.max_;
  }
  std::uint64_t count() const { return n_; }
  std::int64_t sum() const { return sum_; }
  std::int64_t max() const { return max_; }
  double mean() const { return n_ ? static_cast<double>(sum_) / static_cast<double>(n_) : 0.0; }

  // The raw state, for serialisation (engine/kernel_result_codec).
  const std::array<std::uint64_t, kBuckets>& buckets() const { return counts_; }
  // Rebuilds a histogram from buckets() and count()/sum()/max(); false (and unchanged) when the
  // parts disagree (bucket counts not summing to n).
  bool restore(const std::array<std::uint64_t, kBuckets>& counts, std::uint64_t n, std::int64_t sum,
               std::int64_t max) {
    std::uint64_t total = 0;
    for (std::uint64_t c : counts) total += c;
    if (total != n) return false;
    counts_ = counts;
    n_ = n;
    sum_ = sum;
    max_ = max;
    return true;
  }

  // Smallest bucket lower bound whose cumulative count reaches fraction q of the samples.
  std::int64_t percentile(double q) const {
    if (n_ == 0) return 0;
    const double target = q * static_cast<double>(n_);
    std::uint64_t cum = 0;
    for (int i = 0; i < kBuckets; ++i) {
      cum += counts_[static_cast<std::size_t>(i)];
      if (static_cast<double>(cum) >= target && cum > 0) return lower_bound(i);
    }
    return max_;
  }

 private:
  static int index(std::int64_t v) {
    if (v < kLinear) return static_cast<int>(v);
    const int msb = 63 - __builtin_clzll(static_cast<unsigned long long>(v));
    const int shift = msb - 7;  // keep 8 significant bits: [128, 256) after shifting
    int octave = shift - 1;     // v in [256, 512) -> octave 0
    if (octave >= kOctaves) return kBuckets - 1;
    const int sub = static_cast<int>(v >> shift) - kSub;
    return kLinear + octave * kSub + sub;
  }
  static std::int64_t lower_bound(int i) {
    if (i < kLinear) return i;
    const int octave = (i - kLinear) / kSub;
    const int sub = (i - kLinear) % kSub;
    return static_cast<std::int64_t>(kSub + sub) << (octave + 1);
  }

  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t n_ = 0;
  std::int64_t sum_ = 0;
  std::int64_t max_ = 0;
};

}  // namespace h2m2
