// Bindings of the link and the MMU/TLB, for tests and probes: conversion and calls only (STYLE 11).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "bindings/link_mmu_convert.hpp"
#include "link/link.hpp"
#include "npu/tlb.hpp"

namespace py = pybind11;

namespace h2m2::bindings {

namespace {

// The page table stays owned by Python: the arrays are held here, and their exact dtype and
// layout are required so that the Mmu reads the caller's memory (a silent copy would hide later
// updates of the table).
using DeviceArray = py::array_t<std::int32_t, py::array::c_style>;
using FrameArray = py::array_t<std::int64_t, py::array::c_style>;

struct MmuHolder {
  DeviceArray device;
  FrameArray frame;
  npu::Mmu mmu;
  MmuHolder(const npu::TlbConfig& cfg, DeviceArray dev, FrameArray fr)
      : device(std::move(dev)), frame(std::move(fr)), mmu(cfg, view(device, frame)) {}

  static npu::PageTableView view(const DeviceArray& dev, const FrameArray& fr) {
    if (dev.ndim() != 1 || fr.ndim() != 1 || dev.size() != fr.size()) {
      throw std::invalid_argument("Mmu: device and frame must be 1-D arrays of equal length");
    }
    npu::PageTableView v;
    v.device = dev.data();
    v.frame = fr.data();
    v.pages = static_cast<std::uint64_t>(dev.size());
    return v;
  }
};

}  // namespace

void register_link(py::module_& m) {
  m.attr("NEVER") = py::int_(kNever);
  py::class_<link::Link>(m, "Link")
      .def(py::init([](const py::dict& d) { return new link::Link(link_config(d)); }), py::arg("config"))
      .def("start", &link::Link::start, py::arg("direction"), py::arg("bytes"), py::arg("t_ps"),
           "Start a transfer; returns its id.")
      .def(
          "advance_to",
          [](link::Link& self, Picoseconds t) {
            std::vector<std::pair<std::uint64_t, Picoseconds>> out;
            self.advance_to(t, out);
            return out;
          },
          py::arg("t_ps"), "Advance to t; returns [(id, delivery time)] delivered at or before t.")
      .def("next_delivery", &link::Link::next_delivery, "Earliest delivery in flight (NEVER if none).")
      .def("idle_transfer_ps", &link::Link::idle_transfer_ps, py::arg("bytes"))
      .def("stats", [](const link::Link& self) { return link_stats(self.stats()); });
}

void register_mmu(py::module_& m) {
  py::class_<npu::Tlb>(m, "Tlb")
      .def(py::init([](const py::dict& d) { return new npu::Tlb(tlb_config(d)); }), py::arg("config"))
      .def("lookup", &npu::Tlb::lookup, py::arg("page"), py::arg("t_ps"),
           "Time at which the translation of `page` is available to a lookup at t.")
      .def("invalidate", &npu::Tlb::invalidate, py::arg("page"))
      .def("flush", &npu::Tlb::flush)
      .def("stats", [](const npu::Tlb& self) { return tlb_stats(self.stats()); });

  py::class_<MmuHolder>(m, "Mmu")
      .def(py::init([](const py::dict& d, DeviceArray device, FrameArray frame) {
             return new MmuHolder(tlb_config(d), std::move(device), std::move(frame));
           }),
           py::arg("config"), py::arg("device"), py::arg("frame"))
      .def(
          "translate",
          [](MmuHolder& self, std::uint64_t logical, Picoseconds t) {
            const npu::Translation r = self.mmu.translate(logical, t);
            return py::make_tuple(r.ready, r.device, r.physical);
          },
          py::arg("logical"), py::arg("t_ps"), "Returns (ready time, device, physical address).")
      .def("stats", [](const MmuHolder& self) { return tlb_stats(self.mmu.tlb().stats()); });
}

}  // namespace h2m2::bindings
