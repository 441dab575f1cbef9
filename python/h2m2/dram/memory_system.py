"""A DRAM memory system: many channels of one standard behind one address mapping.

Requests cross into C++ in bulk (numpy arrays); the C++ engine schedules every command of every
request and returns counters; everything derived (bandwidth, latency in ns, energy) is computed
here from those counters.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from h2m2.dram.address_mapping import FIELDS, AddressMapping
from h2m2.dram.command_log import COMMAND_LOG_DTYPE
from h2m2.dram.standard import COMMAND_NAMES, DeviceSpec
from h2m2.dram.standards import get as get_standard

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ControllerSpec", "DramStats", "MemorySpec", "MemorySystem"]


MAX_QUEUE = 32767  # request slots per queue: cpp/dram/controller.hpp keeps 16-bit slot indices


@dataclass(frozen=True)
class ControllerSpec:
    """Memory-controller parameters of every channel.

    Parameters
    ----------
    read_queue, write_queue
        Request slots per channel (default 64 each; at most 32767: the controller keeps 16-bit
        slot indices).
    write_high_watermark, write_low_watermark
        Start draining writes at ``high`` queued writes, return to reads at ``low``
        (defaults 48 / 16).
    row_hit_cap
        Consecutive row hits served from an open row while an older request waits for another row
        of the same bank, before that row is closed (default 16).
    page_policy
        ``"open"`` keeps rows open until a conflict; ``"closed"`` auto-precharges after the last
        queued hit (default ``"open"``).
    refresh
        ``"all_bank"`` (REFab every tREFI per rank), ``"per_bank"`` (REFpb every tREFIpb,
        round-robin over banks; what high-bandwidth controllers use to hide refresh) or ``"none"``
        (default ``"per_bank"``).
    """

    read_queue: int = 64
    write_queue: int = 64
    write_high_watermark: int = 48
    write_low_watermark: int = 16
    row_hit_cap: int = 16
    page_policy: Literal["open", "closed"] = "open"
    refresh: Literal["all_bank", "per_bank", "none"] = "per_bank"

    def __post_init__(self) -> None:
        for name in ("read_queue", "write_queue", "row_hit_cap"):
            v = getattr(self, name)
            if not isinstance(v, int) or v <= 0:
                raise ValueError(f"ControllerSpec: {name}={v!r} must be a positive integer")
        for name in ("read_queue", "write_queue"):
            if getattr(self, name) > MAX_QUEUE:
                raise ValueError(
                    f"ControllerSpec: {name}={getattr(self, name)} exceeds {MAX_QUEUE} slots"
                )
        if not (0 <= self.write_low_watermark < self.write_high_watermark <= self.write_queue):
            raise ValueError(
                f"ControllerSpec: write watermarks low={self.write_low_watermark}, "
                f"high={self.write_high_watermark} must satisfy 0 <= low < high <= "
                f"write_queue={self.write_queue}"
            )
        if self.page_policy not in ("open", "closed"):
            raise ValueError(
                f"ControllerSpec: page_policy={self.page_policy!r} must be 'open' or 'closed'"
            )
        if self.refresh not in ("all_bank", "per_bank", "none"):
            raise ValueError(
                f"ControllerSpec: refresh={self.refresh!r} must be 'all_bank', 'per_bank' or 'none'"
            )


@dataclass(frozen=True)
class MemorySpec:
    """A memory system: a device preset, how many of its channels, mapping and controller.

    Parameters
    ----------
    device
        A :class:`DeviceSpec` or a preset / standard name (``"HBM3"``, ``"LPDDR5X_8533_x16"``).
    channels
        JEDEC channels in the system (each has ``pseudo_channels`` scheduled channels). Default:
        the channels of one device (one HBM stack = 16).
    mapping
        Address mapping (default: channel-interleaved at column-command granularity).
    controller
        Controller parameters.

    Example
    -------
    >>> spec = MemorySpec("HBM3", channels=16)
    >>> spec.scheduled_channels
    32
    """

    device: DeviceSpec | str = "HBM3"
    channels: int | None = None
    mapping: AddressMapping = field(default_factory=AddressMapping)
    controller: ControllerSpec = field(default_factory=ControllerSpec)

    def __post_init__(self) -> None:
        if isinstance(self.device, str):
            object.__setattr__(self, "device", get_standard(self.device))
        if not isinstance(self.device, DeviceSpec):
            raise TypeError(
                f"MemorySpec: device={self.device!r} must be a DeviceSpec or a preset name"
            )
        self.device.validate()
        if self.channels is None:
            object.__setattr__(self, "channels", self.device.organization.channels)
        if not isinstance(self.channels, int) or self.channels <= 0:
            raise ValueError(f"MemorySpec: channels={self.channels!r} must be a positive integer")

    @property
    def dev(self) -> DeviceSpec:
        """The device preset (resolved from a name at construction)."""
        assert isinstance(self.device, DeviceSpec)
        return self.device

    @property
    def scheduled_channels(self) -> int:
        """Independently scheduled channels: ``channels * pseudo_channels``."""
        assert self.channels is not None
        return self.channels * self.dev.organization.pseudo_channels

    @property
    def capacity_bytes(self) -> int:
        """Total capacity, derived from the organisation."""
        return self.scheduled_channels * self.dev.organization.bytes_per_channel

    @property
    def peak_GBps(self) -> float:
        """Peak data bandwidth: ``scheduled_channels * dq_bits * data_rate / 8``."""
        return self.scheduled_channels * self.dev.channel_peak_GBps

    def to_config(self, record_commands: bool = False) -> dict[str, Any]:
        """The plain config dict the C++ engine receives."""
        cfg = self.dev.compile()
        cfg.update(
            channels=self.scheduled_channels,
            mapping_lsb_first=[int(i) for i in self.mapping.field_ids_lsb_first()],
            xor_bank=self.mapping.xor_bank,
            record_commands=record_commands,
            **dataclasses.asdict(self.controller),
        )
        return cfg


@dataclass(frozen=True)
class DramStats:
    """Statistics of a memory system since it was built.

    Latencies run from the cycle a request enters its controller queue to its last data beat.
    ``cycles`` is the cycle of the last data beat. Energy is in picojoules: per-command energies
    times command counts plus background power over ``cycles`` (see the standard's ``Energy``).
    """

    standard: str
    channels: int
    requests: int
    reads: int
    writes: int
    bytes: int
    cycles: int
    tck_ns: float
    bandwidth_GBps: float
    peak_GBps: float
    avg_read_latency_ns: float
    p50_read_latency_ns: float
    p95_read_latency_ns: float
    p99_read_latency_ns: float
    max_read_latency_ns: float
    avg_write_latency_ns: float
    row_hits: int
    row_misses: int
    row_conflicts: int
    commands: dict[str, int]
    refresh_cycles: int
    energy_pJ: float
    energy_by_class_pJ: dict[str, float]
    wall_s: float

    @property
    def utilization(self) -> float:
        """Achieved over peak bandwidth."""
        return self.bandwidth_GBps / self.peak_GBps if self.peak_GBps else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Flat dict (commands and energy classes as ``cmd_<NAME>`` / ``energy_<class>_pJ``)."""
        d = dataclasses.asdict(self)
        commands = d.pop("commands")
        energy = d.pop("energy_by_class_pJ")
        d.update({f"cmd_{k}": v for k, v in commands.items()})
        d.update({f"energy_{k}_pJ": v for k, v in energy.items()})
        d["utilization"] = self.utilization
        return d

    def to_frame(self) -> pd.DataFrame:
        """One-row pandas DataFrame of :meth:`to_dict`."""
        import pandas as pd

        return pd.DataFrame([self.to_dict()])


class MemorySystem:
    """A cycle-level DRAM memory system.

    Parameters
    ----------
    spec
        A :class:`MemorySpec`, a preset name, or a :class:`DeviceSpec`.
    record_commands
        Keep a log of every command (memory grows with the run; default off).
    **kwargs
        With a name or device: ``channels``, ``mapping``, ``controller`` for :class:`MemorySpec`.

    Example
    -------
    >>> mem = MemorySystem("HBM3", channels=16)
    >>> s = mem.run(np.arange(0, 1 << 20, 32, dtype=np.uint64))
    >>> s.requests
    32768
    """

    def __init__(
        self,
        spec: MemorySpec | DeviceSpec | str = "HBM3",
        *,
        record_commands: bool = False,
        **kwargs: Any,
    ) -> None:
        from h2m2 import _core

        if not isinstance(spec, MemorySpec):
            spec = MemorySpec(spec, **kwargs)
        elif kwargs:
            raise TypeError(
                f"MemorySystem: {', '.join(kwargs)} given with a MemorySpec; set them on the spec"
            )
        self.spec = spec
        self.record_commands = record_commands
        self._core = _core.dram.MemorySystem(spec.to_config(record_commands))
        self._wall_s = 0.0

    @property
    def capacity_bytes(self) -> int:
        return int(self._core.capacity_bytes)

    @property
    def transaction_bytes(self) -> int:
        """Bytes per request (one column command)."""
        return self.spec.dev.organization.transaction_bytes

    def run(
        self,
        addresses: np.ndarray,
        is_write: np.ndarray | None = None,
        arrival_cycles: np.ndarray | None = None,
    ) -> DramStats:
        """Simulate requests and return the statistics so far.

        Parameters
        ----------
        addresses
            Byte addresses (one column command each; low offset bits are ignored).
        is_write
            Boolean per request (default: all reads).
        arrival_cycles
            Non-decreasing arrival cycle per request, relative to the start of this call (default:
            all at once; they then enter as queue space frees, in order).

        Raises
        ------
        ValueError
            An address beyond capacity, mismatched lengths, negative or decreasing arrivals.
        KeyboardInterrupt
            On Ctrl-C; the requests simulated so far stay in the statistics.
        """
        addr = np.ascontiguousarray(addresses)
        if addr.ndim != 1:
            raise ValueError(f"addresses must be one-dimensional, got shape {addr.shape}")
        if addr.size and (addr.dtype.kind not in "ui"):
            raise ValueError(f"addresses must be integers, got dtype {addr.dtype}")
        if addr.size and addr.dtype.kind == "i" and int(addr.min()) < 0:
            i = int(np.argmax(addr < 0))
            raise ValueError(f"address of request {i} is negative ({int(addr[i])})")
        addr = addr.astype(np.uint64, copy=False)
        if addr.size:
            over = addr >= np.uint64(self.capacity_bytes)
            if over.any():
                i = int(np.argmax(over))
                raise ValueError(
                    f"{self.spec.dev.name}: address {int(addr[i]):#x} of request {i} is beyond the "
                    f"capacity of {self.capacity_bytes} bytes ({self.capacity_bytes / 2**30:g} GiB)"
                )
        w = None
        if is_write is not None:
            w = np.ascontiguousarray(is_write, dtype=np.uint8)
            if w.shape != addr.shape:
                raise ValueError(f"is_write has {w.size} entries for {addr.size} addresses")
        t = None
        if arrival_cycles is not None:
            t = np.ascontiguousarray(arrival_cycles, dtype=np.int64)
            if t.shape != addr.shape:
                raise ValueError(f"arrival_cycles has {t.size} entries for {addr.size} addresses")
            if t.size and int(t.min()) < 0:
                raise ValueError(f"arrival cycle of request {int(np.argmax(t < 0))} is negative")
            if t.size > 1:
                dec = np.diff(t) < 0
                if dec.any():
                    i = int(np.argmax(dec)) + 1
                    raise ValueError(
                        f"arrival cycles must not decrease: request {i} arrives at {int(t[i])}, "
                        f"before request {i - 1} at {int(t[i - 1])}"
                    )
        start = time.perf_counter()
        try:
            self._core.run_trace(addr, w, t)
        finally:
            self._wall_s += time.perf_counter() - start
        return self.stats()

    def run_trace(self, path: str | Path) -> DramStats:
        """Simulate a trace file (see :func:`h2m2.dram.trace.read_trace` for the format)."""
        from h2m2.dram.trace import read_trace

        addr, is_write, arrival = read_trace(path)
        return self.run(addr, is_write, arrival)

    def stats(self) -> DramStats:
        """Statistics since construction."""
        raw = self._core.stats()
        dev = self.spec.dev
        reads, writes = int(raw["reads"]), int(raw["writes"])
        tx = dev.organization.transaction_bytes
        cycles = int(raw["last_completion"])
        tck = dev.tck_ns
        nbytes = (reads + writes) * tx
        seconds = cycles * tck * 1e-9
        commands = {name: int(n) for name, n in zip(COMMAND_NAMES, raw["commands"], strict=True)}
        rl, wl = raw["read_latency"], raw["write_latency"]
        e = dev.energy
        n_ch = self.spec.scheduled_channels
        energy = {
            "act_pre": commands["ACT"] * e.act_pre_pJ,
            "read": (commands["RD"] + commands["RDA"]) * e.rd_pJ,
            "write": (commands["WR"] + commands["WRA"]) * e.wr_pJ,
            "refresh": commands["REFab"] * e.refab_pJ + commands["REFpb"] * e.refpb_pJ,
            "background": e.background_mW * 1e-3 * n_ch * seconds * 1e12,
        }

        def mean_ns(lat: dict[str, int]) -> float:
            return float(lat["sum"]) / lat["count"] * tck if lat["count"] else 0.0

        return DramStats(
            standard=dev.name,
            channels=n_ch,
            requests=reads + writes,
            reads=reads,
            writes=writes,
            bytes=nbytes,
            cycles=cycles,
            tck_ns=tck,
            bandwidth_GBps=nbytes / seconds / 1e9 if seconds > 0 else 0.0,
            peak_GBps=self.spec.peak_GBps,
            avg_read_latency_ns=mean_ns(rl),
            p50_read_latency_ns=rl["p50"] * tck,
            p95_read_latency_ns=rl["p95"] * tck,
            p99_read_latency_ns=rl["p99"] * tck,
            max_read_latency_ns=rl["max"] * tck,
            avg_write_latency_ns=mean_ns(wl),
            row_hits=int(raw["row_hits"]),
            row_misses=int(raw["row_misses"]),
            row_conflicts=int(raw["row_conflicts"]),
            commands=commands,
            refresh_cycles=int(raw["refresh_cycles"]),
            energy_pJ=float(sum(energy.values())),
            energy_by_class_pJ=energy,
            wall_s=self._wall_s,
        )

    def command_log(self) -> np.ndarray:
        """Every command issued so far (requires ``record_commands=True``).

        Returns a structured array with dtype :data:`h2m2.dram.command_log.COMMAND_LOG_DTYPE`.
        """
        if not self.record_commands:
            raise RuntimeError("MemorySystem was built with record_commands=False; no log was kept")
        cols = self._core.command_log()
        log = np.empty(len(cols["time"]), dtype=COMMAND_LOG_DTYPE)
        for name in COMMAND_LOG_DTYPE.names or ():
            log[name] = cols[name]
        return log

    def decode(self, addresses: np.ndarray) -> dict[str, np.ndarray]:
        """Map addresses to their fields (``channel, rank, bankgroup, bank, row, column``)."""
        out = self._core.decode(np.ascontiguousarray(addresses, dtype=np.uint64))
        return {name: out[:, i] for i, name in enumerate(FIELDS)}
