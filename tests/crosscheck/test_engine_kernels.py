"""The multi-device engine against independent evidence: closed forms, the DRAM model run on its
own, the link formula, and its own `cycle` fidelity.

Every expected value here is computed in this file from a documented formula or from a separate
simulation that shares no engine code path:

* GEMM: the weight-stationary systolic-array closed form of ``cpp/npu/systolic_array.hpp``
  (``R + (T - 1) * max(m, R) + m + R + C - 2`` with ``T = ceil(k/R) * ceil(n/C)``), applied to
  each core's column slice (slices of whole ``sa_cols``, balanced to within one, as
  ``tile_planner.hpp`` documents).
* GEMV: bytes over the bandwidth that ``h2m2.dram.MemorySystem`` (the DRAM model alone, no NPU,
  no MMU) sustains when the same number of bytes is streamed through the same memory spec.
* Link: ``ceil(X / granularity) * granularity`` bytes at the per-direction bandwidth, rounded up
  to a whole picosecond, plus the latency (``cpp/link/link.hpp``).
* ``sampled`` and ``analytic`` against ``cycle`` (every request simulated) on shapes for which
  ``sampled`` really extrapolates (asserted), so the comparison is not trivially exact.

Cases that fail because of engine bugs are strict xfails whose reason names the bug (see
docs/fidelity.md, "Known limitations"); a fix turns them into XPASS, which fails the run, so the
marker has to be removed with the fix. The measured errors are printed, attached with
``record_property`` and written to ``<pytest basetemp>/engine_fidelity_errors.json``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from h2m2 import _core, presets
from h2m2.dram import MemorySystem
from h2m2.engine import Engine, Kernel, KernelResult, Sublayer, SublayerResult
from h2m2.hardware import AcceleratorSpec, LinkSpec, MmuSpec, NpuSpec, SystemSpec

HBM = presets.hbm_device()  # 6 HBM3 stacks, 96 channels, 3.07 TB/s
LPDDR = presets.lpddr_device()  # 32 LPDDR5X x16 channels, 546 GB/s
DEVICES = {"hbm": HBM, "lpddr": LPDDR}
PAGES = 4096  # 8 GiB of logical space with 2 MiB pages
MiB = 1 << 20
KiB = 1 << 10
GiB = 1 << 30


# ---- helpers ------------------------------------------------------------------------------------


def identity_tables(system: SystemSpec, pages: int = PAGES) -> list[tuple[np.ndarray, np.ndarray]]:
    """Chip d maps logical page p to frame p of its own device d (everything local)."""
    return [
        (np.full(pages, d, np.int32), np.arange(pages, dtype=np.int64))
        for d in range(len(system.devices))
    ]


def single(dev: AcceleratorSpec) -> SystemSpec:
    return SystemSpec(devices=(dev,))


def ps(ns: float) -> int:
    """Results carry ps / 1000; this recovers the engine's integer picoseconds exactly."""
    return round(ns * 1000)


_RESULTS: dict[tuple[Any, ...], tuple[KernelResult, float]] = {}
_ANALYTIC_ENGINES: dict[str, Engine] = {}


def run_kernel(dev: AcceleratorSpec, kernel: Kernel, fidelity: str) -> tuple[KernelResult, float]:
    """One kernel alone on a fresh one-device engine; returns (result, wall seconds). Cached."""
    key = (repr(dev), kernel, fidelity)  # specs hold dicts (not hashable); repr is exact
    if key not in _RESULTS:
        system = single(dev)
        if fidelity == "analytic":
            # the calibration is per engine and device; share it like a real sweep would
            eng = _ANALYTIC_ENGINES.get(repr(dev))
            if eng is None:
                eng = _ANALYTIC_ENGINES[repr(dev)] = Engine(
                    system, identity_tables(system), fidelity="analytic"
                )
        else:
            eng = Engine(system, identity_tables(system), fidelity=fidelity)
        t0 = time.perf_counter()
        res = eng.run([Sublayer("s", (kernel,))])
        _RESULTS[key] = (res[0].kernels[0], time.perf_counter() - t0)
    return _RESULTS[key]


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def column_slices(n: int, cores: int, grain: int) -> list[int]:
    """Columns per core: whole grains, balanced to within one grain, the last takes the rest."""
    units = cdiv(n, grain)
    used = min(cores, units)
    sizes, begin = [], 0
    for c in range(used):
        u = units // used + (1 if c < units % used else 0)
        size = min(u * grain, n - begin)
        sizes.append(size)
        begin += size
    return sizes


def systolic_gemm_cycles(m: int, k: int, n: int, rows: int, cols: int) -> int:
    """cpp/npu/systolic_array.hpp: R + (T-1) * max(m, R) + m + (R + C - 2)."""
    tiles = cdiv(k, rows) * cdiv(n, cols)
    return rows + (tiles - 1) * max(m, rows) + m + (rows + cols - 2)


def link_transfer_ps(link: LinkSpec, nbytes: int) -> int:
    """An idle link: granularity-rounded bytes at bandwidth (ceil to 1 ps) plus latency."""
    if nbytes <= 0:
        return 0
    wire = cdiv(nbytes, link.granularity_bytes) * link.granularity_bytes
    bytes_per_s = round(link.bandwidth_GBps * 1e9)
    return cdiv(wire * 10**12, bytes_per_s) + round(link.latency_ns * 1000)


def plain(obj: Any) -> Any:
    """Results with numpy arrays (latency histograms) made comparable with ==."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return plain(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def line_fit(x: list[float], y: list[float]) -> tuple[float, float, float]:
    """Least-squares slope, intercept and R^2."""
    xa, ya = np.asarray(x, float), np.asarray(y, float)
    a = np.vstack([xa, np.ones_like(xa)]).T
    (slope, icept), *_ = np.linalg.lstsq(a, ya, rcond=None)
    r2 = 1.0 - float(((ya - a @ [slope, icept]) ** 2).sum() / ((ya - ya.mean()) ** 2).sum())
    return float(slope), float(icept), r2


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Measured fidelity errors, written as JSON when the module finishes."""
    rows: dict[str, Any] = {}
    yield rows
    path = Path(tmp_path_factory.getbasetemp()) / "engine_fidelity_errors.json"
    path.write_text(json.dumps(rows, indent=1, sort_keys=True))


# ---- compute-bound GEMM: the systolic-array closed form --------------------------------------


@pytest.mark.parametrize(
    ("device", "cores", "m", "k", "n"),
    [
        ("hbm", 4, 2048, 8192, 2048),  # 4 slices of 512 columns; weights 16 MiB in 1 MiB tiles
        ("hbm", 1, 2048, 4096, 1024),  # one core's worth of work
        ("lpddr", 1, 2048, 8192, 1024),
    ],
)
def test_compute_bound_gemm_takes_systolic_closed_form(
    device: str, cores: int, m: int, k: int, n: int
) -> None:
    npu = NpuSpec(cores=cores)
    dev = dataclasses.replace(DEVICES[device], npu=npu)
    r, _ = run_kernel(dev, Kernel("gemm", 0, "linear", m=m, k=k, n=n), "cycle")
    assert r.unit == "matrix_matrix"
    per_core = [
        systolic_gemm_cycles(m, k, w, npu.sa_rows, npu.sa_cols)
        for w in column_slices(n, cores, npu.sa_cols)
    ]
    # the documented formula is the one the C++ unit implements
    for w, cyc in zip(column_slices(n, cores, npu.sa_cols), per_core, strict=True):
        assert _core.npu.systolic_cycles(m, k, w, npu.to_config()) == cyc
    closed_ns = max(per_core) * npu.clock_ps / 1000
    # the engine charges exactly the closed form as compute ...
    assert r.compute_ns == pytest.approx(closed_ns, abs=1e-9)
    # ... and the kernel takes it within 1%: only the first tile's load and the output store are
    # not hidden behind the array. It cannot be faster than the array.
    assert closed_ns <= r.time_ns < 1.01 * closed_ns, (r.time_ns, closed_ns)


