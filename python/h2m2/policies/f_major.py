"""F-major restricted search: fc gets HBM first.

Spec: ../shared/spec/h2m2.md section 3 ("Findings"); issue 4 ("Policies").
"""

from __future__ import annotations

from h2m2.policies.restricted import RestrictedSearch

__all__ = ["FMajor"]


class FMajor(RestrictedSearch):
    """F-major: the ``fc`` sublayer takes its min-max split first, then the others.

    See :class:`~h2m2.policies.restricted.RestrictedSearch` for the documented choices and the
    options (``cost_model``, ``rest``).

    Example
    -------
    >>> from h2m2 import models, presets
    >>> from h2m2.policies.base import EpochState
    >>> st = EpochState.uniform(presets.h2m2(), models.get("GPT3-175B"), batch=32, seq_len=512)
    >>> FMajor().on_epoch(st).split["fc"]
    48
    """

    name = "f_major"
    major = "fc"
