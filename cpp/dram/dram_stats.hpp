// DramCounters: counters of one channel; DramStats: those of a memory system, with its latencies.
//
// Every counter is a plain integer updated on the hot path; derived quantities (bandwidth,
// energy, means) are computed in Python from these. Latencies are in command-clock cycles from
// the cycle a request enters its controller queue to its last data beat.
#pragma once

#include <array>
#include <cstdint>

#include "common/latency_histogram.hpp"
#include "common/time.hpp"
#include "dram/command.hpp"

namespace h2m2::dram {

// One channel's counters (a controller keeps these; its memory system keeps the latencies).
struct DramCounters {
  std::uint64_t reads = 0;
  std::uint64_t writes = 0;
  std::uint64_t row_hits = 0;       // column command with no ACT issued for the request
  std::uint64_t row_misses = 0;     // the request needed an ACT to a closed bank
  std::uint64_t row_conflicts = 0;  // the request needed a PRE of another row, then an ACT
  std::array<std::uint64_t, kCommands> commands{};
  std::uint64_t refresh_cycles = 0;  // sum over refresh commands of their tRFC (rank or bank busy)
  Cycle last_completion = 0;
  std::uint64_t ticks = 0;  // scheduler evaluations (a measure of simulation work)

  void merge(const DramCounters& o) {
    reads += o.reads;
    writes += o.writes;
    row_hits += o.row_hits;
    row_misses += o.row_misses;
    row_conflicts += o.row_conflicts;
    for (std::size_t i = 0; i < commands.size(); ++i) commands[i] += o.commands[i];
    refresh_cycles += o.refresh_cycles;
    ticks += o.ticks;
    if (o.last_completion > last_completion) last_completion = o.last_completion;
  }
};

struct DramStats : DramCounters {
  LatencyHistogram read_latency;  // cycles from arrival to the last data beat
  LatencyHistogram write_latency;

  void merge(const DramStats& o) {
    DramCounters::merge(o);
    read_latency.merge(o.read_latency);
    write_latency.merge(o.write_latency);
  }
};

}  // namespace h2m2::dram
