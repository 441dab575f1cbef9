// Tile planner (policies in tile_planner.hpp).
#include "npu/tile_planner.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "npu/matrix_vector_unit.hpp"
#include "npu/systolic_array.hpp"
#include "npu/vector_unit.hpp"

namespace h2m2::npu {

namespace {

using i64 = std::int64_t;

i64 ceil_div(i64 a, i64 b) { return (a + b - 1) / b; }
i64 round_down(i64 a, i64 g) { return a / g * g; }
i64 round_up(i64 a, i64 g) { return ceil_div(a, g) * g; }

struct Slice {
  i64 begin;
  i64 size;
};

// `total` items in at most `parts` contiguous slices of whole `grain`s, balanced to within one
// grain (the first slices take the extra grain); the last slice takes the partial grain.
std::vector<Slice> split_aligned(i64 total, i64 parts, i64 grain) {
  const i64 units = ceil_div(total, grain);
  const i64 used = std::min(parts, units);
  std::vector<Slice> out;
  i64 begin = 0;
  for (i64 c = 0; c < used; ++c) {
    const i64 u = units / used + (c < units % used ? 1 : 0);
    const i64 size = std::min(u * grain, total - begin);
    out.push_back({begin, size});
    begin += size;
  }
  return out;
}

// Items (rows, tokens, elements) of `item_bytes` each per tile: close to `target` bytes, a multiple
// of `grain` unless all `total` items fit, at most `budget` bytes. When several tiles are needed
// they are evened out (same tile count, the last one no longer a sliver).
// Precondition: min(total, grain) * item_bytes <= budget.
i64 items_per_tile(i64 total, i64 item_bytes, i64 grain, i64 target, i64 budget) {
  if (total <= grain) return total;
  const double want = static_cast<double>(target) / static_cast<double>(item_bytes * grain);
  i64 n = std::max<i64>(1, std::llround(want)) * grain;
  n = std::min(n, round_down(budget / item_bytes, grain));
  if (n >= total) return total;
  const i64 tiles = ceil_div(total, n);
  return round_up(ceil_div(total, tiles), grain);
}

// A pattern whose rows are back to back is one long row: the DMA sees one contiguous stream.
StreamPattern make_pattern(std::uint64_t base, i64 row_bytes, i64 rows, i64 row_stride,
                           i64 tile_stride) {
  StreamPattern p;
  p.base = base;
  p.row_bytes = row_bytes;
  p.rows = rows;
  p.row_stride = row_stride;
  p.tile_stride = tile_stride;
  if (rows > 1 && row_stride == row_bytes) {
    p.row_bytes = row_bytes * rows;
    p.rows = 1;
    p.row_stride = p.row_bytes;
  }
  return p;
}

std::uint64_t at(std::uint64_t base, i64 offset) {
  return base + static_cast<std::uint64_t>(offset);
}

TileGroup make_group(i64 count, std::vector<StreamPattern> loads, std::vector<StreamPattern> stores,
                     Cycle compute) {
  TileGroup g;
  g.count = count;
  g.loads = std::move(loads);
  g.stores = std::move(stores);
  g.compute_cycles = compute;
  return g;
}

// `blocks` equal blocks then an optional remainder; the block that completes the run (the last
// one) carries `completion_stores`, so it gets its own count-1 group.
template <typename LoadsFn, typename ComputeFn>
void emit_run(std::vector<TileGroup>& groups, i64 total, i64 per_tile, LoadsFn loads,
              ComputeFn compute, const std::vector<StreamPattern>& completion_stores) {
  const i64 full = total / per_tile;
  const i64 rem = total % per_tile;
  if (rem > 0) {
    if (full > 0) groups.push_back(make_group(full, loads(0, per_tile), {}, compute(per_tile)));
    groups.push_back(make_group(1, loads(full * per_tile, rem), completion_stores, compute(rem)));
  } else {
    if (full > 1) groups.push_back(make_group(full - 1, loads(0, per_tile), {}, compute(per_tile)));
    groups.push_back(make_group(1, loads((full - 1) * per_tile, per_tile), completion_stores,
                                compute(per_tile)));
  }
}

class Planner {
 public:
  Planner(const KernelDesc& k, const NpuConfig& cfg)
      : k_(k), cfg_(cfg), who_(cfg.name.empty() ? std::string("npu") : cfg.name) {}

