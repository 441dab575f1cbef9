// KernelDesc and TilePlan: what a kernel computes, and the tile program that computes it.
//
// A KernelDesc names the operation and its shape plus where its streamed operand lives in the
// logical address space. npu::plan() (tile_planner.hpp) turns it into a TilePlan: per core, a
// prologue, groups of identical tiles and an epilogue. The engine executes TilePlans: for every
// tile, DMA loads its load patterns into a scratchpad buffer, the unit computes for
// compute_cycles, DMA stores its store patterns; loads of the next tile overlap the compute of
// this one (double buffering). Identical tiles inside a group are what `sampled` fidelity
// extrapolates over.
// Units: bytes, NPU cycles. Not on the hot path (built once per kernel).
#pragma once

#include <cstdint>
#include <vector>

#include "common/time.hpp"
#include "npu/npu_config.hpp"

namespace h2m2::npu {

enum class KernelOp : std::uint8_t { Linear, Attention, Vector, Copy, kCount };

struct KernelDesc {
  KernelOp op = KernelOp::Linear;
  // Linear: out[m x n] = in[m x k] * W[k x n]; W is streamed from memory (row-major, k rows of
  // n elements, at stream_base); the input activation is resident in the scratchpad (left there
  // by the previous kernel or the activation exchange), the output is stored to out_base.
  std::int64_t m = 0, k = 0, n = 0;
  // Attention (decode): `batch` requests with `kv_len` cached tokens each, `kv_heads` KV heads
  // (the units this kernel owns), `group` query heads per KV head (1 without GQA), head_dim.
  // K and V of one (kv head, request) are contiguous [kv_len x head_dim] blocks at stream_base:
  // layout [kv_head][request][K|V][kv_len][head_dim]. Each KV byte is read once per kernel.
  std::int64_t batch = 0, kv_heads = 0, group = 1, head_dim = 0, kv_len = 0;
  // Vector: `elements` elements of `vop`, read from and written back to stream_base.
  // Copy: `elements` elements read from stream_base and written to out_base, no compute (page
  // migration: out_base is mapped to the destination frames, often on the other device).
  VectorOp vop = VectorOp::ResidualAdd;
  std::int64_t elements = 0;
  int element_bytes = 1;
  std::uint64_t stream_base = 0;  // logical address of the streamed operand
  std::uint64_t out_base = 0;     // logical address where results are stored
};

// A 2-D region of the logical address space: `rows` rows of `row_bytes` contiguous bytes,
// `row_stride` apart; tile j of a group starts `tile_stride` after tile j-1. With step_tiles > 0
// the tiles come in steps of step_tiles: tile j starts at (j / step_tiles) * step_stride +
// (j % step_tiles) * tile_stride (a Linear slice cut into column blocks walks the blocks of one
// row band, then the next band).
struct StreamPattern {
  std::uint64_t base = 0;
  std::int64_t row_bytes = 0;
  std::int64_t rows = 0;
  std::int64_t row_stride = 0;
  std::int64_t tile_stride = 0;
  std::int64_t step_tiles = 0;
  std::int64_t step_stride = 0;
  std::int64_t bytes() const { return row_bytes * rows; }
  // offset of tile j of the group from `base`
  std::int64_t tile_offset(std::int64_t j) const {
    return step_tiles > 0 ? j / step_tiles * step_stride + j % step_tiles * tile_stride
                          : j * tile_stride;
  }
};

struct TileGroup {
  std::int64_t count = 0;               // identical tiles
  std::vector<StreamPattern> loads;     // memory -> scratchpad, per tile
  std::vector<StreamPattern> stores;    // scratchpad -> memory, per tile
  Cycle compute_cycles = 0;             // per tile, NPU cycles
};

struct CoreProgram {
  Cycle prologue_cycles = 0;            // before the first tile (e.g. loading activations)
  std::vector<TileGroup> groups;
  Cycle epilogue_cycles = 0;            // after the last tile (e.g. a reduction, a drain)
  // The core's loads read [load_base, load_base + load_bytes) once each, in order (attention,
  // vector and copy slices; 0 bytes for Linear, whose cores read the same W rows side by side):
  // the DMA may start anywhere in it and wrap around (NpuConfig::dma_stagger). Stores that write
  // a region of the same length tile for tile (vector in place, copy) declare it too and move
  // with the loads; others (attention outputs) are written where planned.
  std::uint64_t load_base = 0;
  std::int64_t load_bytes = 0;
  std::uint64_t store_base = 0;
  std::int64_t store_bytes = 0;
};

struct TilePlan {
  Unit unit = Unit::MatrixVector;
  std::vector<CoreProgram> cores;       // one per core used (<= NpuConfig::cores)
  std::int64_t spm_bytes_per_tile = 0;  // loads of one tile; must fit one scratchpad buffer
  std::int64_t load_bytes = 0;          // total over all tiles and cores (== operand bytes)
  std::int64_t store_bytes = 0;
  std::int64_t ops = 0;                 // multiply-accumulates (Linear, Attention) or element ops
};

}  // namespace h2m2::npu
