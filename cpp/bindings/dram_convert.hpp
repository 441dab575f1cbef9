// Conversions between Python dicts and the DRAM engine's plain structs (shared by the DRAM and
// engine bindings). Conversion only: validation lives in DramConfig::validate().
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "dram/dram_config.hpp"
#include "dram/dram_stats.hpp"

namespace h2m2::bindings {

namespace py = pybind11;
using dram::DramConfig;

template <typename T>
T get(const py::dict& d, const char* key) {
  if (!d.contains(key)) throw std::invalid_argument(std::string("DramConfig: missing field ") + key);
  return d[key].cast<T>();
}

inline DramConfig config_from_dict(const py::dict& d) {
  DramConfig c;
  c.name = get<std::string>(d, "name");
  c.tck_ps = get<std::int64_t>(d, "tck_ps");
  c.channels = get<int>(d, "channels");
  c.ranks = get<int>(d, "ranks");
  c.bank_groups = get<int>(d, "bank_groups");
  c.banks_per_group = get<int>(d, "banks_per_group");
  c.rows = get<std::int64_t>(d, "rows");
  c.bursts_per_row = get<std::int64_t>(d, "bursts_per_row");
  c.transaction_bytes = get<std::int64_t>(d, "transaction_bytes");
  c.dual_command_bus = get<bool>(d, "dual_command_bus");
  auto table = [&](const char* key, auto& dst) {
    auto a = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>(d[key]);
    if (a.ndim() != 3 || a.shape(0) != dram::kScopes || a.shape(1) != dram::kCommands ||
        a.shape(2) != dram::kCommands) {
      throw std::invalid_argument(std::string("DramConfig: ") + key + " must have shape (4, 9, 9)");
    }
    auto r = a.unchecked<3>();
    for (py::ssize_t s = 0; s < dram::kScopes; ++s)
      for (py::ssize_t p = 0; p < dram::kCommands; ++p)
        for (py::ssize_t f = 0; f < dram::kCommands; ++f)
          dst[static_cast<std::size_t>(s)][static_cast<std::size_t>(p)][static_cast<std::size_t>(f)] = r(s, p, f);
  };
  table("same", c.same);
  table("sibling", c.sibling);
  auto w = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>(d["windows"]);
  if (w.ndim() != 2 || (w.shape(0) > 0 && w.shape(1) != 5)) {
    throw std::invalid_argument("DramConfig: windows must have shape (k, 5)");
  }
  auto wr = w.unchecked<2>();
  for (py::ssize_t i = 0; i < w.shape(0); ++i) {
    dram::WindowRule rule;
    if (wr(i, 0) < 0 || wr(i, 0) >= dram::kScopes) throw std::invalid_argument("DramConfig: bad window scope");
    rule.scope = static_cast<dram::Scope>(wr(i, 0));
    rule.preceding_mask = static_cast<std::uint32_t>(wr(i, 1));
    rule.following_mask = static_cast<std::uint32_t>(wr(i, 2));
    rule.window = static_cast<int>(wr(i, 3));
    rule.latency = wr(i, 4);
    c.windows.push_back(rule);
  }
  c.nCL = get<std::int64_t>(d, "nCL");
  c.nCWL = get<std::int64_t>(d, "nCWL");
  c.nBL = get<std::int64_t>(d, "nBL");
  c.nREFI = get<std::int64_t>(d, "nREFI");
  c.nREFIpb = get<std::int64_t>(d, "nREFIpb");
  auto m = get<std::vector<int>>(d, "mapping_lsb_first");
  if (m.size() != 6) throw std::invalid_argument("DramConfig: mapping_lsb_first must list 6 fields");
  for (std::size_t i = 0; i < 6; ++i) c.mapping_lsb_first[i] = m[i];
  c.xor_bank = get<bool>(d, "xor_bank");
  c.read_queue = get<int>(d, "read_queue");
  c.write_queue = get<int>(d, "write_queue");
  c.write_high_watermark = get<int>(d, "write_high_watermark");
  c.write_low_watermark = get<int>(d, "write_low_watermark");
  c.row_hit_cap = get<int>(d, "row_hit_cap");
  const auto page = get<std::string>(d, "page_policy");
  if (page == "open") c.page_policy = dram::PagePolicy::Open;
  else if (page == "closed") c.page_policy = dram::PagePolicy::Closed;
  else throw std::invalid_argument("DramConfig: page_policy=" + page + " must be 'open' or 'closed'");
  const auto refresh = get<std::string>(d, "refresh");
  if (refresh == "all_bank") c.refresh = dram::RefreshMode::AllBank;
  else if (refresh == "per_bank") c.refresh = dram::RefreshMode::PerBank;
  else if (refresh == "none") c.refresh = dram::RefreshMode::None;
  else throw std::invalid_argument("DramConfig: refresh=" + refresh + " must be all_bank, per_bank or none");
  c.record_commands = get<bool>(d, "record_commands");
  return c;
}

inline py::dict stats_to_dict(const dram::DramStats& s) {
  py::dict d;
  d["reads"] = s.reads;
  d["writes"] = s.writes;
  d["row_hits"] = s.row_hits;
  d["row_misses"] = s.row_misses;
  d["row_conflicts"] = s.row_conflicts;
  py::array_t<std::uint64_t> cmds(dram::kCommands);
  auto w = cmds.mutable_unchecked<1>();
  for (int i = 0; i < dram::kCommands; ++i) w(i) = s.commands[static_cast<std::size_t>(i)];
  d["commands"] = cmds;
  d["refresh_cycles"] = s.refresh_cycles;
  d["ticks"] = s.ticks;
  d["last_completion"] = s.last_completion;
  auto lat = [](const LatencyHistogram& h) {
    py::dict l;
    l["count"] = h.count();
    l["sum"] = h.sum();
    l["max"] = h.max();
    l["p50"] = h.percentile(0.50);
    l["p90"] = h.percentile(0.90);
    l["p95"] = h.percentile(0.95);
    l["p99"] = h.percentile(0.99);
    return l;
  };
  d["read_latency"] = lat(s.read_latency);
  d["write_latency"] = lat(s.write_latency);
  return d;
}

}  // namespace h2m2::bindings