# ---- memory-bound GEMV: bytes / bandwidth measured by the DRAM model alone --------------------


@pytest.mark.parametrize(("device", "k", "n"), [("hbm", 8192, 16384), ("lpddr", 4096, 16384)])
def test_memory_bound_gemv_takes_bytes_over_streaming_bandwidth(
    device: str, k: int, n: int, record_property: Any
) -> None:
    dev = DEVICES[device]
    r, _ = run_kernel(dev, Kernel("gemv", 0, "linear", m=1, k=k, n=n), "cycle")
    assert r.unit == "matrix_vector"
    assert r.load_bytes == k * n and r.store_bytes == n
    assert r.compute_ns < 0.5 * r.time_ns, "the GEMV must be memory-bound for this test"
    # independent evidence: the same bytes streamed through the DRAM model alone
    mem = MemorySystem(dev.memory)
    tx = mem.transaction_bytes
    n_load, n_store = r.load_bytes // tx, cdiv(r.store_bytes, tx)
    addr = np.arange(n_load + n_store, dtype=np.uint64) * np.uint64(tx)
    is_write = np.zeros(addr.size, dtype=bool)
    is_write[n_load:] = True
    stats = mem.run(addr, is_write)
    assert stats.requests == n_load + n_store
    expected_ns = (r.load_bytes + r.store_bytes) / stats.bandwidth_GBps
    err = r.time_ns / expected_ns - 1
    record_property("gemv_error_vs_stream", err)
    print(
        f"GEMV {device} {k}x{n}: engine {r.time_ns:.0f} ns, bytes/stream-bw "
        f"{expected_ns:.0f} ns ({stats.bandwidth_GBps:.0f} GB/s), error {err:+.2%}"
    )
    assert abs(err) < 0.03


# ---- decode attention: linear in KV length; GQA reads K/V once per group ----------------------

# batch 4 x 8 KV heads = 32 (head, request) pairs, 8 per core; 2048 tokens are one 1 MiB tile
# per pair, longer caches are 1 MiB token chunks.
ATTN_LADDER = (2048, 4096, 8192, 16384)


@pytest.mark.parametrize("device", ["hbm", "lpddr"])
def test_attention_time_is_linear_in_kv_length(device: str, record_property: Any) -> None:
    times = []
    for kv_len in ATTN_LADDER:
        r, _ = run_kernel(
            DEVICES[device],
            Kernel(
                "attn", 0, "attention", batch=4, kv_heads=8, group=1, head_dim=128, kv_len=kv_len
            ),
            "cycle",
        )
        assert r.load_bytes == 4 * 8 * 2 * kv_len * 128
        times.append(r.time_ns)
    slope, icept, r2 = line_fit(list(ATTN_LADDER), times)
    record_property("attention_fit", {"slope_ns_per_token": slope, "intercept_ns": icept, "r2": r2})
    print(
        f"attention {device}: times {np.round(times)} ns, slope {slope:.3f} ns/token, "
        f"intercept {icept:.0f} ns, R^2 {r2:.6f}"
    )
    assert r2 > 0.999
    # the intercept is the kernel's fixed start-up and drain (first tile's load, TLB walk, last
    # store): small against the kernel
    assert abs(icept) < 0.05 * times[-1]
    assert slope > 0


@pytest.mark.slow
@pytest.mark.parametrize("device", ["hbm", "lpddr"])
def test_attention_time_is_linear_in_kv_length_evenly_spaced(device: str) -> None:
    # With 4 pairs per core the cores' KV regions are kv_len KiB apart: 12288 tokens put them a
    # whole number of HBM row periods (6 MiB) apart, every length here a whole number of LPDDR
    # ones (2 MiB). Without the region stagger the cores streamed the same banks at different
    # rows there: R^2 0.948 (HBM, 12288 tokens at 2.34 TB/s against 2.7-2.9) and 0.9979 (LPDDR).
    ladder = (4096, 8192, 12288, 16384)
    kernels = [
        Kernel("attn", 0, "attention", batch=4, kv_heads=4, group=1, head_dim=128, kv_len=n)
        for n in ladder
    ]
    times = [run_kernel(DEVICES[device], k, "cycle")[0].time_ns for k in kernels]
    _, icept, r2 = line_fit(list(ladder), times)
    assert r2 > 0.999
    assert abs(icept) < 0.05 * times[-1]


@pytest.mark.parametrize("device", ["hbm", "lpddr"])
def test_gqa_reads_the_kv_cache_once_per_group(device: str) -> None:
    def attn(group: int) -> KernelResult:
        return run_kernel(
            DEVICES[device],
            Kernel(
                "attn", 0, "attention", batch=32, kv_heads=4, group=group, head_dim=128, kv_len=1024
            ),
            "cycle",
        )[0]

    g1, g8 = attn(1), attn(8)
    kv_bytes = 32 * 4 * 2 * 1024 * 128
    assert g1.load_bytes == g8.load_bytes == kv_bytes
    assert g8.store_bytes == 8 * g1.store_bytes  # outputs do scale with the query heads
    # the DRAM saw K/V once, not once per query head
    tx = DEVICES[device].memory.dev.organization.transaction_bytes
    assert g1.dram["reads"] == g8.dram["reads"] == kv_bytes // tx
    assert g8.ops == 8 * g1.ops
    if g8.compute_ns < 0.5 * g8.time_ns:
        # memory-bound (LPDDR): eight query heads per KV head cost the same traffic as one; the
        # extra compute shows only where double buffering cannot hide it: the last tile's compute
        # and a buffer held a little longer, at most two tiles' compute per core
        tile_compute = g8.compute_ns / (g8.tiles / 4)
        assert g1.time_ns <= g8.time_ns <= g1.time_ns + 2 * tile_compute
    else:
        # compute-bound (HBM: QK^T, softmax and score x V of 8 heads on the MV unit): the roofline
        # max(memory time, compute time), far from the 8x of re-reading K/V per query head
        assert g8.time_ns == pytest.approx(max(g1.time_ns, g8.compute_ns), rel=0.10)
        assert g8.time_ns < 4 * g1.time_ns


def test_dma_stagger_keeps_lockstep_cores_out_of_each_others_banks() -> None:
    # LPDDR5X maps 1 MiB to one row of every bank, so four cores each streaming their own 1 MiB
    # attention tiles in lockstep meet in the same banks at different rows. Started c/4 of the
    # way into their tiles, they do not: the same reads with far fewer row conflicts.
    kernel = Kernel(
        "attn", 0, "attention", batch=32, kv_heads=8, group=1, head_dim=128, kv_len=2048
    )
    lockstep = dataclasses.replace(LPDDR, npu=NpuSpec(dma_stagger=False))
    st, _ = run_kernel(LPDDR, kernel, "cycle")
    ls, _ = run_kernel(lockstep, kernel, "cycle")
    assert st.load_bytes == ls.load_bytes and st.dram["reads"] == ls.dram["reads"]
    assert st.dram["row_conflicts"] < 0.5 * ls.dram["row_conflicts"]
    assert st.time_ns < 0.9 * ls.time_ns
    assert st.load_bytes / st.time_ns > 0.93 * LPDDR.peak_GBps


