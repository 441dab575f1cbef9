"""NPU unit timing (systolic array, matrix-vector unit, vector unit/SFU) and the tile planner.

Closed forms are recomputed here, independently of the C++ code.
"""

from __future__ import annotations

import math

import pytest

from h2m2 import _core

npu = _core.npu

R, C = 128, 128  # default systolic array
LANES, WIDTH = 32, 128  # default MV unit
VW, SW = 128, 32  # default vector / SFU widths
SPM = 16 << 20

VEC_OPS = {
    "softmax": (4, 1),
    "layernorm": (6, 0),
    "rmsnorm": (3, 0),
    "gelu": (7, 1),
    "silu": (1, 1),
    "swiglu": (2, 1),
    "rope": (4, 0),
    "residual_add": (1, 0),
    "quantize": (2, 0),
    "dequantize": (2, 0),
}


# ---- closed forms ------------------------------------------------------------------------------


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def sa_gemm(m: int, k: int, n: int, r: int = R, c: int = C) -> int:
    tiles = cdiv(k, r) * cdiv(n, c)
    return r + (tiles - 1) * max(m, r) + m + (r + c - 2)


def mv(m: int, k: int, n: int, lanes: int = LANES, width: int = WIDTH) -> int:
    return m * cdiv(k, width) * cdiv(n, lanes)


def vec(op: str, elements: int, vw: int = VW, sw: int = SW) -> int:
    v, s = VEC_OPS[op]
    return cdiv(elements * v, vw) + cdiv(elements * s, sw)


def attn_pair(group: int, head_dim: int, tokens: int) -> int:
    return (
        mv(group, head_dim, tokens) + vec("softmax", group * tokens) + mv(group, tokens, head_dim)
    )


# ---- plan helpers ------------------------------------------------------------------------------


def expand(patterns_by_tile: list[tuple[int, list[dict]]]) -> list[tuple[int, int]]:
    """Byte ranges (start, length) touched by groups of `count` tiles of patterns."""
    ranges = []
    for count, patterns in patterns_by_tile:
        for j in range(count):
            for p in patterns:
                if p["step_tiles"]:  # steps of step_tiles tiles (kernel.hpp StreamPattern)
                    step, within = divmod(j, p["step_tiles"])
                    tile = step * p["step_stride"] + within * p["tile_stride"]
                else:
                    tile = j * p["tile_stride"]
                for r in range(p["rows"]):
                    ranges.append((p["base"] + tile + r * p["row_stride"], p["row_bytes"]))
    return ranges


def assert_partition(ranges: list[tuple[int, int]], base: int, size: int) -> None:
    """The ranges cover [base, base + size) exactly once."""
    ranges = sorted(r for r in ranges if r[1] > 0)
    pos = base
    for start, length in ranges:
        assert start == pos, f"gap or overlap at {start} (expected {pos})"
        pos += length
    assert pos == base + size


def loads(plan: dict) -> list[tuple[int, int]]:
    return expand([(g["count"], g["loads"]) for c in plan["cores"] for g in c["groups"]])


def stores(plan: dict) -> list[tuple[int, int]]:
    return expand([(g["count"], g["stores"]) for c in plan["cores"] for g in c["groups"]])


def tile_loads(group: dict) -> int:
    return sum(p["row_bytes"] * p["rows"] for p in group["loads"])


def core_cycles(core: dict) -> int:
    return (
        core["prologue_cycles"]
        + sum(g["count"] * g["compute_cycles"] for g in core["groups"])
        + core["epilogue_cycles"]
    )


def check_plan_invariants(plan: dict, cfg: dict) -> None:
    spm = cfg.get("spm_bytes", SPM)
    assert len(plan["cores"]) <= cfg.get("cores", 4)
    biggest = max(tile_loads(g) for c in plan["cores"] for g in c["groups"])
    assert plan["spm_bytes_per_tile"] == biggest <= spm
    for c in plan["cores"]:
        for g in c["groups"]:
            assert g["count"] >= 1
            assert g["compute_cycles"] >= 0
    assert plan["load_bytes"] == sum(length for _, length in loads(plan))
    assert plan["store_bytes"] == sum(length for _, length in stores(plan))


