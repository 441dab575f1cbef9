"""Sweep scaling: two local workers against one on a 64-point sweep (DESIGN: at least 1.8x).

Each point is CPU-bound and takes about 0.2 s: a random-read trace of 450,000 requests on one
HBM3 stack (16 channels) through :func:`h2m2.sweep.dram_point`. The reference baseline is the
same sweep with one worker (run in this process); the correctness assertion is that both give
the same rows.

Run (the figures land in ``extra_info``)::

    PYTHONPATH=python python -m pytest benchmarks/bench_sweep.py -q -p no:cacheprovider \
        --benchmark-columns=mean --benchmark-autosave
"""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import pytest

from h2m2.sweep import sweep

POINTS = 64
REQUESTS = 450_000


def _spec(points: int) -> dict[str, Any]:
    return {
        "point": "h2m2.sweep:dram_point",
        "base": {
            "system": "h2m2",
            "system.hbm.capacity_gb": 16,
            "params": {"requests": REQUESTS, "pattern": "random"},
        },
        "axes": {"grid": {"seed": list(range(points))}},
    }


def _timed(spec: dict[str, Any], workers: int) -> tuple[pd.DataFrame, float]:
    start = time.perf_counter()
    frame = sweep(spec, workers=workers, progress=False)
    return frame, time.perf_counter() - start


@pytest.mark.benchmark(group="sweep-workers")
def test_two_local_workers_vs_one(benchmark: Any) -> None:
    spec = _spec(POINTS)
    one, one_s = _timed(spec, 1)
    timings: list[float] = []

    def two_workers() -> pd.DataFrame:
        frame, seconds = _timed(spec, 2)
        timings.append(seconds)
        return frame

    two = benchmark.pedantic(two_workers, rounds=1, iterations=1)
    two_s = min(timings)
    speedup = one_s / two_s
    benchmark.extra_info.update(
        points=POINTS,
        point_s_mean=float(one["wall_s"].mean()),
        one_worker_s=one_s,
        two_workers_s=two_s,
        speedup=speedup,
        points_per_s=POINTS / two_s,
    )
    print(
        f"\n{POINTS} points of {one['wall_s'].mean():.3f} s: 1 worker {one_s:.2f} s, "
        f"2 workers {two_s:.2f} s, speedup {speedup:.2f}x"
    )
    assert (one["status"] == "ok").all()
    pd.testing.assert_frame_equal(one.drop(columns="wall_s"), two.drop(columns="wall_s"))
    assert speedup >= 1.8, f"2 workers are only {speedup:.2f}x faster than 1"