@pytest.mark.parametrize("device,kv_len", [("hbm", 12288), ("lpddr", 8192)])
def test_dma_stagger_spreads_cores_whose_regions_are_whole_row_periods_apart(
    device: str, kv_len: int
) -> None:
    # With 4 (batch, head) pairs per core each core's KV region is kv_len KiB: 12 MiB is two HBM
    # row periods (192 pseudo-channels x 32 B x 4 bank groups x 32 bursts x 4 banks x 2 ranks),
    # 8 MiB four LPDDR ones, so unstaggered the four cores stream the same banks at different
    # rows for the whole kernel. Started a quarter period apart (and wrapping a whole number of
    # periods back), they meet in different banks: the same reads, far fewer row conflicts.
    dev = DEVICES[device]
    period = dev.memory.capacity_bytes // dev.memory.dev.organization.rows
    assert period == {"hbm": 6 * MiB, "lpddr": 2 * MiB}[device]
    kernel = Kernel(
        "attn", 0, "attention", batch=4, kv_heads=4, group=1, head_dim=128, kv_len=kv_len
    )
    region = kv_len * KiB
    assert region % period == 0
    st, _ = run_kernel(dev, kernel, "cycle")
    off, _ = run_kernel(dataclasses.replace(dev, npu=NpuSpec(dma_stagger=False)), kernel, "cycle")
    assert st.load_bytes == off.load_bytes == 16 * 2 * kv_len * 128
    assert st.dram["reads"] == off.dram["reads"] == st.load_bytes // 32
    assert st.dram["row_conflicts"] < 0.6 * off.dram["row_conflicts"]
    assert st.time_ns < 0.9 * off.time_ns


def test_dma_stagger_must_be_a_bool() -> None:
    with pytest.raises(ValueError, match="dma_stagger=1 must be True or False"):
        NpuSpec(dma_stagger=1)  # type: ignore[arg-type]


def core_ends_ns(dev: AcceleratorSpec, kernel: Kernel, tmp_path: Path) -> list[float]:
    """When each core of a one-kernel `cycle` run finished its last tile (from the timeline)."""
    system = single(dev)
    eng = Engine(system, identity_tables(system), fidelity="cycle", record_timeline=True)
    eng.run([Sublayer("s", (kernel,))])
    path = tmp_path / "timeline.json"
    eng.write_timeline(path)
    events = json.loads(path.read_text())["traceEvents"]
    tracks = {
        (e["pid"], e["tid"]): e["args"]["name"]
        for e in events
        if e["ph"] == "M" and e["name"] == "thread_name"
    }
    ends: dict[str, float] = {}
    for e in events:
        track = tracks.get((e["pid"], e.get("tid")), "")
        if e["ph"] == "X" and track.startswith("core"):
            ends[track] = max(ends.get(track, 0.0), (e["ts"] + e["dur"]) * 1000.0)
    return list(ends.values())


def test_least_progress_arbitration_holds_the_cores_together(tmp_path: Path) -> None:
    # HBM attention, 16 tiles of two (batch, head) pairs per core. Served in turn, the cores'
    # DMA engines drift apart (in-order streams, full channel queues) and the last core ends
    # 4.5% after the mean; with the cores that computed a smaller share of their tiles first,
    # within 1%.
    kernel = Kernel(
        "attn", 0, "attention", batch=32, kv_heads=4, group=1, head_dim=128, kv_len=2048
    )
    in_turn = dataclasses.replace(HBM, npu=NpuSpec(dma_arbitration="round_robin"))
    assert NpuSpec().dma_arbitration == "least_progress"

    def spread(ends: list[float]) -> float:
        return (max(ends) - float(np.mean(ends))) / max(ends)

    held, drifting = core_ends_ns(HBM, kernel, tmp_path), core_ends_ns(in_turn, kernel, tmp_path)
    assert len(held) == len(drifting) == 4
    assert spread(held) < 0.01 < spread(drifting)
    r_held, r_drift = run_kernel(HBM, kernel, "cycle")[0], run_kernel(in_turn, kernel, "cycle")[0]
    assert r_held.dram["reads"] == r_drift.dram["reads"]  # the same work, only its order differs
    assert r_held.time_ns < r_drift.time_ns


def test_dma_arbitration_is_validated() -> None:
    with pytest.raises(ValueError, match="dma_arbitration='fifo' must be 'least_progress' or"):
        NpuSpec(dma_arbitration="fifo")  # type: ignore[arg-type]
    cfg = NpuSpec().to_config() | {"dma_arbitration": "fifo"}
    with pytest.raises(ValueError, match="dma_arbitration='fifo' must be 'least_progress' or"):
        _core.npu.plan({"op": "linear", "m": 1, "k": 128, "n": 128}, cfg)


# ---- sampled vs cycle, analytic vs sampled ----------------------------------------------------


def _lin(m: int, k: int, n: int) -> Kernel:
    return Kernel("linear", 0, "linear", m=m, k=k, n=n)


def _att(b: int, h: int, g: int, n: int) -> Kernel:
    return Kernel("attention", 0, "attention", batch=b, kv_heads=h, group=g, head_dim=128, kv_len=n)


def _vec(op: str, e: int) -> Kernel:
    return Kernel("vector", 0, "vector", vop=op, elements=e)


def _copy(e: int) -> Kernel:
    return Kernel("copy", 0, "copy", elements=e, out_base=GiB)


def _case(cid: str, device: str, kernel: Kernel, *marks: Any) -> Any:
    return pytest.param(device, kernel, id=cid, marks=list(marks))


SLOW = pytest.mark.slow
# (measured sampled error against cycle in the comments; all of these extrapolate; "cb": judged
# compute-bound, loads of the rest not simulated)
SAMPLED_CASES = [
    _case("mv-hbm-1x4096x16384", "hbm", _lin(1, 4096, 16384)),  # +0.52%
    _case("mv-lpddr-1x4096x16384", "lpddr", _lin(1, 4096, 16384)),  # -0.55%
    _case("mm-lpddr-16x8192x8192", "lpddr", _lin(16, 8192, 8192)),  # -0.00%
    # -2.16% with round-robin DMA arbitration (the cores drifted apart; see
    # test_least_progress_arbitration_holds_the_cores_together)
    _case("attn-hbm-b32h4g1-2048", "hbm", _att(32, 4, 1, 2048)),  # -0.48%
    _case("copy-hbm-64Mi", "hbm", _copy(64 * MiB)),  # +1.45%
    _case("vec-lpddr-dequantize-64Mi", "lpddr", _vec("dequantize", 64 * MiB)),  # +0.01%
    _case("attn-lpddr-b32h4g1-2048", "lpddr", _att(32, 4, 1, 2048)),  # -1.17%
    # heavier or repetitive shapes
    _case("mv-hbm-1x8192x16384", "hbm", _lin(1, 8192, 16384), SLOW),  # -0.12%
    _case("mv-lpddr-1x8192x16384", "lpddr", _lin(1, 8192, 16384), SLOW),  # -0.52%
    _case("mv-hbm-4x8192x8192", "hbm", _lin(4, 8192, 8192), SLOW),  # +1.22%
    _case("mv-lpddr-4x8192x8192", "lpddr", _lin(4, 8192, 8192), SLOW),  # -0.69%
    _case("mv-lpddr-8x12288x12288", "lpddr", _lin(8, 12288, 12288), SLOW),  # -0.53%
    _case("mm-lpddr-128x8192x8192", "lpddr", _lin(128, 8192, 8192), SLOW),  # +0.00%
    _case("attn-hbm-b16h4g1-4096", "hbm", _att(16, 4, 1, 4096), SLOW),  # -0.07%
    _case("attn-hbm-b32h4g4-2048", "hbm", _att(32, 4, 4, 2048), SLOW),  # +0.00% cb
    _case("attn-hbm-b32h8g1-2048", "hbm", _att(32, 8, 1, 2048), SLOW),  # +0.40%
    _case("attn-lpddr-b32h4g8-2048", "lpddr", _att(32, 4, 8, 2048), SLOW),  # -1.66%
    _case("mv-lpddr-8x4096x16384", "lpddr", _lin(8, 4096, 16384), SLOW),  # -0.21%
    # formerly +4.4% (the window rate aliased with the tile period); now compute-bound
    _case("mv-hbm-8x12288x12288", "hbm", _lin(8, 12288, 12288), SLOW),  # -0.33% cb
    _case("mm-lpddr-32x12288x8192", "lpddr", _lin(32, 12288, 8192), SLOW),  # +0.00%
    # GPT3-175B's fc on LPDDR: all 96 units cut into equal column blocks (k shortened: 1/6 of
    # it), and 49 units, whose unequal per-core slices (111 / 110 units) must not be cut (+23%)
    _case("mm-lpddr-32x2048x110592", "lpddr", _lin(32, 2048, 110592), SLOW),  # -0.02%
    _case("mm-lpddr-32x12288x56448", "lpddr", _lin(32, 12288, 56448), SLOW),  # +0.25%
    # the HBM half of GPT3-175B's qkv at B=32: the compute-bound kernel the shortcut is for
    _case("mm-hbm-32x12288x31488", "hbm", _lin(32, 12288, 31488), SLOW),  # +0.10% cb
    _case("attn-lpddr-b32h8g1-2048", "lpddr", _att(32, 8, 1, 2048), SLOW),  # -1.44%
    # the LPDDR share of a GPT3-175B layer's attention (14 of 96 heads): +45% before the DMA
    # stagger (the cores started in lockstep in the same banks and drifted apart over the kernel)
    _case("attn-lpddr-b32h14g1-2048", "lpddr", _att(32, 14, 1, 2048), SLOW),  # -1.55%
    _case("attn-lpddr-b16h4g1-4096", "lpddr", _att(16, 4, 1, 4096), SLOW),  # -1.18%
    _case("attn-lpddr-b32h4g4-2048", "lpddr", _att(32, 4, 4, 2048), SLOW),  # +0.42%
    _case("vec-hbm-dequantize-64Mi", "hbm", _vec("dequantize", 64 * MiB), SLOW),  # +0.08% cb
    _case("vec-hbm-gelu-64Mi", "hbm", _vec("gelu", 64 * MiB), SLOW),  # +0.03% cb
    _case("vec-lpddr-gelu-64Mi", "lpddr", _vec("gelu", 64 * MiB), SLOW),  # -0.00% cb
    _case("vec-lpddr-rmsnorm-64Mi", "lpddr", _vec("rmsnorm", 64 * MiB), SLOW),  # -0.14% cb
    _case("vec-hbm-residual_add-96Mi", "hbm", _vec("residual_add", 96 * MiB), SLOW),  # -0.14% cb
    # formerly a strict xfail at +2.5% (early-window rate)
    _case("vec-lpddr-residual_add-64Mi", "lpddr", _vec("residual_add", 64 * MiB), SLOW),  # +0.76%
    _case("copy-lpddr-64Mi", "lpddr", _copy(64 * MiB), SLOW),  # -1.41%
]


