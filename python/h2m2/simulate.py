"""``h2m2.simulate``: decode iterations on a system, with a mapping policy called every epoch.

Models: the H2M2 runtime loop (spec section 4). At every decode-iteration boundary (epoch) the
simulator builds the iteration of the live requests, hands an :class:`~h2m2.policies.EpochState`
to the policy, checks the :class:`~h2m2.policies.Mapping` it returns, places the model through
the memory abstraction (:class:`~h2m2.memory.AddressSpace`), executes the page migration that a
mapping change needs as ``copy`` kernels, and times one decoder layer on the engine.

Owns: per run, one engine, two address spaces (the model space and the small simulation space,
below) and the request source. Time: engine results in ns; the :class:`~h2m2.result.Result`
holds seconds per iteration. Hot path: no (Python runs between epochs; the engine runs kernels
without the GIL).

Two address spaces (decisions; also in docs/assumptions.md):

- **Model space** (placement, capacity, migration): one :class:`AddressSpace` over the devices'
  memories; each (sublayer, unit) is one tensor ``"<sublayer>.<unit>"`` holding that unit's
  weights of ALL layers, and for an attention unit its KV cache of all layers and live requests.
  A unit's tensor lives wholly on its side. KV tensors grow page by page as tokens are
  appended; when requests finish and the unit's KV shrinks, the tensor is freed and
  re-allocated at the smaller size on the same side (the released pages of a paged KV cache;
  no data moves and nothing is charged). When the mapping changes,
  :meth:`AddressSpace.plan_migration` moves exactly the pages of the units whose side changed.
  Order per epoch: shrink, migrate, then grow on the (new) side. The first placement (epoch 0)
  is the initial load and is not charged.
- **Simulation space** (timing): the engine's page tables come from a separate, small
  :class:`AddressSpace`, reset before each sublayer, that holds its operands: per kernel a
  contiguous stream operand and output on the kernel's device (with ``compute_on``, the other
  side's share of the operand's pages on the other device), and per migration direction a source
  and a destination range of the copied page count. Timing depends on which device a page is on
  and on the channel interleaving inside a page, not on which frame holds it, so these views
  stand for the model space's real frames. The memo signature of a kernel is its shape, device
  and placement (``local``, or the remote page count and layout), so identical kernels of later
  epochs are memo hits. Because the space is reset before each sublayer, a kernel's operands
  always get the same (canonical) logical pages and frames, so its timing is a function of its
  signature alone and a memo hit returns exactly what a fresh simulation would.
- **Engine cache.** Engines are cached per thread by (system, fidelity) (the 8 most recent),
  so later runs on the same system reuse the memo and the analytic bandwidth calibration
  (``clear_engine_cache()`` forgets them); a run that records a timeline gets its own engine.

Timing (decisions):

- One layer: per sublayer one fused kernel per device (``kernel_for(n)`` on device 0,
  ``kernel_for(N - n, start=n)`` on device 1; a device with no unit runs none), run at the same
  time, then the barrier, then the activation exchange. Iteration time = ``layers`` x the layer
  time + the migration time of that epoch. The LM head, the embedding and the prefill of
  arriving requests are not simulated.
- ``compute_on[s] = c``: ONE kernel on c for all N units, whose operand pages for the other
  side's units are on the other device and are read zero-copy over the link. Attention's units
  are contiguous in its operand (KV layout ``[kv_head][request]...``), so the other side's pages
  are a contiguous run; a linear kernel's units are column slices of a row-major weight, so the
  other side's share of pages is spread evenly over the operand (local and remote streams then
  run concurrently, as per-unit blocks would).
- Activation exchange after sublayer s (bytes from the workload): the next sublayer's units
  on device d need what the other device produced: the whole output for a replicated input
  (qkv, fc), or unit j's output for attention unit j (qkv -> attention); fc also sends each
  side's share of its intermediate ``exchange_bytes`` when it is split. fc feeds the next
  layer's qkv. The engine charges the slower direction after the barrier.
- ``analytic`` fidelity does not simulate addresses, so a kernel with remote bytes (zero-copy
  reads, migration copies) is charged ``max(its compute time, local bytes / (local peak x
  efficiency), remote bytes / min(link bandwidth, remote peak x efficiency))`` with the
  engine's measured streaming efficiencies.
- Migration: per direction one ``copy`` kernel, both driven by device 1's chip (a pull for
  0 -> 1, a push for 1 -> 0; which chip's DMA drives a copy is OPEN, and the engine simulates
  remote traffic of the LPDDR chip about ten times faster than of the HBM chip), both
  directions at once, then one barrier (the TLB shootdown and page-table update). In
  ``sampled`` fidelity the copy time comes from two memoised reference copies per direction
  (16 and 8 MiB, simulated in full): ``t(B) = t(S) + (B - S) x (t(S) - t(S/2)) / (S/2)``, the
  start-up plus the steady rate (a copy is one steady stream); whole copies in ``cycle`` and
  ``analytic``. If the destinations are not free before the sources are released (an exchange
  between full memories) the plan reuses freed frames (``staged``).
- Tensor parallelism (``system.tensor_parallel = K``, the 8-HBM baseline): the policy maps all
  N units to the one device; the engine runs ``ceil(N / K)`` units per sublayer on it (one of
  the K identical copies), and the model space holds that copy's units. Communication is an
  analytic model: Megatron-style, two ring all-reduces per layer of the ``tokens x d_model``
  activation (after the attention out-projection and after the FFN down-projection, both in
  the fc sublayer here; qkv and attention are head-local), each ``2 (K-1)/K x bytes /
  tp_link.bandwidth + 2 (K-1) x tp_link.latency``. The policy sees K times one copy's capacity.

Capacity (decisions):

- ``capacity_bytes`` given to the policy per device = (capacity - activation reserve) rounded
  down to whole pages, minus one page per tensor the device could hold (page-rounding slack:
  the policy counts bytes, the allocator whole pages), times K for tensor parallelism.
- Activation reserve (default; OPEN in the paper): 2 x the largest one-layer activation
  footprint of a sublayer (distinct input + output + exchange, double-buffered across layers)
  at the batch, rounded up to whole pages; ``activation_reserve_bytes=`` overrides it.

Errors: a policy that raises, returns something else than a Mapping, returns an invalid
mapping, or asks for more capacity than exists stops the run with :class:`SimulationError`,
whose message names the epoch and the problem and whose ``partial`` is the :class:`Result` of
the epochs before it. Bad arguments (batch 0, a negative length, a model that fits on no
device, ...) raise ``ValueError`` before anything runs.

Spec: ../shared/spec/h2m2.md sections 3-6; issue 4 ("Top-level API", "Multi-iteration runs",
"Memory abstraction"), issue 7 (policy errors, partial results).
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from h2m2.dram.standard import COMMAND_NAMES
from h2m2.engine import (
    FIDELITIES,
    Engine,
    Kernel,
    KernelResult,
    Sublayer,
    SublayerResult,
    default_threads,
)
from h2m2.hardware import SystemSpec
from h2m2.memo_store import KernelMemoStore
from h2m2.memory import AddressSpace, CapacityError, DeviceMemory, MigrationPlan
from h2m2.models import ModelSpec
from h2m2.requests import LiveBatch, RequestStream
from h2m2.result import (
    IterationRecord,
    KernelRecord,
    LinkCounters,
    MemoryCounters,
    MigrationRecord,
    Result,
    TlbCounters,
)
from h2m2.workload import SUBLAYERS, DecodeIteration, Request

if TYPE_CHECKING:
    from h2m2.policies.base import EpochState, Mapping, Policy
    from h2m2.workload import Sublayer as WorkSublayer

__all__ = ["SimulationError", "clear_engine_cache", "simulate"]

GiB = 1 << 30
_COPY_SAMPLE_BYTES = 16 << 20  # sampled fidelity: migration reference copy (see _Run._migrate)


class SimulationError(RuntimeError):
    """A run stopped at an epoch; ``partial`` holds the results of the epochs before it.

    Parameters
    ----------
    message
        What went wrong (starts with ``"epoch <e>: "``).
    epoch
        The epoch that failed.
    partial
        The :class:`~h2m2.result.Result` of the completed epochs (its ``error`` is the message).

    Example
    -------
    >>> from h2m2.result import Result
    >>> e = SimulationError("epoch 2: boom", epoch=2, partial=Result("analytic", "s", "m", "p",
    ...                     ("d",), 1))
    >>> e.epoch, e.partial.iterations
    (2, 0)
    """

    def __init__(self, message: str, *, epoch: int, partial: Result) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.partial = partial


# ----------------------------------------------------------------------------- validation
def _int_arg(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"simulate: {name}={value!r} must be an integer >= {minimum}")
    if value < minimum:
        raise ValueError(f"simulate: {name}={value!r} must be an integer >= {minimum}")
    return int(value)


def _system_name(system: SystemSpec) -> str:
    name = "+".join(d.name for d in system.devices)
    return f"{name} x{system.tensor_parallel} TP" if system.tensor_parallel > 1 else name


def _resolve_policy(policy: object) -> Policy:
    from h2m2 import policies
    from h2m2.policies.base import Policy

    if isinstance(policy, str):
        return policies.get(policy)
    if isinstance(policy, type) and issubclass(policy, Policy):
        return policy()
    if isinstance(policy, Policy) or callable(getattr(policy, "on_epoch", None)):
        return policy  # type: ignore[return-value]
    raise ValueError(
        f"simulate: policy={policy!r} must be a policy name ({', '.join(policies.names())}), "
        "a Policy subclass or an object with an on_epoch(state) method"
    )


# ----------------------------------------------------------------------------- requests
class _Source:
    """The live requests of each epoch: fixed (growing by one token) or a RequestStream."""

    def __init__(
        self,
        batch: int | None,
        seq_len: int | None,
        requests: Sequence[Request] | None,
        stream: RequestStream | None,
        seed: int,
    ) -> None:
        self.live: LiveBatch | None = None
        self.fixed: list[Request] = []
        if stream is not None:
            if not isinstance(stream, RequestStream):
                raise ValueError(f"simulate: stream={stream!r} must be a RequestStream")
            if requests is not None or seq_len is not None:
                raise ValueError(
                    "simulate: give stream= with batch= only (seq_len= and requests= come "
                    "from the stream)"
                )
            if batch is None:
                raise ValueError("simulate: stream= needs batch= (the live requests)")
            self.live = stream.start(_int_arg("batch", batch, 1), seed=seed)
            self.kind = "stream"
        elif requests is not None:
            if batch is not None or seq_len is not None:
                raise ValueError("simulate: give either requests= or batch= and seq_len=, not both")
            reqs = list(requests)
            if not reqs:
                raise ValueError("simulate: requests is empty: batch must be >= 1 request")
            for i, r in enumerate(reqs):
                if not isinstance(r, Request):
                    raise ValueError(
                        f"simulate: requests[{i}]={r!r} must be an h2m2.workload.Request"
                    )
            self.fixed = reqs
            self.kind = "requests"
        else:
            if batch is None or seq_len is None:
                raise ValueError(
                    "simulate: give batch= and seq_len=, requests=, or batch= and stream="
                )
            b = _int_arg("batch", batch, 1)
            s = _int_arg("seq_len", seq_len, 1)
            self.fixed = [Request(i, prompt_len=s) for i in range(b)]
            self.kind = "uniform"
        self.epoch = 0
        self.finished: tuple[int, ...] = ()
        self.admitted: tuple[int, ...] = tuple(r.id for r in self.requests)

    @property
    def requests(self) -> list[Request]:
        return self.live.requests if self.live is not None else self.fixed

    @property
    def seq_lens(self) -> tuple[int, ...]:
        return tuple(r.seq_len for r in self.requests)

    def step(self) -> None:
        self.epoch += 1
        if self.live is not None:
            rep = self.live.step()
            self.finished, self.admitted = rep.finished, rep.admitted
        else:
            self.fixed = [
                Request(r.id, prompt_len=r.prompt_len, generated=r.generated + 1)
                for r in self.fixed
            ]
            self.finished, self.admitted = (), ()

    def kv_tokens_hint(self, iterations: int) -> int:
        """KV tokens the batch may hold (for logical reservations; growth past it re-reserves)."""
        total = sum(self.seq_lens)
        if self.live is not None:
            return 2 * total
        return total + len(self.fixed) * (iterations - 1)


# ----------------------------------------------------------------------------- helpers
def _operand_bytes(kd: dict[str, Any]) -> tuple[int, int]:
    """Bytes of a kernel's streamed operand and of its output (see cpp/npu/kernel.hpp)."""
    eb = int(kd.get("element_bytes", 1))
    op = kd["op"]
    if op == "linear":
        return kd["k"] * kd["n"] * eb, kd["m"] * kd["n"] * eb
    if op == "attention":
        pairs = kd["kv_heads"] * kd["batch"]
        return pairs * 2 * kd["kv_len"] * kd["head_dim"] * eb, (
            pairs * kd.get("group", 1) * kd["head_dim"] * eb
        )
    if op == "copy":
        return kd["elements"] * eb, kd["elements"] * eb
    return kd["elements"] * eb, 0


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass
class _KernelPlan:
    """A kernel the engine runs, with what the simulator needs to account for it."""

    sublayer: str
    device: int
    units: int
    kernel: Kernel
    remote_bytes: int  # of the loads: bytes read from the other device
    remote_device: int  # -1 if none
    remote_write_bytes: int = 0  # of the stores: bytes written to the other device

    @property
    def remote_total(self) -> int:
        return self.remote_bytes + self.remote_write_bytes


