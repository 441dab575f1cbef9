// Bindings of the DRAM memory system: conversion and calls only, no logic (STYLE 11-12).
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <optional>
#include <string>

#include "bindings/dram_convert.hpp"
#include "bindings/interrupt.hpp"
#include "dram/memory_system.hpp"

namespace py = pybind11;

namespace h2m2::bindings {

using dram::DramConfig;
using dram::MemorySystem;

namespace {

template <typename T>
py::array_t<T> to_numpy(const std::vector<T>& v) {
  py::array_t<T> a(static_cast<py::ssize_t>(v.size()));
  if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), v.size() * sizeof(T));
  return a;
}

}  // namespace

void register_dram(py::module_& m) {
  py::class_<MemorySystem>(m, "MemorySystem")
      .def(py::init([](const py::dict& d) { return new MemorySystem(config_from_dict(d)); }),
           py::arg("config"))
      .def_property_readonly("capacity_bytes", &MemorySystem::capacity_bytes)
      .def_property_readonly("now", &MemorySystem::now)
      .def_property_readonly("channels", &MemorySystem::channels)
      .def_property_readonly("pending", &MemorySystem::pending)
      .def(
          "run_trace",
          [](MemorySystem& self, py::array_t<std::uint64_t, py::array::c_style | py::array::forcecast> addr,
             std::optional<py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>> is_write,
             std::optional<py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>> arrival) {
            const auto n = static_cast<std::size_t>(addr.size());
            if (is_write && static_cast<std::size_t>(is_write->size()) != n)
              throw std::invalid_argument("is_write must have one entry per address");
            if (arrival && static_cast<std::size_t>(arrival->size()) != n)
              throw std::invalid_argument("arrival must have one entry per address");
            const std::uint64_t* a = addr.data();
            const std::uint8_t* w = is_write ? is_write->data() : nullptr;
            const std::int64_t* t = arrival ? arrival->data() : nullptr;
            InterruptPoll poll;
            std::size_t done = 0;
            {
              py::gil_scoped_release release;
              done = self.run_trace(a, w, t, n, std::ref(poll));
            }
            poll.raise_if_interrupted();
            return done;
          },
          py::arg("addr"), py::arg("is_write") = py::none(), py::arg("arrival") = py::none(),
          "Run requests in bulk; returns how many entered the memory system.")
      .def("stats", [](const MemorySystem& self) { return stats_to_dict(self.stats()); })
      .def("command_log",
           [](const MemorySystem& self) {
             const auto& l = self.command_log();
             py::dict d;
             d["time"] = to_numpy(l.time);
             d["channel"] = to_numpy(l.channel);
             d["rank"] = to_numpy(l.rank);
             d["bankgroup"] = to_numpy(l.bankgroup);
             d["bank"] = to_numpy(l.bank);
             d["row"] = to_numpy(l.row);
             d["column"] = to_numpy(l.column);
             d["command"] = to_numpy(l.command);
             return d;
           })
      .def("clear_command_log", &MemorySystem::clear_command_log)
      .def("decode",
           [](const MemorySystem& self, py::array_t<std::uint64_t, py::array::c_style | py::array::forcecast> addr) {
             const auto n = addr.size();
             py::array_t<std::int64_t> out({static_cast<py::ssize_t>(n), py::ssize_t{6}});
             auto o = out.mutable_unchecked<2>();
             const std::uint64_t* a = addr.data();
             for (py::ssize_t i = 0; i < n; ++i) {
               if (a[i] >= self.capacity_bytes()) throw std::invalid_argument("decode: address beyond capacity");
               const auto d = self.decode(a[i]);
               o(i, 0) = d.channel; o(i, 1) = d.rank; o(i, 2) = d.bankgroup;
               o(i, 3) = d.bank; o(i, 4) = d.row; o(i, 5) = d.column;
             }
             return out;
           },
           "Decode addresses to rows of (channel, rank, bankgroup, bank, row, column).");
}

}  // namespace h2m2::bindings