@pytest.mark.parametrize(("device", "kernel"), SAMPLED_CASES)
def test_sampled_within_2_percent_of_cycle(
    device: str, kernel: Kernel, report: dict[str, Any], record_property: Any
) -> None:
    dev = DEVICES[device]
    rc, wall_c = run_kernel(dev, kernel, "cycle")
    rs, wall_s = run_kernel(dev, kernel, "sampled")
    # a meaningful comparison: sampled skipped part of the kernel
    assert rs.extrapolated and rs.simulated_fraction < 1.0
    assert not rc.extrapolated and rc.simulated_fraction == 1.0
    assert (rs.load_bytes, rs.store_bytes, rs.tiles) == (rc.load_bytes, rc.store_bytes, rc.tiles)
    err = rs.time_ns / rc.time_ns - 1
    row = {
        "device": device,
        "kernel": kernel.shape_key(),
        "cycle_ns": rc.time_ns,
        "sampled_ns": rs.time_ns,
        "sampled_error": err,
        "simulated_fraction": rs.simulated_fraction,
        "cycle_wall_s": wall_c,
        "sampled_wall_s": wall_s,
    }
    report.setdefault("sampled_vs_cycle", {})[f"{device}:{kernel.shape_key()}"] = row
    record_property("sampled_error", err)
    print(
        f"sampled vs cycle {device} {kernel.shape_key()}: {err:+.2%} "
        f"(simulated {rs.simulated_fraction:.0%}, wall {wall_s:.2f} s vs {wall_c:.2f} s)"
    )
    assert abs(err) < 0.02


# The same memory-bound kernels with their stream moved by 7, 14 and 15 MiB: other DRAM rows
# and ranks meet, and the cycle result moves with them. `sampled` sees the placement only in the
# tiles it simulates. With round-robin DMA arbitration the cores drifted from their staggered
# start into conflicting alignments later in a kernel (LPDDR attention g8: 535 GB/s for the
# first 60 us, ~495 after) and their finish spread grew, which `sampled` extrapolated past: mean
# -0.82%, max |error| 4.17%, 8 of 21 beyond 2%. Holding the cores together (least progress
# first): mean -0.14%, max 1.92% (docs/fidelity.md, "Placement noise").
PLACEMENT_ROWS = (
    "attn-hbm-b32h4g1-2048",
    "attn-lpddr-b32h4g1-2048",
    "attn-lpddr-b32h4g8-2048",
    "copy-hbm-64Mi",
    "copy-lpddr-64Mi",
    "mv-hbm-1x4096x16384",
    "mv-lpddr-1x4096x16384",
)
PLACEMENT_MIB = (7, 14, 15)


@pytest.mark.slow
def test_sampled_error_over_placements(report: dict[str, Any], record_property: Any) -> None:
    cases = {p.id: p.values for p in SAMPLED_CASES}
    errors = {}
    for cid in PLACEMENT_ROWS:
        device, kernel = cases[cid]
        for mib in PLACEMENT_MIB:
            moved = dataclasses.replace(kernel, stream_base=kernel.stream_base + mib * MiB)
            rc, _ = run_kernel(DEVICES[device], moved, "cycle")
            rs, _ = run_kernel(DEVICES[device], moved, "sampled")
            assert rs.extrapolated and rs.simulated_fraction < 1.0
            assert (rs.load_bytes, rs.store_bytes) == (rc.load_bytes, rc.store_bytes)
            errors[f"{device}:{cid}+{mib}MiB"] = rs.time_ns / rc.time_ns - 1
    report["sampled_over_placements"] = errors
    e = np.array(list(errors.values()))
    record_property(
        "placement_errors",
        {"mean": float(e.mean()), "sd": float(e.std(ddof=1)), "max_abs": float(np.abs(e).max())},
    )
    print(
        "sampled vs cycle over placements: "
        + ", ".join(f"{k.split(':')[1]} {v:+.2%}" for k, v in errors.items())
        + f"; mean {e.mean():+.2%}, sd {e.std(ddof=1):.2%}, max |error| {np.abs(e).max():.2%}"
    )
    assert np.abs(e).max() < 0.02
    assert abs(e.mean()) < 0.01


@pytest.mark.parametrize(
    ("device", "kernel"),
    [
        _case("mv-lpddr-1x4096x16384", "lpddr", _lin(1, 4096, 16384)),
        _case("attn-hbm-b32h4g1-2048", "hbm", _att(32, 4, 1, 2048)),
        _case("vec-hbm-dequantize-64Mi", "hbm", _vec("dequantize", 64 * MiB)),
        # the HBM half of GPT3-175B's qkv at B=32 (82 of 96 heads): 571 us against 762 us of compute
        _case("mm-hbm-32x12288x31488", "hbm", _lin(32, 12288, 31488), SLOW),
    ],
)
def test_sampled_never_beats_the_compute_time(device: str, kernel: Kernel) -> None:
    """A kernel cannot end before its busiest core has done its compute (a hard lower bound)."""
    rs, _ = run_kernel(DEVICES[device], kernel, "sampled")
    assert rs.time_ns >= rs.compute_ns, (rs.time_ns, rs.compute_ns)


