"""FlexGen-style static linear program: place by data type (weights, KV cache).

Spec: ../shared/spec/h2m2.md section 3 ("Findings") and section 6; issue 4 ("Policies").
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy.optimize import linprog  # type: ignore[import-untyped]

from h2m2.cost_model import CostModel
from h2m2.policies._solver import Tables, no_fit_error, tables
from h2m2.policies.base import EpochState, Mapping, MappingError, Policy, _cost_model
from h2m2.workload import SUBLAYERS, DecodeIteration

__all__ = ["FlexGen"]

# The data type whose fraction places each sublayer's units.
_KIND = {"qkv": "weights", "attention": "kv", "fc": "weights"}


class FlexGen(Policy):
    """A static placement by data type, chosen by a linear program (FlexGen-style).

    Two fractions are chosen once: ``w`` of the weights (qkv and fc alike) and ``k`` of the KV
    cache on device 0 (HBM). The LP minimises the cost-model time of one layer,
    ``sum over sublayers of max(T_0, T_1)`` with each device's roofline linear in its fraction,
    subject to ``w W + k K <= capacity_0`` and ``(1-w) W + (1-k) K <= capacity_1`` (W, K: all-layer
    weights and KV). Documented choices:

    - Static: solved once, for the current batch with every request at the LARGEST sequence
      length the policy is told about (``max_seq_len``; default the longest request of the
      first epoch), so the fractions do not change as sequences grow. If a later epoch holds a
      request longer than the planned length, the LP is solved again for that length (the only
      time the fractions change; counted in ``plans``).
    - Activations (FlexGen's third data type) are not placed: they are small and not part of
      the mapping's footprint.
    - Units are placed by the fractions: n = round(fraction x N) per sublayer (``w`` for qkv and
      fc, ``k`` for attention); compute follows data. If that rounding does not fit this
      epoch's capacities, the fitting floor/ceil combination of least cost-model time is used.
    - On a one-device system the fractions are (1, 1) and everything is on device 0.

    Parameters
    ----------
    cost_model
        Keyword-only; default None: ``CostModel()``.
    max_seq_len
        Keyword-only; the sequence length the plan is made for (tokens, >= 1; default None: the
        longest request of the first epoch).

    Attributes
    ----------
    fractions
        ``(w, k)`` of the current plan, None before the first epoch.
    plans
        Number of LP solves so far.

    Raises
    ------
    ValueError
        For a ``max_seq_len`` that is not a positive integer.
    MappingError
        From :meth:`on_epoch` when the LP is infeasible or no rounding fits.

    Example
    -------
    >>> from h2m2 import models, presets
    >>> st = EpochState.uniform(presets.h2m2(), models.get("GPT3-175B"), batch=32, seq_len=512)
    >>> p = FlexGen(max_seq_len=2048); _ = p.on_epoch(st)
    >>> all(0 <= f <= 1 for f in p.fractions)
    True
    """

    name = "flexgen"

    def __init__(
        self, *, cost_model: CostModel | None = None, max_seq_len: int | None = None
    ) -> None:
        if max_seq_len is not None and (
            not isinstance(max_seq_len, int) or isinstance(max_seq_len, bool) or max_seq_len < 1
        ):
            raise ValueError(f"FlexGen: max_seq_len={max_seq_len!r} must be an integer >= 1")
        self.cost_model = _cost_model(cost_model)
        self.max_seq_len = max_seq_len
        self.fractions: tuple[float, float] | None = None
        self.plans = 0
        self._planned_len = 0

    # ----------------------------------------------------------------- plan
    def plan(self, state: EpochState, seq_len: int) -> tuple[float, float]:
        """Solve the LP for ``state``'s batch with every request at ``seq_len``.

        Returns
        -------
        tuple of float
            ``(w, k)``: the fractions of weights and KV cache on device 0, in [0, 1].

        Raises
        ------
        MappingError
            When no fractions fit the capacities.
        """
        if state.devices == 1:
            return (1.0, 1.0)
        it = DecodeIteration.uniform(state.model, batch=state.iteration.batch, seq_len=seq_len)
        planned = EpochState.for_iteration(
            state.system, it, capacity_bytes=state.capacity_bytes, epoch=state.epoch
        )
        cm = self.cost_model
        rows = it.tokens
        devs = state.system.devices
        bw = [cm.bandwidth_bytes_per_ns(d) for d in devs]
        weights = sum(it.sublayer(s).weight_footprint_bytes for s in SUBLAYERS)
        kv = sum(it.sublayer(s).kv_footprint_bytes for s in SUBLAYERS)
        scale = max(weights + kv, 1)
        # Variables x = (w, k, t_qkv, t_attention, t_fc); minimise the sum of the t's (ns/layer).
        a_ub: list[list[float]] = []
        b_ub: list[float] = []
        for i, s in enumerate(SUBLAYERS):
            sub = it.sublayer(s)
            col = 0 if _KIND[s] == "weights" else 1
            loads = [float(sub.total("read_bytes")) / b for b in bw]
            macs = [float(sub.total("ops")) / cm.compute_macs_per_ns(d, s, rows) for d in devs]
            for load in (loads, macs):
                # device 0: f x load_0 <= t;  device 1: (1 - f) x load_1 <= t
                row0 = [0.0] * 5
                row0[col], row0[2 + i] = load[0], -1.0
                row1 = [0.0] * 5
                row1[col], row1[2 + i] = -load[1], -1.0
                a_ub += [row0, row1]
                b_ub += [0.0, -load[1]]
        a_ub.append([weights / scale, kv / scale, 0.0, 0.0, 0.0])
        b_ub.append(state.capacity_bytes[0] / scale)
        a_ub.append([-weights / scale, -kv / scale, 0.0, 0.0, 0.0])
        b_ub.append((state.capacity_bytes[1] - weights - kv) / scale)
        res = linprog(
            c=[0.0, 0.0, 1.0, 1.0, 1.0],
            A_ub=np.array(a_ub),
            b_ub=np.array(b_ub),
            bounds=[(0.0, 1.0), (0.0, 1.0), (0.0, None), (0.0, None), (0.0, None)],
            method="highs",
        )
        if res.status != 0:
            raise no_fit_error(
                planned,
                self.name,
                f"the linear program for seq_len={seq_len} has no solution ({res.message})",
            )
        w, k = (min(1.0, max(0.0, float(v))) for v in res.x[:2])
        return (w, k)

    # ----------------------------------------------------------------- epoch
    def on_epoch(self, state: EpochState) -> Mapping:
        longest = max(state.iteration.seq_lens)
        target = max(self.max_seq_len or longest, longest)
        if self.fractions is None or target > self._planned_len:
            self.fractions = self.plan(state, target)
            self._planned_len = target
            self.plans += 1
        t = tables(state, self.cost_model)
        split = self._place(state, t, self.fractions)
        return Mapping(split)

    def _place(
        self, state: EpochState, t: Tables, fractions: tuple[float, float]
    ) -> dict[str, int]:
        frac = {"weights": fractions[0], "kv": fractions[1]}
        units = state.units
        exact = {s: frac[_KIND[s]] * units[s] for s in SUBLAYERS}
        nearest = {s: min(units[s], max(0, round(exact[s]))) for s in SUBLAYERS}
        if self._fits(t, nearest):
            return nearest
        options = [sorted({math.floor(exact[s]), math.ceil(exact[s])}) for s in SUBLAYERS]
        best: tuple[float, dict[str, int]] | None = None
        for combo in itertools.product(*options):
            split = {
                s: min(units[s], max(0, int(n))) for s, n in zip(SUBLAYERS, combo, strict=True)
            }
            if not self._fits(t, split):
                continue
            cost = sum(float(t.time_ns[s][split[s]]) for s in SUBLAYERS)
            if best is None or cost < best[0]:
                best = (cost, split)
        if best is None:
            raise MappingError(
                f"epoch {state.epoch}: policy {self.name!r}: the static fractions "
                f"w={fractions[0]:.4f} (weights) and k={fractions[1]:.4f} (KV) give no unit "
                "placement that fits "
                f"device capacities {state.capacity_bytes}"
            )
        return best[1]

    @staticmethod
    def _fits(t: Tables, split: dict[str, int]) -> bool:
        on0 = sum(int(t.fp0[s][split[s]]) for s in SUBLAYERS)
        on1 = sum(t.total[s] for s in SUBLAYERS) - on0
        return on0 <= t.capacity[0] and on1 <= t.capacity[1]
