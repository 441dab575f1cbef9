"""Oracle: exhaustive search over the whole head-aware mapping space.

Spec: ../shared/spec/h2m2.md sections 3 and 6; issue 4 ("Policies").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from collections.abc import Mapping as AbcMapping

import numpy as np

from h2m2.cost_model import CostModel
from h2m2.policies._solver import exhaustive, no_fit_error, tables
from h2m2.policies.base import EpochState, Mapping, Policy, _cost_model
from h2m2.workload import SUBLAYERS

__all__ = ["Oracle"]

TimeTables = AbcMapping[tuple[str, int], Sequence[float]]


class Oracle(Policy):
    """The least-time mapping of all (N_qkv+1) x (N_att+1) x (N_fc+1), under capacity.

    Documented choices:

    - Time: one layer's time, the sum over sublayers of the split time ``max(T_0(n),
      T_1(N - n))``. By default T is measured: under :func:`h2m2.simulate` the state offers
      :attr:`EpochState.measure_split_times` (every split's kernels simulated in ``analytic``
      fidelity), so the Oracle is the best mapping of the simulator itself, not of a model of
      it. Without that (a state built outside a simulation), or with
      ``time_tables="cost_model"``, T is the cost model's ideal time. The whole space is
      evaluated with numpy broadcasting (cut into blocks of at most 4M mappings).
    - ``ignore_abstraction_costs=True`` (default, the paper's Oracle): no migration cost between
      epochs is charged when choosing, so each epoch gets the best mapping for its own (B, S)
      (the simulator still moves and times the pages it changes). With False, the choice
      minimises ``iteration time + migration time`` from ``state.previous`` (the migration model
      of :class:`~h2m2.cost_model.CostModel`).
    - Ties go to the first mapping in (n_qkv, n_att, n_fc) lexicographic order.

    Parameters
    ----------
    cost_model
        Keyword-only; default None: ``CostModel()``.
    ignore_abstraction_costs
        Keyword-only; default True.
    time_tables
        Keyword-only; default None: measured by the simulator when the state can (see above),
        else the cost model; ``"cost_model"``: always the cost model. Or measured times of one
        layer in ns, keyed
        ``(sublayer, device)``: entry k is the time of the device's kernel when it holds k units
        (device 0: units 0 .. k-1, device 1: units N-k .. N-1), ``N + 1`` values. May be a
        callable ``state -> tables`` for runs over several epochs.

    Raises
    ------
    MappingError
        From :meth:`on_epoch` when nothing fits.
    ValueError
        From :meth:`on_epoch` for a time table with a missing key, wrong length, negative or
        NaN value.

    Example
    -------
    >>> from h2m2 import models, presets
    >>> st = EpochState.uniform(presets.h2m2(), models.get("Llama2-70B"), batch=128, seq_len=1024)
    >>> Oracle().on_epoch(st).split["attention"] > 0
    True
    """

    name = "oracle"

    def __init__(
        self,
        *,
        cost_model: CostModel | None = None,
        ignore_abstraction_costs: bool = True,
        time_tables: TimeTables | Callable[[EpochState], TimeTables] | str | None = None,
    ) -> None:
        if isinstance(time_tables, str) and time_tables != "cost_model":
            raise ValueError(
                f"Oracle: time_tables={time_tables!r} must be None, 'cost_model', a mapping or "
                "a callable"
            )
        if not isinstance(ignore_abstraction_costs, bool):
            raise ValueError(
                f"Oracle: ignore_abstraction_costs={ignore_abstraction_costs!r} must be a bool"
            )
        self.cost_model = _cost_model(cost_model)
        self.ignore_abstraction_costs = ignore_abstraction_costs
        self.time_tables = time_tables

    def search(self, state: EpochState) -> tuple[dict[str, int], float]:
        """The best split and its cost (ns per layer, migration included when charged).

        Raises
        ------
        MappingError
            When nothing fits.
        """
        given = self.time_tables
        tt: TimeTables | None
        if given is None:
            measure = state.measure_split_times
            tt = measure() if measure is not None else None
        elif isinstance(given, str):  # "cost_model"
            tt = None
        else:
            tt = given(state) if callable(given) else given
        t = tables(state, self.cost_model, tt)
        extra = None
        prev = state.previous
        if not self.ignore_abstraction_costs and prev is not None and state.devices == 2:
            extra = self._migration_cost(state, prev.split)
        found = exhaustive(t, extra_cost=extra)
        if found is None:
            raise no_fit_error(state, self.name)
        return found

    def on_epoch(self, state: EpochState) -> Mapping:
        return Mapping(self.search(state)[0])

    def _migration_cost(
        self, state: EpochState, previous: AbcMapping[str, int]
    ) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
        # Bytes moved to device 1 / to device 0 for every candidate n of each sublayer.
        to_1: dict[str, np.ndarray] = {}
        to_0: dict[str, np.ndarray] = {}
        for s in SUBLAYERS:
            fp = np.asarray(state.iteration.sublayer(s).unit_footprint_bytes, dtype=np.int64)
            cum = np.concatenate((np.zeros(1, dtype=np.int64), np.cumsum(fp)))
            p = int(previous[s])
            moved = np.abs(cum - cum[p])
            n = np.arange(len(cum))
            to_1[s] = np.where(n < p, moved, 0)
            to_0[s] = np.where(n > p, moved, 0)
        per_layer_rate = self.cost_model.migration_rate_bytes_per_ns(state) * state.iteration.layers

        def cost(n: dict[str, np.ndarray]) -> np.ndarray:
            b1 = sum(to_1[s][n[s]] for s in SUBLAYERS)
            b0 = sum(to_0[s][n[s]] for s in SUBLAYERS)
            out: np.ndarray = np.maximum(b0, b1) / per_layer_rate
            return out

        return cost