  TilePlan run() {
    cfg_.validate();
    if (k_.op >= KernelOp::kCount) {
      throw std::invalid_argument(who_ + ": unknown kernel op " +
                                  std::to_string(static_cast<int>(k_.op)));
    }
    what_ = who_ + ": " + kernel_op_name(k_.op) + " kernel";
    positive("element_bytes", k_.element_bytes);
    e_ = k_.element_bytes;
    spm_total_ = mul(cfg_.spm_bytes, cfg_.spm_buffers, "spm_bytes*spm_buffers");
    TilePlan p;
    i64 expected_load = 0, expected_store = 0;
    switch (k_.op) {
      case KernelOp::Linear:
        expected_load = linear(p);
        expected_store = mul(mul(k_.m, k_.n, "m*n"), e_, "m*n*element_bytes");
        break;
      case KernelOp::Attention:
        expected_load = attention(p);
        expected_store = mul(mul(mul(k_.kv_heads, k_.batch, "kv_heads*batch"),
                                 mul(k_.group, k_.head_dim, "group*head_dim"), "output elements"),
                             e_, "output bytes");
        break;
      default:
        expected_load = vector(p, k_.op == KernelOp::Copy);
        expected_store = expected_load;
        break;
    }
    totals(p);
    if (p.load_bytes != expected_load || p.store_bytes != expected_store) {
      throw std::logic_error("h2m2 internal error: tile plan of " + what_ + " loads " +
                             std::to_string(p.load_bytes) + " bytes (expected " +
                             std::to_string(expected_load) + ") and stores " +
                             std::to_string(p.store_bytes) + " (expected " +
                             std::to_string(expected_store) + "), please report");
    }
    return p;
  }

 private:
  // ---- checks -------------------------------------------------------------------------------
  template <typename T>
  void positive(const char* field, T value) const {
    if (value <= 0) {
      throw std::invalid_argument(what_ + ": " + field + "=" + std::to_string(value) +
                                  " must be positive");
    }
  }

  i64 mul(i64 a, i64 b, const char* expr) const {
    i64 r = 0;
    if (__builtin_mul_overflow(a, b, &r)) {
      throw std::invalid_argument(what_ + ": " + expr + " = " + std::to_string(a) + " * " +
                                  std::to_string(b) + " overflows int64");
    }
    return r;
  }

  // Tile buffer left after the resident operands; throws if not even `min_tile` bytes fit.
  i64 tile_budget(i64 resident, i64 min_tile, const std::string& resident_what) const {
    const i64 left = std::max<i64>(0, spm_total_ - resident);
    const i64 budget = std::min<i64>(cfg_.spm_bytes, left / cfg_.spm_buffers);
    if (budget < min_tile) {
      throw std::invalid_argument(
          who_ + ": scratchpad overflow: " + kernel_op_name(k_.op) +
          " kernel: resident operands (" + resident_what + ") take " + std::to_string(resident) +
          " bytes, leaving " + std::to_string(budget) +
          " bytes per tile buffer (spm_bytes=" + std::to_string(cfg_.spm_bytes) +
          ", spm_buffers=" + std::to_string(cfg_.spm_buffers) + "), below the smallest tile of " +
          std::to_string(min_tile) + " bytes");
    }
    return budget;
  }

  void totals(TilePlan& p) const {
    for (const CoreProgram& core : p.cores) {
      i64 core_load = 0, core_store = 0;
      for (const TileGroup& g : core.groups) {
        i64 tile_load = 0, tile_store = 0;
        for (const StreamPattern& s : g.loads) tile_load += s.bytes();
        for (const StreamPattern& s : g.stores) tile_store += s.bytes();
        core_load += g.count * tile_load;
        core_store += g.count * tile_store;
        p.spm_bytes_per_tile = std::max(p.spm_bytes_per_tile, tile_load);
      }
      p.load_bytes += core_load;
      p.store_bytes += core_store;
      if ((core.load_bytes != 0 && core.load_bytes != core_load) ||
          (core.store_bytes != 0 && core.store_bytes != core_store)) {
        throw std::logic_error("h2m2 internal error: a core of " + what_ + " loads " +
                               std::to_string(core_load) + " and stores " + std::to_string(core_store) +
                               " bytes but declares regions of " + std::to_string(core.load_bytes) +
                               " and " + std::to_string(core.store_bytes) + ", please report");
      }
    }
  }

