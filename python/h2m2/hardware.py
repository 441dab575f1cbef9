"""Hardware specifications: accelerator chips, MMUs, links, devices and systems.

Each parameter is declared once, as a frozen dataclass field with its unit in the name and a
one-line doc; defaults follow H2M2's Table 1/2 (``../shared/spec/h2m2.md``) and every choice the
paper leaves open is a line in ``docs/assumptions.md``. ``to_config()`` turns a spec into the plain
dict the C++ engine receives.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from h2m2.dram.memory_system import MemorySpec

__all__ = [
    "VECTOR_OPS",
    "AcceleratorSpec",
    "LinkSpec",
    "MmuSpec",
    "NpuSpec",
    "SystemSpec",
]

# Vector / special-function operations known to the engine (cpp/npu/npu_config.hpp VectorOp).
VECTOR_OPS: tuple[str, ...] = (
    "softmax",
    "layernorm",
    "rmsnorm",
    "gelu",
    "silu",
    "swiglu",
    "rope",
    "residual_add",
    "quantize",
    "dequantize",
)


def _positive(owner: str, **values: float) -> None:
    for name, v in values.items():
        if not (isinstance(v, (int, float)) and not isinstance(v, bool)) or v <= 0:
            raise ValueError(f"{owner}: {name}={v!r} must be positive")


@dataclass(frozen=True)
class NpuSpec:
    """One accelerator chip (H2M2 Table 1).

    Parameters
    ----------
    cores
        Cores per chip (default 4).
    clock_MHz
        Core clock (default 1000 MHz).
    sa_rows, sa_cols
        Weight-stationary systolic array per core (default 128 x 128).
    mv_lanes, mv_width
        Matrix-vector unit: lanes, each a ``mv_width``-wide dot product per cycle
        (default 32 x 128).
    vector_width
        Vector-unit elements per cycle (OPEN; default 128).
    sfu_width
        Special-function operations per cycle (OPEN; default 32).
    spm_bytes, spm_buffers
        Scratchpad buffer size and count (default 2 x 16 MiB, double buffering).
    tile_target_bytes
        Bytes a tile's loads aim for, rounded to whole unit passes and capped by a buffer (OPEN;
        default 1 MiB: small enough that the unoverlapped last tile is ~1% of a streaming kernel).
    mv_max_rows
        A linear layer with at most this many input rows runs on the MV unit, otherwise on the
        systolic array (OPEN; default 8).
    element_bytes
        Bytes per element (default 1: INT8 weights, activations and KV cache).
    dma_max_inflight
        Memory requests in flight per core's DMA engine (default 4096; covers ~3 TB/s x ~150 ns
        shared by 4 cores).
    dma_issue_per_cycle
        Requests a DMA engine issues per core cycle (default 64).
    dma_stagger
        Keep cores working in lockstep out of each other's DRAM banks (OPEN; default True): a
        core whose loads are one region a whole number of the memory's row periods long starts
        c/C of a period in (on the physical address) and wraps around; otherwise core c of C
        starts each load tile that is one contiguous stream c/C of the way in
        (docs/assumptions.md).
    dma_arbitration
        Which core's DMA engine issues first when several can (they share the memory's queues):
        ``"least_progress"`` (default; OPEN), the cores that have computed the smallest share of
        their tiles first and in turn among equals, which holds a kernel's cores together; or
        ``"round_robin"``, in turn, under which they drift apart (docs/assumptions.md).

    Example
    -------
    >>> NpuSpec(cores=2).cores
    2
    """

    cores: int = 4
    clock_MHz: float = 1000.0
    sa_rows: int = 128
    sa_cols: int = 128
    mv_lanes: int = 32
    mv_width: int = 128
    vector_width: int = 128
    sfu_width: int = 32
    spm_bytes: int = 16 << 20
    spm_buffers: int = 2
    tile_target_bytes: int = 1 << 20
    mv_max_rows: int = 8
    element_bytes: int = 1
    dma_max_inflight: int = 4096
    dma_issue_per_cycle: int = 64
    dma_stagger: bool = True
    dma_arbitration: Literal["least_progress", "round_robin"] = "least_progress"

    def __post_init__(self) -> None:
        if not isinstance(self.dma_stagger, bool):
            raise ValueError(f"NpuSpec: dma_stagger={self.dma_stagger!r} must be True or False")
        if self.dma_arbitration not in ("least_progress", "round_robin"):
            raise ValueError(
                f"NpuSpec: dma_arbitration={self.dma_arbitration!r} must be 'least_progress' or "
                "'round_robin'"
            )
        _positive(
            "NpuSpec",
            **{
                f.name: getattr(self, f.name)
                for f in dataclasses.fields(self)
                if f.name not in ("dma_stagger", "dma_arbitration")
            },
        )
        if round(1e6 / self.clock_MHz) <= 0:
            raise ValueError(f"NpuSpec: clock_MHz={self.clock_MHz} is too fast for 1 ps resolution")

    @property
    def clock_ps(self) -> int:
        """Core clock period: ``1e6 / clock_MHz`` ps, rounded to whole picoseconds."""
        return round(1e6 / self.clock_MHz)

    def to_config(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("clock_MHz")
        d["clock_ps"] = self.clock_ps
        d["name"] = "npu"
        return d


@dataclass(frozen=True)
class MmuSpec:
    """Address translation of one chip (H2M2 Table 2).

    Parameters
    ----------
    tlb_entries
        TLB entries (default 2048).
    tlb_ways
        Associativity; 0 = fully associative (default 0).
    page_bytes
        Page size (default 2 MiB).
    walk_latency_ns
        Page-table walk on a miss (default 300 ns).
    concurrent_walks
        Walks in flight at once (OPEN; default 8).
    prefetch_next
        A miss also walks the next page (OPEN; default True).
    """

    tlb_entries: int = 2048
    tlb_ways: int = 0
    page_bytes: int = 2 << 20
    walk_latency_ns: float = 300.0
    concurrent_walks: int = 8
    prefetch_next: bool = True

    def __post_init__(self) -> None:
        _positive(
            "MmuSpec",
            tlb_entries=self.tlb_entries,
            page_bytes=self.page_bytes,
            walk_latency_ns=self.walk_latency_ns,
            concurrent_walks=self.concurrent_walks,
        )
        if self.page_bytes & (self.page_bytes - 1):
            raise ValueError(f"MmuSpec: page_bytes={self.page_bytes} must be a power of two")
        if self.tlb_ways < 0 or (self.tlb_ways and self.tlb_entries % self.tlb_ways):
            raise ValueError(
                f"MmuSpec: tlb_ways={self.tlb_ways} must be 0 or divide "
                f"tlb_entries={self.tlb_entries}"
            )

    def to_config(self) -> dict[str, Any]:
        return {
            "entries": self.tlb_entries,
            "ways": self.tlb_ways,
            "page_bytes": self.page_bytes,
            "walk_latency_ps": round(self.walk_latency_ns * 1000),
            "concurrent_walks": self.concurrent_walks,
            "prefetch_next": self.prefetch_next,
        }


@dataclass(frozen=True)
class LinkSpec:
    """A chip-to-chip link.

    Parameters
    ----------
    bandwidth_GBps
        Bandwidth per direction (default 480 GB/s: the paper's 960 GB/s read as the total of both
        directions; docs/assumptions.md).
    latency_ns
        One-way latency (OPEN; default 500 ns).
    granularity_bytes
        Transfer unit; a transfer is rounded up to whole units (default 32 B, one DRAM
        transaction: remote reads and writes then use the whole bandwidth; OPEN).
    """

    bandwidth_GBps: float = 480.0
    latency_ns: float = 500.0
    granularity_bytes: int = 32

    def __post_init__(self) -> None:
        _positive(
            "LinkSpec", bandwidth_GBps=self.bandwidth_GBps, granularity_bytes=self.granularity_bytes
        )
        if self.latency_ns < 0:
            raise ValueError(f"LinkSpec: latency_ns={self.latency_ns} must not be negative")

    def to_config(self) -> dict[str, Any]:
        return {
            "name": "link",
            "bandwidth_GBps": float(self.bandwidth_GBps),
            "latency_ps": round(self.latency_ns * 1000),
            "granularity_bytes": self.granularity_bytes,
        }


@dataclass(frozen=True)
class AcceleratorSpec:
    """A device: one accelerator chip with its own memory and MMU.

    Parameters
    ----------
    name
        Device name (``"hbm"``, ``"lpddr"``).
    memory
        The memory system behind the chip.
    npu
        The chip.
    mmu
        Its address translation.
    """

    name: str
    memory: MemorySpec
    npu: NpuSpec = field(default_factory=NpuSpec)
    mmu: MmuSpec = field(default_factory=MmuSpec)

    @property
    def capacity_bytes(self) -> int:
        return self.memory.capacity_bytes

    @property
    def peak_GBps(self) -> float:
        return self.memory.peak_GBps

    def to_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "npu": self.npu.to_config(),
            "dram": self.memory.to_config(),
            "tlb": self.mmu.to_config(),
            "dram_peak_GBps": self.memory.peak_GBps,
        }


@dataclass(frozen=True)
class SystemSpec:
    """Devices joined by (at most) one link.

    Parameters
    ----------
    devices
        One or two devices; device 0 is the first.
    link
        The link between devices 0 and 1 (required with two devices).
    barrier_ns
        Cost of the barrier after each sublayer (kernel launch and synchronisation; OPEN,
        default 2000 ns).
    tensor_parallel
        K > 1: the system is K identical copies of its one device running the model
        tensor-parallel (the paper's 8-HBM baseline); the simulator runs 1/K of each sublayer's
        units on one copy and adds ring all-reduces over ``tp_link`` (default 1: no tensor
        parallelism).
    tp_link
        The link between tensor-parallel copies, bandwidth per direction and per-step latency
        (required when ``tensor_parallel > 1``, default None).
    """

    devices: tuple[AcceleratorSpec, ...]
    link: LinkSpec | None = None
    barrier_ns: float = 2000.0
    tensor_parallel: int = 1
    tp_link: LinkSpec | None = None

    def __post_init__(self) -> None:
        if not 1 <= len(self.devices) <= 2:
            raise ValueError(f"SystemSpec: {len(self.devices)} devices; 1 or 2 are supported")
        if len(self.devices) == 2 and self.link is None:
            raise ValueError("SystemSpec: two devices need a link")
        names = [d.name for d in self.devices]
        if len(set(names)) != len(names):
            raise ValueError(f"SystemSpec: device names {names} must be distinct")
        pages = {d.mmu.page_bytes for d in self.devices}
        if len(pages) != 1:
            raise ValueError(f"SystemSpec: devices use different page sizes {sorted(pages)}")
        if self.barrier_ns < 0:
            raise ValueError(f"SystemSpec: barrier_ns={self.barrier_ns} must not be negative")
        tp = self.tensor_parallel
        if isinstance(tp, bool) or not isinstance(tp, int) or tp < 1:
            raise ValueError(f"SystemSpec: tensor_parallel={tp!r} must be an integer >= 1")
        if tp > 1 and len(self.devices) != 1:
            raise ValueError(
                f"SystemSpec: tensor_parallel={tp} needs exactly one device (the copies are "
                f"identical), got {len(self.devices)}"
            )
        if tp > 1 and self.tp_link is None:
            raise ValueError(f"SystemSpec: tensor_parallel={tp} needs a tp_link")
        if self.tp_link is not None and not isinstance(self.tp_link, LinkSpec):
            raise ValueError(f"SystemSpec: tp_link={self.tp_link!r} must be a LinkSpec or None")

    def device_index(self, name: str) -> int:
        for i, d in enumerate(self.devices):
            if d.name == name:
                return i
        raise ValueError(
            f"SystemSpec: no device {name!r}; devices are {[d.name for d in self.devices]}"
        )

    @property
    def page_bytes(self) -> int:
        return self.devices[0].mmu.page_bytes

    def replace_device(self, name: str, **changes: Any) -> SystemSpec:
        """A copy with fields of one device changed (``memory=``, ``npu=``, ``mmu=``)."""
        i = self.device_index(name)
        devs = list(self.devices)
        devs[i] = dataclasses.replace(devs[i], **changes)
        return dataclasses.replace(self, devices=tuple(devs))
