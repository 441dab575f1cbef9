"""The paper's experiments, reproduced by the simulator: ``h2m2 reproduce``.

Each experiment is one module with the same interface:

- ``NAME`` (the ``--only`` name), ``TITLE``, ``OUTPUTS`` (its CSV files);
- ``points(cfg) -> list[spec]``: the simulate calls it needs (:mod:`h2m2.experiments.runner`);
- ``tables(cfg, lookup) -> {stem: DataFrame}``: its CSV tables, computed from the results;
- ``figures(tables, out) -> [png names]``; ``section(cfg, tables) -> markdown``.

:func:`reproduce` gathers the points of the selected experiments (shared points run once), runs
the missing ones in a process pool with a resumable on-disk cache, and writes the CSVs, figures
and ``report.md`` (:mod:`h2m2.experiments.report`).

Spec: ../shared/spec/h2m2.md section 6; issue 5.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import ModuleType
from typing import Any

from h2m2.experiments import dynamic, energy, main_results, mapping_study, overheads, sensitivity
from h2m2.experiments.runner import Config, run_points

__all__ = ["EXPERIMENTS", "Config", "reproduce"]

#: name -> module, in report order.
EXPERIMENTS: dict[str, ModuleType] = {
    m.NAME: m for m in (main_results, mapping_study, overheads, dynamic, energy, sensitivity)
}


def reproduce(
    out: str | Path,
    *,
    quick: bool = False,
    only: list[str] | None = None,
    workers: int | None = None,
    fidelity: str | None = None,
    progress: bool = True,
    tiny: bool = False,
) -> dict[str, Any]:
    """Run the experiments and write their outputs to ``out``.

    Parameters
    ----------
    out
        Output directory (created); the point cache is ``out/.points``.
    quick
        The reduced set (every experiment still present).
    only
        Experiment names (default all: ``list(EXPERIMENTS)``).
    workers
        Processes (default ``os.cpu_count()``; 1 runs in this process).
    fidelity
        Simulation fidelity (default ``"sampled"``).
    progress
        Show a progress bar.
    tiny
        Internal (tests): the smallest settings.

    Returns
    -------
    dict
        ``{"files": [...], "stats": {...}, "config": Config, "tables": {...}}``.
    """
    t0 = time.perf_counter()
    names = list(EXPERIMENTS) if not only else list(only)
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown:
        raise ValueError(f"unknown experiment(s) {unknown}; known: {', '.join(EXPERIMENTS)}")
    cfg = Config(quick=quick, fidelity=fidelity or "sampled", tiny=tiny)
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    mods = [EXPERIMENTS[n] for n in names]
    specs = [s for m in mods for s in m.points(cfg)]
    lookup, stats = run_points(specs, outdir / ".points", workers=workers, progress=progress)

    import matplotlib

    matplotlib.use("Agg")
    from h2m2.experiments import report

    files: list[str] = []
    all_tables: dict[str, Any] = {}
    sections: list[tuple[ModuleType, str, list[str]]] = []
    for m in mods:
        tabs = m.tables(cfg, lookup)
        all_tables.update(tabs)
        for stem, frame in tabs.items():
            frame.to_csv(outdir / f"{stem}.csv", index=False)
            files.append(f"{stem}.csv")
        pngs = m.figures(tabs, outdir)
        files += pngs
        sections.append((m, m.section(cfg, tabs), pngs))
    stats["total_wall_s"] = time.perf_counter() - t0
    errors = {k: r["error"] for k, r in lookup.rows.items() if "error" in r}
    report.write(outdir / "report.md", cfg, sections, stats, errors)
    files.append("report.md")
    return {"files": files, "stats": stats, "config": cfg, "tables": all_tables}