  // ---- Linear -------------------------------------------------------------------------------
  // Equal column blocks for a slice of n_c columns whose thinnest tile (one unit pass of rows,
  // `pass_bytes_per_col` bytes per column) would exceed tile_target_bytes: the divisor of its
  // whole `grain`s whose block brings that tile closest to the target (ratio on a log scale),
  // fitting `budget`; 1 (no blocks) when none is closer than the whole slice. Equal blocks keep
  // the tiles identical, so `sampled` can skip across them.
  i64 equal_column_blocks(i64 n_c, i64 grain, i64 pass_bytes_per_col, i64 budget) const {
    const double target = static_cast<double>(cfg_.tile_target_bytes);
    auto distance = [&](i64 cols) {
      return std::abs(std::log(static_cast<double>(cols * pass_bytes_per_col) / target));
    };
    if (n_c % grain != 0 || n_c * pass_bytes_per_col <= cfg_.tile_target_bytes) return 1;
    const i64 units = n_c / grain;
    i64 best = 1;
    double best_distance = n_c * pass_bytes_per_col <= budget ? distance(n_c) : HUGE_VAL;
    for (i64 b = 2; b <= units; ++b) {
      const i64 cols = n_c / b;
      if (units % b != 0 || cols * pass_bytes_per_col > budget) continue;
      if (distance(cols) < best_distance) {
        best = b;
        best_distance = distance(cols);
      }
    }
    return best;
  }

  i64 linear(TilePlan& p) const {
    positive("m", k_.m);
    positive("k", k_.k);
    positive("n", k_.n);
    const i64 m = k_.m, k = k_.k, n = k_.n;
    const i64 w_bytes = mul(mul(k, n, "k*n"), e_, "k*n*element_bytes");
    const i64 act_bytes = mul(mul(m, k, "m*k"), e_, "m*k*element_bytes");
    p.ops = mul(mul(m, k, "m*k"), n, "m*k*n");
    const bool mv = m <= cfg_.mv_max_rows;
    p.unit = mv ? Unit::MatrixVector : Unit::MatrixMatrix;
    const i64 g_k = mv ? cfg_.mv_width : cfg_.sa_rows;  // rows of W per unit pass
    const i64 g_n = mv ? cfg_.mv_lanes : cfg_.sa_cols;  // columns of W per unit pass
    const SystolicArray sa(cfg_);
    const MatrixVectorUnit mvu(cfg_);
    auto compute = [&](i64 rows, i64 cols) -> Cycle {
      return mv ? mvu.cycles(m, rows, cols) : sa.steady_cycles(m, rows, cols);
    };
    const i64 row_stride = mul(n, e_, "n*element_bytes");
    const i64 gk = std::min(k, g_k);

    const std::vector<Slice> slices = split_aligned(n, cfg_.cores, g_n);
    // Column blocks only when every core has the same slice: cores with different tile counts
    // cannot skip the same number of identical tiles in `sampled` (111 / 110 units per core cut
    // into 3 / 2 blocks put `sampled` 23% off).
    const bool same_slices = std::all_of(slices.begin(), slices.end(),
                                         [&](const Slice& s) { return s.size == slices[0].size; });
    for (const Slice& sl : slices) {
      const i64 n_c = sl.size;
      const i64 out_bytes = mul(mul(m, n_c, "m*n_slice"), e_, "m*n_slice*element_bytes");
      const i64 min_tile = gk * std::min(n_c, g_n) * e_;
      const i64 budget = tile_budget(
          act_bytes + out_bytes, min_tile,
          "activation m*k*element_bytes=" + std::to_string(act_bytes) +
              " + output slice m*n_slice*element_bytes=" + std::to_string(out_bytes));
      CoreProgram core;
      core.epilogue_cycles = mv ? 0 : sa.pipeline_overhead_cycles(m);
      const i64 blocks = same_slices ? equal_column_blocks(n_c, g_n, gk * e_, budget) : 1;
      if (blocks > 1) {
        // Row bands of k_t rows, each cut into `blocks` equal column blocks, band after band: all
        // tiles but the last band's are identical; the last band stores the outputs.
        const i64 w = n_c / blocks;
        const i64 k_t = items_per_tile(k, w * e_, g_k, cfg_.tile_target_bytes, budget);
        const i64 bands = ceil_div(k, k_t);
        const i64 last_rows = k - (bands - 1) * k_t;
        auto band = [&](i64 r0, i64 rows) {
          StreamPattern p = make_pattern(at(k_.stream_base, r0 * row_stride + sl.begin * e_),
                                         w * e_, rows, row_stride, w * e_);
          p.step_tiles = blocks;
          p.step_stride = rows * row_stride;
          return std::vector<StreamPattern>{p};
        };
        if (bands > 1) {
          core.groups.push_back(make_group((bands - 1) * blocks, band(0, k_t), {}, compute(k_t, w)));
        }
        const std::vector<StreamPattern> store{
            make_pattern(at(k_.out_base, sl.begin * e_), w * e_, m, row_stride, w * e_)};
        core.groups.push_back(
            make_group(blocks, band((bands - 1) * k_t, last_rows), store, compute(last_rows, w)));
        p.cores.push_back(std::move(core));
        continue;
      }
      // Column blocks: the whole slice unless gk rows of it overflow a buffer.
      i64 n_t = n_c;
      if (gk * n_c * e_ > budget) {
        const i64 w_max = round_down(budget / (gk * e_), g_n);
        const i64 blocks = ceil_div(n_c, w_max);
        n_t = round_up(ceil_div(n_c, blocks), g_n);
      }
      for (i64 b0 = 0; b0 < n_c; b0 += n_t) {
        const i64 w = std::min(n_t, n_c - b0);
        const i64 col = sl.begin + b0;
        const i64 k_t = items_per_tile(k, w * e_, g_k, cfg_.tile_target_bytes, budget);
        auto loads = [&](i64 r0, i64 rows) {
          return std::vector<StreamPattern>{
              make_pattern(at(k_.stream_base, r0 * row_stride + col * e_), w * e_, rows,
                           row_stride, rows * row_stride)};
        };
        const std::vector<StreamPattern> store{
            make_pattern(at(k_.out_base, col * e_), w * e_, m, row_stride, 0)};
        emit_run(core.groups, k, k_t, loads, [&](i64 rows) { return compute(rows, w); }, store);
      }
      p.cores.push_back(std::move(core));
    }
    return w_bytes;
  }