def test_compute_bound_shortcut_skips_the_loads_and_keeps_the_cycle_time() -> None:
    """A compute-bound GEMM (m=32 on the systolic array, HBM): memory keeps well ahead of the
    array, so once its first tiles show that, ``sampled`` stops simulating its loads. It then
    simulates a small part of the requests, and still ends within 2% of ``cycle``; with the
    shortcut off (``sample_compute_slack=0``) the same kernel is simulated in full (too few tiles
    per core for a request-rate skip)."""
    kernel = _lin(32, 12288, 4096)  # 12 tiles of 1.5 MiB per core, 96 MiB of weights
    system = single(HBM)
    rc, _ = run_kernel(HBM, kernel, "cycle")
    assert rc.compute_ns > 0.95 * rc.time_ns, "the kernel must be compute-bound for this test"
    rs, _ = run_kernel(HBM, kernel, "sampled")
    off = Engine(system, identity_tables(system), fidelity="sampled", sample_compute_slack=0.0)
    ro = off.run([Sublayer("s", (kernel,))])[0].kernels[0]
    assert rs.extrapolated and rs.requests < 0.2 * rc.requests, (rs.requests, rc.requests)
    assert abs(rs.time_ns / rc.time_ns - 1) < 0.02
    assert rs.time_ns >= rs.compute_ns
    assert not ro.extrapolated and ro.requests == rc.requests and ro.time_ns == rc.time_ns


_STALE_WHEEL_SCRIPT = """
import json, sys
import numpy as np
from h2m2 import presets
from h2m2.dram import MemorySpec, standards
from h2m2.engine import Engine, Kernel, Sublayer
dev = standards.get("LPDDR5X_8533_16GB_x16").override(data_rate_mts=12800.0)
system = presets.lpddr_only().replace_device("lpddr", memory=MemorySpec(dev, channels=32))
tables = [(np.zeros(4096, np.int32), np.arange(4096, dtype=np.int64))]
kernel = Kernel("fc", 0, "linear", m=128, k=8192, n=57408)
out = {}
for fidelity in ("sampled", "cycle"):
    r = Engine(system, tables, fidelity=fidelity).run([Sublayer("s", (kernel,))])[0].kernels[0]
    out[fidelity] = [r.time_ns, r.extrapolated]
json.dump(out, sys.stdout)
"""


def test_sampled_finishes_a_kernel_that_once_stalled_the_dram_scheduler() -> None:
    """Regression: Llama2-70B's fc slice on a 12800 MT/s LPDDR chip (the reproduction's bandwidth
    sensitivity point) made a memory controller report its next event in the past (a stale lower
    bound of its timing wheel), and ``advance_to`` ticked that cycle forever. Run in a child
    process with a timeout so that a regression fails instead of hanging the suite."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", _STALE_WHEEL_SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    out = json.loads(proc.stdout)
    assert out["sampled"][1] and not out["cycle"][1]
    assert abs(out["sampled"][0] / out["cycle"][0] - 1) < 0.02, out


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sample_min_tiles", 1),
        ("sample_tail_tiles", 0),
        ("sample_compute_slack", 1.0),
        ("sample_slack_tiles", 0),
    ],
)
def test_sampling_parameters_are_validated(field: str, value: Any) -> None:
    system = single(HBM)
    with pytest.raises(ValueError, match=field):
        Engine(system, identity_tables(system), **{field: value})


@pytest.mark.parametrize(
    ("device", "kernel"), [p for p in SAMPLED_CASES if not any(m.name == "xfail" for m in p.marks)]
)
def test_analytic_error_is_reported(
    device: str, kernel: Kernel, report: dict[str, Any], record_property: Any
) -> None:
    """Analytic (roofline with the calibrated streaming efficiency) against sampled: reported.

    Only the cases where sampled itself is within 2% of cycle are used as the reference.
    """
    dev = DEVICES[device]
    rs, _ = run_kernel(dev, kernel, "sampled")
    ra, wall_a = run_kernel(dev, kernel, "analytic")
    rc, _ = run_kernel(dev, kernel, "cycle")
    err = ra.time_ns / rs.time_ns - 1
    err_cycle = ra.time_ns / rc.time_ns - 1
    report.setdefault("analytic_vs_sampled", {})[f"{device}:{kernel.shape_key()}"] = {
        "device": device,
        "kernel": kernel.shape_key(),
        "sampled_ns": rs.time_ns,
        "analytic_ns": ra.time_ns,
        "analytic_error": err,
        "analytic_error_vs_cycle": err_cycle,
        "analytic_wall_s": wall_a,
    }
    record_property("analytic_error", err)
    print(
        f"analytic vs sampled {device} {kernel.shape_key()}: {err:+.2%} (vs cycle {err_cycle:+.2%})"
    )
    assert math.isfinite(err)
    assert ra.simulated_fraction == 0.0 and ra.requests == 0
    # a roofline: not (much) above the simulation, and not absurdly below it. Its efficiency comes
    # from a 64 MB GEMV with its start-up; a kernel twice as long amortizes that better (the HBM
    # 1x8192x16384 GEMV: analytic +2.3% above `sampled`)
    assert -0.5 < err < 0.03


def test_sampled_memo_follows_a_page_table_change() -> None:
    system = presets.h2m2()
    local = identity_tables(system, 64)
    remote = [(np.full(64, 1, np.int32), np.arange(64, dtype=np.int64)), local[1]]
    kernel = Kernel("w", 0, "linear", m=1, k=1024, n=4096)  # 4 MiB of weights
    eng = Engine(system, local, fidelity="sampled")
    before = eng.run([Sublayer("s", (kernel,))])[0].kernels[0]
    eng.set_page_tables(remote)  # the weights moved to the LPDDR device: read over the link
    after = eng.run([Sublayer("s", (kernel,))])[0].kernels[0]
    fresh = Engine(system, remote, fidelity="sampled").run([Sublayer("s", (kernel,))])[0].kernels[0]
    assert fresh.time_ns > 5 * before.time_ns  # remote is much slower (independent of the memo)
    assert ps(after.time_ns) == ps(fresh.time_ns)


@pytest.mark.parametrize("batch,local_pages", [(32, 26), (48, 45)])
def test_sampled_does_not_extrapolate_across_a_change_of_placement(
    batch: int, local_pages: int, report: dict[str, Any], record_property: Any
) -> None:
    """A zero-copy attention kernel on the HBM chip whose KV cache is laid out contiguously, local
    pages first (as ``h2m2.simulate`` places it): 26 of its 32 pages on the HBM device, the last 6
    on the LPDDR device. Cores 0-2 read only local pages; core 3 reads 4 local tiles, then 12
    remote ones over the link. ``sampled`` used to measure its rate while core 3 was still local
    and skip its remote tiles at that rate: -32.2% (73484 ns against
    108376 ns in `cycle`); now +0.07%. Tiles are now classified by where their bytes
    live, and only tiles of the measured class are skipped.

    With batch 48 (45 of 48 pages local) each core's region is 24 MiB, four HBM row periods: the
    region stagger starts core 3 4.5 MiB into its region, so its remote pages come in the middle of
    its stream and the tiles' classes follow the staggered addresses."""
    system = presets.h2m2()
    tables = identity_tables(system)
    kernel = Kernel(
        "attention",
        0,
        "attention",
        batch=batch,
        kv_heads=4,
        group=1,
        head_dim=128,
        kv_len=2048,
        out_base=GiB,
    )  # 2 x batch MiB of KV cache: pages 0..batch-1
    tables[0][0][local_pages:batch] = 1
    rc = Engine(system, tables, fidelity="cycle").run([Sublayer("s", (kernel,))])[0].kernels[0]
    rs = Engine(system, tables, fidelity="sampled").run([Sublayer("s", (kernel,))])[0].kernels[0]
    local = run_kernel(HBM, kernel, "cycle")[0]
    assert rc.time_ns > 1.3 * local.time_ns, "the remote tiles must matter for this test"
    # every local KV byte read once from the local memory, however the stagger ordered the stream
    assert rc.dram["reads"] == local_pages * 2 * MiB // 32
    assert rs.extrapolated and rs.simulated_fraction < 1.0
    err = rs.time_ns / rc.time_ns - 1
    row = f"hbm:attention-contiguous-{local_pages}of{batch}-local"
    report.setdefault("sampled_vs_cycle", {})[row] = {
        "device": "hbm",
        "kernel": kernel.shape_key() + f" {local_pages}/{batch} pages local",
        "cycle_ns": rc.time_ns,
        "sampled_ns": rs.time_ns,
        "sampled_error": err,
        "simulated_fraction": rs.simulated_fraction,
    }
    record_property("sampled_error", err)
    print(
        f"sampled vs cycle, local then remote pages: {err:+.2%} "
        f"(simulated {rs.simulated_fraction:.0%})"
    )
    assert abs(err) < 0.02


