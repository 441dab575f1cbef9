#include "link/link.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>

namespace h2m2::link {

namespace {

// Service units per byte: one unit is 1e-12 byte, so a link of R bytes/s serves exactly R units
// in one picosecond and no division is needed to advance time.
constexpr std::int64_t kUnitsPerByte = 1'000'000'000'000;

// Largest bandwidth accepted: keeps bytes/s well inside int64 and the 128-bit products of
// (time x rate) and (remaining units x active transfers) far from overflow.
constexpr double kMaxBandwidthGBps = 1e9;

std::string num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

std::int64_t wire_bytes_of(std::int64_t bytes, std::int64_t granularity) {
  return (bytes + granularity - 1) / granularity * granularity;
}

}  // namespace

void LinkConfig::validate() const {
  const auto fail = [&](const std::string& what) { throw std::invalid_argument(name + ": " + what); };
  if (!std::isfinite(bandwidth_GBps) || !(bandwidth_GBps > 0.0)) {
    fail("bandwidth_GBps=" + num(bandwidth_GBps) + " must be positive");
  }
  if (bandwidth_GBps > kMaxBandwidthGBps) {
    fail("bandwidth_GBps=" + num(bandwidth_GBps) + " must be at most " + num(kMaxBandwidthGBps));
  }
  if (std::llround(bandwidth_GBps * 1e9) < 1) {
    fail("bandwidth_GBps=" + num(bandwidth_GBps) + " must be at least 1e-09 (1 byte/s)");
  }
  if (latency_ps < 0) fail("latency_ps=" + std::to_string(latency_ps) + " must be non-negative");
  if (granularity_bytes <= 0) {
    fail("granularity_bytes=" + std::to_string(granularity_bytes) + " must be positive");
  }
}

Link::Link(const LinkConfig& cfg) : cfg_(cfg) {
  cfg_.validate();
  rate_units_per_ps_ = static_cast<Wide>(std::llround(cfg_.bandwidth_GBps * 1e9));
  for (Direction& d : dirs_) {
    d.active.reserve(64);
    d.flight.reserve(64);
  }
}

void Link::check_time(const char* what, Picoseconds t) const {
  if (t < now_) {
    throw std::logic_error("h2m2 internal error: " + cfg_.name + ": " + what + " at t=" +
                           std::to_string(t) + " ps precedes the link time " + std::to_string(now_) +
                           " ps; please report");
  }
}

Picoseconds Link::next_serialization_end(const Direction& d) const {
  if (d.active.empty()) return kNever;
  // Invariant: min_finish > served, so the transfer still needs at least one unit.
  const Wide need = (d.min_finish - d.served) * static_cast<Wide>(d.active.size());
  const Wide dt = (need + rate_units_per_ps_ - 1) / rate_units_per_ps_;
  return d.last + static_cast<Picoseconds>(dt);
}

void Link::credit(int dir, Picoseconds t) {
  Direction& d = dirs_[dir];
  if (t <= d.last) return;
  if (!d.active.empty()) {
    // Equal shares, rounded down: a transfer never gets more than the wire carried.
    d.served += static_cast<Wide>(t - d.last) * rate_units_per_ps_ / static_cast<Wide>(d.active.size());
    stats_.busy_ps[dir] += t - d.last;
  }
  d.last = t;
}

void Link::serialize_until(int dir, Picoseconds t) {
  Direction& d = dirs_[dir];
  while (!d.active.empty()) {
    const Picoseconds end = next_serialization_end(d);
    if (end > t) break;
    credit(dir, end);
    // The rounded-up end gives the smallest tag at least its remaining units, so it leaves now,
    // together with every transfer whose tag the same credit reached.
    const std::size_t first = d.flight.size();
    Wide min_left = std::numeric_limits<Wide>::max();
    for (std::size_t i = 0; i < d.active.size();) {
      if (d.active[i].finish <= d.served) {
        d.flight.push_back({end + cfg_.latency_ps, d.active[i].id});
        d.active[i] = d.active.back();
        d.active.pop_back();
      } else {
        min_left = std::min(min_left, d.active[i].finish);
        ++i;
      }
    }
    // Same delivery time: report in start order, whatever the swap-removal did to the order.
    std::sort(d.flight.begin() + static_cast<std::ptrdiff_t>(first), d.flight.end(),
              [](const Delivery& a, const Delivery& b) { return a.id < b.id; });
    if (d.active.empty()) {
      d.served = 0;  // restart the virtual clock while idle so tags stay small
      d.min_finish = 0;
    } else {
      d.min_finish = min_left;
    }
  }
  credit(dir, t);
}

std::uint64_t Link::start(int direction, std::int64_t bytes, Picoseconds t) {
  if (direction != 0 && direction != 1) {
    throw std::invalid_argument(cfg_.name + ": direction=" + std::to_string(direction) +
                                " must be 0 or 1");
  }
  if (bytes <= 0) {
    throw std::invalid_argument(cfg_.name + ": transfer of bytes=" + std::to_string(bytes) +
                                " must be positive");
  }
  check_time("start()", t);
  now_ = t;
  serialize_until(direction, t);

  const std::int64_t wire = wire_bytes_of(bytes, cfg_.granularity_bytes);
  stats_.transfers[direction] += 1;
  stats_.bytes[direction] += static_cast<std::uint64_t>(bytes);
  stats_.wire_bytes[direction] += static_cast<std::uint64_t>(wire);

  Direction& d = dirs_[direction];
  const Wide finish = d.served + static_cast<Wide>(wire) * kUnitsPerByte;
  if (d.active.empty() || finish < d.min_finish) d.min_finish = finish;
  const std::uint64_t id = next_id_++;
  d.active.push_back({id, finish});
  return id;
}

Picoseconds Link::next_delivery() const {
  Picoseconds next = kNever;
  for (const Direction& d : dirs_) {
    // Flight entries precede anything still on the wire, and are FIFO by time.
    if (d.head < d.flight.size()) {
      next = std::min(next, d.flight[d.head].at);
    } else if (!d.active.empty()) {
      next = std::min(next, next_serialization_end(d) + cfg_.latency_ps);
    }
  }
  return next;
}

void Link::advance_to(Picoseconds t, std::vector<std::pair<std::uint64_t, Picoseconds>>& delivered) {
  check_time("advance_to()", t);
  now_ = t;
  serialize_until(0, t);
  serialize_until(1, t);
  Direction& a = dirs_[0];
  Direction& b = dirs_[1];
  // Merge the two FIFOs by (time, id).
  while (true) {
    const bool ha = a.head < a.flight.size() && a.flight[a.head].at <= t;
    const bool hb = b.head < b.flight.size() && b.flight[b.head].at <= t;
    if (!ha && !hb) break;
    bool take_a = ha;
    if (ha && hb) {
      const Delivery& x = a.flight[a.head];
      const Delivery& y = b.flight[b.head];
      take_a = x.at < y.at || (x.at == y.at && x.id < y.id);
    }
    Direction& d = take_a ? a : b;
    delivered.emplace_back(d.flight[d.head].id, d.flight[d.head].at);
    ++d.head;
  }
  for (Direction& d : dirs_) {
    if (d.head == d.flight.size()) {
      d.flight.clear();  // keeps the capacity: no allocation in steady state
      d.head = 0;
    } else if (d.head >= 1024 && 2 * d.head >= d.flight.size()) {
      d.flight.erase(d.flight.begin(), d.flight.begin() + static_cast<std::ptrdiff_t>(d.head));
      d.head = 0;
    }
  }
}

Picoseconds Link::idle_transfer_ps(std::int64_t bytes) const {
  if (bytes < 0) {
    throw std::invalid_argument(cfg_.name + ": bytes=" + std::to_string(bytes) +
                                " must be non-negative");
  }
  const Wide units = static_cast<Wide>(wire_bytes_of(bytes, cfg_.granularity_bytes)) * kUnitsPerByte;
  return static_cast<Picoseconds>((units + rate_units_per_ps_ - 1) / rate_units_per_ps_) +
         cfg_.latency_ps;
}

}  // namespace h2m2::link
