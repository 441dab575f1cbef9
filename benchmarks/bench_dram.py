"""DRAM engine speed: streaming and random reads, requests simulated per wall second.

Memories: one full HBM3 stack (16 channels = 32 pseudo-channels) and the 6-stack HBM3 memory of
the H2M2 system (96 channels, ``presets.hbm_device()``). Trace sizes follow a geometric ladder
(x4) up to 1M requests. Each round builds a fresh MemorySystem in ``setup`` (not timed) and times
``MemorySystem.run`` on the whole trace. ``extra_info`` holds requests/s (best round).

Reference baseline (same process, same group): ``numpy.sort`` of the 1M-request random trace, a
fixed amount of memory-bound numpy work to normalise the rates across machines.
Targets (issue 2, DESIGN.md): >= 10 M req/s streaming, >= 5 M req/s random, one thread.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from h2m2 import presets
from h2m2.dram import DramStats, MemorySpec, MemorySystem

SYSTEMS = {
    "hbm3-stack": presets.hbm_device(16).memory,  # 16 channels, 512 GB/s
    "h2m2-hbm": presets.hbm_device().memory,  # 6 stacks, 96 channels, 3.07 TB/s
}
LADDER = (1 << 16, 1 << 18, 1 << 20)
ONE_M = 1 << 20


def trace(spec: MemorySpec, kind: str, n: int) -> np.ndarray:
    tx = spec.dev.organization.transaction_bytes
    if kind == "stream":
        return np.arange(n, dtype=np.uint64) * np.uint64(tx)
    rng = np.random.default_rng(2026)
    return rng.integers(0, spec.capacity_bytes // tx, n, dtype=np.uint64) * np.uint64(tx)


def run_rounds(
    benchmark: Any, spec: MemorySpec, addr: np.ndarray, rounds: int
) -> tuple[DramStats, float]:
    """Fresh memory per round; returns the last stats and the best wall time of `run`."""
    walls: list[float] = []
    out: list[DramStats] = []

    def setup() -> tuple[tuple[MemorySystem], dict[str, Any]]:
        return (MemorySystem(spec),), {}

    def target(mem: MemorySystem) -> None:
        t0 = time.perf_counter()
        out.append(mem.run(addr))
        walls.append(time.perf_counter() - t0)

    benchmark.pedantic(target, setup=setup, rounds=rounds, iterations=1)
    return out[-1], min(walls)


def _bench(benchmark: Any, system: str, kind: str, n: int) -> None:
    spec = SYSTEMS[system]
    addr = trace(spec, kind, n)
    stats, wall = run_rounds(benchmark, spec, addr, rounds=3 if n >= ONE_M else 5)
    # correctness: every request served once, nothing above peak, the stream near peak
    assert stats.requests == stats.reads == n
    assert stats.bytes == n * spec.dev.organization.transaction_bytes
    assert 0 < stats.bandwidth_GBps <= stats.peak_GBps * (1 + 1e-9)
    if kind == "stream" and n >= ONE_M:
        assert stats.utilization > 0.9
    if kind == "random":
        assert stats.row_misses + stats.row_conflicts > stats.row_hits
    benchmark.extra_info.update(
        {
            "system": system,
            "pattern": kind,
            "requests": n,
            "channels": spec.scheduled_channels,
            "wall_s": wall,
            "requests_per_s": n / wall,
            "Mreq_per_s": n / wall / 1e6,
            "bandwidth_GBps": stats.bandwidth_GBps,
            "utilization": stats.utilization,
        }
    )


@pytest.mark.benchmark(group="dram-hbm3-stack")
@pytest.mark.parametrize("kind", ["stream", "random"])
@pytest.mark.parametrize("n", LADDER)
def test_dram_hbm3_stack(benchmark: Any, kind: str, n: int) -> None:
    _bench(benchmark, "hbm3-stack", kind, n)


@pytest.mark.benchmark(group="dram-h2m2-hbm")
@pytest.mark.parametrize("kind", ["stream", "random"])
@pytest.mark.parametrize("n", LADDER)
def test_dram_h2m2_hbm(benchmark: Any, kind: str, n: int) -> None:
    _bench(benchmark, "h2m2-hbm", kind, n)


@pytest.mark.benchmark(group="dram-hbm3-stack")
def test_dram_baseline_numpy_sort_hbm3_stack(benchmark: Any) -> None:
    _baseline(benchmark, SYSTEMS["hbm3-stack"])


@pytest.mark.benchmark(group="dram-h2m2-hbm")
def test_dram_baseline_numpy_sort_h2m2_hbm(benchmark: Any) -> None:
    _baseline(benchmark, SYSTEMS["h2m2-hbm"])


def _baseline(benchmark: Any, spec: MemorySpec) -> None:
    addr = trace(spec, "random", ONE_M)
    walls: list[float] = []

    def target() -> np.ndarray:
        t0 = time.perf_counter()
        s = np.sort(addr)
        walls.append(time.perf_counter() - t0)
        return s

    s = benchmark.pedantic(target, rounds=5, iterations=1)
    assert s.size == ONE_M and bool((np.diff(s.astype(np.int64)) >= 0).all())
    benchmark.extra_info.update(
        {
            "reference": "numpy.sort of the 1M random trace",
            "requests": ONE_M,
            "requests_per_s": ONE_M / min(walls),
        }
    )
