// DramConfig: the validated, plain description of one memory system handed to the engine.
//
// Built in Python (python/h2m2/dram/memory_system.py) from a DeviceSpec, an AddressMapping and a
// ControllerSpec; every name is resolved there. The engine re-checks only what could corrupt
// memory (sizes, table shapes) and throws std::invalid_argument naming the field.
// Units: cycles of this memory's command clock CK, except tck_ps.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "common/time.hpp"
#include "dram/command.hpp"

namespace h2m2::dram {

enum class PagePolicy : std::uint8_t { Open, Closed };
enum class RefreshMode : std::uint8_t { None, AllBank, PerBank };

struct WindowRule {
  Scope scope = Scope::Rank;
  std::uint32_t preceding_mask = 0;  // bit i set: Command i counts toward the window
  std::uint32_t following_mask = 0;  // bit i set: Command i is limited by the window
  int window = 4;
  Cycle latency = 0;
};

struct DramConfig {
  std::string name;
  Picoseconds tck_ps = 0;

  // Organisation of one scheduled channel, and how many channels the system has.
  int channels = 1;
  int ranks = 1;
  int bank_groups = 1;
  int banks_per_group = 1;
  std::int64_t rows = 1;
  std::int64_t bursts_per_row = 1;  // column commands per row
  std::int64_t transaction_bytes = 32;
  bool dual_command_bus = false;

  // Timing rules: [scope][preceding][following] minimum distance in cycles, -1 where none.
  std::array<std::array<std::array<Cycle, kCommands>, kCommands>, kScopes> same{};
  std::array<std::array<std::array<Cycle, kCommands>, kCommands>, kScopes> sibling{};
  std::vector<WindowRule> windows;

  // Timings the controller itself uses.
  Cycle nCL = 0;     // read command -> first data beat
  Cycle nCWL = 0;    // write command -> first data beat
  Cycle nBL = 0;     // data beats of one burst, in CK
  Cycle nREFI = 0;   // all-bank refresh interval per rank
  Cycle nREFIpb = 0; // per-bank refresh interval per rank

  // Address mapping: field ids (0 channel, 1 rank, 2 bankgroup, 3 bank, 4 row, 5 column) from least
  // to most significant, above the log2(transaction_bytes) offset bits.
  std::array<int, 6> mapping_lsb_first{5, 0, 2, 3, 1, 4};
  bool xor_bank = false;

  // Controller.
  int read_queue = 64;
  int write_queue = 64;
  int write_high_watermark = 48;
  int write_low_watermark = 16;
  int row_hit_cap = 16;  // consecutive hits to an open row while another row of the bank waits
  PagePolicy page_policy = PagePolicy::Open;
  RefreshMode refresh = RefreshMode::AllBank;
  bool record_commands = false;

  void validate() const;  // throws std::invalid_argument
};

}  // namespace h2m2::dram
