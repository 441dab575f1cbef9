#include "engine/engine.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <thread>

#include "npu/tile_planner.hpp"

namespace h2m2::engine {

Engine::Engine(EngineConfig cfg, std::vector<npu::PageTableView> tables)
    : cfg_(std::move(cfg)), efficiency_(cfg_.devices.size(), -1.0) {
  if (cfg_.devices.empty()) throw std::invalid_argument("engine: at least one device is required");
  for (const DeviceConfig& d : cfg_.devices) {
    d.npu.validate();
    d.dram.validate();
    d.tlb.validate();
  }
  if (cfg_.has_link) cfg_.link.validate();
  if (cfg_.devices.size() > 2) throw std::invalid_argument("engine: at most two devices share one link");
  if (!(cfg_.sample_tolerance > 0.0)) throw std::invalid_argument("engine: sample_tolerance must be positive");
  if (cfg_.sample_min_tiles < 2) throw std::invalid_argument("engine: sample_min_tiles must be at least 2");
  if (cfg_.sample_tail_tiles < 1) throw std::invalid_argument("engine: sample_tail_tiles must be at least 1");
  if (!(cfg_.sample_compute_slack < 1.0)) {
    throw std::invalid_argument("engine: sample_compute_slack must be below 1 (0 or less: off)");
  }
  if (cfg_.sample_slack_tiles < 1) throw std::invalid_argument("engine: sample_slack_tiles must be at least 1");
  if (cfg_.threads < 1) throw std::invalid_argument("engine: threads must be at least 1");
  set_page_tables(std::move(tables));
}

void Engine::set_page_tables(std::vector<npu::PageTableView> tables) {
  if (tables.size() != cfg_.devices.size()) {
    throw std::invalid_argument("engine: one page table per device is required (" +
                                std::to_string(cfg_.devices.size()) + " devices, " +
                                std::to_string(tables.size()) + " tables)");
  }
  tables_ = std::move(tables);
}

Picoseconds Engine::transfer_ps(int direction, std::int64_t bytes) const {
  if (bytes <= 0) return 0;
  if (!cfg_.has_link) throw std::invalid_argument("engine: an exchange needs a link between the devices");
  (void)direction;  // both directions have the same bandwidth and latency
  link::Link l(cfg_.link);
  return l.idle_transfer_ps(bytes);
}

std::vector<KernelResult> Engine::simulate(const std::vector<KernelSpec>& kernels,
                                           const std::vector<npu::TilePlan>& plans, bool sample,
                                           Picoseconds offset,
                                           const std::vector<npu::PageTableView>& tables,
                                           std::vector<Span>& spans) const {
  std::vector<std::unique_ptr<Device>> devices;
  std::vector<Device*> raw;
  for (std::size_t d = 0; d < cfg_.devices.size(); ++d) {
    devices.push_back(std::make_unique<Device>(cfg_.devices[d], tables[d]));
    raw.push_back(devices.back().get());
  }
  std::unique_ptr<link::Link> lnk;
  if (cfg_.has_link) lnk = std::make_unique<link::Link>(cfg_.link);
  KernelExecutor exec(raw, lnk.get(), interrupted_);
  std::vector<KernelTask> tasks;
  for (std::size_t i = 0; i < kernels.size(); ++i) tasks.push_back(KernelTask{kernels[i].device, &plans[i]});
  ExecOptions opts;
  opts.sample = sample;
  opts.tolerance = cfg_.sample_tolerance;
  opts.min_tiles = cfg_.sample_min_tiles;
  opts.tail_tiles = cfg_.sample_tail_tiles;
  opts.compute_slack = cfg_.sample_compute_slack;
  opts.slack_tiles = cfg_.sample_slack_tiles;
  opts.record_spans = cfg_.record_spans;
  const std::vector<KernelTiming> timing = exec.run(tasks, opts);
  if (cfg_.record_spans) {
    for (Span s : exec.spans()) {
      s.begin += offset;
      s.end += offset;
      spans.push_back(s);
    }
    // one span per DRAM channel that served requests: from the start to its last data beat
    for (std::size_t d = 0; d < devices.size(); ++d) {
      const dram::MemorySystem& mem = devices[d]->memory;
      for (int ch = 0; ch < mem.channels(); ++ch) {
        const dram::DramCounters& st = mem.channel_stats(ch);
        if (st.reads + st.writes == 0) continue;
        spans.push_back(Span{3, static_cast<int>(d), ch, 4, offset,
                             offset + devices[d]->mem_clock.to_ps(st.last_completion)});
      }
    }
  }
  std::vector<KernelResult> out;
  std::vector<bool> stats_taken(devices.size(), false);
  for (std::size_t i = 0; i < kernels.size(); ++i) {
    const KernelTiming& t = timing[i];
    const npu::TilePlan& p = plans[i];
    KernelResult r;
    r.name = kernels[i].name;
    r.device = kernels[i].device;
    r.time_ps = t.end_ps;
    r.extrapolated = t.extrapolated;
    r.simulated_fraction = t.simulated_fraction;
    r.requests = t.requests;
    r.unit = p.unit;
    r.load_bytes = p.load_bytes;
    r.store_bytes = p.store_bytes;
    r.ops = p.ops;
    const Device& dev = *devices[static_cast<std::size_t>(r.device)];
    for (const npu::CoreProgram& cp : p.cores) {
      Cycle cyc = cp.prologue_cycles + cp.epilogue_cycles;
      for (const npu::TileGroup& g : cp.groups) {
        cyc += g.count * g.compute_cycles;
        r.tiles += g.count;
      }
      r.compute_ps = std::max(r.compute_ps, dev.npu_clock.to_ps(cyc));
    }
    // A device's memory and TLB statistics go to the first kernel that ran on it.
    if (!stats_taken[static_cast<std::size_t>(r.device)]) {
      stats_taken[static_cast<std::size_t>(r.device)] = true;
      r.dram = dev.memory.stats();
      r.tlb = dev.mmu.tlb().stats();
    }
    out.push_back(std::move(r));
  }
  return out;
}

double Engine::bandwidth_efficiency(int device) {
  const auto d = static_cast<std::size_t>(device);
  if (efficiency_[d] >= 0.0) return efficiency_[d];
  const DeviceConfig& dc = cfg_.devices[d];
  // A matrix-vector product streaming 64 MB of weights, every page local to the device.
  npu::KernelDesc k;
  k.op = npu::KernelOp::Linear;
  k.m = 1;
  k.k = 4096;
  k.n = 16384;
  k.element_bytes = dc.npu.element_bytes;
  const npu::TilePlan plan = npu::plan(k, dc.npu);
  const auto bytes = static_cast<std::uint64_t>(plan.load_bytes + plan.store_bytes) + (1u << 22);
  const std::uint64_t pages = bytes / static_cast<std::uint64_t>(dc.tlb.page_bytes) + 2;
  std::vector<std::int32_t> dev_of(pages, device);
  std::vector<std::int64_t> frame(pages);
  for (std::uint64_t i = 0; i < pages; ++i) frame[i] = static_cast<std::int64_t>(i);
  std::vector<npu::PageTableView> tables(cfg_.devices.size());
  tables[d] = npu::PageTableView{dev_of.data(), frame.data(), pages};
  for (std::size_t o = 0; o < tables.size(); ++o) {
    if (o != d) tables[o] = tables[d];
  }
  KernelSpec spec;
  spec.name = "calibration";
  spec.device = device;
  spec.desc = k;
  std::vector<Span> no_spans;
  const std::vector<KernelResult> r = simulate({spec}, {plan}, true, 0, tables, no_spans);
  const double seconds = static_cast<double>(r[0].time_ps) * 1e-12;
  const double achieved = static_cast<double>(plan.load_bytes + plan.store_bytes) / seconds / 1e9;
  efficiency_[d] = dc.dram_peak_GBps > 0 ? std::min(1.0, achieved / dc.dram_peak_GBps) : 1.0;
  return efficiency_[d];
}

KernelResult Engine::analytic(const KernelSpec& k, const npu::TilePlan& plan) {
  const DeviceConfig& dc = cfg_.devices[static_cast<std::size_t>(k.device)];
  KernelResult r;
  r.name = k.name;
  r.device = k.device;
  r.unit = plan.unit;
  r.load_bytes = plan.load_bytes;
  r.store_bytes = plan.store_bytes;
  r.ops = plan.ops;
  r.simulated_fraction = 0.0;
  Picoseconds compute = 0;
  for (const npu::CoreProgram& cp : plan.cores) {
    Cycle cyc = cp.prologue_cycles + cp.epilogue_cycles;
    for (const npu::TileGroup& g : cp.groups) {
      cyc += g.count * g.compute_cycles;
      r.tiles += g.count;
    }
    compute = std::max(compute, cyc * dc.npu.clock_ps);
  }
  r.compute_ps = compute;
  const double eff = bandwidth_efficiency(k.device);
  const double bw_bytes_per_ps = dc.dram_peak_GBps * eff * 1e-3;
  const double mem_ps = bw_bytes_per_ps > 0
                            ? static_cast<double>(plan.load_bytes + plan.store_bytes) / bw_bytes_per_ps
                            : 0.0;
  r.time_ps = std::max(compute, static_cast<Picoseconds>(std::llround(mem_ps)));
  return r;
}

SublayerResult Engine::run_sublayer(const SublayerSpec& s, Picoseconds start) {
  SublayerResult res;
  res.name = s.name;
  res.start_ps = start;
  std::vector<npu::TilePlan> plans;
  plans.reserve(s.kernels.size());
  for (const KernelSpec& k : s.kernels) {
    if (k.device < 0 || k.device >= static_cast<int>(cfg_.devices.size())) {
      throw std::invalid_argument("engine: kernel " + k.name + " names device " + std::to_string(k.device));
    }
    plans.push_back(npu::plan(k.desc, cfg_.devices[static_cast<std::size_t>(k.device)].npu));
  }
  switch (cfg_.fidelity) {
    case Fidelity::Cycle:
      res.kernels = simulate(s.kernels, plans, false, start, tables_, spans_);
      break;
    case Fidelity::Sampled:
      for (std::size_t i = 0; i < s.kernels.size(); ++i) {
        const KernelSpec& k = s.kernels[i];
        auto hit = k.signature.empty() ? memo_.end() : memo_.find(k.signature);
        if (hit != memo_.end()) {
          KernelResult r = hit->second;
          r.name = k.name;
          r.memo_hit = true;
          res.kernels.push_back(std::move(r));
          continue;
        }
        KernelResult r;
        auto pre = presimulated_.find(presimulated_key(k));
        if (pre != presimulated_.end()) {  // simulated ahead: the same result, in this place
          if (pre->second.error) std::rethrow_exception(pre->second.error);
          r = std::move(pre->second.result);
          for (Span sp : pre->second.spans) {
            sp.begin += start;
            sp.end += start;
            spans_.push_back(sp);
          }
          presimulated_.erase(pre);
        } else {
          r = std::move(simulate({k}, {plans[i]}, true, start, tables_, spans_)[0]);
        }
        if (!k.signature.empty()) memo_[k.signature] = r;
        res.kernels.push_back(std::move(r));
      }
      break;
    case Fidelity::Analytic:
      for (std::size_t i = 0; i < s.kernels.size(); ++i) res.kernels.push_back(analytic(s.kernels[i], plans[i]));
      break;
  }
  for (const KernelResult& k : res.kernels) res.kernels_ps = std::max(res.kernels_ps, k.time_ps);
  res.barrier_ps = s.barrier_ps;
  for (int dir = 0; dir < 2; ++dir) {
    res.exchange_ps = std::max(res.exchange_ps, transfer_ps(dir, s.exchange_bytes[static_cast<std::size_t>(dir)]));
  }
  res.end_ps = start + res.kernels_ps + res.barrier_ps + res.exchange_ps;
  if (cfg_.record_spans) {
    const Picoseconds barrier_end = start + res.kernels_ps + res.barrier_ps;
    spans_.push_back(Span{0, -1, 0, 3, start + res.kernels_ps, barrier_end});
    for (int dir = 0; dir < 2; ++dir) {
      const Picoseconds x = transfer_ps(dir, s.exchange_bytes[static_cast<std::size_t>(dir)]);
      if (x > 0) spans_.push_back(Span{2, dir, 0, 2, barrier_end, barrier_end + x});
    }
  }
  return res;
}

std::string Engine::presimulated_key(const KernelSpec& k) {
  if (!k.signature.empty()) return "s" + k.signature;
  return "a" + std::to_string(reinterpret_cast<std::uintptr_t>(&k));
}

double Engine::sampled_cost(const DeviceConfig& dc, const npu::TilePlan& plan) const {
  // A memory-bound kernel simulates about 10 tiles per core (ramp, steady window, tail); a
  // compute-bound one (a round of every core's tile loads at peak bandwidth fits in a tile's
  // compute with the shortcut's slack to spare, as the executor predicts it) about 0.6: a
  // quarter of its first tile, the requests in flight and the stores of the tail. A request
  // costs more on a memory with more channels, whose controllers' state outgrows the host
  // core's caches (GPT3-175B's attention share: ~180 ns per request on 32 LPDDR channels, ~230
  // ns on 192 HBM pseudo-channels since they share their timing rules, ~260 ns before).
  std::int64_t tiles = 0;
  Cycle compute = 0;
  for (const npu::CoreProgram& cp : plan.cores) {
    for (const npu::TileGroup& g : cp.groups) {
      tiles += g.count;
      compute += g.count * g.compute_cycles;
    }
  }
  if (tiles == 0) return 0.0;
  const double cores = static_cast<double>(plan.cores.size());
  const double tile_bytes = static_cast<double>(plan.load_bytes + plan.store_bytes) / static_cast<double>(tiles);
  const double compute_ps = static_cast<double>(compute * dc.npu.clock_ps) / static_cast<double>(tiles);
  const double round_ps = dc.dram_peak_GBps > 0 ? cores * tile_bytes / (dc.dram_peak_GBps * 1e-3) : 0.0;
  const double slack = cfg_.sample_compute_slack;
  const double per_core = slack > 0 && round_ps <= (1.0 - slack) * compute_ps ? 0.6 : 10.0;
  const double simulated = std::min(static_cast<double>(tiles), per_core * cores) * tile_bytes;
  return simulated / static_cast<double>(dc.dram.transaction_bytes) * (1.0 + dc.dram.channels / 256.0);
}

void Engine::presimulate(const std::vector<SublayerSpec>& program) {
  struct Job {
    const KernelSpec* kernel;
    Presimulated* out;
    npu::TilePlan plan;
    double cost;  // a guess of the wall time `sampled` will take, relative to the others
  };
  std::vector<Job> jobs;
  for (const SublayerSpec& s : program) {
    for (const KernelSpec& k : s.kernels) {
      if (!k.signature.empty() && memo_.count(k.signature)) continue;
      if (k.device < 0 || k.device >= static_cast<int>(cfg_.devices.size())) continue;  // run_sublayer says why
      auto [it, fresh] = presimulated_.try_emplace(presimulated_key(k));
      if (!fresh) continue;
      Job job{&k, &it->second, {}, 0.0};
      try {
        job.plan = npu::plan(k.desc, cfg_.devices[static_cast<std::size_t>(k.device)].npu);
      } catch (...) {  // run_sublayer raises it in its place
        presimulated_.erase(it);
        continue;
      }
      job.cost = sampled_cost(cfg_.devices[static_cast<std::size_t>(k.device)], job.plan);
      jobs.push_back(std::move(job));
    }
  }
  if (jobs.size() < 2) {  // nothing to overlap: run_sublayer simulates it in place
    presimulated_.clear();
    return;
  }
  // Longest first, so that the kernels started last are short (the order changes no result).
  std::stable_sort(jobs.begin(), jobs.end(), [](const Job& a, const Job& b) { return a.cost > b.cost; });
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t j; (j = next.fetch_add(1)) < jobs.size();) {
      const KernelSpec& k = *jobs[j].kernel;
      Presimulated& out = *jobs[j].out;
      try {
        out.result = std::move(simulate({k}, {jobs[j].plan}, true, 0, tables_, out.spans)[0]);
      } catch (...) {
        out.error = std::current_exception();
      }
    }
  };
  const std::size_t n = std::min(jobs.size(), static_cast<std::size_t>(cfg_.threads));
  std::vector<std::thread> pool;
  for (std::size_t i = 1; i < n; ++i) {
    try {
      pool.emplace_back(work);
    } catch (const std::system_error&) {  // no more threads: the ones running share the jobs
      break;
    }
  }
  work();
  for (std::thread& t : pool) t.join();
}

std::vector<SublayerResult> Engine::run_program(const std::vector<SublayerSpec>& program, Picoseconds start) {
  struct Clear {
    std::unordered_map<std::string, Presimulated>& m;
    ~Clear() { m.clear(); }
  } clear{presimulated_};
  if (cfg_.fidelity == Fidelity::Sampled && cfg_.threads > 1) presimulate(program);
  std::vector<SublayerResult> out;
  Picoseconds t = start;
  for (const SublayerSpec& s : program) {
    out.push_back(run_sublayer(s, t));
    t = out.back().end_ps;
  }
  return out;
}

std::vector<std::vector<SublayerResult>> Engine::run_epochs(
    int epochs, const std::function<std::vector<SublayerSpec>(const EpochState&)>& next_program) {
  std::vector<std::vector<SublayerResult>> out;
  EpochState state;
  for (int e = 0; e < epochs; ++e) {
    state.epoch = e;
    const std::vector<SublayerSpec> program = next_program(state);
    if (program.empty()) break;
    out.push_back(run_program(program, state.start_ps));
    state.previous = out.back();
    state.start_ps = out.back().empty() ? state.start_ps : out.back().back().end_ps;
  }
  return out;
}

}  // namespace h2m2::engine
