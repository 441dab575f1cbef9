// Device: one accelerator chip with its own memory system and MMU.
//
// Owns: the chip description (NpuConfig), the DRAM memory system in its own clock domain, the MMU
// (TLB + a view of the chip's page table) and the two clock domains (NPU core clock, memory
// command clock). Built fresh for every kernel run so that runs are independent and
// deterministic (memory idle, TLB cold at the start of each sublayer; docs/assumptions.md).
// Time: global picoseconds; the memory counts its own cycles.
#pragma once

#include <memory>
#include <string>

#include "common/clock_domain.hpp"
#include "dram/dram_config.hpp"
#include "dram/memory_system.hpp"
#include "npu/npu_config.hpp"
#include "npu/tlb.hpp"

namespace h2m2::engine {

struct DeviceConfig {
  std::string name = "device";
  npu::NpuConfig npu;
  dram::DramConfig dram;
  npu::TlbConfig tlb;
  double dram_peak_GBps = 0.0;  // derived from the organisation in Python; used by `analytic`
};

struct Device {
  Device(const DeviceConfig& cfg, npu::PageTableView table)
      : config(cfg),
        memory(cfg.dram),
        mmu(cfg.tlb, table),
        npu_clock(cfg.npu.clock_ps),
        mem_clock(cfg.dram.tck_ps) {
    memory.set_track_completions(true);
  }
  const DeviceConfig& config;
  dram::MemorySystem memory;
  npu::Mmu mmu;
  ClockDomain npu_clock;
  ClockDomain mem_clock;
};

}  // namespace h2m2::engine
