"""Points of the reproduction: JSON specs, their simulation, the on-disk cache and the pool.

A *point* is one call of :func:`h2m2.simulate`, described by a plain JSON-able dict (system
knobs, model, batch, sequence length or request stream, policy, iterations, fidelity). Its key is
the SHA-256 of the canonical JSON; its result row (also plain JSON) is cached as
``OUT/.points/<key>.json`` as soon as it finishes, so an interrupted run resumes and experiments
that need the same point (e.g. the LPDDR-only baseline) share it.

Owns: nothing between calls (the cache is the directory). Hot path: no.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "Config",
    "Lookup",
    "build_system",
    "point",
    "point_key",
    "run_point",
    "run_points",
]

Spec = dict[str, Any]
Row = dict[str, Any]

#: System knobs a point may set, with their defaults (the paper's configuration).
SYSTEM_DEFAULTS: dict[str, Any] = {
    "kind": "h2m2",  # h2m2 | lpddr_only | hbm_tp
    "hbm_capacity_gb": 96,
    "lpddr_channels": 32,
    "hbm_data_rate_mts": None,  # None: the preset's 4000 MT/s
    "lpddr_data_rate_mts": None,  # None: the preset's 8533 MT/s
    "lpddr_cores": None,  # None: NpuSpec().cores (4)
    "ideal_mmu": False,  # True: translation costs nothing (overheads experiment)
    "tp": 8,  # hbm_tp only
}


@dataclass(frozen=True)
class Config:
    """What a reproduction run computes.

    Parameters
    ----------
    quick
        The reduced set (2 sequence lengths per model, fewer dynamic iterations, a smaller
        sensitivity grid).
    fidelity
        Fidelity of every simulate call.
    tiny
        Internal (tests): the smallest set that still exercises every output.
    """

    quick: bool = False
    fidelity: str = "sampled"
    tiny: bool = False


def point(
    model: str,
    *,
    policy: str,
    batch: int,
    seq_len: int | None = None,
    stream: dict[str, Any] | None = None,
    iterations: int = 1,
    fidelity: str = "sampled",
    seed: int = 0,
    **system: Any,
) -> Spec:
    """A point spec; ``system`` keywords override :data:`SYSTEM_DEFAULTS`."""
    unknown = set(system) - set(SYSTEM_DEFAULTS)
    if unknown:
        raise ValueError(f"point: unknown system knobs {sorted(unknown)}")
    sys_spec = {**SYSTEM_DEFAULTS, **system}
    return {
        "system": sys_spec,
        "model": model,
        "policy": policy,
        "batch": batch,
        "seq_len": seq_len,
        "stream": stream,
        "iterations": iterations,
        "fidelity": fidelity,
        "seed": seed,
    }


def point_key(spec: Spec) -> str:
    """SHA-256 of the canonical JSON of a point spec (the cache file name)."""
    blob = json.dumps(spec, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def build_system(s: dict[str, Any]) -> Any:
    """The :class:`~h2m2.hardware.SystemSpec` of a point's system knobs."""
    from h2m2 import presets
    from h2m2.dram import MemorySpec, standards
    from h2m2.hardware import MmuSpec, NpuSpec

    kind = s["kind"]
    if kind == "lpddr_only":
        system = presets.lpddr_only(s["lpddr_channels"])
    elif kind == "hbm_tp":
        system = presets.hbm_tp(s["tp"], hbm_capacity_gb=s["hbm_capacity_gb"])
    elif kind == "h2m2":
        system = presets.h2m2(
            hbm_capacity_gb=s["hbm_capacity_gb"], lpddr_channels=s["lpddr_channels"]
        )
    else:
        raise ValueError(f"unknown system kind {kind!r}")
    names = [d.name for d in system.devices]
    if s["hbm_data_rate_mts"] is not None and "hbm" in names:
        mem = system.devices[names.index("hbm")].memory
        dev = standards.get("HBM3_4000_16Gb_8hi").override(data_rate_mts=s["hbm_data_rate_mts"])
        system = system.replace_device("hbm", memory=MemorySpec(dev, channels=mem.channels))
    if s["lpddr_data_rate_mts"] is not None and "lpddr" in names:
        mem = system.devices[names.index("lpddr")].memory
        dev = standards.get("LPDDR5X_8533_16GB_x16").override(
            data_rate_mts=s["lpddr_data_rate_mts"]
        )
        system = system.replace_device("lpddr", memory=MemorySpec(dev, channels=mem.channels))
    if s["lpddr_cores"] is not None and "lpddr" in names:
        system = system.replace_device("lpddr", npu=NpuSpec(cores=s["lpddr_cores"]))
    if s["ideal_mmu"]:
        # Translation that costs (almost) nothing: a TLB covering 4 TiB and 1 ps walks.
        ideal = MmuSpec(tlb_entries=1 << 21, walk_latency_ns=0.001, concurrent_walks=1 << 16)
        for name in names:
            system = system.replace_device(name, mmu=ideal)
    return system


