"""The result of :func:`h2m2.simulate`: per-iteration times, mappings, migrations, statistics.

Models: nothing; a :class:`Result` records what the simulator measured, one
:class:`IterationRecord` per decode iteration (epoch), and turns it into tidy pandas tables.

What the numbers mean (also in ``Result.metadata`` and docs/assumptions.md):

- **One layer stands for all.** Each iteration simulates ONE decoder layer (the three sublayers
  qkv, attention, fc; all layers are identical). Per-kernel times, barrier, exchange and
  all-reduce times are one layer's (``*_ns`` fields of the records); iteration-level times and
  every counter (DRAM commands and bytes, TLB, link bytes, energy) are multiplied by ``layers``.
- **Extrapolated kernels.** In ``sampled`` fidelity the engine simulates part of a long kernel
  (``simulated_fraction`` of its bytes) and extrapolates its time; its DRAM and TLB counters
  cover the simulated part only. Extensive counters are scaled up to the whole kernel: reads
  (RD/RDA, read latency sum and count) to the kernel's local load bytes, writes (WR/WRA) to its
  store bytes, row outcomes and ACT/PRE/PREA by the ratio of all its requests, and refresh and
  TLB counters by ``1 / simulated_fraction``. Plain ``1 / simulated_fraction`` would overweight
  the writes: the engine simulates all of a kernel's stores in its tail tiles. Intensive
  counters (mean latency = sum / count) are unchanged.
- **Estimated counters.** DRAM commands that the engine does not report are estimated from
  bytes as a perfectly streaming access (one RD/WR per transaction, one ACT and one PRE per row
  of ``row_bytes``; no refresh): all counters in ``analytic`` fidelity (no DRAM is simulated)
  and the far memory's side of remote accesses (zero-copy reads, the read side of migration
  copies), which the engine does not attribute to that memory. ``estimated_bytes`` says how many
  bytes of a memory's traffic were estimated.
- **Memory energy** (memory only, as in the paper) of a memory in an iteration = its command
  counts x the standard's ``Energy`` constants (ACT+PRE, RD, WR, REFab, REFpb; reads and writes
  of remote accesses included) + ``background_mW`` x scheduled channels x the iteration time
  (the memory is powered all the time, busy or idle). With tensor parallelism over K devices
  everything is multiplied by K. Per token = iteration energy / batch (one token per request).

Owns: plain data (frozen dataclasses). Time: seconds at the iteration level, ns per layer.
Hot path: no.

Spec: ../shared/spec/h2m2.md section 6; issue 4 ("Top-level API"), issue 7 (partial results).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from h2m2.policies.base import Mapping

__all__ = [
    "IterationRecord",
    "KernelRecord",
    "LinkCounters",
    "MemoryCounters",
    "MemorySummary",
    "MigrationRecord",
    "Result",
    "TlbCounters",
]

SUBLAYER_ORDER: tuple[str, ...] = ("qkv", "attention", "fc")


@dataclass(frozen=True)
class KernelRecord:
    """One kernel of one iteration (one layer's worth; migration copies are whole).

    Parameters
    ----------
    iteration
        Epoch number.
    sublayer
        ``"qkv"``, ``"attention"``, ``"fc"`` or ``"migration"``.
    device, device_name
        The chip that ran it.
    units
        Units it computed (pages copied for a migration kernel).
    op
        Kernel op (``"linear"``, ``"attention"``, ``"copy"``).
    time_ns
        Kernel time, ns (one layer; for a migration copy the whole copy).
    compute_ns
        Busiest core's compute time, ns.
    load_bytes, store_bytes
        Bytes the kernel loads and stores (whole kernel, one layer).
    remote_bytes
        Of ``load_bytes``, the bytes read from the other device over the link.
    simulated_fraction
        Fraction of the kernel's bytes simulated at cycle level (0 in ``analytic``).
    extrapolated, memo_hit
        The engine extrapolated the kernel / reused a memoised kernel of the same signature.
    signature
        The memo key.
    """

    iteration: int
    sublayer: str
    device: int
    device_name: str
    units: int
    op: str
    time_ns: float
    compute_ns: float
    load_bytes: int
    store_bytes: int
    remote_bytes: int
    simulated_fraction: float
    extrapolated: bool
    memo_hit: bool
    signature: str


@dataclass(frozen=True)
class MemoryCounters:
    """DRAM statistics of one memory in one iteration, all layers (see the module docstring).

    Parameters
    ----------
    reads, writes
        Column read / write commands (transactions).
    read_bytes, write_bytes
        Bytes moved, bytes.
    row_hits, row_misses, row_conflicts
        Row-buffer outcomes.
    commands
        Command counts by name (``ACT``, ``PRE``, ``PREA``, ``RD``, ``WR``, ``RDA``, ``WRA``,
        ``REFab``, ``REFpb``).
    read_latency_sum_ns, read_latency_count
        Sum and count of read latencies of the simulated requests (scaled), for the mean.
    energy_by_class_pJ
        Energy by class: ``act_pre``, ``read``, ``write``, ``refresh``, ``background``, pJ.
    estimated_bytes
        Bytes whose commands were estimated rather than simulated, bytes.
    used_bytes, free_bytes
        Model data in the memory after the iteration's placement and free frames, bytes.
    fragmentation_bytes
        Internal fragmentation (unused tails of the last pages of tensors), bytes.
    """

    reads: float
    writes: float
    read_bytes: float
    write_bytes: float
    row_hits: float
    row_misses: float
    row_conflicts: float
    commands: dict[str, float]
    read_latency_sum_ns: float
    read_latency_count: float
    energy_by_class_pJ: dict[str, float]
    estimated_bytes: float
    used_bytes: int
    free_bytes: int
    fragmentation_bytes: int

    @property
    def bytes(self) -> float:
        """Bytes read plus written."""
        return self.read_bytes + self.write_bytes

    @property
    def energy_J(self) -> float:
        """Total memory energy, J."""
        return sum(self.energy_by_class_pJ.values()) * 1e-12

    @property
    def dynamic_energy_J(self) -> float:
        """Command energy (everything but background), J."""
        return sum(v for k, v in self.energy_by_class_pJ.items() if k != "background") * 1e-12

    @property
    def avg_read_latency_ns(self) -> float:
        """Mean read latency of the simulated requests, ns (0 if none)."""
        return (
            self.read_latency_sum_ns / self.read_latency_count if self.read_latency_count else 0.0
        )


@dataclass(frozen=True)
class TlbCounters:
    """TLB statistics of one chip in one iteration, all layers (scaled; 0 in ``analytic``).

    Parameters
    ----------
    lookups, hits, misses, prefetches, walks
        Counts.
    walk_wait_ns
        Time requests waited for page walks, summed, ns.
    shootdown_pages
        Logical pages whose translation changed by migration before the iteration.
    """

    lookups: float
    hits: float
    misses: float
    prefetches: float
    walks: float
    walk_wait_ns: float
    shootdown_pages: int


@dataclass(frozen=True)
class LinkCounters:
    """Chip-to-chip link traffic of one iteration, all layers, bytes per direction.

    Parameters
    ----------
    exchange_bytes
        Activation exchange after barriers, ``(0 -> 1, 1 -> 0)``.
    zero_copy_bytes
        Operands read zero-copy from the other device (``compute_on``), ``(0 -> 1, 1 -> 0)`` by
        the direction the data flows.
    migration_bytes
        Pages copied by migration, ``(0 -> 1, 1 -> 0)``.
    exchange_ns
        Time of the exchanges (after the barriers), summed over sublayers and layers, ns.
    allreduce_ns
        Tensor-parallel all-reduce time over the ``tp_link``, all layers, ns (0 without TP).
    """

    exchange_bytes: tuple[int, int]
    zero_copy_bytes: tuple[int, int]
    migration_bytes: tuple[int, int]
    exchange_ns: float
    allreduce_ns: float

    @property
    def bytes(self) -> int:
        """All link bytes, both directions."""
        return sum(self.exchange_bytes) + sum(self.zero_copy_bytes) + sum(self.migration_bytes)


@dataclass(frozen=True)
class MigrationRecord:
    """The page migration before one iteration (moves the units whose side changed).

    Parameters
    ----------
    pages
        Pages whose primary device changed.
    copied_pages
        Pages copied (pages with a duplicate already on the destination are not copied).
    bytes_by_direction
        Copied bytes ``(0 -> 1, 1 -> 0)``.
    time_ns
        Time of the copy kernels plus one barrier, ns (0 without migration).
    staged
        The plan had to let destinations reuse frames freed by the same plan (an exchange
        between full memories).
    units_moved
        Per sublayer, the units whose side changed.
    """

    pages: int
    copied_pages: int
    bytes_by_direction: tuple[int, int]
    time_ns: float
    staged: bool
    units_moved: dict[str, int]

    @property
    def bytes(self) -> int:
        """Copied bytes, both directions."""
        return sum(self.bytes_by_direction)


@dataclass(frozen=True)
class IterationRecord:
    """Everything measured in one decode iteration (epoch).

    Parameters
    ----------
    iteration
        Epoch number.
    batch
        Requests in the batch (tokens generated by the iteration).
    seq_lens
        Per-request context lengths, tokens.
    finished, admitted
        Request ids finished / admitted since the previous iteration.
    mapping
        The mapping that ran.
    time_s
        Iteration time: ``layers x layer_time_ns + migration time``, s.
    layer_time_ns
        One layer: sum over sublayers of (slowest kernel + barrier + exchange + all-reduce), ns.
    sublayer_ns
        Per sublayer, one layer's time (kernels + barrier + exchange + all-reduce), ns.
    kernel_ns
        Per ``(sublayer, device)`` the kernel time of one layer, ns (0 if the device had no
        kernel).
    barrier_ns, exchange_ns, allreduce_ns
        Per sublayer, one layer's barrier, link exchange and tensor-parallel all-reduce, ns.
    migration
        The migration before the iteration.
    memory, tlb
        Per device name.
    link
        Link traffic.
    policy_time_s
        Wall-clock time spent in the policy's ``on_epoch`` for this epoch, s.
    kernels
        The kernel records.
    """

    iteration: int
    batch: int
    seq_lens: tuple[int, ...]
    finished: tuple[int, ...]
    admitted: tuple[int, ...]
    mapping: Mapping
    time_s: float
    layer_time_ns: float
    sublayer_ns: dict[str, float]
    kernel_ns: dict[tuple[str, int], float]
    barrier_ns: dict[str, float]
    exchange_ns: dict[str, float]
    allreduce_ns: dict[str, float]
    migration: MigrationRecord
    memory: dict[str, MemoryCounters]
    tlb: dict[str, TlbCounters]
    link: LinkCounters
    policy_time_s: float
    kernels: tuple[KernelRecord, ...] = field(repr=False)

    @property
    def energy_J(self) -> float:
        """Memory energy of the iteration, all memories, J."""
        return sum(m.energy_J for m in self.memory.values())

    @property
    def energy_per_token_J(self) -> float:
        """Memory energy per generated token, J."""
        return self.energy_J / self.batch


@dataclass(frozen=True)
class MemorySummary:
    """One memory over the whole run (sums over iterations).

    Parameters
    ----------
    name
        Device name.
    read_bytes, write_bytes
        Bytes, bytes.
    time_s
        Run time (sum of iteration times), s.
    energy_J
        Memory energy, J.
    row_hits, row_misses, row_conflicts
        Row-buffer outcomes.
    avg_read_latency_ns
        Mean read latency of the simulated requests, ns.
    tlb_lookups, tlb_misses
        TLB counts of the device's chip.
    peak_GBps
        Peak bandwidth of the memory (per device), GB/s.
    """

    name: str
    read_bytes: float
    write_bytes: float
    time_s: float
    energy_J: float
    row_hits: float
    row_misses: float
    row_conflicts: float
    avg_read_latency_ns: float
    tlb_lookups: float
    tlb_misses: float
    peak_GBps: float

    @property
    def bandwidth_GBps(self) -> float:
        """Average achieved bandwidth over the run: bytes / time, GB/s."""
        return (self.read_bytes + self.write_bytes) / self.time_s / 1e9 if self.time_s else 0.0

    @property
    def bandwidth(self) -> float:
        """Alias of :attr:`bandwidth_GBps` (GB/s)."""
        return self.bandwidth_GBps

    @property
    def utilization(self) -> float:
        """Average bandwidth over peak."""
        return self.bandwidth_GBps / self.peak_GBps if self.peak_GBps else 0.0

    @property
    def row_hit_rate(self) -> float:
        """Row hits over all row outcomes (0 if none)."""
        total = self.row_hits + self.row_misses + self.row_conflicts
        return self.row_hits / total if total else 0.0


@dataclass
class Result:
    """What :func:`h2m2.simulate` measured.

    Parameters
    ----------
    fidelity
        ``"cycle"``, ``"sampled"`` or ``"analytic"``.
    system
        System name (device names joined by ``+``, with ``xK TP`` for tensor parallelism).
    model
        Model name.
    policy
        Policy name.
    devices
        Device names, by index.
    layers
        Decoder layers (one layer is simulated and stands for all).
    records
        One :class:`IterationRecord` per completed iteration.
    policy_calls
        Calls of the policy's ``on_epoch`` (including a failed last one).
    policy_time_s
        Wall-clock time spent in the policy, s.
    metadata
        How the numbers were obtained (scaling, estimation, energy method, reserves, ...).
    error
        None for a complete run; else the message of the error that stopped it (the records
        are those of the iterations before it).
    peak_GBps
        Peak DRAM bandwidth per device name, GB/s.

    Example
    -------
    >>> r = h2m2.simulate(h2m2.presets.h2m2(), h2m2.models.get("GPT3-175B"), batch=32,
    ...                   seq_len=2048)  # doctest: +SKIP
    >>> r.iteration_time, r.to_frame()["time_s"].iloc[0]  # doctest: +SKIP
    """

    fidelity: str
    system: str
    model: str
    policy: str
    devices: tuple[str, ...]
    layers: int
    records: list[IterationRecord] = field(default_factory=list)
    policy_calls: int = 0
    policy_time_s: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    peak_GBps: dict[str, float] = field(default_factory=dict)

    # ------------------------------------------------------------------ summaries
    @property
    def complete(self) -> bool:
        """True when every requested iteration ran."""
        return self.error is None

    @property
    def iterations(self) -> int:
        """Completed iterations."""
        return len(self.records)

    @property
    def iteration_times(self) -> list[float]:
        """Time of each completed iteration, s."""
        return [r.time_s for r in self.records]

    @property
    def iteration_time(self) -> float:
        """Mean iteration time over the completed iterations, s (nan if none).

        Example
        -------
        >>> Result("analytic", "s", "m", "p", ("d",), 1).iteration_time
        nan
        """
        times = self.iteration_times
        return sum(times) / len(times) if times else float("nan")

    @property
    def total_time(self) -> float:
        """Sum of the iteration times, s."""
        return sum(self.iteration_times)

    @property
    def tokens(self) -> int:
        """Tokens generated (sum of the batch sizes)."""
        return sum(r.batch for r in self.records)

    @property
    def energy_J(self) -> float:
        """Memory energy of the run, J."""
        return sum(r.energy_J for r in self.records)

    @property
    def energy_per_token_J(self) -> float:
        """Memory energy per generated token over the run, J (nan if none)."""
        return self.energy_J / self.tokens if self.tokens else float("nan")

    @property
    def mappings(self) -> list[Mapping]:
        """The mapping of each completed iteration."""
        return [r.mapping for r in self.records]

    @property
    def memory(self) -> dict[str, MemorySummary]:
        """Per device name, DRAM totals over the run (``r.memory["hbm"].bandwidth``)."""
        out: dict[str, MemorySummary] = {}
        time_s = self.total_time
        for name in self.devices:
            ms = [r.memory[name] for r in self.records if name in r.memory]
            ts = [r.tlb[name] for r in self.records if name in r.tlb]
            lat_sum = sum(m.read_latency_sum_ns for m in ms)
            lat_n = sum(m.read_latency_count for m in ms)
            out[name] = MemorySummary(
                name=name,
                read_bytes=sum(m.read_bytes for m in ms),
                write_bytes=sum(m.write_bytes for m in ms),
                time_s=time_s,
                energy_J=sum(m.energy_J for m in ms),
                row_hits=sum(m.row_hits for m in ms),
                row_misses=sum(m.row_misses for m in ms),
                row_conflicts=sum(m.row_conflicts for m in ms),
                avg_read_latency_ns=lat_sum / lat_n if lat_n else 0.0,
                tlb_lookups=sum(t.lookups for t in ts),
                tlb_misses=sum(t.misses for t in ts),
                peak_GBps=self.peak_GBps.get(name, 0.0),
            )
        return out

    # ------------------------------------------------------------------ tables
    def to_frame(self) -> pd.DataFrame:
        """One row per iteration with flat columns.

        Columns: ``iteration, batch, seq_len_mean, seq_len_max, kv_tokens, finished, admitted,
        time_s, layer_time_ns, migration_time_s, policy_time_s``; per sublayer ``s``:
        ``split_<s>``, ``compute_on_<s>`` (-1: compute follows data), ``<s>_time_s`` (all layers),
        ``<s>_<device>_kernel_ns`` (one layer), ``<s>_barrier_ns``, ``<s>_exchange_ns``,
        ``<s>_allreduce_ns``; ``migration_pages, migration_bytes, migration_staged``; per
        device ``d``: ``<d>_read_bytes, <d>_write_bytes, <d>_bandwidth_GBps, <d>_row_hits,
        <d>_row_misses, <d>_row_conflicts, <d>_act, <d>_estimated_bytes, <d>_energy_J,
        <d>_background_energy_J, <d>_tlb_lookups, <d>_tlb_misses, <d>_tlb_walk_wait_ns,
        <d>_tlb_shootdown_pages, <d>_used_bytes, <d>_free_bytes, <d>_fragmentation_bytes``;
        ``link_exchange_bytes, link_zero_copy_bytes, link_migration_bytes, link_bytes,
        link_exchange_ns, allreduce_ns, energy_J, energy_per_token_J``.

        Returns
        -------
        pandas.DataFrame

        Example
        -------
        >>> len(Result("analytic", "s", "m", "p", ("d",), 1).to_frame())
        0
        """
        import pandas as pd

        rows = [self._row(r) for r in self.records]
        if rows:
            return pd.DataFrame(rows)
        return pd.DataFrame(columns=list(self._row_columns()))

    def _row_columns(self) -> list[str]:
        cols = [
            "iteration",
            "batch",
            "seq_len_mean",
            "seq_len_max",
            "kv_tokens",
            "finished",
            "admitted",
            "time_s",
            "layer_time_ns",
            "migration_time_s",
            "policy_time_s",
        ]
        for s in SUBLAYER_ORDER:
            cols += [f"split_{s}", f"compute_on_{s}", f"{s}_time_s"]
            cols += [f"{s}_{d}_kernel_ns" for d in self.devices]
            cols += [f"{s}_barrier_ns", f"{s}_exchange_ns", f"{s}_allreduce_ns"]
        cols += ["migration_pages", "migration_bytes", "migration_staged"]
        for d in self.devices:
            cols += [
                f"{d}_{c}"
                for c in (
                    "read_bytes",
                    "write_bytes",
                    "bandwidth_GBps",
                    "row_hits",
                    "row_misses",
                    "row_conflicts",
                    "act",
                    "estimated_bytes",
                    "energy_J",
                    "background_energy_J",
                    "tlb_lookups",
                    "tlb_misses",
                    "tlb_walk_wait_ns",
                    "tlb_shootdown_pages",
                    "used_bytes",
                    "free_bytes",
                    "fragmentation_bytes",
                )
            ]
        cols += [
            "link_exchange_bytes",
            "link_zero_copy_bytes",
            "link_migration_bytes",
            "link_bytes",
            "link_exchange_ns",
            "allreduce_ns",
            "energy_J",
            "energy_per_token_J",
        ]
        return cols

    def _row(self, r: IterationRecord) -> dict[str, Any]:
        lens = r.seq_lens
        row: dict[str, Any] = {
            "iteration": r.iteration,
            "batch": r.batch,
            "seq_len_mean": sum(lens) / len(lens),
            "seq_len_max": max(lens),
            "kv_tokens": sum(lens),
            "finished": len(r.finished),
            "admitted": len(r.admitted),
            "time_s": r.time_s,
            "layer_time_ns": r.layer_time_ns,
            "migration_time_s": r.migration.time_ns * 1e-9,
            "policy_time_s": r.policy_time_s,
        }
        compute_on = r.mapping.compute_on or {}
        for s in SUBLAYER_ORDER:
            row[f"split_{s}"] = int(r.mapping.split[s])
            row[f"compute_on_{s}"] = int(compute_on.get(s, -1))
            row[f"{s}_time_s"] = r.sublayer_ns[s] * self.layers * 1e-9
            for i, d in enumerate(self.devices):
                row[f"{s}_{d}_kernel_ns"] = r.kernel_ns.get((s, i), 0.0)
            row[f"{s}_barrier_ns"] = r.barrier_ns[s]
            row[f"{s}_exchange_ns"] = r.exchange_ns[s]
            row[f"{s}_allreduce_ns"] = r.allreduce_ns[s]
        row["migration_pages"] = r.migration.pages
        row["migration_bytes"] = r.migration.bytes
        row["migration_staged"] = r.migration.staged
        for d in self.devices:
            m, t = r.memory[d], r.tlb[d]
            row[f"{d}_read_bytes"] = m.read_bytes
            row[f"{d}_write_bytes"] = m.write_bytes
            row[f"{d}_bandwidth_GBps"] = m.bytes / r.time_s / 1e9 if r.time_s else 0.0
            row[f"{d}_row_hits"] = m.row_hits
            row[f"{d}_row_misses"] = m.row_misses
            row[f"{d}_row_conflicts"] = m.row_conflicts
            row[f"{d}_act"] = m.commands.get("ACT", 0.0)
            row[f"{d}_estimated_bytes"] = m.estimated_bytes
            row[f"{d}_energy_J"] = m.energy_J
            row[f"{d}_background_energy_J"] = m.energy_by_class_pJ.get("background", 0.0) * 1e-12
            row[f"{d}_tlb_lookups"] = t.lookups
            row[f"{d}_tlb_misses"] = t.misses
            row[f"{d}_tlb_walk_wait_ns"] = t.walk_wait_ns
            row[f"{d}_tlb_shootdown_pages"] = t.shootdown_pages
            row[f"{d}_used_bytes"] = m.used_bytes
            row[f"{d}_free_bytes"] = m.free_bytes
            row[f"{d}_fragmentation_bytes"] = m.fragmentation_bytes
        link = r.link
        row["link_exchange_bytes"] = sum(link.exchange_bytes)
        row["link_zero_copy_bytes"] = sum(link.zero_copy_bytes)
        row["link_migration_bytes"] = sum(link.migration_bytes)
        row["link_bytes"] = link.bytes
        row["link_exchange_ns"] = link.exchange_ns
        row["allreduce_ns"] = link.allreduce_ns
        row["energy_J"] = r.energy_J
        row["energy_per_token_J"] = r.energy_per_token_J
        return row

    @property
    def by_sublayer(self) -> pd.DataFrame:
        """One row per (iteration, sublayer, device) kernel, migration copies included.

        Columns: ``iteration, sublayer, device, device_name, units, op, time_ns`` (one layer),
        ``time_s`` (all layers; the copy itself for migration), ``compute_ns, load_bytes,
        store_bytes, remote_bytes, simulated_fraction, extrapolated, memo_hit, signature,
        sublayer_ns, barrier_ns, exchange_ns, allreduce_ns`` (one layer, per sublayer).

        Example
        -------
        >>> list(Result("analytic", "s", "m", "p", ("d",), 1).by_sublayer.columns)[:3]
        ['iteration', 'sublayer', 'device']
        """
        import pandas as pd

        cols = [f.name for f in dataclasses.fields(KernelRecord)]
        extra = ["time_s", "sublayer_ns", "barrier_ns", "exchange_ns", "allreduce_ns"]
        rows: list[dict[str, Any]] = []
        for r in self.records:
            for k in r.kernels:
                row = dataclasses.asdict(k)
                mig = k.sublayer == "migration"
                row["time_s"] = k.time_ns * 1e-9 * (1 if mig else self.layers)
                row["sublayer_ns"] = r.migration.time_ns if mig else r.sublayer_ns[k.sublayer]
                row["barrier_ns"] = 0.0 if mig else r.barrier_ns[k.sublayer]
                row["exchange_ns"] = 0.0 if mig else r.exchange_ns[k.sublayer]
                row["allreduce_ns"] = 0.0 if mig else r.allreduce_ns[k.sublayer]
                rows.append(row)
        return pd.DataFrame(rows, columns=cols + extra)

    def __repr__(self) -> str:
        state = "complete" if self.complete else f"partial ({self.error})"
        return (
            f"Result({self.system}, {self.model}, policy={self.policy}, fidelity={self.fidelity}, "
            f"{self.iterations} iterations, iteration_time={self.iteration_time:.6g} s, {state})"
        )
