"""The policy interface: what the simulator hands a policy each epoch and what it gets back.

Models: the host-side mapping solver of H2M2 (spec sections 3 and 4). At every epoch boundary
(by default every decode iteration) the simulator builds an :class:`EpochState` and calls
:meth:`Policy.on_epoch`, which returns a :class:`Mapping`: for each sublayer (``qkv``,
``attention``, ``fc``) how many of its N units have their data AND compute on device 0 (units
``0 .. n-1``); units ``n .. N-1`` are on device 1. One split applies to every layer. A mapping may
also ask that all units of a sublayer be computed on one device, reading the other device's units
zero-copy over the link (``compute_on``; used by the hierarchical and FlexGen-style baselines).

Owns: nothing mutable (frozen dataclasses; a policy object may keep its own state).
Time: none. Hot path: no (one call per epoch; the simulator counts the calls and their time).

Contract: the simulator calls :meth:`Mapping.validate` on every mapping a policy returns (STYLE
rule 14) before it moves a page, so a bad mapping raises :class:`MappingError` naming the epoch
and nothing changes. Footprints are whole-model (all layers) bytes of weights plus KV cache;
activations, the embedding table and the LM head are not part of the mapping and come out of
``capacity_bytes`` as reserves.

Spec: ../shared/spec/h2m2.md sections 3 and 4; issue 4 ("Policies").
"""

from __future__ import annotations

import abc
import operator
from collections.abc import Callable, Sequence
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from h2m2.hardware import SystemSpec
from h2m2.models import ModelSpec
from h2m2.workload import SUBLAYERS, DecodeIteration, Iteration

if TYPE_CHECKING:
    from h2m2.cost_model import CostModel

__all__ = [
    "EpochState",
    "Mapping",
    "MappingError",
    "Policy",
    "footprint_by_device",
]


class MappingError(ValueError):
    """A mapping a policy returned (or could not find) breaks a rule; the message names the epoch.

    A ``ValueError``, so callers that catch configuration errors catch it too.
    """