  // ---- Attention ----------------------------------------------------------------------------
  i64 attention(TilePlan& p) const {
    positive("batch", k_.batch);
    positive("kv_heads", k_.kv_heads);
    positive("group", k_.group);
    positive("head_dim", k_.head_dim);
    positive("kv_len", k_.kv_len);
    const i64 G = k_.group, D = k_.head_dim, L = k_.kv_len;
    const i64 pairs = mul(k_.kv_heads, k_.batch, "kv_heads*batch");
    const i64 kv_bytes = mul(mul(L, D, "kv_len*head_dim"), e_, "kv_len*head_dim*element_bytes");
    const i64 pair_bytes = mul(2, kv_bytes, "2*kv_len*head_dim*element_bytes");
    const i64 total_bytes = mul(pairs, pair_bytes, "kv bytes");
    const i64 out_pair = mul(mul(G, D, "group*head_dim"), e_, "group*head_dim*element_bytes");
    const i64 token_bytes = 2 * D * e_;  // one token of K and of V
    p.unit = Unit::MatrixVector;
    p.ops = mul(mul(mul(2, pairs, "2*pairs"), mul(G, L, "group*kv_len"), "MACs"), D, "MACs");
    const MatrixVectorUnit mvu(cfg_);
    const VectorUnit vu(cfg_);
    auto pair_compute = [&](i64 tokens) -> Cycle {
      return mvu.cycles(G, D, tokens) + vu.cycles(VectorOp::Softmax, G * tokens) +
             mvu.cycles(G, tokens, D);
    };
    const i64 align = std::lcm<i64>(cfg_.mv_lanes, cfg_.mv_width);

    for (const Slice& sl : split_aligned(pairs, cfg_.cores, 1)) {
      const i64 np = sl.size;
      const i64 resident = mul(2 * np, out_pair, "queries+outputs bytes");
      const i64 min_tile = std::min(L, align) * token_bytes;
      const i64 budget = tile_budget(
          resident, min_tile, "queries + outputs 2*pairs_on_core*group*head_dim*element_bytes");
      const i64 t = items_per_tile(L, token_bytes, align, cfg_.tile_target_bytes, budget);
      CoreProgram core;
      core.load_base = at(k_.stream_base, sl.begin * pair_bytes);
      core.load_bytes = np * pair_bytes;
      if (t == L) {
        // Tiles of whole pairs: K and V of consecutive pairs are one contiguous stream.
        const i64 ppt = items_per_tile(np, pair_bytes, 1, cfg_.tile_target_bytes, budget);
        const i64 full = np / ppt, rem = np % ppt;
        auto group_of = [&](i64 first, i64 count, i64 per_tile) {
          const i64 in = per_tile * pair_bytes, out = per_tile * out_pair;
          return make_group(
              count,
              {make_pattern(at(k_.stream_base, (sl.begin + first) * pair_bytes), in, 1, in, in)},
              {make_pattern(at(k_.out_base, (sl.begin + first) * out_pair), out, 1, out, out)},
              per_tile * pair_compute(L));
        };
        if (full > 0) core.groups.push_back(group_of(0, full, ppt));
        if (rem > 0) core.groups.push_back(group_of(full * ppt, 1, rem));
      } else {
        // Token chunks of one pair: a K chunk and the V chunk of the same tokens per tile.
        for (i64 pr = sl.begin; pr < sl.begin + np; ++pr) {
          const i64 pbase = pr * pair_bytes;
          auto loads = [&](i64 tok0, i64 tokens) {
            const i64 off = tok0 * D * e_, len = tokens * D * e_, stride = t * D * e_;
            return std::vector<StreamPattern>{
                make_pattern(at(k_.stream_base, pbase + off), len, 1, len, stride),
                make_pattern(at(k_.stream_base, pbase + kv_bytes + off), len, 1, len, stride)};
          };
          const std::vector<StreamPattern> store{
              make_pattern(at(k_.out_base, pr * out_pair), out_pair, 1, out_pair, 0)};
          emit_run(core.groups, L, t, loads, pair_compute, store);
        }
      }
      p.cores.push_back(std::move(core));
    }
    return total_bytes;
  }