# ---- a sublayer split across the HBM and LPDDR devices ----------------------------------------

SPLIT_UNIT_COLS, SPLIT_K, SPLIT_UNITS = 8192, 512, 8  # a GEMV cut into 8 units of 4 MiB


def _split_sublayer(n_hbm: int, units: int, cols: int, k: int) -> Sublayer:
    kernels = []
    if n_hbm:
        kernels.append(Kernel("fc_hbm", 0, "linear", m=1, k=k, n=n_hbm * cols))
    if units - n_hbm:
        kernels.append(Kernel("fc_lpddr", 1, "linear", m=1, k=k, n=(units - n_hbm) * cols))
    # each side sends its output columns to the other
    return Sublayer("fc", tuple(kernels), exchange_bytes=(n_hbm * cols, (units - n_hbm) * cols))


def _split_sweep(units: int, cols: int, k: int) -> list[SublayerResult]:
    system = presets.h2m2()
    eng = Engine(system, identity_tables(system), fidelity="cycle")
    out = []
    for n in range(units + 1):
        out.append(eng.run([_split_sublayer(n, units, cols, k)])[0])
    return out


def _check_v_shape(res: list[SublayerResult], units: int) -> None:
    t = [r.time_ns for r in res]
    best = int(np.argmin(t))
    assert 0 < best < units, f"no interior optimum: {t}"
    steps = np.diff(t)
    assert (steps[:best] < 0).all(), f"not decreasing towards the optimum: {t}"
    assert (steps[best:] > 0).all(), f"not increasing after the optimum: {t}"
    # the optimum is where the sides balance: the slower side changes there
    hbm = [r.device_time_ns(0) for r in res]
    lpddr = [r.device_time_ns(1) for r in res]
    first_hbm_slower = next(n for n in range(units + 1) if hbm[n] >= lpddr[n])
    assert best in (first_hbm_slower - 1, first_hbm_slower)


def test_split_sublayer_ends_at_slower_side_plus_barrier_plus_exchange() -> None:
    system = presets.h2m2()
    assert system.link is not None
    res = _split_sweep(SPLIT_UNITS, SPLIT_UNIT_COLS, SPLIT_K)
    for n, r in enumerate(res):
        sub = _split_sublayer(n, SPLIT_UNITS, SPLIT_UNIT_COLS, SPLIT_K)
        slowest = max(ps(k.time_ns) for k in r.kernels)
        exchange = max(link_transfer_ps(system.link, b) for b in sub.exchange_bytes)
        assert ps(r.kernels_ns) == slowest
        assert ps(r.barrier_ns) == round(system.barrier_ns * 1000)
        assert ps(r.exchange_ns) == exchange
        assert ps(r.end_ns) - ps(r.start_ns) == slowest + ps(r.barrier_ns) + exchange  # exactly
    _check_v_shape(res, SPLIT_UNITS)


@pytest.mark.slow
def test_split_sublayer_is_v_shaped_with_fine_units() -> None:
    # Each core's 1 KiB column slice of an LPDDR GEMV is one bank group. With round-robin DMA
    # arbitration the cores drifted apart, channel queues filled with one core's requests (one
    # bank group, tCCD_L = 2 x tCCD_S) and 4 LPDDR units of 1024 columns took longer than 5.
    _check_v_shape(_split_sweep(16, 1024, 2048), 16)


# ---- the link -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "link",
    [LinkSpec(), LinkSpec(bandwidth_GBps=100.0, latency_ns=1000.0, granularity_bytes=256)],
    ids=["default", "slow-link"],
)
def test_exchange_costs_bytes_over_bandwidth_plus_latency(link: LinkSpec) -> None:
    system = presets.h2m2(link=link)
    eng = Engine(system, identity_tables(system, 16), fidelity="cycle")
    sizes = [1, 63, 64, 65, 255, 257, 4096, 32 * 12288, 3 * MiB + 5]
    for x in sizes:
        for ex in ((x, 0), (0, x), (x, 2 * x)):
            r = eng.run([Sublayer("exchange", (), exchange_bytes=ex, barrier_ns=0.0)])[0]
            expected = max(link_transfer_ps(link, b) for b in ex)
            assert ps(r.exchange_ns) == expected, (x, ex)
            assert ps(r.time_ns) == expected
    # and it is what the engine's own idle-link transfer reports
    assert eng._core.transfer_ps(0, 12345) == link_transfer_ps(link, 12345)
    assert eng._core.transfer_ps(1, 0) == 0


# ---- errors -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hbm_engine() -> Engine:
    system = single(presets.hbm_device(16))
    return Engine(system, identity_tables(system, 64), fidelity="cycle")


@pytest.mark.parametrize(
    ("kernel", "match"),
    [
        (Kernel("act", 0, "linear", m=8, k=4 * MiB, n=128), "scratchpad overflow: linear kernel"),
        (
            Kernel("q", 0, "attention", batch=65536, kv_heads=64, group=8, head_dim=128, kv_len=64),
            "scratchpad overflow: attention kernel",
        ),
    ],
)
def test_scratchpad_overflow_is_a_clear_error(
    hbm_engine: Engine, kernel: Kernel, match: str
) -> None:
    with pytest.raises(ValueError, match=match) as e:
        hbm_engine.run([Sublayer("s", (kernel,))])
    assert "spm_bytes=16777216" in str(e.value) and "smallest tile" in str(e.value)


