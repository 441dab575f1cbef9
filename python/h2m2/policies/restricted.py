"""Restricted searches (A-major, Q-major, F-major): one sublayer type gets HBM first.

The base of :class:`~h2m2.policies.a_major.AMajor`, :class:`~h2m2.policies.q_major.QMajor` and
:class:`~h2m2.policies.f_major.FMajor`; not registered itself.

Spec: ../shared/spec/h2m2.md section 3 ("Findings"); issue 4 ("Policies").
"""

from __future__ import annotations

from typing import ClassVar

from h2m2.cost_model import CostModel
from h2m2.policies._solver import exhaustive, greedy, no_fit_error, tables
from h2m2.policies.base import EpochState, Mapping, Policy, _cost_model
from h2m2.policies.h2m2 import H2M2

__all__ = ["RESTS", "RestrictedSearch"]

RESTS: tuple[str, ...] = ("greedy", "search")


class RestrictedSearch(Policy):
    """A mapping search in which the ``major`` sublayer type is served first.

    The major sublayer takes the min-max split of the cost model under the whole capacity of
    each device (as the H2M2 greedy does for its first sublayer, with the same feasibility
    look-ahead and tie rule); then the other two are placed in the remaining capacity, in H2M2's
    priority order (attention, qkv, fc) without the major one. Documented choices:

    - ``rest="greedy"`` (default): the other two by the same min-max greedy, one after the other.
      A-major with ``rest="greedy"`` is then the H2M2 solver by construction.
    - ``rest="search"``: the other two by exhaustive search over their (N+1)^2 splits with the
      major sublayer fixed (how much does serving this sublayer first cost, given the best use
      of what is left?).

    Parameters
    ----------
    cost_model
        Keyword-only; default None: ``CostModel()``.
    rest
        Keyword-only; ``"greedy"`` (default) or ``"search"``.

    Raises
    ------
    ValueError
        For an unknown ``rest``.
    MappingError
        From :meth:`on_epoch` when nothing fits.
    """

    name = "restricted"
    major: ClassVar[str] = ""

    def __init__(self, *, cost_model: CostModel | None = None, rest: str = "greedy") -> None:
        if rest not in RESTS:
            raise ValueError(
                f"{type(self).__name__}: rest={rest!r} is unknown; known: {', '.join(RESTS)}"
            )
        self.cost_model = _cost_model(cost_model)
        self.rest = rest

    @property
    def order(self) -> tuple[str, ...]:
        """The major sublayer, then H2M2's priority order without it."""
        return (self.major, *(s for s in H2M2.priority if s != self.major))

    def on_epoch(self, state: EpochState) -> Mapping:
        t = tables(state, self.cost_model)
        split = greedy(t, self.order)
        if split is None:
            raise no_fit_error(state, self.name)
        if self.rest == "search":
            found = exhaustive(t, {self.major: [split[self.major]]})
            if found is None:  # cannot happen: the greedy's rest is a candidate
                raise no_fit_error(state, self.name)
            split = found[0]
        return Mapping(split)
