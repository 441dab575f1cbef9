// Tile planner: turns a KernelDesc into the TilePlan the engine executes (kernel.hpp).
//
// Models: how a kernel's work is spread over the chip's cores and cut into scratchpad tiles.
// Owns: nothing (a pure function of the kernel and the NpuConfig). Clock: NPU core cycles for
// compute, bytes for traffic. Not on the hot path: runs once per kernel (memoised upstream).
// Contract: throws std::invalid_argument for an invalid NpuConfig, an unknown op, zero or negative
// shape fields used by the op, and a tile that cannot fit the scratchpad even at its minimum
// size ("<npu>: scratchpad overflow: ..."). A returned plan always satisfies:
//   * every byte of the streamed operand is loaded exactly once (load_bytes == operand bytes),
//   * the loads of any tile fit one scratchpad buffer next to the resident operands,
//   * the sum over a core of count * compute_cycles + epilogue_cycles is the unit's closed form
//     for that core's share of the work (tiles are cut at whole unit passes).
//
// Policies (each is a line in docs/assumptions.md):
//   Scratchpad: spm_buffers x spm_bytes in total. Operands that stay on chip for the whole kernel
//     ("resident": the Linear input activation and output slice, attention queries and outputs)
//     are carved out first; the rest is split evenly into spm_buffers tile buffers (capped at
//     spm_bytes). Tiles aim at tile_target_bytes of streamed data, rounded to whole unit passes,
//     and never exceed the tile buffer.
//   Linear (m, k, n): W [k x n] row-major at stream_base. Unit: MatrixVector if m <= mv_max_rows,
//     else MatrixMatrix. The n output columns are split over the cores in contiguous slices of
//     whole unit columns (sa_cols or mv_lanes); the last slice takes the partial one. Within a
//     core a tile is k_t rows x the full slice width (one DMA row per W row: n_slice contiguous
//     bytes). If every core has the same slice, a slice whose one-pass tile (mv_width/sa_rows
//     rows) exceeds tile_target_bytes is cut into equal column blocks (a divisor of its units, the block nearest the target on a log
//     scale, if nearer than the whole slice and fitting a buffer), walked band by band (every
//     block of k_t rows, then the next band: StreamPattern steps), so all tiles but the last
//     band's are identical. Otherwise, only if mv_width/sa_rows rows of the slice overflow a
//     buffer is the slice cut into (possibly unequal) column blocks walked block by block.
//     k_t is a multiple of sa_rows / mv_width. The input activation [m x k] is
//     resident in the scratchpad from the previous kernel (prologue 0). A column block's output
//     [m x w] is stored to out_base (row-major m x n) by the tile that completes it (its last
//     k-block), so each core ends with a count-1 group carrying the store. MM: per-tile compute is
//     the steady systolic-array period; the one-time fill/drain is the core's epilogue.
//   Attention (decode, GQA): (kv head, request) pairs, layout [kv_head][request][K|V][kv_len]
//     [head_dim] at stream_base, are spread over cores in contiguous runs. If a pair's K+V fits a
//     tile, a tile is a run of whole pairs (one contiguous load); otherwise a tile is a chunk of
//     tokens of one pair (two loads: the K chunk and the V chunk), chunks a multiple of
//     lcm(mv_lanes, mv_width) tokens. Per pair and chunk of T tokens on the MV unit, serially:
//     QK^T mv(group, head_dim, T) + softmax on group*T elements (online softmax; the rescale of
//     the running output is not charged) + score x V mv(group, T, head_dim). Queries are
//     resident; the group x head_dim outputs of a pair are stored to out_base (layout
//     [kv_head][request][group][head_dim]) by the tile that completes the pair. K/V are read
//     once per kernel whatever `group` is (GQA).
//   Vector: the elements are split over cores in slices of whole vector_width, tiled to the
//     target, each tile loaded from and stored back to stream_base (in place, as kernel.hpp says).
//   TilePlan::ops: MACs for Linear (m*k*n) and Attention (2*pairs*group*kv_len*head_dim);
//     elements for Vector.
// Spec: H2M2 section 2 / Table 1; DESIGN.md "NPU model".
#pragma once

#include <string>

#include "npu/kernel.hpp"
#include "npu/npu_config.hpp"

namespace h2m2::npu {

TilePlan plan(const KernelDesc& kernel, const NpuConfig& cfg);

// Lowercase names used by the bindings and in messages.
const char* kernel_op_name(KernelOp op);   // "linear", "attention", "vector"
KernelOp parse_kernel_op(const std::string& name);
const char* unit_name(Unit unit);          // "matrix_matrix", "matrix_vector", "vector"

}  // namespace h2m2::npu