# ---- unit timing -------------------------------------------------------------------------------


@pytest.mark.parametrize("m,k,n", [(1024, 1024, 1024), (4096, 12288, 512), (200, 300, 1003)])
def test_systolic_gemm_matches_closed_form(m: int, k: int, n: int) -> None:
    assert npu.systolic_cycles(m, k, n, {}) == sa_gemm(m, k, n)


def test_systolic_compute_bound_gemm_is_one_row_per_cycle_per_weight_tile() -> None:
    m, k, n = 8192, 1024, 1024
    ideal = cdiv(k, R) * cdiv(n, C) * m
    assert abs(npu.systolic_cycles(m, k, n, {}) - ideal) / ideal < 0.01


def test_systolic_single_tile_is_fill_stream_drain() -> None:
    for m in (1, 64, 128, 500):
        assert npu.systolic_tile_cycles(m, {}) == R + m + R + C - 2
        assert npu.systolic_cycles(m, R, C, {}) == R + m + R + C - 2


def test_systolic_rows_and_cols_play_their_roles() -> None:
    cfg = {"sa_rows": 64, "sa_cols": 32}
    assert npu.systolic_tile_cycles(10, cfg) == 64 + 10 + 64 + 32 - 2
    assert npu.systolic_cycles(300, 130, 70, cfg) == sa_gemm(300, 130, 70, 64, 32)
    assert npu.systolic_cycles(20, 130, 70, cfg) == sa_gemm(20, 130, 70, 64, 32)


@pytest.mark.parametrize("m,k,n", [(1, 12288, 12288), (8, 100, 33), (3, 128, 32), (5, 129, 31)])
def test_mv_cycles_closed_form(m: int, k: int, n: int) -> None:
    assert npu.mv_cycles(m, k, n, {}) == mv(m, k, n)
    assert npu.mv_cycles(m, k, n, {"mv_lanes": 16, "mv_width": 64}) == mv(m, k, n, 16, 64)


@pytest.mark.parametrize("op", sorted(VEC_OPS))
@pytest.mark.parametrize("elements", [1, 127, 4096, 1_000_003])
def test_vector_cycles_closed_form(op: str, elements: int) -> None:
    assert npu.vector_cycles(op, elements, {}) == vec(op, elements)


def test_vector_costs_are_configurable_per_op() -> None:
    cfg = {
        "vector_width": 64,
        "sfu_width": 16,
        "vector_ops_per_element": {"softmax": 5.0},
        "sfu_ops_per_element": {"rope": 0.5},
    }
    assert npu.vector_cycles("softmax", 1000, cfg) == cdiv(5000, 64) + cdiv(1000, 16)
    assert npu.vector_cycles("rope", 1000, cfg) == cdiv(4000, 64) + cdiv(500, 16)
    assert npu.vector_cycles("gelu", 1000, cfg) == cdiv(7000, 64) + cdiv(1000, 16)


def test_default_vector_costs_exposed() -> None:
    d = npu.default_vector_costs()
    assert {
        op: (d["vector_ops_per_element"][op], d["sfu_ops_per_element"][op]) for op in VEC_OPS
    } == VEC_OPS


# ---- Linear ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "m,k,n,e",
    [
        (1, 1000, 1003, 1),
        (4, 4097, 12289, 1),
        (32, 700, 4099, 2),
        (200, 300, 1003, 1),
        (1, 3, 5, 1),
    ],
)
def test_linear_loads_w_exactly_once(m: int, k: int, n: int, e: int) -> None:
    base, out = 1 << 30, 1 << 40
    kern = {
        "op": "linear",
        "m": m,
        "k": k,
        "n": n,
        "element_bytes": e,
        "stream_base": base,
        "out_base": out,
    }
    cfg = {"tile_target_bytes": 64 << 10}
    plan = npu.plan(kern, cfg)
    check_plan_invariants(plan, cfg)
    assert plan["load_bytes"] == k * n * e
    assert plan["store_bytes"] == m * n * e
    assert plan["ops"] == m * k * n
    assert_partition(loads(plan), base, k * n * e)
    assert_partition(stores(plan), out, m * n * e)