def run_point(spec: Spec) -> Row:
    """Simulate one point and return its JSON-able result row.

    The row has ``iteration_time_s`` (mean over iterations), ``energy_per_token_J``,
    ``migration_time_s`` (sum), ``tlb_walk_wait_ns`` (sum over devices and iterations), the
    first iteration's ``split``, per-iteration ``times``, ``migration`` and ``kv_tokens`` (when
    ``iterations > 1``), ``system_name``, ``wall_s``; or ``error`` when the run failed.
    """
    import h2m2
    from h2m2 import models
    from h2m2.requests import RequestStream, Uniform

    t0 = time.perf_counter()
    system = build_system(spec["system"])
    model = models.get(spec["model"])
    kwargs: dict[str, Any] = {
        "batch": spec["batch"],
        "policy": spec["policy"],
        "iterations": spec["iterations"],
        "fidelity": spec["fidelity"],
        "seed": spec["seed"],
    }
    if spec["stream"] is not None:
        st = spec["stream"]
        kwargs["stream"] = RequestStream(prompt_len=Uniform(st["prompt_min"], st["prompt_max"]))
    else:
        kwargs["seq_len"] = spec["seq_len"]
    try:
        result = h2m2.simulate(system, model, **kwargs)
    except Exception as exc:  # a failed point is reported, not fatal
        return {"error": f"{type(exc).__name__}: {exc}", "wall_s": time.perf_counter() - t0}
    frame = result.to_frame()
    walk = [c for c in frame.columns if c.endswith("_tlb_walk_wait_ns")]
    row: Row = {
        "iteration_time_s": float(result.iteration_time),
        "energy_per_token_J": float(result.energy_per_token_J),
        "migration_time_s": float(frame["migration_time_s"].sum()),
        "tlb_walk_wait_ns": float(frame[walk].to_numpy().sum()) if walk else 0.0,
        "split": {k: int(v) for k, v in result.mappings[0].split.items()},
        "system_name": result.system,
        "wall_s": time.perf_counter() - t0,
    }
    if spec["iterations"] > 1:
        row["times"] = [float(t) for t in frame["time_s"]]
        row["migration"] = [float(t) for t in frame["migration_time_s"]]
        row["kv_tokens"] = [int(t) for t in frame["kv_tokens"]]
    return row


@dataclass
class Lookup:
    """The result rows of a run, by point spec."""

    rows: dict[str, Row] = field(default_factory=dict)

    def __call__(self, spec: Spec) -> Row:
        return self.rows.get(point_key(spec), {"error": "not run"})

    def time(self, spec: Spec) -> float:
        """``iteration_time_s`` of a point (nan if it failed)."""
        return float(self(spec).get("iteration_time_s", float("nan")))


def _write_json(path: Path, row: Row) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(row))
    os.replace(tmp, path)


def run_points(
    specs: Iterable[Spec],
    cache_dir: Path,
    *,
    workers: int | None = None,
    progress: bool = True,
    on_done: Callable[[Spec, Row], None] | None = None,
) -> tuple[Lookup, dict[str, Any]]:
    """Run the points not already cached in ``cache_dir``, in ``workers`` processes.

    Returns the lookup of every point's row and statistics ``{points, cached, ran, failed,
    wall_s, point_s}`` (``point_s``: the summed simulate wall time of all points, cached
    ones included, i.e. the machine time the results cost).
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    unique: dict[str, Spec] = {}
    for s in specs:
        unique.setdefault(point_key(s), s)
    lookup = Lookup()
    todo: list[tuple[str, Spec]] = []
    for key, s in unique.items():
        path = cache_dir / f"{key}.json"
        if path.exists():
            try:
                lookup.rows[key] = json.loads(path.read_text())
                continue
            except (OSError, json.JSONDecodeError):
                pass
        todo.append((key, s))
    # Longest first (multi-iteration runs), so the pool's tail is short.
    todo.sort(key=lambda kv: -kv[1]["iterations"])
    t0 = time.perf_counter()
    failed = 0

    def finish(key: str, spec: Spec, row: Row) -> None:
        nonlocal failed
        lookup.rows[key] = row
        if "error" in row:
            failed += 1
        else:
            _write_json(cache_dir / f"{key}.json", row)
        if on_done is not None:
            on_done(spec, row)

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("[bold]h2m2 reproduce[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
    )
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    with Progress(*columns, disable=not progress, transient=False) as bar:
        task = bar.add_task(f"{len(unique) - len(todo)} cached", total=len(todo))
        if n_workers <= 1 or len(todo) <= 1:
            for key, s in todo:
                finish(key, s, run_point(s))
                bar.update(task, advance=1, description=f"{s['model']} {s['policy']}")
        else:
            from h2m2.engine import set_default_threads

            # one point per core: each worker's engines simulate their kernels in one thread
            with cf.ProcessPoolExecutor(
                max_workers=n_workers, initializer=set_default_threads, initargs=(1,)
            ) as pool:
                futures = {pool.submit(run_point, s): (key, s) for key, s in todo}
                for fut in cf.as_completed(futures):
                    key, s = futures[fut]
                    try:
                        row = fut.result()
                    except Exception as exc:  # a crashed worker
                        row = {"error": f"{type(exc).__name__}: {exc}", "wall_s": 0.0}
                    finish(key, s, row)
                    bar.update(task, advance=1, description=f"{s['model']} {s['policy']}")
    stats = {
        "points": len(unique),
        "cached": len(unique) - len(todo),
        "ran": len(todo),
        "failed": failed,
        "wall_s": time.perf_counter() - t0,
        "point_s": sum(float(r.get("wall_s", 0.0)) for r in lookup.rows.values()),
    }
    return lookup, stats
