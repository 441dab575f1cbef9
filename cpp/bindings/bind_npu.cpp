// Bindings of the NPU tile planner and unit timing: conversion and calls only (STYLE 11-12).
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "bindings/npu_convert.hpp"
#include "npu/matrix_vector_unit.hpp"
#include "npu/systolic_array.hpp"
#include "npu/tile_planner.hpp"
#include "npu/vector_unit.hpp"

namespace py = pybind11;

namespace h2m2::bindings {

namespace {

py::dict pattern_to_dict(const npu::StreamPattern& s) {
  py::dict d;
  d["base"] = s.base;
  d["row_bytes"] = s.row_bytes;
  d["rows"] = s.rows;
  d["row_stride"] = s.row_stride;
  d["tile_stride"] = s.tile_stride;
  d["step_tiles"] = s.step_tiles;
  d["step_stride"] = s.step_stride;
  return d;
}

py::list patterns_to_list(const std::vector<npu::StreamPattern>& v) {
  py::list l;
  for (const auto& s : v) l.append(pattern_to_dict(s));
  return l;
}

py::dict plan_to_dict(const npu::TilePlan& p) {
  py::list cores;
  for (const auto& core : p.cores) {
    py::list groups;
    for (const auto& g : core.groups) {
      py::dict gd;
      gd["count"] = g.count;
      gd["compute_cycles"] = g.compute_cycles;
      gd["loads"] = patterns_to_list(g.loads);
      gd["stores"] = patterns_to_list(g.stores);
      groups.append(gd);
    }
    py::dict cd;
    cd["prologue_cycles"] = core.prologue_cycles;
    cd["groups"] = groups;
    cd["epilogue_cycles"] = core.epilogue_cycles;
    cd["load_base"] = core.load_base;
    cd["load_bytes"] = core.load_bytes;
    cd["store_base"] = core.store_base;
    cd["store_bytes"] = core.store_bytes;
    cores.append(cd);
  }
  py::dict d;
  d["unit"] = npu::unit_name(p.unit);
  d["spm_bytes_per_tile"] = p.spm_bytes_per_tile;
  d["load_bytes"] = p.load_bytes;
  d["store_bytes"] = p.store_bytes;
  d["ops"] = p.ops;
  d["cores"] = cores;
  return d;
}

npu::NpuConfig validated(const py::dict& d) {
  npu::NpuConfig c = npu_config_from_dict(d);
  c.validate();
  return c;
}

}  // namespace

void register_npu_planner(py::module_& m) {
  m.def(
      "plan",
      [](const py::dict& kernel, const py::dict& npu) {
        return plan_to_dict(npu::plan(kernel_from_dict(kernel), npu_config_from_dict(npu)));
      },
      py::arg("kernel"), py::arg("npu"),
      "Tile plan of one kernel on one chip (dicts keyed by KernelDesc / NpuConfig field names).");
  m.def(
      "systolic_cycles",
      [](std::int64_t mm, std::int64_t k, std::int64_t n, const py::dict& npu) {
        return npu::SystolicArray(validated(npu)).gemm_cycles(mm, k, n);
      },
      py::arg("m"), py::arg("k"), py::arg("n"), py::arg("npu"),
      "Cycles of an (m, k, n) GEMM on one core's systolic array (closed form).");
  m.def(
      "systolic_tile_cycles",
      [](std::int64_t mm, const py::dict& npu) {
        return npu::SystolicArray(validated(npu)).tile_cycles(mm);
      },
      py::arg("m"), py::arg("npu"),
      "Cycles of one weight tile streaming m rows: fill + m + drain.");
  m.def(
      "mv_cycles",
      [](std::int64_t mm, std::int64_t k, std::int64_t n, const py::dict& npu) {
        return npu::MatrixVectorUnit(validated(npu)).cycles(mm, k, n);
      },
      py::arg("m"), py::arg("k"), py::arg("n"), py::arg("npu"),
      "Cycles of an (m, k, n) product on one core's matrix-vector unit.");
  m.def(
      "vector_cycles",
      [](const std::string& op, std::int64_t elements, const py::dict& npu) {
        return npu::VectorUnit(validated(npu)).cycles(npu::parse_vector_op(op), elements);
      },
      py::arg("op"), py::arg("elements"), py::arg("npu"),
      "Cycles of `elements` elements of a vector op on one core's vector unit and SFU.");
  m.def(
      "default_vector_costs",
      []() {
        npu::NpuConfig c;
        npu::default_vector_costs(c);
        py::dict vec, sfu;
        for (int i = 0; i < npu::kVectorOps; ++i) {
          const char* name = npu::vector_op_name(static_cast<npu::VectorOp>(i));
          vec[name] = c.vector_ops_per_element[static_cast<std::size_t>(i)];
          sfu[name] = c.sfu_ops_per_element[static_cast<std::size_t>(i)];
        }
        py::dict d;
        d["vector_ops_per_element"] = vec;
        d["sfu_ops_per_element"] = sfu;
        return d;
      },
      "Default per-element vector-unit and SFU operation counts by op name.");
}

}  // namespace h2m2::bindings