def test_linear_column_slices_and_per_core_compute_closed_form() -> None:
    m, k, n = 200, 3000, 1003  # MM; 8 column units of 128 -> 2 per core, the last one partial
    plan = npu.plan({"op": "linear", "m": m, "k": k, "n": n}, {"tile_target_bytes": 32 << 10})
    assert plan["unit"] == "matrix_matrix"
    widths = []
    for core in plan["cores"]:
        w = core["groups"][-1]["stores"][0]["row_bytes"]
        widths.append(w)
        assert core_cycles(core) == sa_gemm(m, k, w)
        assert len(core["groups"]) >= 2  # the tile size target forces several k-blocks
    assert widths == [256, 256, 256, 235]


def test_linear_mv_per_core_compute_closed_form() -> None:
    m, k, n = 4, 5000, 4099
    plan = npu.plan({"op": "linear", "m": m, "k": k, "n": n}, {"tile_target_bytes": 100_000})
    assert plan["unit"] == "matrix_vector"
    total = 0
    for core in plan["cores"]:
        w = core["groups"][-1]["stores"][0]["row_bytes"]
        total += w
        assert core_cycles(core) == mv(m, k, w)
        assert core["epilogue_cycles"] == 0
    assert total == n


def test_linear_tiles_are_whole_unit_passes() -> None:
    plan = npu.plan({"op": "linear", "m": 64, "k": 5000, "n": 4096}, {"tile_target_bytes": 300_000})
    for core in plan["cores"]:
        for g in core["groups"][:-1]:
            (p,) = g["loads"]
            rows = p["rows"] if p["rows"] > 1 else p["row_bytes"] // 1024
            assert rows % R == 0


def test_linear_prefers_full_width_contiguous_rows() -> None:
    n = 36864  # GPT-3 QKV: 9216 columns per core
    plan = npu.plan({"op": "linear", "m": 32, "k": 12288, "n": n}, {})
    for core in plan["cores"]:
        for g in core["groups"]:
            (p,) = g["loads"]
            assert p["row_bytes"] == n // 4
            assert p["row_stride"] == n
    assert plan["spm_bytes_per_tile"] <= SPM


def test_linear_single_core_whole_rows_become_one_stream() -> None:
    plan = npu.plan({"op": "linear", "m": 1, "k": 1024, "n": 32}, {})
    assert len(plan["cores"]) == 1
    (g,) = plan["cores"][0]["groups"]
    (p,) = g["loads"]
    assert (p["rows"], p["row_bytes"]) == (1, 1024 * 32)