@dataclass(frozen=True)
class EpochState:
    """What a policy sees at an epoch boundary.

    Parameters
    ----------
    epoch
        Epoch number (0 for the first).
    system
        The devices and link.
    model
        The model.
    iteration
        The iteration about to run: batch, per-request sequence lengths and, per sublayer, the
        per-unit bytes, MACs and footprints.
    finished
        Request ids finished since the previous epoch.
    admitted
        Request ids admitted since the previous epoch.
    capacity_bytes
        Per device, the bytes available to the mapped model data (weights + KV) after reserves.
    previous
        The mapping that ran last epoch (None at epoch 0).
    kernel_times_ns
        Last epoch's measured kernel time per ``(sublayer, device)`` in ns (empty at epoch 0).
    measure_split_times
        Under :func:`h2m2.simulate` (default None elsewhere): a function that times, for this
        epoch's iteration, each device's one-layer kernel of every sublayer with k = 0 .. N of
        its units (device 0 holds units 0 .. k-1, device 1 units N-k .. N-1) by simulating the
        kernels in ``analytic`` fidelity, and returns ``{(sublayer, device): [N + 1 times in
        ns]}`` (what :class:`~h2m2.policies.Oracle` takes as ``time_tables``). Each call runs
        2 x (N_qkv + N_attention + N_fc) kernels.

    Raises
    ------
    ValueError
        If ``capacity_bytes`` does not give one non-negative integer per device, or the
        iteration is not of ``model``.

    Example
    -------
    >>> from h2m2 import models, presets
    >>> st = EpochState.uniform(presets.h2m2(), models.get("GPT3-175B"), batch=32, seq_len=512)
    >>> st.units["attention"], len(st.capacity_bytes)
    (96, 2)
    """

    epoch: int
    system: SystemSpec
    model: ModelSpec
    iteration: Iteration
    finished: tuple[int, ...]
    admitted: tuple[int, ...]
    capacity_bytes: tuple[int, ...]
    previous: Mapping | None
    kernel_times_ns: dict[tuple[str, int], float] = field(repr=False)
    measure_split_times: Callable[[], dict[tuple[str, int], list[float]]] | None = field(
        default=None, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        who = f"EpochState(epoch={self.epoch})"
        given = tuple(self.capacity_bytes)
        if len(given) != len(self.system.devices):
            raise ValueError(
                f"{who}: capacity_bytes has {len(given)} values; the system has "
                f"{len(self.system.devices)} devices"
            )
        caps = []
        for d, c in enumerate(given):
            v = _as_int(c)  # numpy integers are accepted and stored as int
            if v is None or v < 0:
                raise ValueError(f"{who}: capacity_bytes[{d}]={c!r} must be a non-negative integer")
            caps.append(v)
        object.__setattr__(self, "capacity_bytes", tuple(caps))
        object.__setattr__(self, "finished", tuple(self.finished))
        object.__setattr__(self, "admitted", tuple(self.admitted))
        if self.iteration.model != self.model:
            raise ValueError(
                f"{who}: the iteration is of model {self.iteration.model.name}, "
                f"not {self.model.name}"
            )

    @classmethod
    def for_iteration(
        cls,
        system: SystemSpec,
        iteration: Iteration,
        *,
        capacity_bytes: Sequence[int] | None = None,
        epoch: int = 0,
        previous: Mapping | None = None,
    ) -> EpochState:
        """A state for one iteration outside a simulation (tests, notebooks, sweeps).

        Parameters
        ----------
        system
            The devices.
        iteration
            The iteration.
        capacity_bytes
            Per device (default None: each device's whole capacity, no reserve).
        epoch
            Epoch number (default 0).
        previous
            The previous mapping (default None).

        Returns
        -------
        EpochState
            With no finished or admitted requests and no measured kernel times.

        Example
        -------
        >>> from h2m2 import models, presets
        >>> it = DecodeIteration.uniform(models.get("Llama2-70B"), batch=8, seq_len=128)
        >>> EpochState.for_iteration(presets.h2m2(), it).units["qkv"]
        8
        """
        caps = (
            tuple(d.capacity_bytes for d in system.devices)
            if capacity_bytes is None
            else tuple(capacity_bytes)
        )
        return cls(
            epoch=epoch,
            system=system,
            model=iteration.model,
            iteration=iteration,
            finished=(),
            admitted=(),
            capacity_bytes=caps,
            previous=previous,
            kernel_times_ns={},
        )

    @classmethod
    def uniform(
        cls,
        system: SystemSpec,
        model: ModelSpec,
        *,
        batch: int,
        seq_len: int,
        capacity_bytes: Sequence[int] | None = None,
        epoch: int = 0,
        previous: Mapping | None = None,
    ) -> EpochState:
        """:meth:`for_iteration` of ``DecodeIteration.uniform(model, batch=, seq_len=)``.

        Example
        -------
        >>> from h2m2 import models, presets
        >>> EpochState.uniform(presets.h2m2(), models.get("GPT3-175B"), batch=2, seq_len=9).epoch
        0
        """
        it = DecodeIteration.uniform(model, batch=batch, seq_len=seq_len)
        return cls.for_iteration(
            system, it, capacity_bytes=capacity_bytes, epoch=epoch, previous=previous
        )

    @property
    def units(self) -> dict[str, int]:
        """N per sublayer, ``{"qkv": ..., "attention": ..., "fc": ...}``."""
        return self.iteration.units

    @property
    def devices(self) -> int:
        """Number of devices (1 or 2)."""
        return len(self.system.devices)


@dataclass(frozen=True)
class Mapping:
    """Where each sublayer's units live and run for one epoch.

    Parameters
    ----------
    split
        Per sublayer (``"qkv"``, ``"attention"``, ``"fc"``, all three required), the units whose
        data and compute are on device 0: units ``0 .. n-1`` on device 0, ``n .. N-1`` on
        device 1. On a one-device system every value must be N.
    compute_on
        Optional, per sublayer (any subset): run ALL units' compute on this device, reading the
        other device's units zero-copy over the link. Default None: compute follows data.

    Example
    -------
    >>> from h2m2 import models, presets
    >>> st = EpochState.uniform(presets.h2m2(), models.get("GPT3-175B"), batch=1, seq_len=8)
    >>> Mapping({"qkv": 96, "attention": 96, "fc": 0}).validate(st)
    """

    split: dict[str, int]
    compute_on: dict[str, int] | None = None

    def __post_init__(self) -> None:
        # Copies, so a policy that later mutates its own dict cannot change a mapping that ran.
        if isinstance(self.split, AbcMapping):
            object.__setattr__(self, "split", dict(self.split))
        if isinstance(self.compute_on, AbcMapping):
            object.__setattr__(self, "compute_on", dict(self.compute_on))

    @classmethod
    def all_on(cls, device: int, state: EpochState) -> Mapping:
        """Every unit of every sublayer on ``device`` (0: split N, 1: split 0).

        Example
        -------
        >>> from h2m2 import models, presets
        >>> st = EpochState.uniform(presets.h2m2(), models.get("Llama2-70B"), batch=1, seq_len=8)
        >>> Mapping.all_on(1, st).split
        {'qkv': 0, 'attention': 0, 'fc': 0}
        """
        return cls({s: (n if device == 0 else 0) for s, n in state.units.items()})

    def validate(self, state: EpochState) -> None:
        """Check the mapping against the epoch's iteration, devices and capacities.

        Parameters
        ----------
        state
            The epoch the mapping is for.

        Raises
        ------
        MappingError
            Naming the epoch and: an unknown or missing sublayer, an n that is not an integer
            in [0, N], a split that puts units on a device a one-device system lacks, a
            ``compute_on`` sublayer or device that does not exist, or a device whose capacity
            the mapping exceeds (bytes needed and available).

        Example
        -------
        >>> from h2m2 import models, presets
        >>> st = EpochState.uniform(presets.h2m2(), models.get("GPT3-175B"), batch=1, seq_len=8)
        >>> Mapping({"qkv": 97, "attention": 0, "fc": 0}).validate(st)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        h2m2.policies.base.MappingError: epoch 0: split['qkv']=97 is outside [0, 96]...
        """
        who = f"epoch {state.epoch}"
        units = state.units
        if not isinstance(self.split, AbcMapping):
            raise MappingError(
                f"{who}: split={self.split!r} must be a dict of units on device 0 per sublayer"
            )
        for s in self.split:
            if s not in units:
                raise MappingError(
                    f"{who}: split names unknown sublayer {s!r}; known: {', '.join(SUBLAYERS)}"
                )
        for s, big_n in units.items():
            if s not in self.split:
                raise MappingError(
                    f"{who}: split has no entry for sublayer {s!r} (every sublayer of "
                    f"{', '.join(SUBLAYERS)} needs one)"
                )
            n = _as_int(self.split[s])
            if n is None or not 0 <= n <= big_n:
                raise MappingError(
                    f"{who}: split[{s!r}]={self.split[s]!r} is outside [0, {big_n}] "
                    f"(sublayer {s!r} has {big_n} units)"
                )
            if state.devices == 1 and n != big_n:
                raise MappingError(
                    f"{who}: split[{s!r}]={n} leaves {big_n - n} units on device 1, but the "
                    f"system has one device ({state.system.devices[0].name}); every split must "
                    f"be N={big_n}"
                )
        if self.compute_on is not None:
            if not isinstance(self.compute_on, AbcMapping):
                raise MappingError(
                    f"{who}: compute_on={self.compute_on!r} must be None or a dict of device "
                    "per sublayer"
                )
            for s, d in self.compute_on.items():
                if s not in units:
                    raise MappingError(
                        f"{who}: compute_on names unknown sublayer {s!r}; "
                        f"known: {', '.join(SUBLAYERS)}"
                    )
                dev = _as_int(d)
                if dev is None or not 0 <= dev < state.devices:
                    raise MappingError(
                        f"{who}: compute_on[{s!r}]={d!r} is not a device of this system "
                        f"(0 .. {state.devices - 1})"
                    )
        need = footprint_by_device(self, state)
        for d, (b, cap) in enumerate(zip(need, state.capacity_bytes, strict=True)):
            if b > cap:
                raise MappingError(
                    f"{who}: split {self.split} needs {b} bytes on device {d} "
                    f"({state.system.devices[d].name}) but {cap} are available "
                    f"({b - cap} bytes over capacity)"
                )


def _as_int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    try:
        return operator.index(v)
    except TypeError:
        return None


def footprint_by_device(mapping: Mapping, state: EpochState) -> tuple[int, ...]:
    """Bytes a mapping places on each device: weights of all layers plus KV (attention).

    Compute placement (``compute_on``) does not move data, so it does not count.

    Parameters
    ----------
    mapping
        The mapping (its split must name every sublayer with an integer n in [0, N]).
    state
        The epoch (its iteration's footprints).

    Returns
    -------
    tuple of int
        One value per device of the system.

    Raises
    ------
    MappingError
        If a split leaves units on a device the system does not have.

    Example
    -------
    >>> from h2m2 import models, presets
    >>> st = EpochState.uniform(presets.h2m2(), models.get("GPT3-175B"), batch=1, seq_len=8)
    >>> footprint_by_device(Mapping.all_on(0, st), st)[1]
    0
    """
    on = [0, 0]
    for s in SUBLAYERS:
        sub = state.iteration.sublayer(s)
        n = int(mapping.split[s])
        fp = sub.unit_footprint_bytes
        on[0] += sum(fp[:n])
        on[1] += sum(fp[n:])
    if state.devices == 1:
        if on[1]:
            raise MappingError(
                f"epoch {state.epoch}: split {mapping.split} leaves {on[1]} bytes on device 1, "
                "but the system has one device"
            )
        return (on[0],)
    return (on[0], on[1])


class Policy(abc.ABC):
    """A mapping policy: called once per epoch, returns the mapping that runs in it.

    Subclass it and implement :meth:`on_epoch`; a user's class is called exactly like the
    built-ins (``h2m2.policies.get(name)``). A policy may keep state between epochs.

    Attributes
    ----------
    name
        Short name, used in results and errors (default ``"policy"``).

    Example
    -------
    >>> class AllOnZero(Policy):
    ...     def on_epoch(self, state):
    ...         return Mapping.all_on(0, state)
    """

    name: str = "policy"

    @abc.abstractmethod
    def on_epoch(self, state: EpochState) -> Mapping:
        """Choose the mapping for the epoch described by ``state``.

        Parameters
        ----------
        state
            The epoch.

        Returns
        -------
        Mapping

        Raises
        ------
        MappingError
            When no mapping of the policy's space fits the devices (naming the epoch).
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _cost_model(cost_model: CostModel | None) -> CostModel:
    """The given cost model, or the default one (a helper for the built-in policies)."""
    from h2m2.cost_model import CostModel

    if cost_model is None:
        return CostModel()
    if not isinstance(cost_model, CostModel):
        raise ValueError(f"cost_model={cost_model!r} must be an h2m2.cost_model.CostModel")
    return cost_model
