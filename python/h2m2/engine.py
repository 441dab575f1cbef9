"""The multi-device engine: kernels, sublayers, programs and epochs, at a chosen fidelity.

A *program* is a list of :class:`Sublayer`; each holds one fused :class:`Kernel` per device, which
run concurrently, then a barrier, then the activation exchange over the link. The C++ engine
(``h2m2._core.engine``) runs whole programs without the GIL; Python only builds them and reads the
results. Fidelity (``docs/fidelity.md``):

* ``"cycle"``: every memory request of every kernel, all devices of a sublayer in one loop;
* ``"sampled"`` (default): each kernel alone until its request rate is steady, then the middle of
  the kernel is skipped at that rate and its last tiles simulated again; memoised by signature;
* ``"analytic"``: roofline with the bandwidth efficiency measured by the sampled model.

``memo_store`` (a :class:`~h2m2.memo_store.KernelMemoStore`) extends the ``sampled`` memo beyond
one engine: before a run, kernels missing from the engine's memo are looked up in the store;
after it, the kernels the engine simulated are written to it. Processes (or machines) sharing the
store's directory then simulate each kernel once.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from h2m2.hardware import VECTOR_OPS, SystemSpec

if TYPE_CHECKING:  # memo_store imports the package's version, so not at import time
    from h2m2.memo_store import KernelMemoStore

__all__ = [
    "FIDELITIES",
    "Engine",
    "Kernel",
    "KernelResult",
    "Sublayer",
    "SublayerResult",
    "default_threads",
    "set_default_threads",
    "write_timeline",
]

Fidelity = Literal["cycle", "sampled", "analytic"]
FIDELITIES: tuple[str, ...] = ("cycle", "sampled", "analytic")
_OPS = ("linear", "attention", "vector", "copy")
_MAX_DEFAULT_THREADS = 8
_default_threads: int | None = None


def default_threads() -> int:
    """Threads an :class:`Engine` uses when ``threads`` is not given: the value of
    :func:`set_default_threads` if called in this process, else the environment variable
    ``H2M2_ENGINE_THREADS``, else the CPUs this process may run on (at most 8)."""
    if _default_threads is not None:
        return _default_threads
    env = os.environ.get("H2M2_ENGINE_THREADS")
    if env is not None:
        try:
            n = int(env)
        except ValueError:
            n = 0
        if n < 1:
            raise ValueError(f"H2M2_ENGINE_THREADS={env!r} must be a positive integer")
        return n
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, _MAX_DEFAULT_THREADS))


def set_default_threads(n: int | None) -> None:
    """Set the process-wide default of ``Engine.threads`` (None: back to automatic). Parallel
    sweeps set 1 in their workers, which already use every core."""
    global _default_threads
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"set_default_threads: n={n!r} must be a positive integer or None")
    _default_threads = n


@dataclass(frozen=True)
class Kernel:
    """One fused kernel on one device.

    Parameters
    ----------
    name
        Label for results and the timeline.
    device
        Device index in the system.
    op
        ``"linear"`` (out[m x n] = in[m x k] W[k x n], W streamed), ``"attention"`` (decode
        attention over ``kv_heads`` KV heads of ``batch`` requests with ``kv_len`` cached tokens,
        ``group`` query heads per KV head), ``"vector"`` (``elements`` of ``vop``, in place) or
        ``"copy"`` (``elements`` from ``stream_base`` to ``out_base``: page migration).
    stream_base, out_base
        Logical addresses of the streamed operand and of the output.
    signature
        Memo key for ``sampled`` fidelity; kernels with equal signatures must have equal timing.
        Default: derived from the shape and the device (not the addresses).

    Example
    -------
    >>> Kernel("qkv", device=0, op="linear", m=32, k=12288, n=4608).op
    'linear'
    """

    name: str
    device: int
    op: str
    m: int = 0
    k: int = 0
    n: int = 0
    batch: int = 0
    kv_heads: int = 0
    group: int = 1
    head_dim: int = 0
    kv_len: int = 0
    vop: str = "residual_add"
    elements: int = 0
    element_bytes: int = 1
    stream_base: int = 0
    out_base: int = 0
    signature: str | None = None

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"Kernel {self.name}: op={self.op!r} must be one of {_OPS}")
        if self.op == "vector" and self.vop not in VECTOR_OPS:
            raise ValueError(f"Kernel {self.name}: vop={self.vop!r} must be one of {VECTOR_OPS}")
        for f in (
            "m",
            "k",
            "n",
            "batch",
            "kv_heads",
            "group",
            "head_dim",
            "kv_len",
            "elements",
            "stream_base",
            "out_base",
        ):
            if getattr(self, f) < 0:
                raise ValueError(f"Kernel {self.name}: {f}={getattr(self, f)} must not be negative")
        if self.element_bytes <= 0:
            raise ValueError(
                f"Kernel {self.name}: element_bytes={self.element_bytes} must be positive"
            )

    def shape_key(self) -> str:
        """The shape part of the signature (op and sizes, no addresses)."""
        if self.op == "linear":
            return f"linear:{self.m}x{self.k}x{self.n}:e{self.element_bytes}"
        if self.op == "attention":
            return (
                f"attention:b{self.batch}:h{self.kv_heads}:g{self.group}:d{self.head_dim}:"
                f"l{self.kv_len}:e{self.element_bytes}"
            )
        if self.op == "copy":
            return f"copy:{self.elements}:e{self.element_bytes}"
        return f"vector:{self.vop}:{self.elements}:e{self.element_bytes}"

    def operand_ranges(self) -> list[tuple[int, int]]:
        """(logical base, bytes) of the streamed operand and of the output."""
        e = self.element_bytes
        if self.op == "linear":
            return [(self.stream_base, self.k * self.n * e), (self.out_base, self.m * self.n * e)]
        if self.op == "attention":
            kv = self.kv_heads * self.batch * 2 * self.kv_len * self.head_dim * e
            out = self.kv_heads * self.batch * self.group * self.head_dim * e
            return [(self.stream_base, kv), (self.out_base, out)]
        if self.op == "copy":
            return [(self.stream_base, self.elements * e), (self.out_base, self.elements * e)]
        return [(self.stream_base, self.elements * e)]

    def to_dict(self) -> dict[str, Any]:
        desc = {
            f: getattr(self, f)
            for f in (
                "op",
                "m",
                "k",
                "n",
                "batch",
                "kv_heads",
                "group",
                "head_dim",
                "kv_len",
                "vop",
                "elements",
                "element_bytes",
                "stream_base",
                "out_base",
            )
        }
        signature = (
            self.signature if self.signature is not None else f"d{self.device}:{self.shape_key()}"
        )
        return {"name": self.name, "device": self.device, "desc": desc, "signature": signature}


@dataclass(frozen=True)
class Sublayer:
    """Kernels that run concurrently (one per device), then a barrier and an exchange.

    Parameters
    ----------
    name
        Label (``"qkv"``, ``"attention"``, ``"fc"``).
    kernels
        The kernels, at most one per device is the usual case.
    exchange_bytes
        Bytes sent after the barrier from device 0 to 1 and from 1 to 0.
    barrier_ns
        Barrier cost (default: the system's).
    """

    name: str
    kernels: tuple[Kernel, ...]
    exchange_bytes: tuple[int, int] = (0, 0)
    barrier_ns: float | None = None

    def __post_init__(self) -> None:
        if any(b < 0 for b in self.exchange_bytes):
            raise ValueError(
                f"Sublayer {self.name}: exchange_bytes={self.exchange_bytes} must not be negative"
            )


@dataclass(frozen=True)
class KernelResult:
    """Timing and statistics of one kernel (statistics of the simulated part only)."""

    name: str
    device: int
    time_ns: float
    compute_ns: float
    unit: str
    load_bytes: int
    store_bytes: int
    ops: int
    tiles: int
    requests: int
    extrapolated: bool
    memo_hit: bool
    simulated_fraction: float
    dram: dict[str, Any]
    tlb: dict[str, int]
    fidelity: str = "sampled"

    @property
    def bandwidth_GBps(self) -> float:
        """Load plus store bytes over the kernel's time."""
        return (self.load_bytes + self.store_bytes) / self.time_ns if self.time_ns > 0 else 0.0


@dataclass(frozen=True)
class SublayerResult:
    """One sublayer: its kernels, barrier and exchange."""

    name: str
    start_ns: float
    kernels_ns: float
    barrier_ns: float
    exchange_ns: float
    end_ns: float
    kernels: tuple[KernelResult, ...]
    fidelity: str = "sampled"

    @property
    def time_ns(self) -> float:
        return self.end_ns - self.start_ns

    def device_time_ns(self, device: int) -> float:
        """Time of the device's kernel (0 if it had none)."""
        return max((k.time_ns for k in self.kernels if k.device == device), default=0.0)


def _kernel_result(d: dict[str, Any], fidelity: str) -> KernelResult:
    return KernelResult(
        fidelity=fidelity,
        name=d["name"],
        device=d["device"],
        time_ns=d["time_ps"] / 1000.0,
        compute_ns=d["compute_ps"] / 1000.0,
        unit=d["unit"],
        load_bytes=d["load_bytes"],
        store_bytes=d["store_bytes"],
        ops=d["ops"],
        tiles=d["tiles"],
        requests=d["requests"],
        extrapolated=d["extrapolated"],
        memo_hit=d["memo_hit"],
        simulated_fraction=d["simulated_fraction"],
        dram=dict(d["dram"]),
        tlb=dict(d["tlb"]),
    )


def _sublayer_result(d: dict[str, Any], fidelity: str) -> SublayerResult:
    return SublayerResult(
        fidelity=fidelity,
        name=d["name"],
        start_ns=d["start_ps"] / 1000.0,
        kernels_ns=d["kernels_ps"] / 1000.0,
        barrier_ns=d["barrier_ps"] / 1000.0,
        exchange_ns=d["exchange_ps"] / 1000.0,
        end_ns=d["end_ps"] / 1000.0,
        kernels=tuple(_kernel_result(k, fidelity) for k in d["kernels"]),
    )


PageTables = Sequence[tuple[np.ndarray, np.ndarray]]


@dataclass
class Engine:
    """Runs programs on a system.

    Parameters
    ----------
    system
        Devices and link.
    page_tables
        Per device, the chip's page table: ``(device_of_page int32[pages], frame int64[pages])``
        (see :class:`h2m2.memory.AddressSpace`).
    fidelity
        ``"cycle"``, ``"sampled"`` (default) or ``"analytic"``.
    record_timeline
        Keep spans for :meth:`write_timeline` (default False).
    sample_tolerance
        ``sampled``: relative agreement of the two halves of the steady window (default 0.01).
    memo_store
        ``sampled``: an on-disk kernel memo shared with other engines of the same system
        configuration (default None). The store's scope must stand for this system: signatures
        name devices by index, not by configuration.
    sample_min_tiles
        ``sampled``: tiles every core computes before a memory-bound kernel may count as steady
        (default 3, at least 2).
    sample_tail_tiles
        ``sampled``: tiles per core simulated after the skipped middle, counting the tiles whose
        loads were under way at the skip (default 3, at least 1).
    sample_compute_slack
        ``sampled``: a kernel whose memory stays ahead of its compute by at least this fraction
        of a tile's compute is compute-bound: the rest of its loads is not simulated and skipped
        tiles cost exactly their compute (default 0.25; 0 turns the shortcut off; below 1).
    sample_slack_tiles
        ``sampled``: consecutive tiles per core started with that slack that prove a kernel
        compute-bound when the first-tile prediction did not (default 2, at least 1).
    threads
        ``sampled``: threads that simulate a program's kernels (default None:
        :func:`default_threads`). Each kernel runs alone on fresh devices, so results are
        bit-identical for any value; only the wall time changes.

    Example
    -------
    >>> eng = Engine(system, tables)
    >>> res = eng.run([Sublayer("qkv", (Kernel("q", 0, "linear", m=1, k=4096, n=4096),))])
    """

    system: SystemSpec
    page_tables: PageTables
    fidelity: str = "sampled"
    record_timeline: bool = False
    sample_tolerance: float = 0.01
    memo_store: KernelMemoStore | None = None
    sample_min_tiles: int = 3
    sample_tail_tiles: int = 3
    sample_compute_slack: float = 0.25
    sample_slack_tiles: int = 2
    threads: int | None = None
    _core: Any = field(init=False, repr=False)

    def __post_init__(self) -> None:
        from h2m2 import _core

        if self.fidelity not in FIDELITIES:
            raise ValueError(f"Engine: fidelity={self.fidelity!r} must be one of {FIDELITIES}")
        if self.threads is None:
            self.threads = default_threads()
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise ValueError(f"Engine: threads={self.threads!r} must be a positive integer")
        cfg = {
            "devices": [d.to_config() for d in self.system.devices],
            "link": self.system.link.to_config() if self.system.link else None,
            "fidelity": self.fidelity,
            "sample_tolerance": self.sample_tolerance,
            "sample_min_tiles": self.sample_min_tiles,
            "sample_tail_tiles": self.sample_tail_tiles,
            "sample_compute_slack": self.sample_compute_slack,
            "sample_slack_tiles": self.sample_slack_tiles,
            "record_spans": self.record_timeline,
            "threads": self.threads,
        }
        self._core = _core.engine.Engine(cfg, self._tables(self.page_tables))

    def _tables(self, tables: PageTables) -> list[tuple[np.ndarray, np.ndarray]]:
        if len(tables) != len(self.system.devices):
            raise ValueError(
                f"Engine: {len(tables)} page tables for {len(self.system.devices)} devices"
            )
        return [
            (np.ascontiguousarray(d, dtype=np.int32), np.ascontiguousarray(f, dtype=np.int64))
            for d, f in tables
        ]

    def set_page_tables(self, tables: PageTables) -> None:
        """Replace the page tables (after a migration)."""
        self.page_tables = tables
        self._core.set_page_tables(self._tables(tables))

    def _program(self, program: Sequence[Sublayer]) -> list[dict[str, Any]]:
        n_dev = len(self.system.devices)
        out = []
        for s in program:
            for k in s.kernels:
                if not 0 <= k.device < n_dev:
                    raise ValueError(
                        f"Sublayer {s.name}: kernel {k.name} names device {k.device} of {n_dev}"
                    )
            barrier = self.system.barrier_ns if s.barrier_ns is None else s.barrier_ns
            kernels = []
            for k in s.kernels:
                d = k.to_dict()
                if k.signature is None:
                    d["signature"] += "|" + self._placement(k)
                kernels.append(d)
            out.append(
                {
                    "name": s.name,
                    "kernels": kernels,
                    "exchange_bytes": list(s.exchange_bytes),
                    "barrier_ps": round(barrier * 1000),
                }
            )
        return out

    def _placement(self, k: Kernel) -> str:
        """Where the kernel's operands live, as seen by its chip: pages per device of each range.
        Part of the default memo signature, so a remapped kernel is simulated again."""
        devices, _ = self.page_tables[k.device]
        page = self.system.page_bytes
        parts = []
        for base, size in k.operand_ranges():
            first, last = base // page, (base + max(size, 1) - 1) // page
            owners = np.asarray(devices[first : last + 1])
            counts = np.bincount(owners[owners >= 0], minlength=len(self.system.devices))
            parts.append(",".join(str(int(c)) for c in counts) + f"/{int((owners < 0).sum())}")
        return ";".join(parts)

    def run(self, program: Sequence[Sublayer], *, start_ns: float = 0.0) -> list[SublayerResult]:
        """Run a program; returns one result per sublayer.

        Raises
        ------
        ValueError
            A kernel that names a missing device, does not fit the scratchpad or has a zero-sized
            shape.
        IndexError
            A kernel that touches an unmapped page (the message names the address and page).
        KeyboardInterrupt
            On Ctrl-C (checked periodically while the engine runs).
        """
        prog = self._program(program)
        loaded = self._memo_load(prog)
        res = self._core.run_program(prog, round(start_ns * 1000))
        self._memo_save(loaded)
        return [_sublayer_result(r, self.fidelity) for r in res]

    def _memo_load(self, program: list[dict[str, Any]]) -> list[str]:
        """Fill the engine's memo from ``memo_store`` for the program's kernels; returns the
        signatures neither had (the kernels this run simulates)."""
        if self.memo_store is None or self.fidelity != "sampled":
            return []
        missing: list[str] = []
        for s in program:
            for k in s["kernels"]:
                sig = k["signature"]
                if not sig or sig in missing or self._core.memo_get(sig) is not None:
                    continue
                value = self.memo_store.get(self._store_key(sig))
                if value is None or not self._memo_put(sig, value):
                    missing.append(sig)
        return missing

    def _memo_put(self, signature: str, value: dict[str, Any]) -> bool:
        """Insert a stored entry; a malformed one (another build, a damaged file) is a miss."""
        try:
            entry = base64.b64decode(value["kernel"], validate=True)
            return bool(self._core.memo_put(signature, entry))
        except (KeyError, TypeError, ValueError, binascii.Error):
            return False

    def _memo_save(self, signatures: Iterable[str]) -> None:
        if self.memo_store is None:
            return
        for sig in signatures:
            entry = self._core.memo_get(sig)
            if entry is not None:
                value = {"kernel": base64.b64encode(entry).decode("ascii")}
                self.memo_store.put(self._store_key(sig), value)

    def _store_key(self, signature: str) -> str:
        """The store's key: the signature plus the sampling settings, which change results."""
        return (
            f"{signature}|sampled tol={self.sample_tolerance!r} min={self.sample_min_tiles} "
            f"tail={self.sample_tail_tiles} slack={self.sample_compute_slack!r}"
            f"x{self.sample_slack_tiles}"
        )

    def run_epochs(
        self,
        epochs: int,
        next_program: Callable[[int, list[SublayerResult]], Sequence[Sublayer] | None],
    ) -> list[list[SublayerResult]]:
        """Run up to ``epochs`` epochs; ``next_program(epoch, previous)`` returns each program.

        The callback runs in Python between epochs (the engine holds no GIL while simulating);
        returning ``None`` or an empty program stops early.
        """

        loaded: list[str] = []

        def callback(state: dict[str, Any]) -> list[dict[str, Any]] | None:
            previous = [_sublayer_result(r, self.fidelity) for r in state["previous"]]
            prog = next_program(int(state["epoch"]), previous)
            if not prog:
                return None
            out = self._program(prog)
            loaded.extend(self._memo_load(out))
            return out

        out = self._core.run_epochs(epochs, callback)
        self._memo_save(loaded)
        return [[_sublayer_result(r, self.fidelity) for r in epoch] for epoch in out]

    def bandwidth_efficiency(self, device: int) -> float:
        """Achieved / peak DRAM bandwidth of a streaming kernel on ``device`` (used by analytic)."""
        return float(self._core.bandwidth_efficiency(device))

    @property
    def memo_size(self) -> int:
        return int(self._core.memo_size)

    def write_timeline(self, path: str | Path) -> None:
        """Write the recorded spans as a Chrome-trace / Perfetto JSON file."""
        if not self.record_timeline:
            raise RuntimeError("Engine was built with record_timeline=False; no spans were kept")
        write_timeline(path, self._core.spans(), self.system)


_WHAT = ("kernel", "tile", "transfer", "barrier", "busy")


def write_timeline(path: str | Path, spans: dict[str, np.ndarray], system: SystemSpec) -> None:
    """Chrome-trace JSON: a process per device (a thread per core and per DRAM channel), one for
    the link (a thread per direction) and one for the system (barriers)."""
    n_dev = len(system.devices)
    link_pid, system_pid = n_dev, n_dev + 1
    events: list[dict[str, Any]] = []
    for pid, name in [
        *enumerate(d.name for d in system.devices),
        (link_pid, "link"),
        (system_pid, "system"),
    ]:
        events.append({"ph": "M", "name": "process_name", "pid": pid, "args": {"name": name}})
    seen: set[tuple[int, int]] = set()
    for kind, dev, idx, what, begin, end in zip(
        spans["kind"],
        spans["device"],
        spans["index"],
        spans["what"],
        spans["begin"],
        spans["end"],
        strict=True,
    ):
        kind, dev, idx, what = int(kind), int(dev), int(idx), int(what)
        if kind == 0:
            pid, tid, tname = (system_pid, 0, "barriers") if dev < 0 else (dev, 0, "kernels")
        elif kind == 1:
            pid, tid, tname = dev, 1 + idx, f"core {idx}"
        elif kind == 2:
            pid, tid, tname = link_pid, dev, f"direction {dev}->{1 - dev}"
        else:
            pid, tid, tname = dev, 1000 + idx, f"dram channel {idx}"
        if (pid, tid) not in seen:
            seen.add((pid, tid))
            events.append(
                {"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": tname}}
            )
        events.append(
            {
                "ph": "X",
                "name": _WHAT[what],
                "pid": pid,
                "tid": tid,
                "ts": int(begin) / 1e6,
                "dur": (int(end) - int(begin)) / 1e6,
            }
        )
    Path(path).write_text(json.dumps({"traceEvents": events, "displayTimeUnit": "ns"}))
