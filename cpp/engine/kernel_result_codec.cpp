#include "engine/kernel_result_codec.hpp"

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <type_traits>

namespace h2m2::engine {

namespace {

constexpr std::uint32_t kMagic = 0x4b524331;  // "KRC1"

class Writer {
 public:
  template <typename T>
  void put(T v) {
    static_assert(std::is_trivially_copyable_v<T>);
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    out_.append(b, sizeof(T));
  }
  void put_string(const std::string& s) {
    put<std::uint64_t>(s.size());
    out_.append(s);
  }
  void put_histogram(const LatencyHistogram& h) {
    const auto& counts = h.buckets();
    std::uint32_t nonzero = 0;
    for (std::uint64_t c : counts) nonzero += c != 0;
    put(h.count());
    put(h.sum());
    put(h.max());
    put(nonzero);
    for (std::size_t i = 0; i < counts.size(); ++i) {
      if (counts[i] == 0) continue;
      put(static_cast<std::uint32_t>(i));
      put(counts[i]);
    }
  }
  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <typename T>
  T get() {
    static_assert(std::is_trivially_copyable_v<T>);
    need(sizeof(T));
    T v;
    std::memcpy(&v, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string get_string() {
    const auto n = get<std::uint64_t>();
    need(n);
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  LatencyHistogram get_histogram() {
    const auto n = get<std::uint64_t>();
    const auto sum = get<std::int64_t>();
    const auto max = get<std::int64_t>();
    const auto nonzero = get<std::uint32_t>();
    std::array<std::uint64_t, LatencyHistogram::kBuckets> counts{};
    for (std::uint32_t j = 0; j < nonzero; ++j) {
      const auto i = get<std::uint32_t>();
      if (i >= counts.size()) fail("histogram bucket out of range");
      counts[i] = get<std::uint64_t>();
    }
    LatencyHistogram h;
    if (!h.restore(counts, n, sum, max)) fail("histogram counts do not add up");
    return h;
  }
  void finish() const {
    if (pos_ != in_.size()) fail("trailing bytes");
  }
  [[noreturn]] static void fail(const char* what) {
    throw std::invalid_argument(std::string("kernel result codec: malformed entry (") + what + ")");
  }

 private:
  void need(std::size_t n) const {
    if (n > in_.size() - pos_) fail("truncated");
  }
  std::string_view in_;
  std::size_t pos_ = 0;
};

}  // namespace

std::string encode(const KernelResult& r) {
  Writer w;
  w.put(kMagic);
  w.put_string(r.name);
  w.put<std::int32_t>(r.device);
  w.put(r.time_ps);
  w.put<std::uint8_t>(r.extrapolated);
  w.put<std::uint8_t>(r.memo_hit);
  w.put(r.simulated_fraction);
  w.put(r.requests);
  w.put(static_cast<std::uint8_t>(r.unit));
  w.put(r.load_bytes);
  w.put(r.store_bytes);
  w.put(r.ops);
  w.put(r.tiles);
  w.put(r.compute_ps);
  const dram::DramStats& d = r.dram;
  for (std::uint64_t v : {d.reads, d.writes, d.row_hits, d.row_misses, d.row_conflicts}) w.put(v);
  for (std::uint64_t v : d.commands) w.put(v);
  w.put(d.refresh_cycles);
  w.put(d.last_completion);
  w.put(d.ticks);
  w.put_histogram(d.read_latency);
  w.put_histogram(d.write_latency);
  const npu::TlbStats& t = r.tlb;
  for (std::uint64_t v : {t.lookups, t.hits, t.misses, t.prefetches, t.walks}) w.put(v);
  w.put(t.walk_wait_ps);
  return w.take();
}

KernelResult decode(std::string_view bytes) {
  Reader in(bytes);
  if (in.get<std::uint32_t>() != kMagic) Reader::fail("bad magic");
  KernelResult r;
  r.name = in.get_string();
  r.device = in.get<std::int32_t>();
  r.time_ps = in.get<Picoseconds>();
  r.extrapolated = in.get<std::uint8_t>() != 0;
  r.memo_hit = in.get<std::uint8_t>() != 0;
  r.simulated_fraction = in.get<double>();
  r.requests = in.get<std::uint64_t>();
  const auto unit = in.get<std::uint8_t>();
  if (unit >= static_cast<std::uint8_t>(npu::Unit::kCount)) Reader::fail("unknown unit");
  r.unit = static_cast<npu::Unit>(unit);
  r.load_bytes = in.get<std::int64_t>();
  r.store_bytes = in.get<std::int64_t>();
  r.ops = in.get<std::int64_t>();
  r.tiles = in.get<std::int64_t>();
  r.compute_ps = in.get<Picoseconds>();
  dram::DramStats& d = r.dram;
  for (std::uint64_t* v : {&d.reads, &d.writes, &d.row_hits, &d.row_misses, &d.row_conflicts}) {
    *v = in.get<std::uint64_t>();
  }
  for (std::uint64_t& v : d.commands) v = in.get<std::uint64_t>();
  d.refresh_cycles = in.get<std::uint64_t>();
  d.last_completion = in.get<Cycle>();
  d.ticks = in.get<std::uint64_t>();
  d.read_latency = in.get_histogram();
  d.write_latency = in.get_histogram();
  npu::TlbStats& t = r.tlb;
  for (std::uint64_t* v : {&t.lookups, &t.hits, &t.misses, &t.prefetches, &t.walks}) *v = in.get<std::uint64_t>();
  t.walk_wait_ps = in.get<Picoseconds>();
  in.finish();
  if (r.device < 0 || r.time_ps < 0) Reader::fail("negative device or time");
  return r;
}

}  // namespace h2m2::engine
