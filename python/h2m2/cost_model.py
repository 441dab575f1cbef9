"""The mapping solvers' "ideal time": a per-sublayer, per-device roofline (spec section 4).

Models: the cost a policy minimises when it chooses a mapping, not the simulated time. The H2M2
paper's runtime solver ranks splits by an ideal time, "operations / peak, with a per-sublayer
hyper-parameter for arithmetic intensity", and leaves the exact formula open. Here it is the
roofline of one layer's units on one device::

    T_d(units) = max(bytes_read / (peak_GBps_d x bw_efficiency),
                     MACs / (peak_MACs_per_ns_d x compute_efficiency x intensity_factor[sublayer]))

with ``bytes_read`` = the weights the units stream in one layer plus their KV cache (attention),
``MACs`` = their multiply-accumulates in one layer, and ``peak_MACs_per_ns_d = cores x
(sa_rows x sa_cols x m / max(m, sa_rows) if m > mv_max_rows else mv_lanes x mv_width) x
clock_MHz / 1000`` for m token rows: a weight-stationary array takes max(m, sa_rows) cycles per
weight tile (the next tile shifts in while one streams), so below sa_rows rows it is bound by
loading weights (1 GB/s = 1 byte/ns, so times are in ns). The two devices of a split run at
the same time, so a sublayer split ``n`` / ``N - n`` costs ``max(T_0(n units), T_1(N - n
units))``; a layer is the sum over its three sublayers and an iteration is ``layers`` times a
layer.

Owns: nothing mutable (:class:`CostModel` is a frozen dataclass of hyper-parameters).
Time unit: ns (float). Hot path: no (policy callbacks at epoch boundaries); every table over all
splits ``n = 0 .. N`` is one vectorised numpy expression.

Decisions (also in docs/assumptions.md):

- The MV/systolic-array choice uses the iteration's token rows (the batch in decode) for all
  three sublayers, as the engine's ``mv_max_rows`` rule does for linear layers; attention's real
  utilisation is tuned with ``intensity_factor["attention"]``.
- Barriers, kernel launch, link transfers of activations and address translation are not in the
  ideal time (the simulator charges them); they do not change which split balances two devices.
- ``compute_on`` (all units computed on one chip, the other device's units read zero-copy over
  the link): ``max(local bytes / local bandwidth, remote bytes / min(remote bandwidth, link
  bandwidth per direction), all MACs / local peak)``; the two streams overlap.
- Migration (used only when a policy charges abstraction costs): the bytes of the units whose
  side changes, each direction at ``min(link bandwidth per direction, source and destination
  bandwidth x bw_efficiency)``, both directions at once: ``max(bytes_0to1, bytes_1to0) / rate``.
  Page-table and TLB updates are not counted.

Spec: ../shared/spec/h2m2.md section 4; issue 4 ("Policies").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from h2m2.workload import SUBLAYERS

if TYPE_CHECKING:
    from h2m2.hardware import AcceleratorSpec, NpuSpec
    from h2m2.policies.base import EpochState

__all__ = ["CostModel"]


def _positive_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


@dataclass(frozen=True)
class CostModel:
    """Hyper-parameters of the roofline "ideal time" the mapping policies minimise.

    Parameters
    ----------
    bw_efficiency
        Fraction of a device's peak DRAM bandwidth a streaming kernel reaches (default 0.95;
        in (0, 1]).
    compute_efficiency
        Fraction of the compute peak reached by every sublayer (default 1.0; in (0, 1]).
    intensity_factor
        Per-sublayer multiplier of the compute peak (``"qkv"``, ``"attention"``, ``"fc"``;
        every missing sublayer gets 1.0, the default). Below 1 a sublayer uses its compute units
        less well (e.g. attention's per-request GEMVs) and turns compute-bound sooner; above 1
        it does better than the peak the MV/systolic-array rule assigns it.

    Raises
    ------
    ValueError
        For an efficiency outside (0, 1], an unknown sublayer or a factor that is not a
        positive finite number.

    Example
    -------
    >>> cm = CostModel(intensity_factor={"attention": 0.5})
    >>> cm.intensity_factor["fc"]
    1.0
    """

    bw_efficiency: float = 0.95
    compute_efficiency: float = 1.0
    intensity_factor: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for fname in ("bw_efficiency", "compute_efficiency"):
            v = getattr(self, fname)
            if not _positive_number(v) or v > 1:
                raise ValueError(f"CostModel: {fname}={v!r} must be in (0, 1]")
        if not isinstance(self.intensity_factor, Mapping):
            raise ValueError(
                f"CostModel: intensity_factor={self.intensity_factor!r} must be a dict "
                f"keyed by sublayer ({', '.join(SUBLAYERS)})"
            )
        for key, v in self.intensity_factor.items():
            if key not in SUBLAYERS:
                raise ValueError(
                    f"CostModel: intensity_factor has unknown sublayer {key!r}; "
                    f"known: {', '.join(SUBLAYERS)}"
                )
            if not _positive_number(v):
                raise ValueError(
                    f"CostModel: intensity_factor[{key!r}]={v!r} must be a positive finite number"
                )
        full = {s: float(self.intensity_factor.get(s, 1.0)) for s in SUBLAYERS}
        object.__setattr__(self, "intensity_factor", full)

    # ----------------------------------------------------------------- peaks
    @staticmethod
    def peak_macs_per_ns(npu: NpuSpec, rows: int) -> float:
        """Compute peak of one chip in MACs per ns.

        ``cores x (sa_rows x sa_cols x rows / max(rows, sa_rows) if rows > mv_max_rows else
        mv_lanes x mv_width) x clock_MHz / 1000``: the systolic array's per-weight-tile period
        is max(rows, sa_rows) cycles (``cpp/npu/systolic_array.hpp``).

        Parameters
        ----------
        npu
            The chip.
        rows
            Token rows of the iteration (the batch in decode).

        Returns
        -------
        float

        Example
        -------
        >>> from h2m2.hardware import NpuSpec
        >>> CostModel.peak_macs_per_ns(NpuSpec(), rows=128)
        65536.0
        >>> CostModel.peak_macs_per_ns(NpuSpec(), rows=32)
        16384.0
        """
        if rows > npu.mv_max_rows:
            per_cycle = npu.sa_rows * npu.sa_cols * rows / max(rows, npu.sa_rows)
        else:
            per_cycle = npu.mv_lanes * npu.mv_width
        return float(npu.cores * per_cycle * npu.clock_MHz / 1000.0)

    def bandwidth_bytes_per_ns(self, device: AcceleratorSpec) -> float:
        """Effective streaming bandwidth of a device: ``peak_GBps x bw_efficiency`` (bytes/ns)."""
        return float(device.peak_GBps) * self.bw_efficiency

    def compute_macs_per_ns(self, device: AcceleratorSpec, sublayer: str, rows: int) -> float:
        """Effective compute rate of a sublayer on a device (MACs/ns).

        ``peak_macs_per_ns x compute_efficiency x intensity_factor[sublayer]``.
        """
        return (
            self.peak_macs_per_ns(device.npu, rows)
            * self.compute_efficiency
            * self.intensity_factor[sublayer]
        )

    # ----------------------------------------------------------------- tables
    def unit_times_ns(self, state: EpochState, sublayer: str, device: int) -> np.ndarray:
        """Ideal time of one layer of a sublayer on a device holding k units, for k = 0 .. N.

        Device 0 holds the first k units (0 .. k-1), device 1 the last k (N-k .. N-1), as in a
        :class:`~h2m2.policies.base.Mapping`.

        Parameters
        ----------
        state
            The epoch (its iteration and system).
        sublayer
            ``"qkv"``, ``"attention"`` or ``"fc"``.
        device
            Device index.

        Returns
        -------
        numpy.ndarray
            ``N + 1`` float64 times in ns; entry 0 is 0.

        Example
        -------
        >>> from h2m2 import models, presets
        >>> from h2m2.policies.base import EpochState
        >>> st = EpochState.uniform(presets.h2m2(), models.get("GPT3-175B"), batch=32, seq_len=512)
        >>> CostModel().unit_times_ns(st, "fc", 0).shape
        (97,)
        """
        sub = state.iteration.sublayer(sublayer)
        dev = state.system.devices[device]
        read = np.asarray(sub.read_bytes, dtype=np.float64)
        ops = np.asarray(sub.ops, dtype=np.float64)
        if device != 0:
            read, ops = read[::-1], ops[::-1]
        cum_read = np.concatenate(([0.0], np.cumsum(read)))
        cum_ops = np.concatenate(([0.0], np.cumsum(ops)))
        bw = self.bandwidth_bytes_per_ns(dev)
        macs = self.compute_macs_per_ns(dev, sublayer, state.iteration.tokens)
        out: np.ndarray = np.maximum(cum_read / bw, cum_ops / macs)
        return out

    def split_times_ns(self, state: EpochState, sublayer: str) -> np.ndarray:
        """Ideal time of one layer of a sublayer for every split n = 0 .. N.

        ``max(T_0(n units), T_1(N - n units))``: the two devices run their units at the same
        time. On a one-device system only ``n = N`` is possible; the other entries are ``inf``.

        Parameters
        ----------
        state
            The epoch.
        sublayer
            ``"qkv"``, ``"attention"`` or ``"fc"``.

        Returns
        -------
        numpy.ndarray
            ``N + 1`` float64 times in ns, indexed by n.

        Example
        -------
        >>> from h2m2 import models, presets
        >>> from h2m2.policies.base import EpochState
        >>> st = EpochState.uniform(presets.h2m2(), models.get("GPT3-175B"), batch=32, seq_len=512)
        >>> int(CostModel().split_times_ns(st, "attention").argmin()) > 48
        True
        """
        t0 = self.unit_times_ns(state, sublayer, 0)
        if len(state.system.devices) == 1:
            out = np.full_like(t0, np.inf)
            out[-1] = t0[-1]
            return out
        t1 = self.unit_times_ns(state, sublayer, 1)
        split: np.ndarray = np.maximum(t0, t1[::-1])
        return split

    # ----------------------------------------------------------------- one mapping
    def layer_time_ns(
        self,
        split: Mapping[str, int],
        state: EpochState,
        *,
        compute_on: Mapping[str, int] | None = None,
    ) -> float:
        """Ideal time of one layer under a mapping: the sum over sublayers of the split time.

        Parameters
        ----------
        split
            Units of each sublayer on device 0 (as ``Mapping.split``); not validated here.
        state
            The epoch.
        compute_on
            As ``Mapping.compute_on`` (default None: compute follows data).

        Returns
        -------
        float
            ns per layer (``inf`` for a split a one-device system cannot run).

        Example
        -------
        >>> from h2m2 import models, presets
        >>> from h2m2.policies.base import EpochState
        >>> st = EpochState.uniform(presets.lpddr_only(), models.get("OPT-66B"), batch=8, seq_len=6)
        >>> CostModel().layer_time_ns({"qkv": 72, "attention": 72, "fc": 72}, st) > 0
        True
        """
        total = 0.0
        for s in SUBLAYERS:
            n = int(split[s])
            c = None if compute_on is None else compute_on.get(s)
            if c is None:
                total += float(self.split_times_ns(state, s)[n])
            else:
                total += self._compute_on_time_ns(state, s, n, int(c))
        return total

    layer_time = layer_time_ns  # the name used in issue 4 and the policies brief

    def iteration_time_ns(
        self,
        split: Mapping[str, int],
        state: EpochState,
        *,
        compute_on: Mapping[str, int] | None = None,
    ) -> float:
        """``layers x layer_time_ns(split, state, compute_on=...)`` (ns)."""
        return state.iteration.layers * self.layer_time_ns(split, state, compute_on=compute_on)

    def _compute_on_time_ns(self, state: EpochState, sublayer: str, n: int, compute: int) -> float:
        sub = state.iteration.sublayer(sublayer)
        devices = state.system.devices
        read = sub.read_bytes
        on_dev = (float(sum(read[:n])), float(sum(read[n:])))
        dev = devices[compute]
        ops = float(sum(sub.ops))
        local = on_dev[compute] if len(devices) == 2 else on_dev[0] + on_dev[1]
        t = max(
            local / self.bandwidth_bytes_per_ns(dev),
            ops / self.compute_macs_per_ns(dev, sublayer, state.iteration.tokens),
        )
        if len(devices) == 2:
            other = 1 - compute
            remote = on_dev[other]
            if remote:
                rate = self.bandwidth_bytes_per_ns(devices[other])
                if state.system.link is not None:
                    rate = min(rate, float(state.system.link.bandwidth_GBps))
                t = max(t, remote / rate)
        return t

    # ----------------------------------------------------------------- migration
    def migration_rate_bytes_per_ns(self, state: EpochState) -> float:
        """Copy rate of one direction: ``min(link per direction, both bandwidths x bw_efficiency)``.

        ``inf`` on a one-device system (nothing can move).
        """
        devices = state.system.devices
        if len(devices) < 2 or state.system.link is None:
            return math.inf
        return min(
            float(state.system.link.bandwidth_GBps),
            self.bandwidth_bytes_per_ns(devices[0]),
            self.bandwidth_bytes_per_ns(devices[1]),
        )

    def migration_ns(
        self, previous: Mapping[str, int] | None, split: Mapping[str, int], state: EpochState
    ) -> float:
        """Time to move from split ``previous`` to ``split`` (module docstring), in ns.

        Parameters
        ----------
        previous
            The split that ran last epoch (None: nothing placed yet, no cost).
        split
            The new split.
        state
            The epoch (the footprints of this iteration).

        Returns
        -------
        float

        Example
        -------
        >>> from h2m2 import models, presets
        >>> from h2m2.policies.base import EpochState
        >>> st = EpochState.uniform(presets.h2m2(), models.get("GPT3-175B"), batch=1, seq_len=1)
        >>> before = {"qkv": 96, "attention": 96, "fc": 96}
        >>> CostModel().migration_ns(before, {**before, "fc": 95}, st) > 0
        True
        """
        if previous is None:
            return 0.0
        to_1 = to_0 = 0
        for s in SUBLAYERS:
            sub = state.iteration.sublayer(s)
            p, n = int(previous[s]), int(split[s])
            lo, hi = min(p, n), max(p, n)
            moved = sum(sub.unit_footprint_bytes[lo:hi])
            if n < p:
                to_1 += moved
            else:
                to_0 += moved
        if to_0 == to_1 == 0:
            return 0.0
        return max(to_0, to_1) / self.migration_rate_bytes_per_ns(state)
