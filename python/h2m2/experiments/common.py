"""What the experiments share: the models and their sweeps, the systems, the paper's numbers,
and small formatting helpers for the report.

Spec: ../shared/spec/h2m2.md section 6; issue 5.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from h2m2.experiments.runner import Config, Spec, point

__all__ = [
    "MODELS",
    "PAPER_SPEEDUP",
    "SYSTEMS",
    "md_table",
    "pct_off",
    "seq_lens",
    "system_point",
]

#: model -> (batch, full S sweep); powers of two (issue 5).
MODELS: dict[str, tuple[int, tuple[int, ...]]] = {
    "GPT3-175B": (32, (256, 512, 1024, 2048)),
    "Chinchilla-70B": (64, (256, 512, 1024, 2048, 4096)),
    "Llama2-70B": (128, (1024, 2048, 4096, 8192)),
}

#: The paper's headline speedups of H2M2 over LPDDR-only, averaged over each S sweep.
PAPER_SPEEDUP: dict[str, float] = {"GPT3-175B": 1.46, "Chinchilla-70B": 1.55, "Llama2-70B": 2.94}

#: system label -> (system kind, policy) of the main comparison.
SYSTEMS: dict[str, tuple[str, str]] = {
    "lpddr_only": ("lpddr_only", "lpddr_only"),
    "hierarchical": ("h2m2", "hierarchical"),
    "h2m2": ("h2m2", "h2m2"),
    "oracle": ("h2m2", "oracle"),
}


def seq_lens(cfg: Config, model: str) -> tuple[int, ...]:
    """The S points of a model: the full sweep, its two ends (quick), or its first (tiny)."""
    full = MODELS[model][1]
    if cfg.tiny:
        return full[:1]
    if cfg.quick:
        return (full[0], full[-1])
    return full


def system_point(cfg: Config, model: str, seq_len: int, system: str, **knobs: Any) -> Spec:
    """The point of one of :data:`SYSTEMS` (``knobs`` change the hardware)."""
    kind, policy = SYSTEMS[system]
    return point(
        model,
        policy=policy,
        batch=MODELS[model][0],
        seq_len=seq_len,
        fidelity=cfg.fidelity,
        kind=kind,
        **knobs,
    )


def baseline_point(cfg: Config, model: str, seq_len: int) -> Spec:
    """The LPDDR-only baseline point (the 1.0 of every speedup)."""
    return system_point(cfg, model, seq_len, "lpddr_only")


def pct_off(ours: float, paper: float) -> float:
    """Signed relative difference of ours from the paper's, percent."""
    return 100.0 * (ours - paper) / paper


def _cell(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "n/a"
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
            return f"{v:.3e}"
        return f"{v:.4g}"
    return str(v)


def md_table(frame: pd.DataFrame, columns: list[str] | None = None) -> str:
    """A GitHub-markdown table of a frame (no external dependency)."""
    cols = columns or [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in frame.iterrows():
        lines.append("| " + " | ".join(_cell(r[c]) for c in cols) + " |")
    return "\n".join(lines)


def mean_or_nan(values: Any) -> float:
    """Mean of the finite values (nan if none)."""
    vals = [float(v) for v in values if v == v]
    return sum(vals) / len(vals) if vals else float("nan")
