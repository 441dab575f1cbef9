"""Mapping policies, called back by the simulator at every epoch boundary.

The interface is in :mod:`h2m2.policies.base` (:class:`Policy`, :class:`EpochState`,
:class:`Mapping`); each built-in is one file beside it, registered here by a short name:

=================  =====================================================================
``lpddr_only``     everything on the capacity device (the 1.0 baseline)
``hbm_only``       everything on device 0 (HBM-only / tensor-parallel 8-HBM baseline)
``hierarchical``   HBM as an upper tier over LPDDR, compute on the HBM chip
``naive``          each whole sublayer on one side, best of 8
``flexgen``        static LP over the fractions of weights and KV cache in HBM
``a_major``        restricted search: attention gets HBM first
``q_major``        restricted search: qkv gets HBM first
``f_major``        restricted search: fc gets HBM first
``oracle``         exhaustive search of the head-aware space
``h2m2``           the H2M2 greedy runtime solver
=================  =====================================================================

A user's own :class:`Policy` subclass is used exactly like these; :func:`register` gives it a
short name too.

Spec: ../shared/spec/h2m2.md sections 3, 4 and 6; issue 4 ("Policies").
"""

from __future__ import annotations

from typing import Any

from h2m2.policies.a_major import AMajor
from h2m2.policies.base import EpochState, Mapping, MappingError, Policy, footprint_by_device
from h2m2.policies.f_major import FMajor
from h2m2.policies.flexgen import FlexGen
from h2m2.policies.h2m2 import H2M2
from h2m2.policies.hbm_only import HbmOnly
from h2m2.policies.hierarchical import Hierarchical
from h2m2.policies.lpddr_only import LpddrOnly
from h2m2.policies.naive import Naive
from h2m2.policies.oracle import Oracle
from h2m2.policies.q_major import QMajor
from h2m2.policies.restricted import RestrictedSearch

__all__ = [
    "H2M2",
    "AMajor",
    "EpochState",
    "FMajor",
    "FlexGen",
    "HbmOnly",
    "Hierarchical",
    "LpddrOnly",
    "Mapping",
    "MappingError",
    "Naive",
    "Oracle",
    "Policy",
    "QMajor",
    "RestrictedSearch",
    "footprint_by_device",
    "get",
    "names",
    "register",
]

_REGISTRY: dict[str, type[Policy]] = {}


def register(name: str, cls: type[Policy]) -> type[Policy]:
    """Register a policy class under a short name (for :func:`get` and the CLI).

    Parameters
    ----------
    name
        The short name (a non-empty string not already registered).
    cls
        A :class:`Policy` subclass.

    Returns
    -------
    type
        ``cls``, so it can be used as ``register("mine", Mine)`` after the class body.

    Raises
    ------
    ValueError
        For a name already taken, an empty name or a class that is not a Policy subclass.

    Example
    -------
    >>> class Mine(Policy):
    ...     def on_epoch(self, state): return Mapping.all_on(0, state)
    >>> register("mine_doc", Mine) is Mine
    True
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"policies.register: name={name!r} must be a non-empty string")
    if not (isinstance(cls, type) and issubclass(cls, Policy)):
        raise ValueError(f"policies.register: {cls!r} is not a subclass of h2m2.policies.Policy")
    if name in _REGISTRY:
        raise ValueError(f"policies.register: name {name!r} is taken by {_REGISTRY[name].__name__}")
    _REGISTRY[name] = cls
    return cls


def names() -> tuple[str, ...]:
    """Registered policy names, built-ins first, in registration order.

    Example
    -------
    >>> "h2m2" in names()
    True
    """
    return tuple(_REGISTRY)


def get(name: str, **options: Any) -> Policy:
    """A new policy object by short name.

    Parameters
    ----------
    name
        A name from :func:`names`.
    **options
        Keyword options of the policy (``cost_model=``, ``max_seq_len=``, ...).

    Returns
    -------
    Policy

    Raises
    ------
    ValueError
        For an unknown name (listing the known ones).
    TypeError
        For an option the policy does not take.

    Example
    -------
    >>> from h2m2.cost_model import CostModel
    >>> get("h2m2", cost_model=CostModel(bw_efficiency=0.9)).name
    'h2m2'
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown policy {name!r}; known: {', '.join(_REGISTRY)}")
    return _REGISTRY[name](**options)


for _cls in (
    LpddrOnly,
    HbmOnly,
    Hierarchical,
    Naive,
    FlexGen,
    AMajor,
    QMajor,
    FMajor,
    Oracle,
    H2M2,
):
    register(_cls.name, _cls)
del _cls