@dataclass
class _Migration:
    plan: MigrationPlan | None
    staged: bool
    shootdown_pages: int
    units_moved: dict[str, int]
    pages_by_direction: tuple[int, int]  # copied pages 0 -> 1, 1 -> 0


# ----------------------------------------------------------------------------- model space
class _ModelSpace:
    """Placement of the model's unit tensors in the model address space (see module doc)."""

    def __init__(
        self,
        system: SystemSpec,
        reserve_bytes: Sequence[int],
        units_held: dict[str, int],
    ) -> None:
        self.system = system
        self.page_bytes = system.page_bytes
        self.units_held = units_held
        P = self.page_bytes
        logical = 2 * sum(d.capacity_bytes for d in system.devices) + 64 * GiB
        self.space = AddressSpace(
            [
                DeviceMemory(d.name, d.capacity_bytes, reserved_bytes=int(r))
                for d, r in zip(system.devices, reserve_bytes, strict=True)
            ],
            page_bytes=P,
            logical_bytes=_ceil_div(logical, P) * P,
        )
        self.side: dict[str, int] = {}
        self.placed = False

    @property
    def tensors_per_device(self) -> int:
        return sum(self.units_held.values())

    def usable_bytes(self, device: int) -> int:
        return self.space.devices[device].usable_frames(self.page_bytes) * self.page_bytes

    def names(self) -> list[str]:
        return [f"{s}.{j}" for s in SUBLAYERS for j in range(self.units_held[s])]

    def sizes(self, it: DecodeIteration) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in SUBLAYERS:
            fp = it.sublayer(s).unit_footprint_bytes
            for j in range(self.units_held[s]):
                out[f"{s}.{j}"] = fp[j]
        return out

    def sides(self, mapping: Mapping) -> dict[str, int]:
        return {
            f"{s}.{j}": 0 if j < int(mapping.split[s]) else 1
            for s in SUBLAYERS
            for j in range(self.units_held[s])
        }

    def check_fits(self, epoch: int, sizes: dict[str, int], sides: dict[str, int]) -> None:
        """Raise CapacityError if the final placement needs more frames than a device has."""
        n = len(self.space.devices)
        need = [0] * n
        for name, size in sizes.items():
            need[sides[name]] += _ceil_div(size, self.page_bytes)
        total = [self.usable_bytes(d) // self.page_bytes for d in range(n)]
        if any(a > b for a, b in zip(need, total, strict=True)):
            names = [d.name for d in self.space.devices]
            P = self.page_bytes
            raise CapacityError(
                f"epoch {epoch}: placing the mapping",
                needed_bytes={k: v * P for k, v in zip(names, need, strict=True)},
                free_bytes={k: v * P for k, v in zip(names, total, strict=True)},
                page_bytes=P,
            )

    def _reallocate(self, name: str, size: int, device: int, reserve: int) -> None:
        self.space.free(name)
        self.space.allocate(name, size, device, reserve_bytes=max(size, reserve))

    def place(
        self, epoch: int, it: DecodeIteration, mapping: Mapping, kv_reserve: dict[str, int]
    ) -> _Migration:
        sizes = self.sizes(it)
        sides = self.sides(mapping)
        self.check_fits(epoch, sizes, sides)
        space = self.space
        moved = dict.fromkeys(SUBLAYERS, 0)
        if not self.placed:
            for name in self.names():
                space.allocate(
                    name,
                    sizes[name],
                    sides[name],
                    reserve_bytes=max(sizes[name], kv_reserve.get(name, 0)),
                )
            self.side = dict(sides)
            self.placed = True
            return _Migration(None, False, 0, moved, (0, 0))
        # 1. shrink (requests finished): release pages on the current side
        for name, size in sizes.items():
            t = space.tensor(name)
            if size < t.size_bytes:
                self._reallocate(name, size, self.side[name], t.reserved_bytes)
        # 2. migrate the units whose side changed
        changed = [name for name in sizes if sides[name] != self.side[name]]
        for name in changed:
            moved[name.split(".")[0]] += 1
        target = {name: sides[name] for name in changed if space.tensor(name).pages}
        plan: MigrationPlan | None = None
        staged = False
        shootdown = 0
        if target:
            try:
                plan = space.plan_migration(target)
            except CapacityError:
                plan = space.plan_migration(target, reuse_freed_frames=True)
                staged = True
            shootdown = int(space.apply(plan).size)
        for name in changed:
            self.side[name] = sides[name]
        # 3. grow (tokens appended) on the unit's (new) side
        for name, size in sizes.items():
            t = space.tensor(name)
            if size > t.size_bytes:
                if size <= t.reserved_bytes:
                    space.grow(name, size, self.side[name])
                else:
                    self._reallocate_grow(name, size, t.size_bytes)
        pages = (0, 0)
        if plan is not None:
            cp = plan.copied
            pages = (
                int(np.count_nonzero(cp & (plan.src_device == 0))),
                int(np.count_nonzero(cp & (plan.src_device == 1))),
            )
        return _Migration(plan, staged, shootdown, moved, pages)

    def _reallocate_grow(self, name: str, size: int, old: int) -> None:
        """Grow past the logical reservation: re-reserve twice the size (capacity checked)."""
        d = self.side[name]
        add = _ceil_div(size, self.page_bytes) - _ceil_div(old, self.page_bytes)
        free = self.space.usage()[self.space.devices[d].name].free_bytes // self.page_bytes
        if add > free:
            # let the allocator raise its CapacityError without changing anything
            self.space.grow(name, size, d)
        self._reallocate(name, size, d, 2 * size)


# ----------------------------------------------------------------------------- sim space
class _SimSpace:
    """The small address space whose page tables the engine reads (reset per sublayer)."""

    def __init__(self, system: SystemSpec) -> None:
        P = system.page_bytes
        logical = 2 * sum(d.capacity_bytes for d in system.devices) + 64 * GiB
        self.page_bytes = P
        self.space = AddressSpace(
            [DeviceMemory(d.name, d.capacity_bytes) for d in system.devices],
            page_bytes=P,
            logical_bytes=_ceil_div(logical, P) * P,
        )
        self.count = 0

    def reset(self) -> None:
        for t in self.space.tensors:
            self.space.free(t.name)
        self.count = 0

    def alloc(self, size: int, placement: int | np.ndarray) -> int:
        self.count += 1
        return self.space.allocate(f"t{self.count}", max(size, 1), placement).base_bytes

    def tables(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return [self.space.page_table(d) for d in range(len(self.space.devices))]


def _remote_placement(
    pages: int, remote: int, local: int, other: int, layout: str, remote_first: bool
) -> np.ndarray:
    """Device per page of an operand with ``remote`` of its ``pages`` on the other device."""
    p = np.arange(pages)
    if layout == "interleaved":
        is_remote = (((p + 1) * remote) // pages) > ((p * remote) // pages)
    elif remote_first:
        is_remote = p < remote
    else:
        is_remote = p >= pages - remote
    return np.where(is_remote, other, local).astype(np.int32)


# ----------------------------------------------------------------------------- engines
_CACHE = threading.local()
_CACHE_SIZE = 8


def _engine(
    system: SystemSpec, fidelity: str, tables: list[tuple[np.ndarray, np.ndarray]], spans: bool
) -> Engine:
    """An engine for the system: cached per thread by (system, fidelity), so its memo of kernel
    results and its bandwidth calibration carry over to later runs; a fresh one for timelines."""
    if spans:
        return Engine(system, tables, fidelity=fidelity, record_timeline=True)
    cache: dict[tuple[str, str, int], Engine] = getattr(_CACHE, "engines", None) or {}
    _CACHE.engines = cache
    key = (repr(system), fidelity, default_threads())
    eng = cache.pop(key, None)
    if eng is None:
        eng = Engine(system, tables, fidelity=fidelity)
        while len(cache) >= _CACHE_SIZE:
            cache.pop(next(iter(cache)))
    else:
        eng.set_page_tables(tables)
    cache[key] = eng  # most recently used last
    return eng


def clear_engine_cache() -> None:
    """Forget the engines (and their memoised kernel results) cached in this thread."""
    _CACHE.engines = {}


# ----------------------------------------------------------------------------- the run
class _Run:
    def __init__(
        self,
        system: SystemSpec,
        model: ModelSpec,
        *,
        batch: int | None,
        seq_len: int | None,
        requests: Sequence[Request] | None,
        stream: RequestStream | None,
        policy: object,
        iterations: int,
        fidelity: str,
        seed: int,
        record_timeline: str | Path | None,
        activation_reserve_bytes: int | Sequence[int] | None,
    ) -> None:
        if not isinstance(system, SystemSpec):
            raise ValueError(f"simulate: system={system!r} must be a SystemSpec (h2m2.presets)")
        if not isinstance(model, ModelSpec):
            raise ValueError(f"simulate: model={model!r} must be a ModelSpec (h2m2.models.get)")
        if fidelity not in FIDELITIES:
            raise ValueError(f"simulate: fidelity={fidelity!r} must be one of {FIDELITIES}")
        self.iterations = _int_arg("iterations", iterations, 1)
        self.seed = _int_arg("seed", seed, 0)
        self.system, self.model, self.fidelity = system, model, fidelity
        self.source = _Source(batch, seq_len, requests, stream, self.seed)
        self.policy = _resolve_policy(policy)
        self.policy_name = str(getattr(self.policy, "name", type(self.policy).__name__))
        self.n_dev = len(system.devices)
        self.tp = system.tensor_parallel
        self.layers = model.layers
        self.P = system.page_bytes
        self.timeline = None if record_timeline is None else Path(record_timeline)

        it0 = DecodeIteration(model, self.source.seq_lens)
        self.units_held = {s: _ceil_div(it0.sublayer(s).units, self.tp) for s in SUBLAYERS}
        self.reserve = self._reserves(it0, activation_reserve_bytes)
        self.model_space = _ModelSpace(system, self.reserve, self.units_held)
        slack = self.model_space.tensors_per_device * self.P
        self.capacity = tuple(
            max(0, self.model_space.usable_bytes(d) - slack) * self.tp for d in range(self.n_dev)
        )
        self._check_model_fits(it0)
        kv_tokens = self.source.kv_tokens_hint(self.iterations)
        per_token = 2 * model.head_dim * model.element_bytes * model.layers
        self.kv_reserve = {
            f"attention.{j}": kv_tokens * per_token for j in range(self.units_held["attention"])
        }

        self.sim = _SimSpace(system)
        self.engine = _engine(system, fidelity, self.sim.tables(), self.timeline is not None)
        self.result = Result(
            fidelity=fidelity,
            system=_system_name(system),
            model=model.name,
            policy=self.policy_name,
            devices=tuple(d.name for d in system.devices),
            layers=self.layers,
            peak_GBps={d.name: d.peak_GBps for d in system.devices},
            metadata=self._metadata(),
        )
        self.clock_ns = 0.0

    # ------------------------------------------------------------------ setup
    def _reserves(
        self, it: DecodeIteration, override: int | Sequence[int] | None
    ) -> tuple[int, ...]:
        P = self.P
        if override is not None:
            vals = (
                [override] * self.n_dev
                if isinstance(override, int | np.integer)
                else list(override)
            )
            if len(vals) != self.n_dev:
                raise ValueError(
                    f"simulate: activation_reserve_bytes has {len(vals)} values for "
                    f"{self.n_dev} devices"
                )
            out = []
            for d, v in zip(self.system.devices, vals, strict=True):
                v = _int_arg("activation_reserve_bytes", v, 0)
                if v > d.capacity_bytes:
                    raise ValueError(
                        f"simulate: activation_reserve_bytes={v} exceeds the capacity "
                        f"{d.capacity_bytes} of device {d.name}"
                    )
                out.append(v)
            return tuple(out)
        biggest = max(
            s.total("activation_in_bytes") + s.total("activation_out_bytes") + s.exchange_bytes
            for s in it.sublayers
        )
        reserve = _ceil_div(2 * biggest, P) * P
        return tuple(min(reserve, d.capacity_bytes) for d in self.system.devices)

    def _check_model_fits(self, it: DecodeIteration) -> None:
        m = self.model
        need = it.footprint_bytes
        total = sum(self.capacity)
        caps = ", ".join(
            f"{d.name} {c} B" for d, c in zip(self.system.devices, self.capacity, strict=True)
        )
        if need > total:
            raise ValueError(
                f"simulate: model {m.name} needs {need} B ({it.weight_footprint_bytes} B of "
                f"weights + {it.kv_footprint_bytes} B of KV cache for {it.batch} requests, "
                f"{sum(it.seq_lens)} tokens) but the system {_system_name(self.system)} holds "
                f"{total} B of model data ({caps}); it fits on no device"
            )
        biggest = max(max(s.unit_footprint_bytes) for s in it.sublayers)
        if biggest > max(self.capacity) // self.tp:
            raise ValueError(
                f"simulate: model {m.name} has a unit of {biggest} B, larger than any device "
                f"({caps}); it fits on no device"
            )

    def _metadata(self) -> dict[str, Any]:
        return {
            "layers": self.layers,
            "layer_scaling": (
                f"one decoder layer is simulated per iteration and stands for all {self.layers} "
                "(identical) layers: iteration time = layers x layer time + migration time; "
                "DRAM, TLB, link and energy counters are multiplied by layers"
            ),
            "extrapolation": (
                "a kernel's DRAM/TLB counters cover its simulated part; extensive counters are "
                "scaled by 1/simulated_fraction"
            ),
            "estimated_counters": (
                "DRAM commands not reported by the engine (analytic fidelity; the far memory's "
                "side of zero-copy reads and migration copies) are estimated as a streaming "
                "access: one RD/WR per transaction, one ACT and PRE per row, no refresh"
            ),
            "energy": (
                "memory only: command counts x the standard's Energy constants + "
                "background_mW x scheduled channels x iteration time; per token = / batch"
            ),
            "tensor_parallel": self.tp,
            "tensor_parallel_model": (
                "analytic: 2 ring all-reduces per layer of tokens x d_model bytes, each "
                "2(K-1)/K x bytes / tp_link bandwidth + 2(K-1) x tp_link latency; counters and "
                "energy are totals over the K copies"
            )
            if self.tp > 1
            else None,
            "activation_reserve_bytes": dict(
                zip((d.name for d in self.system.devices), self.reserve, strict=True)
            ),
            "capacity_bytes": dict(
                zip((d.name for d in self.system.devices), self.capacity, strict=True)
            ),
            "page_slack_bytes_per_device": self.model_space.tensors_per_device * self.P,
            "policy": self.policy_name,
            "requests": self.source.kind,
            "seed": self.seed,
            "iterations_requested": self.iterations,
            "not_simulated": "LM head, embedding, prefill of arriving requests, initial load",
            "timeline": None if self.timeline is None else str(self.timeline),
        }

    # ------------------------------------------------------------------ the loop
    def fail(self, epoch: int, message: str) -> SimulationError:
        msg = f"epoch {epoch}: {message}"
        self.result.error = msg
        return SimulationError(msg, epoch=epoch, partial=self.result)

    def execute(self) -> Result:
        from h2m2.policies.base import EpochState, Mapping, MappingError

        previous: Mapping | None = None
        times: dict[tuple[str, int], float] = {}
        try:
            for e in range(self.iterations):
                if e:
                    self.source.step()
                try:
                    it = DecodeIteration(self.model, self.source.seq_lens)
                    state = EpochState(
                        epoch=e,
                        system=self.system,
                        model=self.model,
                        iteration=it,
                        finished=self.source.finished,
                        admitted=self.source.admitted,
                        capacity_bytes=self.capacity,
                        previous=previous,
                        kernel_times_ns=dict(times),
                        measure_split_times=functools.partial(self._measure_split_times, it),
                    )
                except Exception as exc:
                    raise self.fail(e, f"could not build the epoch state: {exc}") from exc
                mapping, policy_s = self._call_policy(e, state, Mapping, MappingError)
                try:
                    record = self._run_epoch(e, it, mapping, policy_s)
                except CapacityError as exc:
                    raise self.fail(
                        e,
                        f"the mapping of policy {self.policy_name!r} does not fit in device "
                        f"memory: {exc}",
                    ) from exc
                except (ValueError, RuntimeError) as exc:
                    raise self.fail(e, f"simulation failed: {type(exc).__name__}: {exc}") from exc
                self.result.records.append(record)
                previous = mapping
                times = {k: v for k, v in record.kernel_ns.items() if k[0] in SUBLAYERS}
        finally:
            if self.timeline is not None:
                self.engine.write_timeline(self.timeline)
        return self.result

    def _call_policy(
        self, e: int, state: EpochState, mapping_cls: type[Mapping], error_cls: type[Exception]
    ) -> tuple[Mapping, float]:
        t0 = time.perf_counter()
        try:
            mapping = self.policy.on_epoch(state)
        except Exception as exc:
            dt = time.perf_counter() - t0
            self.result.policy_calls += 1
            self.result.policy_time_s += dt
            raise self.fail(
                e, f"policy {self.policy_name!r} raised {type(exc).__name__}: {exc}"
            ) from exc
        dt = time.perf_counter() - t0
        self.result.policy_calls += 1
        self.result.policy_time_s += dt
        if not isinstance(mapping, mapping_cls):
            raise self.fail(
                e,
                f"policy {self.policy_name!r} returned {type(mapping).__name__} "
                f"{mapping!r:.120}, not an h2m2.policies.Mapping",
            )
        try:
            mapping.validate(state)
        except error_cls as exc:
            raise self.fail(
                e, f"policy {self.policy_name!r} returned an invalid mapping: {exc}"
            ) from exc
        except Exception as exc:  # a malformed split the checks did not foresee
            raise self.fail(
                e,
                f"policy {self.policy_name!r} returned an invalid mapping: "
                f"{type(exc).__name__}: {exc}",
            ) from exc
        return mapping, dt

    # ------------------------------------------------------------------ one epoch
    def _run_epoch(
        self, e: int, it: DecodeIteration, mapping: Mapping, policy_s: float
    ) -> IterationRecord:
        mig = self.model_space.place(e, it, mapping, self.kv_reserve)
        start = self.clock_ns
        mig_ns = 0.0
        mig_plans: list[_KernelPlan] = []
        mig_results: list[KernelResult] = []
        if sum(mig.pages_by_direction):
            mig_plans, mig_results, mig_ns = self._migrate(mig, start)
        # One sublayer at a time, each in a freshly reset simulation space: every kernel's
        # operands then sit at canonical addresses, so its timing is a function of its memo
        # signature alone (identical whatever ran before it, in this run or an earlier one).
        layer: list[tuple[Sublayer, list[_KernelPlan], float]] = []
        results = []
        t = start + mig_ns
        for s in SUBLAYERS:
            self.sim.reset()
            sub, plans, ar_ns = self._sublayer(it, s, mapping)
            res = self._run_one(sub, t)
            layer.append((sub, plans, ar_ns))
            results.append(res)
            t = res.end_ns + ar_ns

        kernel_ns: dict[tuple[str, int], float] = {}
        sub_ns: dict[str, float] = {}
        barrier: dict[str, float] = {}
        exchange: dict[str, float] = {}
        allreduce: dict[str, float] = {}
        records: list[KernelRecord] = []
        accounted: list[tuple[_KernelPlan, KernelResult, float, bool]] = []
        for (sub, plans, ar_ns), res in zip(layer, results, strict=True):
            s = sub.name
            ks = [self._analytic_fix(p, k) for p, k in zip(plans, res.kernels, strict=True)]
            devices_with_kernels = {p.device for p in plans}
            for p, k in zip(plans, ks, strict=True):
                kernel_ns[(s, p.device)] = k.time_ns
                records.append(self._kernel_record(e, p, k))
                other_measured = (
                    self.fidelity == "cycle" and p.remote_device in devices_with_kernels
                )
                accounted.append((p, k, float(self.layers), other_measured))
            slowest = max((k.time_ns for k in ks), default=0.0)
            barrier[s], exchange[s], allreduce[s] = res.barrier_ns, res.exchange_ns, ar_ns
            sub_ns[s] = slowest + res.barrier_ns + res.exchange_ns + ar_ns
        mig_devices = {p.device for p in mig_plans}
        for p, k in zip(mig_plans, mig_results, strict=True):
            records.append(self._kernel_record(e, p, k))
            other_measured = self.fidelity == "cycle" and p.remote_device in mig_devices
            accounted.append((p, k, 1.0, other_measured))
        layer_ns = sum(sub_ns.values())
        time_ns = self.layers * layer_ns + mig_ns
        self.clock_ns = start + time_ns

        memory, tlb = self._counters(accounted, time_ns, mig.shootdown_pages)
        link = self._link(it, mapping, layer, mig, exchange, allreduce)
        P = self.P
        migration = MigrationRecord(
            pages=0 if mig.plan is None else mig.plan.pages,
            copied_pages=sum(mig.pages_by_direction),
            bytes_by_direction=(mig.pages_by_direction[0] * P, mig.pages_by_direction[1] * P),
            time_ns=mig_ns,
            staged=mig.staged,
            units_moved=mig.units_moved,
        )
        return IterationRecord(
            iteration=e,
            batch=it.batch,
            seq_lens=tuple(it.seq_lens),
            finished=self.source.finished,
            admitted=self.source.admitted,
            mapping=mapping,
            time_s=time_ns * 1e-9,
            layer_time_ns=layer_ns,
            sublayer_ns=sub_ns,
            kernel_ns=kernel_ns,
            barrier_ns=barrier,
            exchange_ns=exchange,
            allreduce_ns=allreduce,
            migration=migration,
            memory=memory,
            tlb=tlb,
            link=link,
            policy_time_s=policy_s,
            kernels=tuple(records),
        )

    def _run_one(
        self, sub: Sublayer, start_ns: float, engine: Engine | None = None
    ) -> SublayerResult:
        eng = engine or self.engine
        eng.set_page_tables(self.sim.tables())
        return eng.run([sub], start_ns=start_ns)[0]

    def _kernel_record(self, e: int, p: _KernelPlan, k: KernelResult) -> KernelRecord:
        return KernelRecord(
            iteration=e,
            sublayer=p.sublayer,
            device=p.device,
            device_name=self.system.devices[p.device].name,
            units=p.units,
            op=p.kernel.op,
            time_ns=k.time_ns,
            compute_ns=k.compute_ns,
            load_bytes=k.load_bytes,
            store_bytes=k.store_bytes,
            remote_bytes=p.remote_total,
            simulated_fraction=k.simulated_fraction,
            extrapolated=k.extrapolated,
            memo_hit=k.memo_hit,
            signature=str(p.kernel.signature),
        )

    # ------------------------------------------------------------------ kernels
    def _where(self, it: DecodeIteration, s: str, mapping: Mapping) -> list[int]:
        """Computing device of each unit of sublayer s."""
        n_units = it.sublayer(s).units
        compute_on = mapping.compute_on or {}
        if self.n_dev == 1 or self.tp > 1:
            return [0] * n_units
        if s in compute_on:
            return [int(compute_on[s])] * n_units
        n = int(mapping.split[s])
        return [0 if j < n else 1 for j in range(n_units)]

    def _sublayer(
        self, it: DecodeIteration, s: str, mapping: Mapping
    ) -> tuple[Sublayer, list[_KernelPlan], float]:
        sub = it.sublayer(s)
        big_n = sub.units
        compute_on = mapping.compute_on or {}
        plans: list[_KernelPlan] = []
        if self.tp > 1 or self.n_dev == 1:
            units = self.units_held[s]
            plans.append(self._local_kernel(sub, 0, units, 0))
        elif s in compute_on:
            plans.append(self._zero_copy_kernel(sub, int(compute_on[s]), int(mapping.split[s])))
        else:
            n = int(mapping.split[s])
            if n:
                plans.append(self._local_kernel(sub, 0, n, 0))
            if big_n - n:
                plans.append(self._local_kernel(sub, 1, big_n - n, n))
        ex = self._exchange(it, s, mapping)
        ar_ns = self._allreduce_ns(it, s)
        return Sublayer(s, tuple(p.kernel for p in plans), exchange_bytes=ex), plans, ar_ns

    def _measure_split_times(self, it: DecodeIteration) -> dict[tuple[str, int], list[float]]:
        """For EpochState.measure_split_times: every device's kernel time with k = 0 .. N units
        of every sublayer, simulated one kernel at a time in ``analytic`` fidelity."""
        engine = _engine(self.system, "analytic", self.sim.tables(), False)
        out: dict[tuple[str, int], list[float]] = {}
        for s in SUBLAYERS:
            sub = it.sublayer(s)
            big_n = sub.units
            for d in range(self.n_dev):
                times = [0.0]
                for k in range(1, big_n + 1):
                    self.sim.reset()
                    plan = self._local_kernel(sub, d, k, 0 if d == 0 else big_n - k)
                    res = self._run_one(Sublayer(s, (plan.kernel,)), 0.0, engine)
                    times.append(res.kernels[0].time_ns)
                out[(s, d)] = times
        self.sim.reset()
        return out

    def _local_kernel(self, sub: WorkSublayer, device: int, units: int, start: int) -> _KernelPlan:
        kd = sub.kernel_for(units, start=start)
        stream, out = _operand_bytes(kd)
        base = self.sim.alloc(stream, device)
        out_base = self.sim.alloc(out, device)
        shape = Kernel("probe", device, **kd).shape_key()
        k = Kernel(
            f"{sub.name}@{self.system.devices[device].name}",
            device,
            **kd,
            stream_base=base,
            out_base=out_base,
            signature=f"{shape}|d{device}|local",
        )
        return _KernelPlan(sub.name, device, units, k, 0, -1)

    def _zero_copy_kernel(self, sub: WorkSublayer, device: int, n: int) -> _KernelPlan:
        big_n = sub.units
        kd = sub.kernel_for(big_n)
        stream, out = _operand_bytes(kd)
        P = self.P
        pages = max(1, _ceil_div(stream, P))
        local_units = n if device == 0 else big_n - n
        other = 1 - device
        remote = round(stream * (big_n - local_units) / big_n / P)  # closest in bytes
        if big_n - local_units and pages > 1:
            remote = min(max(remote, 1), pages - (1 if local_units else 0))
        elif big_n - local_units:
            remote = 1 if local_units == 0 else 0
        layout = "contiguous" if sub.name == "attention" else "interleaved"
        # units 0 .. n-1 are device 0's: first in a contiguous layout
        placement = _remote_placement(
            pages, remote, device, other, layout, remote_first=(device == 1)
        )
        base = self.sim.alloc(stream, placement)
        out_base = self.sim.alloc(out, device)
        remote_pages = np.flatnonzero(placement == other)
        last = stream - (pages - 1) * P  # bytes in the last page
        remote_bytes = int(remote_pages.size * P - (P - last if pages - 1 in remote_pages else 0))
        remote_bytes = min(remote_bytes, stream)
        shape = Kernel("probe", device, **kd).shape_key()
        k = Kernel(
            f"{sub.name}@{self.system.devices[device].name}",
            device,
            **kd,
            stream_base=base,
            out_base=out_base,
            signature=f"{shape}|d{device}|{layout}-remote{remote}/{pages}",
        )
        return _KernelPlan(sub.name, device, big_n, k, remote_bytes, other if remote else -1)

    def _migration_kernels(
        self, sizes: tuple[int, int], pages: tuple[int, int], signature: str
    ) -> list[_KernelPlan]:
        """Per direction (``sizes[src]`` bytes, 0: none) one copy kernel driven by device 1's
        chip: a pull for 0 -> 1 (remote reads, local writes), a push for 1 -> 0."""
        out: list[_KernelPlan] = []
        for src, nbytes in enumerate(sizes):
            if not nbytes:
                continue
            dst = 1 - src
            src_base = self.sim.alloc(nbytes, src)
            dst_base = self.sim.alloc(nbytes, dst)
            k = Kernel(
                f"migrate {self.system.devices[src].name}->{self.system.devices[dst].name}",
                1,
                "copy",
                elements=nbytes,
                element_bytes=1,
                stream_base=src_base,
                out_base=dst_base,
                signature=f"copy:{nbytes}|d1|{src}->{dst}|{signature}",
            )
            if src == 0:
                plan = _KernelPlan("migration", 1, pages[src], k, nbytes, 0)
            else:
                plan = _KernelPlan("migration", 1, pages[src], k, 0, 0, remote_write_bytes=nbytes)
            out.append(plan)
        return out

    def _migrate(
        self, mig: _Migration, start: float
    ) -> tuple[list[_KernelPlan], list[KernelResult], float]:
        """Run the migration copies; returns plans, results (whole copies) and the time, ns.

        ``cycle`` and ``analytic``: the whole copies, both directions at once, when both fit
        in each memory at once (each holds one copy's source and the other's destination).
        ``sampled``, and larger copies in the other modes: per direction (copies up to S =
        ``_COPY_SAMPLE_BYTES`` run whole at cycle level) two reference copies of S and S/2, each
        simulated in full at cycle level (``sampled``) or in the run's own fidelity, give the
        start-up and the steady rate of a copy; a copy of B bytes takes ``t(S) + (B - S) x
        (t(S) - t(S/2)) / (S/2)`` and its counters are the S copy's scaled to B.
        """
        pages = mig.pages_by_direction
        P = self.P
        whole = (pages[0] * P, pages[1] * P)
        S = _COPY_SAMPLE_BYTES
        # Copies are link-bound streams that `sampled` extrapolates poorly (docs/fidelity.md):
        # in sampled mode they run at cycle level, whole when small, else as reference copies.
        copy_engine = (
            _engine(self.system, "cycle", self.sim.tables(), False)
            if self.fidelity == "sampled"
            else self.engine
        )
        frames = min(d.capacity_bytes for d in self.system.devices) // P
        fits = sum(pages) <= frames
        if max(whole) <= S or (self.fidelity != "sampled" and fits):
            self.sim.reset()
            plans = self._migration_kernels(whole, pages, f"{whole[0]}+{whole[1]}")
            res = self._run_one(
                Sublayer("migration", tuple(p.kernel for p in plans)), start, copy_engine
            )
            fixed = [self._analytic_fix(p, k) for p, k in zip(plans, res.kernels, strict=True)]
            done = self._shared(fixed)
            return plans, done, max(k.time_ns for k in done) + res.barrier_ns
        refs = []
        for size in (S, S // 2):
            self.sim.reset()
            sizes = (size if pages[0] else 0, size if pages[1] else 0)
            plans = self._migration_kernels(sizes, pages, "reference")
            refs.append(
                (
                    plans,
                    self._run_one(
                        Sublayer("migration", tuple(p.kernel for p in plans)), start, copy_engine
                    ),
                )
            )
        (plans, full), (half_plans, half) = refs
        results: list[KernelResult] = []
        fulls = [self._analytic_fix(p, k) for p, k in zip(plans, full.kernels, strict=True)]
        halves = [self._analytic_fix(p, k) for p, k in zip(half_plans, half.kernels, strict=True)]
        for p, k, h in zip(plans, fulls, halves, strict=True):
            b = whole[0] if p.remote_bytes else whole[1]
            rate_ns_per_byte = max(k.time_ns - h.time_ns, 0.0) / (S - S // 2)
            scale = b / S
            results.append(
                dataclasses.replace(
                    k,
                    time_ns=max(k.time_ns + (b - S) * rate_ns_per_byte, 0.0),
                    load_bytes=b,
                    store_bytes=b,
                    extrapolated=True,
                    simulated_fraction=k.simulated_fraction / scale,
                )
            )
            p.remote_bytes = round(p.remote_bytes * scale)
            p.remote_write_bytes = round(p.remote_write_bytes * scale)
        results = self._shared(results)
        return plans, results, max(k.time_ns for k in results) + full.barrier_ns

    def _shared(self, results: list[KernelResult]) -> list[KernelResult]:
        """``analytic`` times each kernel alone; kernels that run at once on one device (the two
        directions of a migration, both driven by one chip) share its memory and cores. Under
        fair sharing, n kernels whose alone times sort as t1 <= ... <= tn end the i-th at
        t1 + ... + t(i-1) + (n - i + 1) x ti. The other fidelities simulate the sharing."""
        if self.fidelity != "analytic":
            return results
        out = list(results)
        for d in {k.device for k in results}:
            mine = sorted(
                (i for i, k in enumerate(results) if k.device == d),
                key=lambda i: results[i].time_ns,
            )
            before = 0.0
            for j, i in enumerate(mine):
                t = results[i].time_ns
                out[i] = dataclasses.replace(results[i], time_ns=before + (len(mine) - j) * t)
                before += t
        return out

    def _analytic_fix(self, p: _KernelPlan, k: KernelResult) -> KernelResult:
        """``analytic`` ignores addresses: charge remote bytes at the link / remote rate."""
        if self.fidelity != "analytic" or not p.remote_total or self.system.link is None:
            return k
        dev, rem = self.system.devices[p.device], self.system.devices[p.remote_device]
        local_bytes = k.load_bytes + k.store_bytes - p.remote_total
        local_rate = dev.peak_GBps * self.engine.bandwidth_efficiency(p.device)
        remote_rate = min(
            float(self.system.link.bandwidth_GBps),
            rem.peak_GBps * self.engine.bandwidth_efficiency(p.remote_device),
        )
        t = max(k.compute_ns, local_bytes / local_rate, p.remote_total / remote_rate)
        return dataclasses.replace(k, time_ns=t)

    def _exchange(self, it: DecodeIteration, s: str, mapping: Mapping) -> tuple[int, int]:
        """Bytes (0 -> 1, 1 -> 0) the link carries after sublayer s (see module doc)."""
        if self.n_dev == 1 or self.tp > 1:
            return (0, 0)
        i = SUBLAYERS.index(s)
        nxt = SUBLAYERS[(i + 1) % len(SUBLAYERS)]
        sub, nsub = it.sublayer(s), it.sublayer(nxt)
        w, wn = self._where(it, s, mapping), self._where(it, nxt, mapping)
        out = sub.activation_out_bytes
        sent = [0, 0]
        if nsub.replicated_input or nsub.units != sub.units:
            for d in set(wn):
                o = 1 - d
                sent[o] += sum(b for b, ws in zip(out, w, strict=True) if ws == o)
        else:
            for j, b in enumerate(out):
                if w[j] != wn[j]:
                    sent[w[j]] += b
        if sub.exchange_bytes and len(set(w)) == 2:
            for d in (0, 1):
                sent[d] += round(sub.exchange_bytes * w.count(d) / len(w))
        return (sent[0], sent[1])

    def _allreduce_bytes(self, it: DecodeIteration) -> int:
        return it.tokens * self.model.d_model * self.model.element_bytes

    def _allreduce_ns(self, it: DecodeIteration, s: str) -> float:
        if self.tp <= 1 or s != "fc":
            return 0.0
        link = self.system.tp_link
        assert link is not None
        k = self.tp
        one = (
            2 * (k - 1) / k * self._allreduce_bytes(it) / link.bandwidth_GBps
            + 2 * (k - 1) * link.latency_ns
        )
        return 2 * one

    # ------------------------------------------------------------------ statistics
    def _counters(
        self,
        accounted: list[tuple[_KernelPlan, KernelResult, float, bool]],
        time_ns: float,
        shootdown: int,
    ) -> tuple[dict[str, MemoryCounters], dict[str, TlbCounters]]:
        n = self.n_dev
        cmd = [dict.fromkeys(COMMAND_NAMES, 0.0) for _ in range(n)]
        acc = [
            dict.fromkeys(
                (
                    "reads",
                    "writes",
                    "row_hits",
                    "row_misses",
                    "row_conflicts",
                    "lat_sum_ns",
                    "lat_n",
                    "estimated",
                ),
                0.0,
            )
            for _ in range(n)
        ]
        tlb = [
            dict.fromkeys(("lookups", "hits", "misses", "prefetches", "walks", "walk_wait_ns"), 0.0)
            for _ in range(n)
        ]
        for p, k, layers, other_measured in accounted:
            d = p.device
            mem = self.system.devices[d].memory
            f = k.simulated_fraction
            if self.fidelity == "analytic" or f <= 0:
                local_read = k.load_bytes - p.remote_bytes
                local_write = k.store_bytes - p.remote_write_bytes
                self._estimate(d, local_read * layers, local_write * layers, cmd, acc)
            else:
                scale = layers / f
                dram = k.dram
                s_rd = s_wr = s_all = scale
                if f < 1.0:
                    # Scale each class to the kernel's known bytes: the engine simulates all of
                    # a kernel's stores in its tail tiles, so 1/f would overweight writes.
                    tx = mem.dev.organization.transaction_bytes
                    m_rd, m_wr = float(dram.get("reads", 0)), float(dram.get("writes", 0))
                    want_rd = (k.load_bytes - p.remote_bytes) / tx
                    want_wr = (k.store_bytes - p.remote_write_bytes) / tx
                    s_rd = layers * want_rd / m_rd if m_rd else scale
                    s_wr = layers * want_wr / m_wr if m_wr else scale
                    s_all = layers * (want_rd + want_wr) / (m_rd + m_wr) if m_rd + m_wr else scale
                by_class = {
                    "RD": s_rd,
                    "RDA": s_rd,
                    "WR": s_wr,
                    "WRA": s_wr,
                    "REFab": scale,
                    "REFpb": scale,
                }
                counts = np.asarray(dram.get("commands", np.zeros(len(COMMAND_NAMES))), dtype=float)
                for name, c in zip(COMMAND_NAMES, counts, strict=True):
                    cmd[d][name] += float(c) * by_class.get(name, s_all)
                acc[d]["reads"] += float(dram.get("reads", 0)) * s_rd
                acc[d]["writes"] += float(dram.get("writes", 0)) * s_wr
                for key in ("row_hits", "row_misses", "row_conflicts"):
                    acc[d][key] += float(dram.get(key, 0)) * s_all
                lat = dram.get("read_latency", {})
                acc[d]["lat_sum_ns"] += float(lat.get("sum", 0)) * mem.dev.tck_ns * s_rd
                acc[d]["lat_n"] += float(lat.get("count", 0)) * s_rd
                for key in ("lookups", "hits", "misses", "prefetches", "walks"):
                    tlb[d][key] += float(k.tlb.get(key, 0)) * scale
                tlb[d]["walk_wait_ns"] += float(k.tlb.get("walk_wait_ps", 0)) * 1e-3 * scale
            if p.remote_total and p.remote_device >= 0 and not other_measured:
                self._estimate(
                    p.remote_device,
                    p.remote_bytes * layers,
                    p.remote_write_bytes * layers,
                    cmd,
                    acc,
                )
        usage = self.model_space.space.usage()
        frag = self.model_space.space.fragmentation().wasted_bytes
        memory: dict[str, MemoryCounters] = {}
        tlbs: dict[str, TlbCounters] = {}
        K = self.tp
        for d, dev in enumerate(self.system.devices):
            mem = dev.memory
            e = mem.dev.energy
            tx = mem.dev.organization.transaction_bytes
            c = cmd[d]
            energy = {
                "act_pre": c["ACT"] * e.act_pre_pJ * K,
                "read": (c["RD"] + c["RDA"]) * e.rd_pJ * K,
                "write": (c["WR"] + c["WRA"]) * e.wr_pJ * K,
                "refresh": (c["REFab"] * e.refab_pJ + c["REFpb"] * e.refpb_pJ) * K,
                "background": e.background_mW
                * 1e-3
                * mem.scheduled_channels
                * time_ns
                * 1e-9
                * 1e12
                * K,
            }
            a = acc[d]
            u = usage[dev.name]
            memory[dev.name] = MemoryCounters(
                reads=a["reads"] * K,
                writes=a["writes"] * K,
                read_bytes=a["reads"] * tx * K,
                write_bytes=a["writes"] * tx * K,
                row_hits=a["row_hits"] * K,
                row_misses=a["row_misses"] * K,
                row_conflicts=a["row_conflicts"] * K,
                commands={k: v * K for k, v in c.items()},
                read_latency_sum_ns=a["lat_sum_ns"] * K,
                read_latency_count=a["lat_n"] * K,
                energy_by_class_pJ=energy,
                estimated_bytes=a["estimated"] * K,
                used_bytes=u.used_bytes * K,
                free_bytes=u.free_bytes * K,
                fragmentation_bytes=int(frag[dev.name]) * K,
            )
            t = tlb[d]
            tlbs[dev.name] = TlbCounters(
                lookups=t["lookups"] * K,
                hits=t["hits"] * K,
                misses=t["misses"] * K,
                prefetches=t["prefetches"] * K,
                walks=t["walks"] * K,
                walk_wait_ns=t["walk_wait_ns"] * K,
                shootdown_pages=shootdown,
            )
        return memory, tlbs

    def _estimate(
        self,
        d: int,
        read_bytes: float,
        write_bytes: float,
        cmd: list[dict[str, float]],
        acc: list[dict[str, float]],
    ) -> None:
        """Streaming estimate: one RD/WR per transaction, one ACT + PRE per row."""
        org = self.system.devices[d].memory.dev.organization
        tx, row = org.transaction_bytes, org.row_bytes
        reads, writes = read_bytes / tx, write_bytes / tx
        acts = (read_bytes + write_bytes) / row
        cmd[d]["RD"] += reads
        cmd[d]["WR"] += writes
        cmd[d]["ACT"] += acts
        cmd[d]["PRE"] += acts
        acc[d]["reads"] += reads
        acc[d]["writes"] += writes
        acc[d]["row_misses"] += acts
        acc[d]["row_hits"] += max(0.0, reads + writes - acts)
        acc[d]["estimated"] += read_bytes + write_bytes

    def _link(
        self,
        it: DecodeIteration,
        mapping: Mapping,
        layer: list[tuple[Sublayer, list[_KernelPlan], float]],
        mig: _Migration,
        exchange: dict[str, float],
        allreduce: dict[str, float],
    ) -> LinkCounters:
        L = self.layers
        ex = [0, 0]
        zc = [0, 0]
        for sub, plans, _ in layer:
            ex[0] += sub.exchange_bytes[0] * L
            ex[1] += sub.exchange_bytes[1] * L
            for p in plans:
                if p.remote_bytes:
                    zc[p.remote_device] += p.remote_bytes * L  # data flows remote -> device
        P = self.P
        return LinkCounters(
            exchange_bytes=(ex[0], ex[1]),
            zero_copy_bytes=(zc[0], zc[1]),
            migration_bytes=(mig.pages_by_direction[0] * P, mig.pages_by_direction[1] * P),
            exchange_ns=sum(exchange.values()) * L,
            allreduce_ns=sum(allreduce.values()) * L,
        )


def simulate(
    system: SystemSpec,
    model: ModelSpec,
    *,
    batch: int | None = None,
    seq_len: int | None = None,
    requests: Sequence[Request] | None = None,
    stream: RequestStream | None = None,
    policy: str | Policy | type[Policy] = "h2m2",
    iterations: int = 1,
    fidelity: str = "sampled",
    seed: int = 0,
    record_timeline: str | Path | None = None,
    activation_reserve_bytes: int | Sequence[int] | None = None,
    memo: KernelMemoStore | None = None,
) -> Result:
    """Simulate decode iterations of ``model`` on ``system`` under a mapping policy.

    Parameters
    ----------
    system
        The hardware (:mod:`h2m2.presets`).
    model
        The model (:func:`h2m2.models.get`).
    batch
        Requests in the batch (>= 1); with ``seq_len`` (uniform lengths) or ``stream``.
    seq_len
        Context length of every request at the first iteration, tokens (>= 1); each iteration
        appends one token to every request (requests never finish).
    requests
        Instead of ``batch``/``seq_len``: the requests (:class:`h2m2.workload.Request`), which
        grow by one token per iteration.
    stream
        With ``batch``: a :class:`h2m2.requests.RequestStream`; requests finish and new ones
        arrive, so footprints rise and fall.
    policy
        A policy name (``h2m2.policies.names()``, default ``"h2m2"``), a
        :class:`h2m2.policies.Policy` object or subclass; called once per iteration.
    iterations
        Decode iterations (epochs) to run (default 1).
    fidelity
        ``"cycle"``, ``"sampled"`` (default) or ``"analytic"``.
    seed
        Seed of the request stream when it has none of its own (default 0).
    record_timeline
        Path of a Chrome-trace / Perfetto JSON timeline to write (default None: none). It shows
        the simulated layer of each iteration at the iteration's start, after its migration.
    activation_reserve_bytes
        Bytes per device (one int for all, or one per device) kept out of the model data for
        activations (default None: 2 x the largest one-layer sublayer activation, in pages).
    memo
        ``sampled``: a :class:`h2m2.memo_store.KernelMemoStore` shared with other runs, in this
        process or others, on the same system configuration (default None). Kernels found in it
        are not simulated again; kernels this run simulates are added to it. Its scope must
        stand for ``system`` (:func:`h2m2.sweep` scopes it by a digest of the system). The
        results are the same with or without it.

    Returns
    -------
    Result
        Iteration times, per-sublayer per-device kernel times, mappings, migrations, DRAM / TLB
        / link statistics, memory energy, policy calls; ``to_frame()`` and ``by_sublayer``.

    Raises
    ------
    ValueError
        Before anything runs: a bad argument (batch 0, a length < 1, unknown fidelity or
        policy, conflicting request arguments) or a model that fits on no device.
    SimulationError
        The policy raised, returned something that is not a Mapping, returned an invalid
        mapping, or a mapping that exceeds the capacity; or the engine rejected a kernel. The
        message names the epoch; ``.partial`` holds the earlier epochs' results.

    Example
    -------
    >>> import h2m2
    >>> r = h2m2.simulate(h2m2.presets.h2m2(), h2m2.models.get("Llama-3-8B"), batch=4,
    ...                   seq_len=128, fidelity="analytic")
    >>> r.iterations, r.complete
    (1, True)
    """
    run = _Run(
        system,
        model,
        batch=batch,
        seq_len=seq_len,
        requests=requests,
        stream=stream,
        policy=policy,
        iterations=iterations,
        fidelity=fidelity,
        seed=seed,
        record_timeline=record_timeline,
        activation_reserve_bytes=activation_reserve_bytes,
    )
    if memo is not None and not isinstance(memo, KernelMemoStore):
        raise ValueError(f"simulate: memo={memo!r} must be a KernelMemoStore or None")
    run.engine.memo_store = memo
    try:
        return run.execute()
    finally:
        run.engine.memo_store = None  # the engine is cached per thread; the store is this run's
