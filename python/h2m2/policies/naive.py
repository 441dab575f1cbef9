"""Naive sublayer mapping: each whole sublayer on one side.

Spec: ../shared/spec/h2m2.md section 3 ("Findings"); issue 4 ("Policies").
"""

from __future__ import annotations

from h2m2.cost_model import CostModel
from h2m2.policies._solver import exhaustive, no_fit_error, tables
from h2m2.policies.base import EpochState, Mapping, Policy, _cost_model

__all__ = ["Naive"]


class Naive(Policy):
    """Every sublayer entirely on device 0 or entirely on device 1.

    Documented choices:

    - The best of the 2^3 = 8 combinations (n = 0 or N per sublayer) by the cost model, under
      capacity; compute follows data, so while one side runs a sublayer the other chip idles.
    - Ties go to the first combination in (qkv, attention, fc) order with device 1 tried before
      device 0 (n = 0 before n = N).
    - On a one-device system the only combination is everything on device 0.

    Parameters
    ----------
    cost_model
        Keyword-only; default None: ``CostModel()``.

    Raises
    ------
    MappingError
        From :meth:`on_epoch` when none of the 8 fits.

    Example
    -------
    >>> from h2m2 import models, presets
    >>> st = EpochState.uniform(presets.h2m2(), models.get("GPT3-175B"), batch=32, seq_len=512)
    >>> sorted(set(Naive().on_epoch(st).split.values()) - {0, 96})
    []
    """

    name = "naive"

    def __init__(self, *, cost_model: CostModel | None = None) -> None:
        self.cost_model = _cost_model(cost_model)

    def on_epoch(self, state: EpochState) -> Mapping:
        found = exhaustive(
            tables(state, self.cost_model), {s: [0, n] for s, n in state.units.items()}
        )
        if found is None:
            raise no_fit_error(state, self.name, "no whole-sublayer placement fits")
        return Mapping(found[0])