def test_unknown_kernel_op_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="op='conv' must be one of"):
        Kernel("k", 0, "conv")
    with pytest.raises(ValueError, match="vop='tanhh' must be one of"):
        Kernel("k", 0, "vector", vop="tanhh", elements=128)
    # the C++ planner checks too (for callers that bypass the dataclass)
    with pytest.raises(ValueError, match="unknown kernel op 'conv'"):
        _core.npu.plan({"op": "conv", "m": 1, "k": 1, "n": 1}, NpuSpec().to_config())


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"op": "linear", "m": 0, "k": 128, "n": 128}, "linear kernel: m=0 must be positive"),
        ({"op": "linear", "m": 1, "k": 0, "n": 128}, "linear kernel: k=0 must be positive"),
        ({"op": "linear", "m": 1, "k": 128, "n": 0}, "linear kernel: n=0 must be positive"),
        (
            {"op": "attention", "batch": 0, "kv_heads": 1, "head_dim": 128, "kv_len": 8},
            "attention kernel: batch=0 must be positive",
        ),
        (
            {"op": "attention", "batch": 1, "kv_heads": 1, "head_dim": 128, "kv_len": 0},
            "attention kernel: kv_len=0 must be positive",
        ),
        ({"op": "vector", "elements": 0}, "vector kernel: elements=0 must be positive"),
        ({"op": "copy", "elements": 0}, "copy kernel: elements=0 must be positive"),
    ],
)
def test_zero_sized_shapes_are_clear_errors(
    hbm_engine: Engine, fields: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        hbm_engine.run([Sublayer("s", (Kernel("zero", 0, **fields),))])


def test_negative_shapes_are_rejected_by_the_kernel_spec() -> None:
    with pytest.raises(ValueError, match="m=-1 must not be negative"):
        Kernel("neg", 0, "linear", m=-1, k=1, n=1)


@pytest.mark.parametrize("device", [1, 2, -1])
def test_kernel_on_a_missing_device_is_a_clear_error(hbm_engine: Engine, device: int) -> None:
    with pytest.raises(ValueError, match=f"kernel k names device {device} of 1"):
        hbm_engine.run([Sublayer("s", (Kernel("k", device, "linear", m=1, k=128, n=128),))])


def test_inconsistent_device_specs_are_clear_errors() -> None:
    hbm, lp = presets.hbm_device(16), presets.lpddr_device(8)
    with pytest.raises(ValueError, match="two devices need a link"):
        SystemSpec(devices=(hbm, lp))
    with pytest.raises(ValueError, match=r"different page sizes \[4096, 2097152\]"):
        SystemSpec(
            devices=(hbm, dataclasses.replace(lp, mmu=MmuSpec(page_bytes=4096))), link=LinkSpec()
        )
    with pytest.raises(ValueError, match=r"device names \['hbm', 'hbm'\] must be distinct"):
        SystemSpec(devices=(hbm, hbm), link=LinkSpec())
    with pytest.raises(ValueError, match="3 devices; 1 or 2 are supported"):
        SystemSpec(devices=(hbm, lp, presets.lpddr_device(8, name="lp2")), link=LinkSpec())
    with pytest.raises(ValueError, match="0 devices"):
        SystemSpec(devices=())
    with pytest.raises(ValueError, match="bandwidth_GBps=0"):
        LinkSpec(bandwidth_GBps=0)
    with pytest.raises(ValueError, match="page_bytes=3000 must be a power of two"):
        MmuSpec(page_bytes=3000)
    # engine-level consistency
    one_dev = single(hbm)
    with pytest.raises(ValueError, match="2 page tables for 1 devices"):
        Engine(one_dev, identity_tables(presets.h2m2(), 16))
    with pytest.raises(ValueError, match="fidelity='exact'"):
        Engine(one_dev, identity_tables(one_dev, 16), fidelity="exact")
    eng = Engine(one_dev, identity_tables(one_dev, 16), fidelity="cycle")
    with pytest.raises(ValueError, match="an exchange needs a link"):
        eng.run([Sublayer("x", (), exchange_bytes=(64, 0))])


def test_unmapped_and_foreign_pages_are_clear_errors() -> None:
    system = single(presets.hbm_device(16))
    kernel = Kernel("w", 0, "linear", m=1, k=4096, n=4096)  # 16 MiB: logical pages 0..7
    tables = identity_tables(system, 64)
    tables[0][0][3] = -1
    # (the first core to reach page 3 names the address: its stream may start inside the page)
    with pytest.raises((ValueError, IndexError), match=r"0x60[0-9a-f]{4} \(page 3\) is not mapped"):
        Engine(system, tables, fidelity="cycle").run([Sublayer("s", (kernel,))])
    beyond = dataclasses.replace(kernel, stream_base=62 * 2 * MiB)  # runs past the 64-page table
    with pytest.raises((ValueError, IndexError), match="the page table has 64 pages"):
        Engine(system, identity_tables(system, 64), fidelity="cycle").run(
            [Sublayer("s", (beyond,))]
        )
    foreign = identity_tables(system, 64)
    foreign[0][0][:] = 1  # pages on a device 1 that this system does not have
    with pytest.raises(ValueError, match="a page of device 1 is used by device 0 but no link"):
        Engine(system, foreign, fidelity="cycle").run([Sublayer("s", (kernel,))])


# ---- epoch hook ---------------------------------------------------------------------------------


def _small_program(tag: str) -> list[Sublayer]:
    return [
        Sublayer("a", (Kernel(f"{tag}-a", 0, "linear", m=1, k=1024, n=1024),)),
        Sublayer("b", (Kernel(f"{tag}-b", 0, "vector", vop="gelu", elements=1 << 16),)),
    ]


def test_epoch_hook_runs_what_the_callback_returns() -> None:
    system = single(presets.hbm_device(16))
    eng = Engine(system, identity_tables(system, 16), fidelity="cycle")
    calls: list[tuple[int, list[str]]] = []

    def callback(epoch: int, previous: list[SublayerResult]) -> list[Sublayer]:
        calls.append((epoch, [k.name for s in previous for k in s.kernels]))
        return _small_program(f"e{epoch}")

    out = eng.run_epochs(3, callback)
    assert [c[0] for c in calls] == [0, 1, 2]
    assert calls[0][1] == []  # no previous epoch
    assert calls[1][1] == ["e0-a", "e0-b"]  # the previous epoch's results
    assert calls[2][1] == ["e1-a", "e1-b"]
    assert len(out) == 3
    assert [[k.name for s in ep for k in s.kernels] for ep in out] == [
        [f"e{e}-a", f"e{e}-b"] for e in range(3)
    ]
    # epochs follow each other in time, and each equals the same program run on its own
    for prev, nxt in itertools.pairwise(out):
        assert ps(nxt[0].start_ns) == ps(prev[-1].end_ns)
    alone = eng.run(_small_program("e0"))
    assert [ps(s.time_ns) for s in alone] == [ps(s.time_ns) for s in out[0]]


@pytest.mark.parametrize("stop", [None, []], ids=["None", "empty"])
def test_epoch_hook_stops_early(stop: Any) -> None:
    system = single(presets.hbm_device(16))
    eng = Engine(system, identity_tables(system, 16), fidelity="cycle")
    calls: list[int] = []

    def callback(epoch: int, previous: list[SublayerResult]) -> Any:
        calls.append(epoch)
        return _small_program("x") if epoch == 0 else stop

    out = eng.run_epochs(3, callback)
    assert calls == [0, 1]
    assert len(out) == 1


def test_epoch_hook_exception_propagates() -> None:
    system = single(presets.hbm_device(16))
    eng = Engine(system, identity_tables(system, 16), fidelity="cycle")

    def callback(epoch: int, previous: list[SublayerResult]) -> Any:
        if epoch == 1:
            raise RuntimeError("policy failed")
        return _small_program("x")

    with pytest.raises(RuntimeError, match="policy failed"):
        eng.run_epochs(3, callback)
    # the engine is still usable
    assert eng.run(_small_program("y"))[0].kernels[0].time_ns > 0


# ---- timeline -----------------------------------------------------------------------------------


def test_timeline_is_chrome_trace_with_device_core_channel_link_and_barrier_tracks(
    tmp_path: Path,
) -> None:
    system = presets.h2m2()
    eng = Engine(system, identity_tables(system, 64), fidelity="cycle", record_timeline=True)
    program = [
        Sublayer(
            "qkv",
            (
                Kernel("q_h", 0, "linear", m=1, k=2048, n=4096),
                Kernel("q_l", 1, "linear", m=1, k=2048, n=1024),
            ),
            exchange_bytes=(64 * 1024, 16 * 1024),
        ),
        Sublayer(
            "attn",
            (
                Kernel(
                    "a_h", 0, "attention", batch=4, kv_heads=4, group=1, head_dim=128, kv_len=512
                ),
            ),
            exchange_bytes=(4096, 0),
        ),
    ]
    res = eng.run(program)
    path = tmp_path / "trace.json"
    eng.write_timeline(path)
    trace = json.loads(path.read_text())
    events = trace["traceEvents"]
    procs = {
        e["pid"]: e["args"]["name"]
        for e in events
        if e["ph"] == "M" and e["name"] == "process_name"
    }
    assert sorted(procs.values()) == ["hbm", "link", "lpddr", "system"]
    pid = {name: p for p, name in procs.items()}
    threads: dict[int, set[str]] = {}
    for e in events:
        if e["ph"] == "M" and e["name"] == "thread_name":
            threads.setdefault(e["pid"], set()).add(e["args"]["name"])
    for dev in ("hbm", "lpddr"):
        names = threads[pid[dev]]
        assert {"kernels", "core 0", "core 1", "core 2", "core 3"} <= names
        assert any(n.startswith("dram channel ") for n in names)
    assert threads[pid["link"]] == {"direction 0->1", "direction 1->0"}
    assert threads[pid["system"]] == {"barriers"}
    spans = [e for e in events if e["ph"] == "X"]
    assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in spans)
    named = {(m["pid"], m["tid"]) for m in events if m["ph"] == "M" and m["name"] == "thread_name"}
    assert {(e["pid"], e["tid"]) for e in spans} <= named  # every span's track was named
    barriers = [e for e in spans if e["pid"] == pid["system"]]
    assert len(barriers) == 2
    # trace times are microseconds; spans line up with the results
    for sub, bar in zip(res, barriers, strict=True):
        assert bar["ts"] == pytest.approx((sub.start_ns + sub.kernels_ns) / 1000)
        assert bar["dur"] == pytest.approx(sub.barrier_ns / 1000)
    kernels = sorted((e["ts"], e["dur"]) for e in spans if e["name"] == "kernel")
    expected = sorted((s.start_ns / 1000, k.time_ns / 1000) for s in res for k in s.kernels)
    assert np.allclose(kernels, expected, rtol=1e-12, atol=1e-9)
    transfers = [e for e in spans if e["pid"] == pid["link"]]
    assert len(transfers) == 3
    with pytest.raises(RuntimeError, match="record_timeline=False"):
        Engine(system, identity_tables(system, 64)).write_timeline(tmp_path / "no.json")


