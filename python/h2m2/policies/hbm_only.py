"""HBM-only (8-HBM): the bandwidth-centric baseline, tensor-parallel over K HBM devices.

Spec: ../shared/spec/h2m2.md section 6; issue 4 ("Policies").
"""

from __future__ import annotations

from h2m2.cost_model import CostModel
from h2m2.policies._solver import no_fit_error
from h2m2.policies.base import EpochState, Mapping, Policy, _cost_model, footprint_by_device

__all__ = ["HbmOnly"]


class HbmOnly(Policy):
    """Everything on device 0; compute follows data.

    Documented choices:

    - The policy always returns split = N for every sublayer. For a tensor-parallel HBM system
      (the paper's 8 x (96 GB HBM3 + chip)) the simulator models one of the K identical devices
      with 1/K of the units and adds the all-reduce cost; this policy does not see the degree.
    - On an H2M2 (two-device) system device 1 stays idle, so the model must fit in device 0.

    Parameters
    ----------
    cost_model
        Keyword-only; default None: ``CostModel()``. Accepted so that every policy takes the
        same options; the placement does not depend on it.

    Raises
    ------
    MappingError
        From :meth:`on_epoch` when the model data do not fit on device 0.

    Example
    -------
    >>> from h2m2 import models, presets
    >>> st = EpochState.uniform(presets.h2m2(), models.get("Llama-3-8B"), batch=1, seq_len=8)
    >>> HbmOnly().on_epoch(st).split
    {'qkv': 8, 'attention': 8, 'fc': 32}
    """

    name = "hbm_only"

    def __init__(self, *, cost_model: CostModel | None = None) -> None:
        self.cost_model = _cost_model(cost_model)

    def on_epoch(self, state: EpochState) -> Mapping:
        mapping = Mapping.all_on(0, state)
        if footprint_by_device(mapping, state)[0] > state.capacity_bytes[0]:
            raise no_fit_error(state, self.name, "everything must fit on device 0")
        return mapping
