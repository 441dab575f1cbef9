// Bindings of the multi-device engine: dict <-> struct conversion and calls, no logic.
// Long runs release the GIL; the epoch callback retakes it only for the Python call.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bindings/dram_convert.hpp"
#include "bindings/interrupt.hpp"
#include "bindings/link_mmu_convert.hpp"
#include "bindings/npu_convert.hpp"
#include "engine/engine.hpp"
#include "engine/kernel_result_codec.hpp"
#include "npu/tile_planner.hpp"

namespace py = pybind11;

namespace h2m2::bindings {

namespace {

using engine::Engine;

engine::Fidelity fidelity_from(const std::string& s) {
  if (s == "cycle") return engine::Fidelity::Cycle;
  if (s == "sampled") return engine::Fidelity::Sampled;
  if (s == "analytic") return engine::Fidelity::Analytic;
  throw std::invalid_argument("engine: fidelity=" + s + " must be cycle, sampled or analytic");
}

// Page tables come as (device int32[pages], frame int64[pages]) numpy arrays; the holder keeps
// them alive as long as the engine may read them.
struct TableHolder {
  std::vector<py::array_t<std::int32_t, py::array::c_style>> devices;
  std::vector<py::array_t<std::int64_t, py::array::c_style>> frames;
  std::vector<npu::PageTableView> views;
};

std::shared_ptr<TableHolder> tables_from(const py::list& tables) {
  auto h = std::make_shared<TableHolder>();
  for (const py::handle& t : tables) {
    const auto pair = t.cast<py::tuple>();
    if (pair.size() != 2) throw std::invalid_argument("engine: a page table is a (device, frame) pair of arrays");
    auto dev = py::array_t<std::int32_t, py::array::c_style | py::array::forcecast>(pair[0]);
    auto frm = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>(pair[1]);
    if (dev.ndim() != 1 || frm.ndim() != 1 || dev.size() != frm.size()) {
      throw std::invalid_argument("engine: page-table arrays must be one-dimensional and of equal length");
    }
    h->views.push_back(npu::PageTableView{dev.data(), frm.data(), static_cast<std::uint64_t>(dev.size())});
    h->devices.push_back(std::move(dev));
    h->frames.push_back(std::move(frm));
  }
  return h;
}

std::vector<engine::SublayerSpec> program_from(const py::list& program) {
  std::vector<engine::SublayerSpec> out;
  for (const py::handle& item : program) {
    const auto d = item.cast<py::dict>();
    engine::SublayerSpec s;
    s.name = get<std::string>(d, "name");
    for (const py::handle& kh : get<py::list>(d, "kernels")) {
      const auto kd = kh.cast<py::dict>();
      engine::KernelSpec k;
      k.name = get<std::string>(kd, "name");
      k.device = get<int>(kd, "device");
      k.desc = kernel_from_dict(get<py::dict>(kd, "desc"));
      if (kd.contains("signature")) k.signature = kd["signature"].cast<std::string>();
      s.kernels.push_back(std::move(k));
    }
    if (d.contains("exchange_bytes")) {
      const auto ex = d["exchange_bytes"].cast<std::vector<std::int64_t>>();
      if (ex.size() != 2) throw std::invalid_argument("engine: exchange_bytes must have two entries");
      s.exchange_bytes = {ex[0], ex[1]};
    }
    if (d.contains("barrier_ps")) s.barrier_ps = d["barrier_ps"].cast<std::int64_t>();
    out.push_back(std::move(s));
  }
  return out;
}

py::list results_to_list(const std::vector<engine::SublayerResult>& rs) {
  py::list out;
  for (const engine::SublayerResult& r : rs) {
    py::dict d;
    d["name"] = r.name;
    d["start_ps"] = r.start_ps;
    d["kernels_ps"] = r.kernels_ps;
    d["barrier_ps"] = r.barrier_ps;
    d["exchange_ps"] = r.exchange_ps;
    d["end_ps"] = r.end_ps;
    py::list ks;
    for (const engine::KernelResult& k : r.kernels) {
      py::dict kd;
      kd["name"] = k.name;
      kd["device"] = k.device;
      kd["time_ps"] = k.time_ps;
      kd["extrapolated"] = k.extrapolated;
      kd["memo_hit"] = k.memo_hit;
      kd["simulated_fraction"] = k.simulated_fraction;
      kd["requests"] = k.requests;
      kd["unit"] = npu::unit_name(k.unit);
      kd["load_bytes"] = k.load_bytes;
      kd["store_bytes"] = k.store_bytes;
      kd["ops"] = k.ops;
      kd["tiles"] = k.tiles;
      kd["compute_ps"] = k.compute_ps;
      kd["dram"] = stats_to_dict(k.dram);
      kd["tlb"] = tlb_stats(k.tlb);
      ks.append(kd);
    }
    d["kernels"] = ks;
    out.append(d);
  }
  return out;
}

struct PyEngine {
  std::unique_ptr<Engine> engine;
  std::shared_ptr<TableHolder> tables;
};

// Run `body` without the GIL, with Ctrl-C polled by the engine; a poll that saw a signal turns
// the engine's "interrupted" error into KeyboardInterrupt.
template <typename F>
auto run_released(PyEngine& self, F&& body) {
  InterruptPoll poll;
  self.engine->set_interrupt(std::ref(poll));
  struct Reset {
    Engine& e;
    ~Reset() { e.set_interrupt({}); }
  } reset{*self.engine};
  try {
    py::gil_scoped_release release;
    return body();
  } catch (const std::runtime_error& e) {
    if (std::string(e.what()) == "interrupted") poll.raise_if_interrupted();
    throw;
  }
}

}  // namespace

void register_engine(py::module_& m) {
  py::class_<PyEngine>(m, "Engine")
      .def(py::init([](const py::dict& cfg, const py::list& tables) {
             engine::EngineConfig c;
             for (const py::handle& dh : get<py::list>(cfg, "devices")) {
               const auto d = dh.cast<py::dict>();
               engine::DeviceConfig dc;
               dc.name = get<std::string>(d, "name");
               dc.npu = npu_config_from_dict(get<py::dict>(d, "npu"));
               dc.dram = config_from_dict(get<py::dict>(d, "dram"));
               dc.tlb = tlb_config(get<py::dict>(d, "tlb"));
               dc.dram_peak_GBps = get<double>(d, "dram_peak_GBps");
               c.devices.push_back(std::move(dc));
             }
             if (cfg.contains("link") && !cfg["link"].is_none()) {
               c.has_link = true;
               c.link = link_config(cfg["link"].cast<py::dict>());
             }
             c.fidelity = fidelity_from(get<std::string>(cfg, "fidelity"));
             if (cfg.contains("sample_tolerance")) c.sample_tolerance = cfg["sample_tolerance"].cast<double>();
             if (cfg.contains("sample_min_tiles")) c.sample_min_tiles = cfg["sample_min_tiles"].cast<int>();
             if (cfg.contains("sample_tail_tiles")) c.sample_tail_tiles = cfg["sample_tail_tiles"].cast<int>();
             if (cfg.contains("sample_compute_slack")) {
               c.sample_compute_slack = cfg["sample_compute_slack"].cast<double>();
             }
             if (cfg.contains("sample_slack_tiles")) c.sample_slack_tiles = cfg["sample_slack_tiles"].cast<int>();
             if (cfg.contains("record_spans")) c.record_spans = cfg["record_spans"].cast<bool>();
             if (cfg.contains("threads")) c.threads = cfg["threads"].cast<int>();
             auto holder = tables_from(tables);
             auto* e = new PyEngine{std::make_unique<Engine>(std::move(c), holder->views), holder};
             return e;
           }),
           py::arg("config"), py::arg("page_tables"))
      .def("set_page_tables",
           [](PyEngine& self, const py::list& tables) {
             auto holder = tables_from(tables);
             self.engine->set_page_tables(holder->views);
             self.tables = holder;
           })
      .def("run_program",
           [](PyEngine& self, const py::list& program, std::int64_t start_ps) {
             const auto prog = program_from(program);
             const auto res = run_released(self, [&] { return self.engine->run_program(prog, start_ps); });
             return results_to_list(res);
           },
           py::arg("program"), py::arg("start_ps") = 0)
      .def("run_epochs",
           [](PyEngine& self, int epochs, const py::function& callback) {
             auto next = [&](const engine::EpochState& st) {
               py::gil_scoped_acquire gil;
               py::dict d;
               d["epoch"] = st.epoch;
               d["start_ps"] = st.start_ps;
               d["previous"] = results_to_list(st.previous);
               py::object prog = callback(d);
               if (prog.is_none()) return std::vector<engine::SublayerSpec>{};
               return program_from(prog.cast<py::list>());
             };
             const auto res = run_released(self, [&] { return self.engine->run_epochs(epochs, next); });
             py::list out;
             for (const auto& epoch : res) out.append(results_to_list(epoch));
             return out;
           },
           py::arg("epochs"), py::arg("callback"))
      .def("bandwidth_efficiency",
           [](PyEngine& self, int device) {
             return run_released(self, [&] { return self.engine->bandwidth_efficiency(device); });
           })
      .def("transfer_ps", [](PyEngine& self, int direction, std::int64_t bytes) {
        return self.engine->transfer_ps(direction, bytes);
      })
      .def_property_readonly("memo_size", [](PyEngine& self) { return self.engine->memo_size(); })
      .def("clear_memo", [](PyEngine& self) { self.engine->clear_memo(); })
      .def("memo_get",
           [](PyEngine& self, const std::string& signature) -> py::object {
             const engine::KernelResult* r = self.engine->memo_entry(signature);
             if (r == nullptr) return py::none();
             return py::bytes(engine::encode(*r));
           })
      .def("memo_put",
           [](PyEngine& self, const std::string& signature, const py::bytes& entry) {
             return self.engine->memo_insert(signature, engine::decode(std::string_view(entry)));
           })
      .def("spans", [](PyEngine& self) {
        const auto& spans = self.engine->spans();
        const auto n = static_cast<py::ssize_t>(spans.size());
        py::array_t<std::int32_t> kind(n), device(n), index(n), what(n);
        py::array_t<std::int64_t> begin(n), end(n);
        for (py::ssize_t i = 0; i < n; ++i) {
          const auto& s = spans[static_cast<std::size_t>(i)];
          kind.mutable_at(i) = s.kind;
          device.mutable_at(i) = s.device;
          index.mutable_at(i) = s.index;
          what.mutable_at(i) = s.what;
          begin.mutable_at(i) = s.begin;
          end.mutable_at(i) = s.end;
        }
        py::dict d;
        d["kind"] = kind;
        d["device"] = device;
        d["index"] = index;
        d["what"] = what;
        d["begin"] = begin;
        d["end"] = end;
        return d;
      });
}

}  // namespace h2m2::bindings