# ---- determinism and co-simulation ------------------------------------------------------------


@pytest.mark.parametrize("fidelity", ["cycle", "sampled"])
def test_same_program_gives_identical_results(fidelity: str) -> None:
    system = presets.h2m2()
    # `sampled` gets a kernel big enough to be extrapolated; `cycle` smaller ones (same code path)
    k_lpddr = 4096 if fidelity == "sampled" else 1024
    program = [
        Sublayer(
            "fc",
            (
                Kernel("fc_h", 0, "linear", m=1, k=2048, n=8192),
                Kernel("fc_l", 1, "linear", m=1, k=k_lpddr, n=16384),
            ),
            exchange_bytes=(8192, 16384),
        ),
        Sublayer(
            "attn",
            (
                Kernel(
                    "a_h", 0, "attention", batch=8, kv_heads=4, group=2, head_dim=128, kv_len=1024
                ),
            ),
            exchange_bytes=(1024, 0),
        ),
    ]
    engines = [Engine(system, identity_tables(system), fidelity=fidelity) for _ in range(2)]
    runs = [eng.run(program) for eng in engines]
    assert plain(runs[0]) == plain(runs[1])
    if fidelity == "sampled":
        assert runs[0][0].kernels[1].extrapolated
        # the same engine again: memo hits with the same timing
        again = engines[0].run(program)
        assert engines[0].memo_size == 3
        assert all(k.memo_hit for s in again for k in s.kernels)
        assert [ps(s.time_ns) for s in again] == [ps(s.time_ns) for s in runs[0]]
    else:
        # a cycle engine has no memo: the second run simulates again, identically
        again = engines[0].run(program)
        assert not any(k.memo_hit for s in again for k in s.kernels)
        assert plain(again) == plain(runs[0])


def test_sampled_threads_change_nothing_but_the_wall_time(tmp_path: Path) -> None:
    """`sampled` simulates each kernel alone on fresh devices, so ``threads=2`` (kernels of the
    whole program simulated two at a time, ahead of their sublayers) must give what ``threads=1``
    gives, field for field: memo hits for a repeated signature, unsigned kernels, the timeline
    spans (shifted to their sublayer's start), and an error raised at the same kernel."""
    system = presets.h2m2()
    fc_h = Kernel("fc_h", 0, "linear", m=1, k=2048, n=8192)
    program = [
        Sublayer(
            "fc",
            (fc_h, Kernel("fc_l", 1, "linear", m=1, k=4096, n=16384)),
            exchange_bytes=(8192, 16384),
        ),
        Sublayer(
            "attn",
            (
                Kernel(
                    "a_h", 0, "attention", batch=8, kv_heads=4, group=2, head_dim=128, kv_len=1024
                ),
                Kernel("a_l", 1, "vector", vop="gelu", elements=1 << 20, signature=""),
            ),  # unsigned: never memoised
            exchange_bytes=(1024, 0),
        ),
        Sublayer("fc again", (dataclasses.replace(fc_h, name="fc_h2"),)),  # a memo hit
    ]
    runs, spans = [], []
    for threads in (1, 2):
        eng = Engine(
            system,
            identity_tables(system),
            fidelity="sampled",
            threads=threads,
            record_timeline=True,
        )
        runs.append(eng.run(program))
        eng.write_timeline(tmp_path / f"t{threads}.json")
        spans.append(json.loads((tmp_path / f"t{threads}.json").read_text()))
    assert plain(runs[0]) == plain(runs[1])
    assert spans[0] == spans[1]
    assert runs[1][0].kernels[1].extrapolated and runs[1][2].kernels[0].memo_hit
    # an unmapped page in the second sublayer: the same error, after the same first sublayer
    tables = identity_tables(system)
    tables[1][0][:] = -1
    for threads in (1, 2):
        with pytest.raises((ValueError, IndexError), match="is not mapped"):
            Engine(system, tables, fidelity="sampled", threads=threads).run(
                [Sublayer("ok", (fc_h,)), program[1]]
            )
    with pytest.raises(ValueError, match="threads=0 must be a positive integer"):
        Engine(system, identity_tables(system), threads=0)


def test_default_threads_follow_the_setting_then_the_environment(monkeypatch: Any) -> None:
    import h2m2.engine as engine_module

    monkeypatch.setattr(engine_module, "_default_threads", None)
    monkeypatch.delenv("H2M2_ENGINE_THREADS", raising=False)
    assert 1 <= engine_module.default_threads() <= 8
    monkeypatch.setenv("H2M2_ENGINE_THREADS", "3")
    assert engine_module.default_threads() == 3
    engine_module.set_default_threads(1)  # what parallel sweeps do in their workers
    assert engine_module.default_threads() == 1
    system = single(presets.hbm_device(16))
    assert Engine(system, identity_tables(system, 16)).threads == 1
    engine_module.set_default_threads(None)
    monkeypatch.setenv("H2M2_ENGINE_THREADS", "many")
    with pytest.raises(ValueError, match="H2M2_ENGINE_THREADS='many'"):
        engine_module.default_threads()
    with pytest.raises(ValueError, match="must be a positive integer or None"):
        engine_module.set_default_threads(0)


def test_cycle_cosimulation_equals_each_kernel_alone() -> None:
    """In `cycle` mode the two devices of a sublayer run in one loop; they share only the link,
    so with local pages each kernel takes exactly what it takes alone."""
    system = presets.h2m2()
    kernels = (
        Kernel("h", 0, "linear", m=1, k=4096, n=8192),
        Kernel("l", 1, "attention", batch=8, kv_heads=4, group=1, head_dim=128, kv_len=1024),
    )
    together = Engine(system, identity_tables(system), fidelity="cycle").run(
        [Sublayer("both", kernels)]
    )[0]
    for k, r in zip(kernels, together.kernels, strict=True):
        alone = (
            Engine(system, identity_tables(system), fidelity="cycle")
            .run([Sublayer("alone", (k,))])[0]
            .kernels[0]
        )
        assert ps(r.time_ns) == ps(alone.time_ns)
        assert r.requests == alone.requests
        # the traffic is the same request for request ...
        for key in ("reads", "writes", "row_hits", "row_misses", "row_conflicts", "read_latency"):
            assert plain(r.dram[key]) == plain(alone.dram[key]), key
        # ... but a device's memory statistics run to the end of the sublayer's slowest kernel
        # (the memory keeps refreshing while the other device works): docs/fidelity.md
        assert r.dram["refresh_cycles"] >= alone.dram["refresh_cycles"]
    assert ps(together.kernels_ns) == max(ps(r.time_ns) for r in together.kernels)
