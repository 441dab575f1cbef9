"""The shared on-disk kernel memo: engines, :func:`h2m2.simulate` and sweeps reuse kernels that
another engine (another process) simulated, and get exactly the results a fresh simulation gives.

Evidence is independent of the memo code: the reference is the same kernel simulated by an engine
that never saw a store; reuse is shown by the engine's own memo-hit flags and the store's counters.
"""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import numpy as np
import pytest

import h2m2
from h2m2 import models, presets
from h2m2.engine import Engine, Kernel, Sublayer
from h2m2.memo_store import KernelMemoStore
from h2m2.simulate import clear_engine_cache
from h2m2.sweep import sweep


def _tables(
    system: h2m2.hardware.SystemSpec, pages: int = 64
) -> list[tuple[np.ndarray, np.ndarray]]:
    return [
        (np.full(pages, d, np.int32), np.arange(pages, dtype=np.int64))
        for d in range(len(system.devices))
    ]


def _program() -> list[Sublayer]:
    return [
        Sublayer(
            "s",
            (
                Kernel("w", 0, "linear", m=1, k=1024, n=2048),
                Kernel("a", 1, "attention", batch=2, kv_heads=2, group=1, kv_len=512, head_dim=128),
            ),
        )
    ]


def _plain(v: object) -> object:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _fields(k: h2m2.engine.KernelResult) -> object:
    d = dataclasses.asdict(k)
    d.pop("memo_hit")
    return _plain(d)


def test_an_engine_reuses_kernels_another_engine_stored(tmp_path: Path) -> None:
    system = presets.h2m2()
    fresh = Engine(system, _tables(system)).run(_program())[0]
    assert not any(k.memo_hit for k in fresh.kernels)

    store = KernelMemoStore(tmp_path, scope="h2m2")
    first = Engine(system, _tables(system), memo_store=store).run(_program())[0]
    assert store.writes == 2 and len(store) == 2
    second_store = KernelMemoStore(tmp_path, scope="h2m2")
    second = Engine(system, _tables(system), memo_store=second_store).run(_program())[0]
    assert [k.memo_hit for k in second.kernels] == [True, True]
    assert second_store.hits == 2 and second_store.writes == 0
    for a, b, c in zip(fresh.kernels, first.kernels, second.kernels, strict=True):
        assert _fields(a) == _fields(b) == _fields(c)  # incl. DRAM, TLB and latency statistics
    assert second.end_ns == fresh.end_ns


def test_a_damaged_or_foreign_entry_is_a_miss_and_is_replaced(tmp_path: Path) -> None:
    system = presets.h2m2()
    store = KernelMemoStore(tmp_path, scope="h2m2")
    eng = Engine(system, _tables(system), memo_store=store)
    sigs = [eng._store_key(k["signature"]) for s in eng._program(_program()) for k in s["kernels"]]
    good = Engine(system, _tables(system)).run(_program())[0]
    garbage = base64.b64encode(b"KRC1 not a kernel").decode()
    store.put(sigs[0], {"kernel": garbage})
    store.put(sigs[1], {"kernel": "***not base64***"})
    res = eng.run(_program())[0]
    assert not any(k.memo_hit for k in res.kernels)  # both simulated again
    assert [_fields(k) for k in res.kernels] == [_fields(k) for k in good.kernels]
    assert all(store.get(s) != {"kernel": garbage} for s in sigs)  # replaced by good entries
    # a truncated entry of a real kernel is rejected by the decoder, not misread
    entry = base64.b64decode(store.get(sigs[0])["kernel"])  # type: ignore[index]
    other = Engine(system, _tables(system))
    for cut in (1, 8, len(entry) // 2, len(entry) - 1):
        with pytest.raises(ValueError, match="malformed"):
            other._core.memo_put(sigs[0], entry[:cut])
    with pytest.raises(ValueError, match="trailing"):
        other._core.memo_put(sigs[0], entry + b"\0")
    assert other.memo_size == 0


def test_engines_with_other_sampling_settings_do_not_share_entries(tmp_path: Path) -> None:
    system = presets.h2m2()
    store = KernelMemoStore(tmp_path, scope="h2m2")
    Engine(system, _tables(system), memo_store=store).run(_program())
    other = Engine(system, _tables(system), memo_store=store, sample_tail_tiles=2)
    res = other.run(_program())[0]
    assert not any(k.memo_hit for k in res.kernels)
    assert len(store) == 4  # two kernels x two settings


def test_cycle_and_analytic_engines_neither_read_nor_write_the_store(tmp_path: Path) -> None:
    system = presets.h2m2()
    store = KernelMemoStore(tmp_path)
    for fidelity in ("cycle", "analytic"):
        Engine(system, _tables(system), fidelity=fidelity, memo_store=store).run(_program()[:1])
    assert len(store) == 0 and store.hits == store.misses == 0


def test_simulate_with_a_shared_memo_gives_identical_results(tmp_path: Path) -> None:
    system, model = presets.h2m2(), models.get("Llama-3-8B")
    kwargs = {"batch": 8, "seq_len": 512, "iterations": 2}
    clear_engine_cache()
    plain = h2m2.simulate(system, model, **kwargs)
    clear_engine_cache()
    store = KernelMemoStore(tmp_path)
    h2m2.simulate(system, model, memo=store, **kwargs)
    assert store.writes == len(store) > 0
    clear_engine_cache()  # a new process: nothing in memory, everything on disk
    reader = KernelMemoStore(tmp_path)
    shared = h2m2.simulate(system, model, memo=reader, **kwargs)
    assert reader.writes == 0 and reader.hits == len(store)
    assert bool(shared.by_sublayer["memo_hit"].all())
    keep = [c for c in plain.to_frame().columns if c != "policy_time_s"]  # wall time
    assert shared.to_frame()[keep].equals(plain.to_frame()[keep])
    with pytest.raises(ValueError, match="memo"):
        h2m2.simulate(system, model, memo=str(tmp_path), **kwargs)  # type: ignore[arg-type]


def test_a_second_sweep_reads_every_kernel_from_the_shared_memo(tmp_path: Path) -> None:
    spec = {
        "base": {"system": "h2m2", "model": "Llama-3-8B", "batch": 4, "seq_len": 256},
        "axes": {"grid": {"system.hbm.capacity_gb": [16, 32]}},
    }
    memo = tmp_path / "memo"
    clear_engine_cache()
    first = sweep(spec, workers=1, out=tmp_path / "a", memo_dir=memo, progress=False)
    clear_engine_cache()
    second = sweep(spec, workers=1, out=tmp_path / "b", memo_dir=memo, progress=False)
    assert (first["kernel_memo_hits"] < first["kernels"]).all()
    assert (second["kernel_memo_hits"] == second["kernels"]).all()
    cols = ["point_id", "iteration_time_s", "qkv_time_s", "attention_time_s", "fc_time_s"]
    a, b = (f.sort_values("point_id")[cols].reset_index(drop=True) for f in (first, second))
    assert a.equals(b)
