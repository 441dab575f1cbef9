// h2m2._core: assembles the submodules; each area registers itself (bind_<area>.cpp).
#include <pybind11/pybind11.h>

namespace h2m2::bindings {
void register_dram(pybind11::module_& m);
}

PYBIND11_MODULE(_core, m) {
  m.doc() = "h2m2 timing engine (C++). Use the h2m2 Python package rather than this module.";
  auto dram = m.def_submodule("dram", "DRAM memory systems");
  h2m2::bindings::register_dram(dram);
}
