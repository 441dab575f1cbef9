// Conversion of Python dicts into NpuConfig and KernelDesc (shared by bind_npu.cpp and the
// engine bindings). Conversion only: validation happens in NpuConfig::validate() and npu::plan().
//
// Dict keys are the struct field names. A key that is absent keeps the struct default (the Python
// dataclass mirrors those defaults); a key that is not a field raises. Per-op vector costs are
// dicts by op name ("softmax", ...) and start from npu::default_vector_costs(); ops absent from
// the dict keep their default. Kernel "op" ("linear", "attention", "vector") is required; "vop"
// is an op name. Values of the wrong type raise ValueError naming the field.
#pragma once

#include <pybind11/pybind11.h>

#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "npu/kernel.hpp"
#include "npu/npu_config.hpp"
#include "npu/tile_planner.hpp"
#include "npu/vector_unit.hpp"

namespace h2m2::bindings {

namespace npu_convert_detail {

template <typename T>
T cast_field(pybind11::handle value, const std::string& obj, const std::string& key) {
  try {
    return value.cast<T>();
  } catch (const pybind11::cast_error&) {
    throw std::invalid_argument(obj + ": field " + key + "=" +
                                std::string(pybind11::repr(value)) + " has the wrong type");
  }
}

inline void costs_from_dict(pybind11::handle value, const std::string& key,
                            std::array<double, npu::kVectorOps>& dst) {
  if (!pybind11::isinstance<pybind11::dict>(value)) {
    throw std::invalid_argument("npu: " + key + " must be a dict {op name: ops per element}");
  }
  for (auto item : pybind11::reinterpret_borrow<pybind11::dict>(value)) {
    const auto op_name = cast_field<std::string>(item.first, "npu", key + " key");
    const npu::VectorOp op = npu::parse_vector_op(op_name);
    dst[static_cast<std::size_t>(op)] =
        cast_field<double>(item.second, "npu", key + "[" + op_name + "]");
  }
}

}  // namespace npu_convert_detail

inline npu::NpuConfig npu_config_from_dict(const pybind11::dict& d) {
  using npu_convert_detail::cast_field;
  using npu_convert_detail::costs_from_dict;
  npu::NpuConfig c;
  npu::default_vector_costs(c);
  for (auto item : d) {
    const std::string key = cast_field<std::string>(item.first, "npu", "key");
    const pybind11::handle v = item.second;
    auto get = [&](auto& field) {
      field = cast_field<std::decay_t<decltype(field)>>(v, "npu", key);
    };
    if (key == "name") get(c.name);
    else if (key == "cores") get(c.cores);
    else if (key == "clock_ps") get(c.clock_ps);
    else if (key == "sa_rows") get(c.sa_rows);
    else if (key == "sa_cols") get(c.sa_cols);
    else if (key == "mv_lanes") get(c.mv_lanes);
    else if (key == "mv_width") get(c.mv_width);
    else if (key == "vector_width") get(c.vector_width);
    else if (key == "sfu_width") get(c.sfu_width);
    else if (key == "vector_ops_per_element") costs_from_dict(v, key, c.vector_ops_per_element);
    else if (key == "sfu_ops_per_element") costs_from_dict(v, key, c.sfu_ops_per_element);
    else if (key == "spm_bytes") get(c.spm_bytes);
    else if (key == "spm_buffers") get(c.spm_buffers);
    else if (key == "mv_max_rows") get(c.mv_max_rows);
    else if (key == "element_bytes") get(c.element_bytes);
    else if (key == "dma_max_inflight") get(c.dma_max_inflight);
    else if (key == "dma_issue_per_cycle") get(c.dma_issue_per_cycle);
    else if (key == "dma_stagger") get(c.dma_stagger);
    else if (key == "dma_arbitration") {
      const auto mode = cast_field<std::string>(v, "npu", key);
      if (mode == "least_progress") c.dma_arbitration = npu::DmaArbitration::LeastProgress;
      else if (mode == "round_robin") c.dma_arbitration = npu::DmaArbitration::RoundRobin;
      else throw std::invalid_argument("npu: dma_arbitration='" + mode + "' must be 'least_progress' or 'round_robin'");
    }
    else if (key == "tile_target_bytes") get(c.tile_target_bytes);
    else throw std::invalid_argument("npu: unknown NpuConfig field '" + key + "'");
  }
  return c;
}

inline npu::KernelDesc kernel_from_dict(const pybind11::dict& d) {
  using npu_convert_detail::cast_field;
  if (!d.contains("op")) {
    throw std::invalid_argument("kernel: missing field 'op' (linear, attention or vector)");
  }
  npu::KernelDesc k;
  for (auto item : d) {
    const std::string key = cast_field<std::string>(item.first, "kernel", "key");
    const pybind11::handle v = item.second;
    auto get = [&](auto& field) {
      field = cast_field<std::decay_t<decltype(field)>>(v, "kernel", key);
    };
    if (key == "op") k.op = npu::parse_kernel_op(cast_field<std::string>(v, "kernel", key));
    else if (key == "vop") k.vop = npu::parse_vector_op(cast_field<std::string>(v, "kernel", key));
    else if (key == "m") get(k.m);
    else if (key == "k") get(k.k);
    else if (key == "n") get(k.n);
    else if (key == "batch") get(k.batch);
    else if (key == "kv_heads") get(k.kv_heads);
    else if (key == "group") get(k.group);
    else if (key == "head_dim") get(k.head_dim);
    else if (key == "kv_len") get(k.kv_len);
    else if (key == "elements") get(k.elements);
    else if (key == "element_bytes") get(k.element_bytes);
    else if (key == "stream_base") get(k.stream_base);
    else if (key == "out_base") get(k.out_base);
    else throw std::invalid_argument("kernel: unknown KernelDesc field '" + key + "'");
  }
  return k;
}

}  // namespace h2m2::bindings
