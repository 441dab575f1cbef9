// h2m2._core: assembles the submodules; each area registers itself (bind_<area>.cpp).
#include <pybind11/pybind11.h>

namespace h2m2::bindings {
void register_dram(pybind11::module_& m);
void register_engine(pybind11::module_& m);
void register_link(pybind11::module_& m);
void register_mmu(pybind11::module_& m);
void register_npu_planner(pybind11::module_& m);
}

PYBIND11_MODULE(_core, m) {
  m.doc() = "h2m2 timing engine (C++). Use the h2m2 Python package rather than this module.";
  auto dram = m.def_submodule("dram", "DRAM memory systems");
  h2m2::bindings::register_dram(dram);
  auto link = m.def_submodule("link", "Chip-to-chip links");
  h2m2::bindings::register_link(link);
  auto npu = m.def_submodule("npu", "Accelerator chips: MMU and TLB");
  h2m2::bindings::register_mmu(npu);
  h2m2::bindings::register_npu_planner(npu);
  auto engine = m.def_submodule("engine", "Multi-device engine: kernels, sublayers, epochs");
  h2m2::bindings::register_engine(engine);
}
