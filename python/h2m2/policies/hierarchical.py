"""Strict hierarchy: HBM as an upper tier over LPDDR, all compute on the HBM chip.

Spec: ../shared/spec/h2m2.md sections 1 and 6; issue 4 ("Policies").
"""

from __future__ import annotations

from h2m2.cost_model import CostModel
from h2m2.policies._solver import no_fit_error
from h2m2.policies.base import EpochState, Mapping, Policy, _cost_model, footprint_by_device
from h2m2.workload import SUBLAYERS

__all__ = ["Hierarchical"]


class Hierarchical(Policy):
    """HBM caches LPDDR; the HBM chip (device 0) computes every sublayer.

    Documented choices (the paper leaves compute placement, granularity and replacement open):

    - Compute: all sublayers run on device 0 (``compute_on = 0``); the LPDDR chip is idle. Units
      not resident in HBM are read zero-copy from LPDDR over the link, so they stream at
      ``min(LPDDR bandwidth, link bandwidth per direction)``.
    - Residency: a decode iteration touches every weight and every KV byte once, so the reuse
      distance of each byte is the whole model. An on-demand cache with LRU replacement then
      misses on every access once the model exceeds HBM (each fill evicts a line needed before
      it is used again); it keeps everything resident only when everything fits. We model the
      steady state "a pinned prefix fits in HBM, the rest streams from LPDDR every iteration",
      which is what a pinned (or MRU-like) tier converges to and is never slower than LRU
      thrashing (no fill or write-back traffic is charged).
    - Granularity and order: the pinned prefix is chosen in access order within a layer (qkv,
      then attention, then fc; units in index order), as many whole units as fit in device 0's
      capacity; the same split applies to every layer (the mapping space of spec section 3).
    - On a one-device system everything is on device 0 and compute follows data.

    Parameters
    ----------
    cost_model
        Keyword-only; default None: ``CostModel()``. Accepted so that every policy takes the
        same options; the placement does not depend on it.

    Raises
    ------
    MappingError
        From :meth:`on_epoch` when the non-resident rest does not fit on device 1.

    Example
    -------
    >>> from h2m2 import models, presets
    >>> st = EpochState.uniform(presets.h2m2(), models.get("GPT3-175B"), batch=32, seq_len=512)
    >>> m = Hierarchical().on_epoch(st)
    >>> m.split["qkv"], m.compute_on["fc"]
    (96, 0)
    """

    name = "hierarchical"

    def __init__(self, *, cost_model: CostModel | None = None) -> None:
        self.cost_model = _cost_model(cost_model)

    access_order: tuple[str, ...] = SUBLAYERS

    def on_epoch(self, state: EpochState) -> Mapping:
        if state.devices == 1:
            mapping = Mapping.all_on(0, state)
        else:
            free = state.capacity_bytes[0]
            split: dict[str, int] = {}
            for s in self.access_order:
                fp = state.iteration.sublayer(s).unit_footprint_bytes
                n = 0
                while n < len(fp) and fp[n] <= free:
                    free -= fp[n]
                    n += 1
                split[s] = n
                if n < len(fp):
                    free = 0  # the prefix stops at the first unit that does not fit
            mapping = Mapping(
                {s: split[s] for s in SUBLAYERS}, compute_on={s: 0 for s in SUBLAYERS}
            )
        need = footprint_by_device(mapping, state)
        for d, (b, cap) in enumerate(zip(need, state.capacity_bytes, strict=True)):
            if b > cap:
                raise no_fit_error(
                    state, self.name, f"the non-resident rest needs {b} bytes on device {d}"
                )
        return mapping
