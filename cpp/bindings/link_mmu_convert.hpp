// Conversions between Python dicts and the link / TLB structs, shared by bind_link_mmu.cpp and
// bind_engine.cpp. Conversion only: validation lives in LinkConfig / TlbConfig::validate().
#pragma once

#include <pybind11/pybind11.h>

#include <initializer_list>
#include <stdexcept>
#include <string>

#include "link/link.hpp"
#include "npu/tlb.hpp"

namespace h2m2::bindings {

namespace py = pybind11;

// Every field must be given and no other key is accepted: defaults live in Python (STYLE 6).
inline void check_keys(const py::dict& d, const char* what, std::initializer_list<const char*> fields) {
  for (const char* f : fields) {
    if (!d.contains(f)) throw std::invalid_argument(std::string(what) + ": missing field " + f);
  }
  for (const auto& item : d) {
    const auto key = py::str(item.first).cast<std::string>();
    bool known = false;
    for (const char* f : fields) known = known || key == f;
    if (!known) throw std::invalid_argument(std::string(what) + ": unknown field " + key);
  }
}

inline link::LinkConfig link_config(const py::dict& d) {
  check_keys(d, "LinkConfig", {"name", "bandwidth_GBps", "latency_ps", "granularity_bytes"});
  link::LinkConfig c;
  c.name = d["name"].cast<std::string>();
  c.bandwidth_GBps = d["bandwidth_GBps"].cast<double>();
  c.latency_ps = d["latency_ps"].cast<std::int64_t>();
  c.granularity_bytes = d["granularity_bytes"].cast<std::int64_t>();
  return c;
}

inline npu::TlbConfig tlb_config(const py::dict& d) {
  check_keys(d, "TlbConfig",
             {"entries", "ways", "page_bytes", "walk_latency_ps", "concurrent_walks", "prefetch_next"});
  npu::TlbConfig c;
  c.entries = d["entries"].cast<int>();
  c.ways = d["ways"].cast<int>();
  c.page_bytes = d["page_bytes"].cast<std::int64_t>();
  c.walk_latency_ps = d["walk_latency_ps"].cast<std::int64_t>();
  c.concurrent_walks = d["concurrent_walks"].cast<int>();
  c.prefetch_next = d["prefetch_next"].cast<bool>();
  return c;
}

inline py::dict link_stats(const link::LinkStats& s) {
  py::dict d;
  d["transfers"] = py::make_tuple(s.transfers[0], s.transfers[1]);
  d["bytes"] = py::make_tuple(s.bytes[0], s.bytes[1]);
  d["wire_bytes"] = py::make_tuple(s.wire_bytes[0], s.wire_bytes[1]);
  d["busy_ps"] = py::make_tuple(s.busy_ps[0], s.busy_ps[1]);
  return d;
}

inline py::dict tlb_stats(const npu::TlbStats& s) {
  py::dict d;
  d["lookups"] = s.lookups;
  d["hits"] = s.hits;
  d["misses"] = s.misses;
  d["prefetches"] = s.prefetches;
  d["walks"] = s.walks;
  d["walk_wait_ps"] = s.walk_wait_ps;
  return d;
}

}  // namespace h2m2::bindings