  // ---- Vector -------------------------------------------------------------------------------
  // Vector ops work in place; a copy streams stream_base to out_base without computing.
  i64 vector(TilePlan& p, bool copy) const {
    if (!copy && k_.vop >= VectorOp::kCount) {
      throw std::invalid_argument(what_ + ": unknown vector op " +
                                  std::to_string(static_cast<int>(k_.vop)));
    }
    positive("elements", k_.elements);
    const i64 E = k_.elements;
    const i64 bytes = mul(E, e_, "elements*element_bytes");
    p.unit = Unit::Vector;
    p.ops = copy ? 0 : E;
    const VectorUnit vu(cfg_);
    const i64 grain = cfg_.vector_width;
    for (const Slice& sl : split_aligned(E, cfg_.cores, grain)) {
      const i64 budget = tile_budget(0, std::min(sl.size, grain) * e_, "none");
      const i64 t = items_per_tile(sl.size, e_, grain, cfg_.tile_target_bytes, budget);
      auto pattern = [&](std::uint64_t base, i64 first, i64 count) {
        return make_pattern(at(base, (sl.begin + first) * e_), count * e_, 1, count * e_, t * e_);
      };
      const std::uint64_t dst = copy ? k_.out_base : k_.stream_base;
      auto cycles = [&](i64 n) { return copy ? Cycle{0} : vu.cycles(k_.vop, n); };
      CoreProgram core;
      core.load_base = at(k_.stream_base, sl.begin * e_);
      core.load_bytes = sl.size * e_;
      core.store_base = at(dst, sl.begin * e_);
      core.store_bytes = core.load_bytes;
      const i64 full = sl.size / t, rem = sl.size % t;
      if (full > 0) {
        core.groups.push_back(make_group(full, {pattern(k_.stream_base, 0, t)},
                                         {pattern(dst, 0, t)}, cycles(t)));
      }
      if (rem > 0) {
        core.groups.push_back(make_group(1, {pattern(k_.stream_base, full * t, rem)},
                                         {pattern(dst, full * t, rem)}, cycles(rem)));
      }
      p.cores.push_back(std::move(core));
    }
    return bytes;
  }

  const KernelDesc& k_;
  const NpuConfig& cfg_;
  std::string who_;
  std::string what_;
  i64 e_ = 1;
  i64 spm_total_ = 0;
};

constexpr const char* kOpNames[] = {"linear", "attention", "vector", "copy"};
constexpr const char* kUnitNames[] = {"matrix_matrix", "matrix_vector", "vector"};

}  // namespace

TilePlan plan(const KernelDesc& kernel, const NpuConfig& cfg) { return Planner(kernel, cfg).run(); }

const char* kernel_op_name(KernelOp op) {
  return op < KernelOp::kCount ? kOpNames[static_cast<int>(op)] : "unknown";
}

KernelOp parse_kernel_op(const std::string& name) {
  for (int i = 0; i < static_cast<int>(KernelOp::kCount); ++i) {
    if (name == kOpNames[i]) return static_cast<KernelOp>(i);
  }
  throw std::invalid_argument("npu: unknown kernel op '" + name +
                              "' (valid: linear, attention, vector, copy)");
}

const char* unit_name(Unit unit) {
  return unit < Unit::kCount ? kUnitNames[static_cast<int>(unit)] : "unknown";
}

}  // namespace h2m2::npu