def test_linear_column_blocks_when_a_row_block_overflows_the_buffer() -> None:
    cfg = {"sa_rows": 8, "sa_cols": 8, "spm_bytes": 1024, "spm_buffers": 2}
    m, k, n = 16, 50, 203
    base = 4096
    plan = npu.plan({"op": "linear", "m": m, "k": k, "n": n, "stream_base": base}, cfg)
    check_plan_invariants(plan, cfg)
    assert plan["unit"] == "matrix_matrix"
    assert_partition(loads(plan), base, k * n)
    assert_partition(stores(plan), 0, m * n)
    slices = [56, 56, 48, 43]
    for core, w in zip(plan["cores"], slices, strict=True):
        resident = m * k + m * w
        budget = min(1024, (2048 - resident) // 2)
        assert all(tile_loads(g) <= budget for g in core["groups"])
        assert len([g for g in core["groups"] if g["stores"]]) > 1  # several column blocks
        assert core_cycles(core) == sa_gemm(m, k, w, 8, 8)


def test_linear_wide_slices_are_cut_into_equal_blocks_near_the_tile_target() -> None:
    # GPT3-175B fc on one chip: 27648 columns per core, so one 128-row pass of a slice is 3.4 MiB.
    m, k, n = 32, 12288, 110592
    base = 1 << 30
    plan = npu.plan({"op": "linear", "m": m, "k": k, "n": n, "stream_base": base}, {})
    check_plan_invariants(plan, {})
    assert_partition(loads(plan), base, k * n)
    assert_partition(stores(plan), 0, m * n)
    for core in plan["cores"]:
        # 216 units of 128 columns: 3 blocks of 72 (128 x 9216 B = 1.125 MiB per tile; 4 blocks
        # of 54 would give 0.84 MiB, farther from 1 MiB on a log scale)
        body, last = core["groups"]
        (p,) = body["loads"]
        assert (p["rows"], p["row_bytes"], p["row_stride"]) == (R, 9216, n)
        assert (p["tile_stride"], p["step_tiles"], p["step_stride"]) == (9216, 3, R * n)
        assert body["count"] == (k // R - 1) * 3 and not body["stores"]
        assert last["count"] == 3 and last["stores"][0]["tile_stride"] == 9216
        assert core_cycles(core) == sa_gemm(m, k, n // 4)


def test_linear_unequal_slices_are_not_cut_into_blocks() -> None:
    # 441 units over 4 cores: 111 / 110 / 110 / 110 would be cut into 3 / 2 blocks, and cores with
    # different tile counts cannot skip the same number of identical tiles in `sampled`
    plan = npu.plan({"op": "linear", "m": 32, "k": 12288, "n": 441 * 128}, {})
    assert [c["groups"][0]["loads"][0]["row_bytes"] for c in plan["cores"]] == [
        111 * 128,
        110 * 128,
        110 * 128,
        110 * 128,
    ]
    assert all(g["loads"][0]["step_tiles"] == 0 for c in plan["cores"] for g in c["groups"])


def test_linear_slices_of_a_prime_unit_count_stay_whole() -> None:
    # 71 units per core: the only blocks would be one unit wide (16 KiB tiles), farther from the
    # 1 MiB target than the whole 1.1 MiB slice
    plan = npu.plan({"op": "linear", "m": 32, "k": 12288, "n": 4 * 71 * 128}, {})
    for core in plan["cores"]:
        (p,) = core["groups"][0]["loads"]
        assert p["row_bytes"] == 71 * 128 and p["step_tiles"] == 0


@pytest.mark.parametrize("max_rows", [0, 1, 8, 16])
def test_linear_unit_switches_at_mv_max_rows(max_rows: int) -> None:
    cfg = {"mv_max_rows": max_rows}
    for m in (1, max_rows, max_rows + 1, 64):
        if m < 1:
            continue
        unit = npu.plan({"op": "linear", "m": m, "k": 256, "n": 512}, cfg)["unit"]
        assert unit == ("matrix_vector" if m <= max_rows else "matrix_matrix")


def test_linear_scratchpad_overflow_names_sizes() -> None:
    with pytest.raises(ValueError, match=r"npu: scratchpad overflow: linear .*activation"):
        npu.plan({"op": "linear", "m": 4096, "k": 12288, "n": 512}, {})
    with pytest.raises(ValueError, match="scratchpad overflow"):
        npu.plan(
            {"op": "linear", "m": 1, "k": 300, "n": 300}, {"spm_bytes": 2048, "spm_buffers": 1}
        )


# ---- Attention ---------------------------------------------------------------------------------


def attn(**kw: int) -> dict:
    d = {
        "op": "attention",
        "batch": 4,
        "kv_heads": 3,
        "group": 1,
        "head_dim": 128,
        "kv_len": 1024,
        "stream_base": 1 << 32,
        "out_base": 1 << 36,
    }
    d.update(kw)
    return d


def total_compute(plan: dict) -> int:
    return sum(core_cycles(c) for c in plan["cores"])


@pytest.mark.parametrize("target", [1 << 20, 40_000])  # whole-pair tiles, token chunks
def test_attention_gqa_reads_kv_once_whatever_the_group(target: int) -> None:
    cfg = {"tile_target_bytes": target}
    kv = 3 * 4 * 2 * 1024 * 128
    plans = {g: npu.plan(attn(group=g), cfg) for g in (1, 2, 8)}
    for g, plan in plans.items():
        check_plan_invariants(plan, cfg)
        assert plan["unit"] == "matrix_vector"
        assert plan["load_bytes"] == kv
        assert_partition(loads(plan), 1 << 32, kv)
        assert plan["store_bytes"] == 3 * 4 * g * 128
        assert_partition(stores(plan), 1 << 36, 3 * 4 * g * 128)
        assert plan["ops"] == 2 * 3 * 4 * g * 1024 * 128
        assert total_compute(plan) == 12 * attn_pair(g, 128, 1024)
    assert total_compute(plans[8]) == 8 * total_compute(plans[1])
    assert total_compute(plans[2]) == 2 * total_compute(plans[1])


def test_attention_chunks_carry_k_and_v_of_the_same_tokens() -> None:
    plan = npu.plan(attn(kv_len=1000), {"tile_target_bytes": 40_000})
    kv_block = 1000 * 128
    for core in plan["cores"]:
        for g in core["groups"]:
            k_pat, v_pat = g["loads"]
            assert v_pat["base"] - k_pat["base"] == kv_block
            assert k_pat["row_bytes"] == v_pat["row_bytes"]
    assert_partition(loads(plan), 1 << 32, 12 * 2 * kv_block)


@pytest.mark.parametrize("target", [1 << 20, 40_000])
def test_attention_compute_grows_linearly_with_kv_len(target: int) -> None:
    cfg = {"tile_target_bytes": target}
    base = total_compute(npu.plan(attn(kv_len=512), cfg))
    for mult in (2, 4, 8):
        plan = npu.plan(attn(kv_len=512 * mult), cfg)
        assert total_compute(plan) == mult * base
        assert plan["load_bytes"] == mult * 12 * 2 * 512 * 128


def test_attention_pairs_spread_over_cores() -> None:
    plan = npu.plan(attn(batch=1, kv_heads=6), {})
    counts = [
        sum(tile_loads(g) * g["count"] for g in c["groups"]) // (2 * 1024 * 128)
        for c in plan["cores"]
    ]
    assert counts == [2, 2, 1, 1]
    plan = npu.plan(attn(batch=1, kv_heads=2), {})
    assert len(plan["cores"]) == 2


def test_attention_overflow_when_one_chunk_does_not_fit() -> None:
    with pytest.raises(ValueError, match="scratchpad overflow: attention"):
        npu.plan(attn(head_dim=4096), {"spm_bytes": 64 << 10})


@pytest.mark.parametrize(
    "kern",
    [
        {"op": "attention", "batch": 3, "kv_heads": 5, "group": 2, "head_dim": 128, "kv_len": 9000},
        {"op": "attention", "batch": 4, "kv_heads": 4, "group": 1, "head_dim": 128, "kv_len": 2048},
        {"op": "vector", "vop": "gelu", "elements": 12_345_677},
        {"op": "copy", "elements": 5_000_003, "out_base": 1 << 30},
    ],
    ids=["attn-chunks", "attn-pairs", "vector", "copy"],
)
def test_streaming_cores_declare_the_regions_they_move(kern: dict) -> None:
    # The DMA stagger may start a core anywhere in its declared region: the regions must be
    # exactly the bytes the core's tiles load (store), and partition the operand between cores.
    kern = {"stream_base": 3 << 20, **kern}
    plan = npu.plan(kern, {})
    for core in plan["cores"]:
        own = expand([(g["count"], g["loads"]) for g in core["groups"]])
        assert_partition(own, core["load_base"], core["load_bytes"])
        if core["store_bytes"]:
            assert_partition(
                expand([(g["count"], g["stores"]) for g in core["groups"]]),
                core["store_base"],
                core["store_bytes"],
            )
    assert_partition(
        [(c["load_base"], c["load_bytes"]) for c in plan["cores"]], 3 << 20, plan["load_bytes"]
    )
    # outputs of attention are written where planned (no store region); vector ops in place
    assert all(
        c["store_bytes"] == (0 if kern["op"] == "attention" else c["load_bytes"])
        for c in plan["cores"]
    )
    if kern["op"] == "vector":
        assert all(c["store_base"] == c["load_base"] for c in plan["cores"])


def test_linear_cores_declare_no_region() -> None:
    # Linear cores read the same W rows side by side: their loads are not one region each
    plan = npu.plan({"op": "linear", "m": 1, "k": 4096, "n": 4096}, {})
    assert all(c["load_bytes"] == c["store_bytes"] == 0 for c in plan["cores"])


# ---- Vector ------------------------------------------------------------------------------------


@pytest.mark.parametrize("elements,e", [(1, 1), (1000, 1), (12_345_677, 1), (300_001, 2)])
def test_vector_plan_loads_and_stores_in_place(elements: int, e: int) -> None:
    base = 1 << 20
    cfg = {"tile_target_bytes": 256 << 10}
    plan = npu.plan(
        {
            "op": "vector",
            "vop": "layernorm",
            "elements": elements,
            "element_bytes": e,
            "stream_base": base,
        },
        cfg,
    )
    check_plan_invariants(plan, cfg)
    assert plan["unit"] == "vector"
    assert plan["load_bytes"] == plan["store_bytes"] == elements * e
    assert plan["ops"] == elements
    assert_partition(loads(plan), base, elements * e)
    assert_partition(stores(plan), base, elements * e)
    cycles = 0
    for core in plan["cores"]:
        for g in core["groups"]:
            n = tile_loads(g) // e
            assert g["compute_cycles"] == vec("layernorm", n)
            cycles += g["count"] * g["compute_cycles"]
    if elements % (4 * VW) == 0:
        assert cycles == vec("layernorm", elements)


def test_vector_plan_aligned_slices_match_closed_form() -> None:
    elements = 4 * 128 * 10_000
    plan = npu.plan({"op": "vector", "vop": "softmax", "elements": elements}, {})
    assert [core_cycles(c) for c in plan["cores"]] == [vec("softmax", elements // 4)] * 4


def test_vector_overflow_when_one_vector_pass_does_not_fit() -> None:
    with pytest.raises(ValueError, match="scratchpad overflow: vector"):
        npu.plan(
            {"op": "vector", "vop": "gelu", "elements": 1000, "element_bytes": 4},
            {"spm_bytes": 256},
        )


# ---- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kern,field",
    [
        ({"op": "linear", "m": 0, "k": 4, "n": 4}, "m=0"),
        ({"op": "linear", "m": 1, "k": 0, "n": 4}, "k=0"),
        ({"op": "linear", "m": 1, "k": 4, "n": -3}, "n=-3"),
        ({"op": "linear", "m": 1, "k": 4, "n": 4, "element_bytes": 0}, "element_bytes=0"),
        ({"op": "attention", "batch": 0, "kv_heads": 1, "head_dim": 8, "kv_len": 8}, "batch=0"),
        ({"op": "attention", "batch": 1, "kv_heads": 0, "head_dim": 8, "kv_len": 8}, "kv_heads=0"),
        ({"op": "attention", "batch": 1, "kv_heads": 1, "head_dim": 0, "kv_len": 8}, "head_dim=0"),
        ({"op": "attention", "batch": 1, "kv_heads": 1, "head_dim": 8, "kv_len": 0}, "kv_len=0"),
        (
            {"op": "attention", "batch": 1, "kv_heads": 1, "group": 0, "head_dim": 8, "kv_len": 8},
            "group=0",
        ),
        ({"op": "vector", "vop": "silu", "elements": 0}, "elements=0"),
        ({"op": "vector", "vop": "silu", "elements": -1}, "elements=-1"),
    ],
)
def test_zero_and_negative_shapes_raise(kern: dict, field: str) -> None:
    with pytest.raises(ValueError, match=f"npu: {kern['op']} kernel: {field} must be positive"):
        npu.plan(kern, {})


@pytest.mark.parametrize(
    "kern,msg",
    [
        ({"op": "conv", "m": 1}, "unknown kernel op 'conv'"),
        ({"op": "vector", "vop": "tanh", "elements": 4}, "unknown vector op 'tanh'"),
        ({"m": 1, "k": 1, "n": 1}, "missing field 'op'"),
        ({"op": "linear", "m": 1, "k": 1, "n": 1, "rows": 3}, "unknown KernelDesc field 'rows'"),
        ({"op": "linear", "m": 1.5, "k": 1, "n": 1}, "field m=1.5 has the wrong type"),
    ],
)
def test_bad_kernel_descriptions_raise(kern: dict, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        npu.plan(kern, {})


@pytest.mark.parametrize(
    "cfg,msg",
    [
        ({"sa_rows": 0}, "npu: sa_rows=0 must be positive"),
        ({"cores": -1}, "npu: cores=-1 must be positive"),
        ({"clock_ps": 0}, "npu: clock_ps=0 must be positive"),
        ({"spm_buffers": 0}, "npu: spm_buffers=0 must be positive"),
        ({"spm_bytes": 0}, "npu: spm_bytes=0 must be positive"),
        ({"mv_lanes": 0}, "npu: mv_lanes=0 must be positive"),
        ({"vector_width": 0}, "npu: vector_width=0 must be positive"),
        ({"sfu_width": 0}, "npu: sfu_width=0 must be positive"),
        ({"tile_target_bytes": 0}, "npu: tile_target_bytes=0 must be positive"),
        ({"mv_max_rows": -1}, "npu: mv_max_rows=-1 must be non-negative"),
        ({"name": "lpddr_chip", "sa_cols": 0}, "lpddr_chip: sa_cols=0 must be positive"),
        (
            {"vector_ops_per_element": {"gelu": -1.0}},
            r"npu: vector_ops_per_element\[gelu\]=-1 must be finite and non-negative",
        ),
        ({"sfu_ops_per_element": {"softmax": float("nan")}}, r"sfu_ops_per_element\[softmax\]=nan"),
        ({"sfu_ops_per_element": {"exp": 1.0}}, "unknown vector op 'exp'"),
        ({"sa_row": 128}, "unknown NpuConfig field 'sa_row'"),
    ],
)
def test_bad_config_raises(cfg: dict, msg: str) -> None:
    with pytest.raises(ValueError, match=msg):
        npu.plan({"op": "linear", "m": 1, "k": 8, "n": 8}, cfg)


def test_unit_timing_helpers_validate_config() -> None:
    with pytest.raises(ValueError, match="sa_rows=0"):
        npu.systolic_cycles(1, 1, 1, {"sa_rows": 0})
    with pytest.raises(ValueError, match="mv_width=0"):
        npu.mv_cycles(1, 1, 1, {"mv_width": 0})
    with pytest.raises(ValueError, match="unknown vector op"):
        npu.vector_cycles("exp", 1, {})


def test_plan_is_fast_for_a_gpt3_layer() -> None:
    """Planning the biggest GPT-3 decode kernels stays cheap (planning runs once per kernel)."""
    kerns = [
        {"op": "linear", "m": 32, "k": 12288, "n": 3 * 12288},
        {"op": "linear", "m": 32, "k": 4 * 12288, "n": 12288},
        {"op": "attention", "batch": 32, "kv_heads": 96, "head_dim": 128, "kv_len": 2048},
        {"op": "attention", "batch": 32, "kv_heads": 96, "head_dim": 128, "kv_len": 32768},
    ]
    for k in kerns:
        plan = npu.plan(k, {})
        assert plan["spm_bytes_per_tile"] <= SPM
        assert math.isclose(plan["spm_bytes_per_tile"], 1 << 20, rel_tol=0.5)


def test_tiles_never_exceed_the_buffer_left_beside_resident_operands() -> None:
    m, k, n = 64, 4 * 12288, 12288
    plan = npu.plan({"op": "linear", "m": m, "k": k, "n": n}, {"tile_target_bytes": 1 << 40})
    resident = m * k + m * n // 4
    assert plan["spm_bytes_per_tile"] <= (2 * SPM - resident) // 2
    assert plan["spm_bytes_per_tile"] > SPM // 2  # the huge target is capped, not ignored
    assert plan["load_bytes"] == k * n


def test_int64_overflow_in_shapes_raises() -> None:
    with pytest.raises(ValueError, match="overflows int64"):
        npu.plan({"op": "linear", "m": 1, "k": 1 << 40, "n": 1 << 40}, {})
