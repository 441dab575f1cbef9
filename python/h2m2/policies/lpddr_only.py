"""LPDDR-only: the homogeneous capacity-centric baseline (speedup 1.0 in the paper).

Spec: ../shared/spec/h2m2.md section 6; issue 4 ("Policies").
"""

from __future__ import annotations

from h2m2.cost_model import CostModel
from h2m2.policies._solver import no_fit_error
from h2m2.policies.base import EpochState, Mapping, Policy, _cost_model, footprint_by_device

__all__ = ["LpddrOnly"]


class LpddrOnly(Policy):
    """Everything on the capacity device; compute follows data.

    Documented choices:

    - On a one-device system (``presets.lpddr_only()``, the paper's baseline) every unit is on
      device 0.
    - On a two-device system every unit is on the device with the larger ``capacity_bytes``
      (device 0 on a tie); the other chip and its memory stay idle. This runs the baseline's
      data on the H2M2 hardware, e.g. to isolate what the HBM side adds.

    Parameters
    ----------
    cost_model
        Keyword-only; default None: ``CostModel()``. Accepted so that every policy takes the
        same options; the placement does not depend on it.

    Raises
    ------
    MappingError
        From :meth:`on_epoch` when the model data do not fit on that device.

    Example
    -------
    >>> from h2m2 import models, presets
    >>> st = EpochState.uniform(presets.h2m2(), models.get("GPT3-175B"), batch=1, seq_len=8)
    >>> LpddrOnly().on_epoch(st).split
    {'qkv': 0, 'attention': 0, 'fc': 0}
    """

    name = "lpddr_only"

    def __init__(self, *, cost_model: CostModel | None = None) -> None:
        self.cost_model = _cost_model(cost_model)

    def on_epoch(self, state: EpochState) -> Mapping:
        caps = state.capacity_bytes
        device = 1 if len(caps) == 2 and caps[1] > caps[0] else 0
        mapping = Mapping.all_on(device, state)
        if footprint_by_device(mapping, state)[device] > caps[device]:
            raise no_fit_error(state, self.name, f"everything must fit on device {device}")
        return mapping
