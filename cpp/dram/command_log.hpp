// CommandLog: a columnar record of every DRAM command issued, exported to numpy.
//
// Owns: one vector per column (time, channel, rank, bank group, bank, row, column, command).
// Recording is off unless DramConfig::record_commands is set; the hot path then pays one
// predictable branch per command. Columns match python/h2m2/dram/command_log.py.
#pragma once

#include <cstdint>
#include <vector>

#include "common/time.hpp"
#include "dram/command.hpp"

namespace h2m2::dram {

struct CommandLog {
  std::vector<Cycle> time;
  std::vector<std::int32_t> channel;
  std::vector<std::int16_t> rank, bankgroup, bank;
  std::vector<std::int32_t> row, column;
  std::vector<std::int8_t> command;

  void record(Cycle t, int ch, int r, int bg, int b, std::int32_t row_, std::int32_t col, Command c) {
    time.push_back(t);
    channel.push_back(ch);
    rank.push_back(static_cast<std::int16_t>(r));
    bankgroup.push_back(static_cast<std::int16_t>(bg));
    bank.push_back(static_cast<std::int16_t>(b));
    row.push_back(row_);
    column.push_back(col);
    command.push_back(static_cast<std::int8_t>(c));
  }
  std::size_t size() const { return time.size(); }
  void clear() {
    time.clear(); channel.clear(); rank.clear(); bankgroup.clear(); bank.clear();
    row.clear(); column.clear(); command.clear();
  }
};

}  // namespace h2m2::dram
