"""Shared machinery of the built-in policies: footprint tables, min-max greedy, exhaustive search.

Not a policy. Every table is indexed by the split n = 0 .. N of a sublayer (units 0 .. n-1 on
device 0). Footprints are exact int64 byte counts (whole model, all layers); times are float64 ns
of one layer. A one-device system is handled as a second device of capacity 0, so only n = N fits.

Hot path: no (epoch boundaries); each search is a handful of numpy expressions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass

import numpy as np

from h2m2.cost_model import CostModel
from h2m2.policies.base import EpochState, MappingError
from h2m2.workload import SUBLAYERS

__all__ = [
    "Tables",
    "exhaustive",
    "greedy",
    "no_fit_error",
    "tables",
]

# Largest number of candidate mappings an exhaustive search evaluates in one numpy block
# (float64 cost + int64 footprint: ~64 MB); larger spaces are cut along the first sublayer.
_BLOCK_ELEMENTS = 1 << 22

TimeTables = AbcMapping[tuple[str, int], Sequence[float]]


@dataclass(frozen=True)
class Tables:
    """Per-sublayer tables of one epoch.

    Attributes
    ----------
    time_ns
        Split time of one layer, ``max(T_0(n), T_1(N - n))``, per sublayer (``N + 1`` floats).
    fp0
        Footprint on device 0 of split n (the first n units), per sublayer (``N + 1`` int64).
    total
        Whole footprint of each sublayer (= ``fp0[N]``).
    capacity
        Capacity of devices 0 and 1 (0 for the missing device of a one-device system).
    """

    time_ns: dict[str, np.ndarray]
    fp0: dict[str, np.ndarray]
    total: dict[str, int]
    capacity: tuple[int, int]


def tables(
    state: EpochState, cost_model: CostModel, time_tables: TimeTables | None = None
) -> Tables:
    """Build the tables of ``state`` from the cost model or from measured time tables."""
    times: dict[str, np.ndarray] = {}
    fp0: dict[str, np.ndarray] = {}
    total: dict[str, int] = {}
    for s in SUBLAYERS:
        sub = state.iteration.sublayer(s)
        fp = np.asarray(sub.unit_footprint_bytes, dtype=np.int64)
        fp0[s] = np.concatenate((np.zeros(1, dtype=np.int64), np.cumsum(fp)))
        total[s] = int(fp0[s][-1])
        if time_tables is None:
            times[s] = cost_model.split_times_ns(state, s)
        else:
            times[s] = _measured_split_times(state, s, time_tables)
    caps = state.capacity_bytes
    capacity = (caps[0], caps[1] if len(caps) > 1 else 0)
    return Tables(times, fp0, total, capacity)


def _measured_split_times(state: EpochState, s: str, time_tables: TimeTables) -> np.ndarray:
    big_n = state.units[s]
    per_dev = []
    for d in range(state.devices):
        key = (s, d)
        if key not in time_tables:
            raise ValueError(
                f"epoch {state.epoch}: time_tables has no entry {key!r}; it needs one per "
                f"(sublayer, device) for sublayers {', '.join(SUBLAYERS)} and devices "
                f"0 .. {state.devices - 1}"
            )
        t = np.asarray(time_tables[key], dtype=np.float64)
        if t.shape != (big_n + 1,):
            raise ValueError(
                f"epoch {state.epoch}: time_tables[{key!r}] has shape {t.shape}; need "
                f"({big_n + 1},): one time per count of units on the device, 0 .. {big_n}"
            )
        if np.isnan(t).any() or (t < 0).any():
            raise ValueError(
                f"epoch {state.epoch}: time_tables[{key!r}] holds a negative or NaN time"
            )
        per_dev.append(t)
    if state.devices == 1:
        out = np.full(big_n + 1, np.inf)
        out[-1] = per_dev[0][-1]
        return out
    split: np.ndarray = np.maximum(per_dev[0], per_dev[1][::-1])
    return split


def _sums(arrays: Iterable[np.ndarray]) -> np.ndarray:
    """Sorted distinct values of a + b + ... over every choice of one entry per array."""
    acc = np.zeros(1, dtype=np.int64)
    for a in arrays:
        acc = np.unique(np.add.outer(acc, a).ravel())
    return acc


def greedy(
    t: Tables, order: Sequence[str], *, fixed: AbcMapping[str, int] | None = None
) -> dict[str, int] | None:
    """The H2M2 min-max greedy: sublayers in ``order``, each at the n minimising its split time.

    Each sublayer takes, among the n whose footprint fits the capacity left on both devices and
    leaves the later sublayers at least one placement that fits (an exact check over the sums of
    their footprints), the n of least ``max(T_0(n), T_1(N - n))``; ties go to the smallest n
    (fewest HBM units, leaving HBM to the sublayers that follow). Sublayers in ``fixed`` keep the
    given n (it must fit). Returns None when nothing fits.
    """
    fixed = dict(fixed or {})
    rem0, rem1 = t.capacity
    for s, n in fixed.items():
        rem0 -= int(t.fp0[s][n])
        rem1 -= t.total[s] - int(t.fp0[s][n])
    if rem0 < 0 or rem1 < 0:
        return None
    todo = [s for s in order if s not in fixed]
    split = dict(fixed)
    for i, s in enumerate(todo):
        rest = todo[i + 1 :]
        achievable = _sums(t.fp0[r] for r in rest)
        rest_total = sum(t.total[r] for r in rest)
        r0 = rem0 - t.fp0[s]
        r1 = rem1 - (t.total[s] - t.fp0[s])
        # The rest fits iff some achievable device-0 footprint v has rest_total - r1 <= v <= r0.
        lo = rest_total - r1
        idx = np.searchsorted(achievable, lo, side="left")
        ok = idx < len(achievable)
        ok &= achievable[np.minimum(idx, len(achievable) - 1)] <= r0
        ok &= np.isfinite(t.time_ns[s])
        if not ok.any():
            return None
        cost = np.where(ok, t.time_ns[s], np.inf)
        n = int(np.argmin(cost))
        split[s] = n
        rem0 -= int(t.fp0[s][n])
        rem1 -= t.total[s] - int(t.fp0[s][n])
    return {s: split[s] for s in SUBLAYERS}


def exhaustive(
    t: Tables,
    candidates: AbcMapping[str, Sequence[int] | np.ndarray] | None = None,
    *,
    extra_cost: Callable[[dict[str, np.ndarray]], np.ndarray] | None = None,
) -> tuple[dict[str, int], float] | None:
    """Least-time mapping over a product of candidate splits, under capacity.

    ``candidates`` gives the n values tried per sublayer (default: all 0 .. N, the full
    head-aware space). The cost of a mapping is the sum of its split times (one layer) plus
    ``extra_cost`` (called with broadcastable arrays of the candidate n per sublayer, in ns per
    layer). Ties go to the first mapping in (qkv, attention, fc) lexicographic order of the
    candidates. Returns ``(split, cost)`` or None when nothing fits.
    """
    cand = {
        s: np.asarray(
            candidates[s] if candidates and s in candidates else np.arange(len(t.fp0[s])),
            dtype=np.int64,
        )
        for s in SUBLAYERS
    }
    q, a, f = (cand[s] for s in SUBLAYERS)
    grand_total = sum(t.total.values())
    cap0, cap1 = t.capacity
    tq, ta, tf = (t.time_ns[s][cand[s]] for s in SUBLAYERS)
    fq, fa, ff = (t.fp0[s][cand[s]] for s in SUBLAYERS)
    inner = len(a) * len(f)
    step = max(1, _BLOCK_ELEMENTS // max(inner, 1))
    best: tuple[float, int, int, int] | None = None
    for start in range(0, len(q), step):
        sl = slice(start, start + step)
        cost = tq[sl, None, None] + ta[None, :, None] + tf[None, None, :]
        if extra_cost is not None:
            cost = cost + extra_cost(
                {
                    "qkv": q[sl, None, None],
                    "attention": a[None, :, None],
                    "fc": f[None, None, :],
                }
            )
        fp = fq[sl, None, None] + fa[None, :, None] + ff[None, None, :]
        fits = (fp <= cap0) & (grand_total - fp <= cap1)
        cost = np.where(fits, cost, np.inf)
        k = int(np.argmin(cost))
        c = float(cost.flat[k])
        if not np.isfinite(c):
            continue
        if best is None or c < best[0]:
            i, j, m = (int(x) for x in np.unravel_index(k, cost.shape))
            best = (c, start + i, j, m)
    if best is None:
        return None
    c, bq, ba, bf = best
    return {"qkv": int(q[bq]), "attention": int(a[ba]), "fc": int(f[bf])}, c


def no_fit_error(state: EpochState, policy: str, detail: str = "") -> MappingError:
    """The error a policy raises when none of its mappings fits the devices."""
    need = sum(state.iteration.sublayer(s).footprint_bytes() for s in SUBLAYERS)
    caps = ", ".join(
        f"device {d} ({dev.name}) {c}"
        for d, (dev, c) in enumerate(zip(state.system.devices, state.capacity_bytes, strict=True))
    )
    extra = f"; {detail}" if detail else ""
    return MappingError(
        f"epoch {state.epoch}: policy {policy!r} finds no mapping that fits: the model data "
        f"need {need} bytes; available bytes: {caps} (total {sum(state.capacity_bytes)}){extra}"
    )
