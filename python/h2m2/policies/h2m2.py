"""The H2M2 runtime solver: min-max greedy in priority order attention -> qkv -> fc.

Spec: ../shared/spec/h2m2.md section 4; issue 4 ("Policies").
"""

from __future__ import annotations

from typing import ClassVar

from h2m2.cost_model import CostModel
from h2m2.policies._solver import greedy, no_fit_error, tables
from h2m2.policies.base import EpochState, Mapping, Policy, _cost_model

__all__ = ["H2M2"]


class H2M2(Policy):
    """H2M2's greedy runtime mapping solver (the paper's system).

    In priority order attention -> qkv -> fc, each sublayer takes the split n (units on
    device 0, the HBM device) that minimises ``max(T_0(n), T_1(N - n))`` of the cost model under
    the capacity still free on each device, and its footprint is subtracted before the next
    sublayer. Documented choices:

    - Ideal time: the roofline of :class:`~h2m2.cost_model.CostModel` (hyper-parameters exposed
      through ``cost_model``).
    - Feasibility look-ahead: a sublayer never takes an n that leaves the sublayers after it no
      placement that fits (an exact check over the sums of their footprints), so the solver finds
      a mapping whenever one exists. The paper's greedy only subtracts footprints.
    - Ties go to the smallest n (fewest units on device 0), leaving HBM to later sublayers.
    - Stateless: the mapping depends only on this epoch's iteration and capacities, so units
      come back to HBM when footprints shrink; the simulator moves only the changed units.

    Parameters
    ----------
    cost_model
        Keyword-only; default None: ``CostModel()``.

    Raises
    ------
    MappingError
        From :meth:`on_epoch` when no head-aware mapping fits the devices.

    Example
    -------
    >>> from h2m2 import models, presets
    >>> st = EpochState.uniform(presets.h2m2(), models.get("GPT3-175B"), batch=32, seq_len=2048)
    >>> H2M2().on_epoch(st).split["fc"]
    0
    """

    name = "h2m2"
    priority: ClassVar[tuple[str, ...]] = ("attention", "qkv", "fc")

    def __init__(self, *, cost_model: CostModel | None = None) -> None:
        self.cost_model = _cost_model(cost_model)

    def on_epoch(self, state: EpochState) -> Mapping:
        split = greedy(tables(state, self.cost_model), self.priority)
        if split is None:
            raise no_fit_error(state, self.name)
        return Mapping(split)
