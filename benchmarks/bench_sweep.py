"""Sweep speed: two local workers against one (issue: at least 1.8x), and a second sweep over the
same kernels reading them from the shared kernel memo (issue: at least 10x faster than the first).

Workers
-------

Each point is CPU-bound and takes about 0.2 s: a random-read trace of 450,000 requests on one
HBM3 stack (16 channels) through :func:`h2m2.sweep.dram_point`. The reference baseline is the
same sweep with one worker (run in this process); the correctness assertion is that both give
the same rows.

Shared memo
-----------
``test_second_sweep_reads_the_shared_memo``: 4 ``sampled`` points (Llama-3-8B, batch 8, four
sequence lengths, on the H2M2 system) into one memo directory; the benchmark is a second sweep of
the same points into a fresh output directory (so no point is skipped as already done) that
shares the memo directory. Both sweeps use two worker processes, so nothing survives in memory
between them. The reference is the first sweep, in the same process; the correctness assertion is
equal results and every kernel of the second sweep a memo hit.

Run (the figures land in ``extra_info``)::

    PYTHONPATH=python python -m pytest benchmarks/bench_sweep.py -q -p no:cacheprovider \
        --benchmark-columns=mean --benchmark-autosave
"""

from __future__ import annotations

import itertools
import shutil
import time
from pathlib import Path
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


MEMO_SPEC: dict[str, Any] = {
    "base": {"system": "h2m2", "model": "Llama-3-8B", "batch": 64, "fidelity": "sampled"},
    "axes": {"grid": {"seq_len": [512, 1024, 2048, 4096]}},
}
RESULT_COLUMNS = ["point_id", "iteration_time_s", "qkv_time_s", "attention_time_s", "fc_time_s"]


@pytest.mark.benchmark(group="sweep-memo")
def test_second_sweep_reads_the_shared_memo(benchmark: Any, tmp_path: Path) -> None:
    memo = tmp_path / "memo"
    start = time.perf_counter()
    first = sweep(MEMO_SPEC, workers=2, out=tmp_path / "first", memo_dir=memo, progress=False)
    first_s = time.perf_counter() - start
    outs = (tmp_path / f"second{i}" for i in itertools.count())
    timings: list[float] = []

    def second_sweep() -> pd.DataFrame:
        out = next(outs)
        start = time.perf_counter()
        frame = sweep(MEMO_SPEC, workers=2, out=out, memo_dir=memo, progress=False)
        timings.append(time.perf_counter() - start)
        shutil.rmtree(out)
        return frame

    second = benchmark.pedantic(second_sweep, rounds=3, iterations=1)
    second_s = min(timings)
    speedup = first_s / second_s
    kernels = int(first["kernels"].sum())
    benchmark.extra_info.update(
        points=len(first),
        kernels=kernels,
        first_sweep_s=first_s,
        second_sweep_s=second_s,
        speedup=speedup,
    )
    print(
        f"\n{len(first)} points, {kernels} kernels: first sweep {first_s:.2f} s, second "
        f"(shared memo) {second_s:.2f} s, speedup {speedup:.1f}x"
    )
    assert (first["status"] == "ok").all() and (second["status"] == "ok").all()
    assert (first["kernel_memo_hits"] < first["kernels"]).all()
    assert (second["kernel_memo_hits"] == second["kernels"]).all()
    a, b = (
        f.sort_values("point_id")[RESULT_COLUMNS].reset_index(drop=True) for f in (first, second)
    )
    pd.testing.assert_frame_equal(a, b)
    assert speedup >= 10, f"the second sweep is only {speedup:.1f}x faster than the first"
