"""Experiment 6, sensitivity of H2M2's speedup to HBM capacity, HBM bandwidth, LPDDR bandwidth
and LPDDR-side compute.

Each knob is varied alone around the paper's H2M2 system, at one S per model (the middle of its
sweep: GPT3-175B 1024, Chinchilla-70B 1024, Llama2-70B 4096). The speedup's denominator is
always the *default* LPDDR-only system at the same (model, B, S), so a curve shows what the knob
does to H2M2's iteration time.

- ``hbm_capacity_gb``: 48 / 96 / 192 GB (``presets.h2m2(hbm_capacity_gb=)``: 3 / 6 / 12 stacks;
  the peak bandwidth scales with the stacks, as in real parts).
- ``hbm_bandwidth_TBps``: 2.25 .. 4 TB/s by the HBM3 data rate (``DeviceSpec.override(
  data_rate_mts=)``; DRAM timings given in cycles scale with the clock).
- ``lpddr_bandwidth_GBps``: 0.5x .. 1.5x of 546 GB/s by the LPDDR5X data rate (capacity fixed).
- ``lpddr_cores``: cores of the LPDDR-side chip (1 .. 8; default 4).

Output: ``sensitivity.csv`` (knob, value, model, speedup), ``sensitivity.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from h2m2.experiments.common import MODELS, baseline_point, md_table, system_point
from h2m2.experiments.runner import Config, Lookup, Spec

NAME = "sensitivity"
TITLE = "Sensitivity: HBM capacity and bandwidth, LPDDR bandwidth and compute"
OUTPUTS = ("sensitivity.csv",)

SEQ = {"GPT3-175B": 1024, "Chinchilla-70B": 1024, "Llama2-70B": 4096}
HBM_RATE, HBM_PEAK_TBPS = 4000.0, 3.072  # 96 GB preset: 96 channels x 64 bit x 4000 MT/s
LPDDR_RATE, LPDDR_PEAK_GBPS = 8533.0, 546.112  # 32 x16 channels x 8533 MT/s

#: knob -> (full values, quick values, default value)
KNOBS: dict[str, tuple[tuple[float, ...], tuple[float, ...], float]] = {
    "hbm_capacity_gb": ((48, 96, 192), (48, 96, 192), 96),
    "hbm_bandwidth_TBps": (
        (2.25, 2.5, HBM_PEAK_TBPS, 3.5, 4.0),
        (2.25, HBM_PEAK_TBPS, 4.0),
        HBM_PEAK_TBPS,
    ),
    "lpddr_bandwidth_GBps": (
        tuple(round(f * LPDDR_PEAK_GBPS, 1) for f in (0.5, 0.75, 1.0, 1.25, 1.5)),
        tuple(round(f * LPDDR_PEAK_GBPS, 1) for f in (0.5, 1.0, 1.5)),
        round(LPDDR_PEAK_GBPS, 1),
    ),
    "lpddr_cores": ((1, 2, 4, 8), (1, 4, 8), 4),
}


def _models(cfg: Config) -> list[str]:
    return ["GPT3-175B"] if (cfg.quick or cfg.tiny) else list(MODELS)


def _values(cfg: Config, knob: str) -> tuple[float, ...]:
    full, quick, default = KNOBS[knob]
    if cfg.tiny:
        return (quick[0], default)
    return quick if cfg.quick else full


def _knobs(knob: str, value: float) -> dict[str, Any]:
    """System overrides of one knob value (none at the default, so points are shared)."""
    if value == KNOBS[knob][2]:
        return {}
    if knob == "hbm_capacity_gb":
        return {"hbm_capacity_gb": int(value)}
    if knob == "hbm_bandwidth_TBps":
        return {"hbm_data_rate_mts": round(HBM_RATE * value / HBM_PEAK_TBPS, 3)}
    if knob == "lpddr_bandwidth_GBps":
        return {"lpddr_data_rate_mts": round(LPDDR_RATE * value / LPDDR_PEAK_GBPS, 3)}
    if knob == "lpddr_cores":
        return {"lpddr_cores": int(value)}
    raise ValueError(knob)


def _pt(cfg: Config, model: str, knob: str, value: float) -> Spec:
    return system_point(cfg, model, SEQ[model], "h2m2", **_knobs(knob, value))


def points(cfg: Config) -> list[Spec]:
    out = []
    for m in _models(cfg):
        out.append(baseline_point(cfg, m, SEQ[m]))
        out += [_pt(cfg, m, k, v) for k in KNOBS for v in _values(cfg, k)]
    return out


def tables(cfg: Config, look: Lookup) -> dict[str, pd.DataFrame]:
    rows = []
    for k in KNOBS:
        for m in _models(cfg):
            base = look.time(baseline_point(cfg, m, SEQ[m]))
            for v in _values(cfg, k):
                rows.append(
                    {
                        "knob": k,
                        "value": v,
                        "model": m,
                        "speedup": base / look.time(_pt(cfg, m, k, v)),
                    }
                )
    return {"sensitivity": pd.DataFrame(rows)}


def figures(frames: dict[str, pd.DataFrame], out: Path) -> list[str]:
    import matplotlib.pyplot as plt

    df = frames["sensitivity"]
    fig, axes = plt.subplots(1, len(KNOBS), figsize=(4 * len(KNOBS), 3.4), squeeze=False)
    for ax, k in zip(axes[0], KNOBS, strict=True):
        d = df[df.knob == k]
        for m in d.model.unique():
            dm = d[d.model == m].sort_values("value")
            ax.plot(dm.value, dm.speedup, marker="o", label=f"{m} S={SEQ[m]}")
        ax.axvline(KNOBS[k][2], color="grey", ls=":", lw=1)
        ax.set_xlabel(k + " (dotted: default)")
        ax.set_ylabel("H2M2 speedup over default LPDDR-only")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Sensitivity of H2M2 (one knob at a time, simulated)")
    fig.tight_layout()
    fig.savefig(out / "sensitivity.png", dpi=120)
    plt.close(fig)
    return ["sensitivity.png"]


def section(cfg: Config, frames: dict[str, pd.DataFrame]) -> str:
    df = frames["sensitivity"]
    spans = []
    for k in KNOBS:
        d = df[df.knob == k]
        per_model = [
            (
                float(dm.speedup.max() - dm.speedup.min())
                / float(dm[dm.value == KNOBS[k][2]].speedup.iloc[0])
                if (dm.value == KNOBS[k][2]).any()
                else float("nan")
            )
            for _, dm in d.groupby("model")
        ]
        vals = [v for v in per_model if v == v]
        spans.append(
            {
                "knob": k,
                "range": f"{d.value.min():g}..{d.value.max():g}",
                "speedup span / default %": 100 * sum(vals) / len(vals) if vals else float("nan"),
            }
        )
    sp = pd.DataFrame(spans).sort_values("speedup span / default %", ascending=False)
    order = list(sp.knob)
    text = [
        "Ranking by the spread of the speedup over each knob's range (relative to the default "
        "point): " + " > ".join(order) + ".",
        "Paper: HBM capacity matters most, LPDDR bandwidth and LPDDR-side compute matter, HBM "
        "bandwidth barely matters.",
        (
            "HBM capacity matters most in ours too."
            if order[0] == "hbm_capacity_gb"
            else f"In ours {order[0]} matters most, not HBM capacity."
        ),
        (
            "HBM bandwidth matters least in ours too."
            if order[-1] == "hbm_bandwidth_TBps"
            else f"In ours {order[-1]} matters least (the paper: HBM bandwidth)."
        ),
        "The spreads depend on the ranges chosen, which the paper gives only for capacity and "
        "HBM bandwidth.",
    ]
    return "\n".join([md_table(sp), "", md_table(df), "", "**Comparison.** " + " ".join(text)])
