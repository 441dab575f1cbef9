"""Property tests: random traces on every preset under random controller and mapping settings.

For each example (a small trace: mixed reads and writes, random / sequential / strided / hot-row
addresses, random arrivals, any preset, page policy, refresh mode, queue sizes, address-field order
and XOR hashing):

(a) conservation: reads + writes == requests == trace length; bytes == requests x transaction
    size; the log has one RD/RDA per read and one WR/WRA per write, and per address (decoded
    channel, rank, bank group, bank, row, column) exactly as many as the trace has requests;
(b) the independent checker finds no violation in the command log;
(c) no request beats the unloaded minimum: per address, the i-th column command issues no earlier
    than the i-th request arrives, so every read takes at least nCL + nBL (and every write nCWL +
    nBL); the statistics' p50 and mean agree;
(d) the same inputs on a fresh system give identical statistics and an identical log;
(e) bandwidth never exceeds the derived peak.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from h2m2.dram import AddressMapping, ControllerSpec, MemorySpec, MemorySystem
from h2m2.dram.address_mapping import FIELDS
from h2m2.dram.checker import check
from h2m2.dram.standard import Command
from h2m2.dram.standards import _PRESETS

PRESETS = sorted(_PRESETS)
READS = [int(Command.RD), int(Command.RDA)]
WRITES = [int(Command.WR), int(Command.WRA)]


@dataclass(frozen=True)
class Case:
    spec: MemorySpec
    addr: np.ndarray
    is_write: np.ndarray
    arrival: np.ndarray | None

    def __repr__(self) -> str:  # short, for hypothesis' falsifying-example report
        c = self.spec.controller
        return (
            f"Case({self.spec.dev.name}, channels={self.spec.channels}, "
            f"mapping={self.spec.mapping}, "
            f"{c}, n={len(self.addr)}, writes={int(self.is_write.sum())}, "
            f"addr[:8]={[hex(int(a)) for a in self.addr[:8]]}, "
            f"arrival[-1]={None if self.arrival is None else int(self.arrival[-1])})"
        )


@st.composite
def cases(draw: Any) -> Case:
    dev = _PRESETS[draw(st.sampled_from(PRESETS))]
    channels = draw(st.integers(1, 3))
    mapping = AddressMapping(
        order=tuple(draw(st.permutations(FIELDS))), xor_bank=draw(st.booleans())
    )
    wq = draw(st.integers(2, 64))
    high = draw(st.integers(1, wq))
    controller = ControllerSpec(
        read_queue=draw(st.integers(1, 64)),
        write_queue=wq,
        write_high_watermark=high,
        write_low_watermark=draw(st.integers(0, high - 1)),
        row_hit_cap=draw(st.integers(1, 32)),
        page_policy=draw(st.sampled_from(["open", "closed"])),
        refresh=draw(st.sampled_from(["all_bank", "per_bank", "none"])),
    )
    spec = MemorySpec(dev, channels=channels, mapping=mapping, controller=controller)

    n = draw(st.integers(1, 1000))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    tx = dev.organization.transaction_bytes
    slots = spec.capacity_bytes // tx
    pattern = draw(st.sampled_from(["random", "sequential", "strided", "hot_rows"]))
    if pattern == "random":
        idx = rng.integers(0, slots, n, dtype=np.uint64)
    elif pattern == "sequential":
        idx = (int(rng.integers(0, slots)) + np.arange(n, dtype=np.uint64)) % np.uint64(slots)
    elif pattern == "strided":
        stride = 1 << draw(st.integers(0, int(slots).bit_length() - 1))
        idx = (
            int(rng.integers(0, slots)) + np.arange(n, dtype=np.uint64) * np.uint64(stride)
        ) % np.uint64(slots)
    else:  # a few hot addresses, repeated: row hits, conflicts and repeated requests
        hot = rng.integers(0, slots, int(rng.integers(1, 6)), dtype=np.uint64)
        idx = hot[rng.integers(0, len(hot), n)]
    offsets = rng.integers(0, tx, n, dtype=np.uint64) if draw(st.booleans()) else 0
    addr = idx * np.uint64(tx) + offsets

    is_write = rng.random(n) < draw(st.sampled_from([0.0, 0.2, 0.5, 1.0]))
    timing = draw(st.sampled_from(["all_at_once", "bursty", "spread"]))
    if timing == "all_at_once":
        arrival = None
    else:
        max_gap = 4 if timing == "bursty" else draw(st.sampled_from([20, 60]))
        gaps = rng.integers(0, max_gap + 1, n)
        arrival = np.cumsum(gaps).astype(np.int64)
    return Case(spec, addr.astype(np.uint64), is_write, arrival)


def flat_key(f: dict[str, np.ndarray], spec: MemorySpec) -> np.ndarray:
    o = spec.dev.organization
    key = np.zeros(len(f["channel"]), dtype=np.int64)
    for name, size in (
        ("channel", spec.scheduled_channels),
        ("rank", o.ranks),
        ("bankgroup", o.bank_groups),
        ("bank", o.banks_per_group),
        ("row", o.rows),
        ("column", o.bursts_per_row),
    ):
        key = key * size + np.asarray(f[name], dtype=np.int64)
    return key


def simulate(case: Case) -> tuple[MemorySystem, Any, np.ndarray]:
    mem = MemorySystem(case.spec, record_commands=True)
    stats = mem.run(case.addr, case.is_write, case.arrival)
    return mem, stats, mem.command_log()


def check_case(case: Case) -> None:
    """All five properties for one case."""
    mem, s, log = simulate(case)
    dev = case.spec.dev
    c = dev.cycles()
    n = len(case.addr)
    n_w = int(case.is_write.sum())

    # (a) conservation
    assert s.requests == n and s.reads + s.writes == n
    assert s.reads == n - n_w and s.writes == n_w
    assert s.bytes == n * mem.transaction_bytes
    cmd = log["command"]
    assert int(np.isin(cmd, READS).sum()) == s.reads
    assert int(np.isin(cmd, WRITES).sum()) == s.writes
    assert s.row_hits + s.row_misses + s.row_conflicts == n
    for name, count in s.commands.items():
        assert int(np.count_nonzero(cmd == int(Command[name]))) == count

    # per address: each request served once, never before it arrives
    req_key = flat_key(mem.decode(case.addr), case.spec)
    log_key = flat_key({k: log[k] for k in FIELDS}, case.spec)
    arrival = case.arrival if case.arrival is not None else np.zeros(n, dtype=np.int64)
    for write, codes, data in ((False, READS, c["nCL"]), (True, WRITES, c["nCWL"])):
        mine = case.is_write == write
        sel = np.isin(cmd, codes)
        r_keys, r_arr = req_key[mine], arrival[mine]
        l_keys, l_time = log_key[sel], log["time"][sel]
        r_order = np.lexsort((r_arr, r_keys))
        l_order = np.lexsort((l_time, l_keys))
        assert np.array_equal(r_keys[r_order], l_keys[l_order]), "a request served twice or never"
        # (c) the i-th command to an address issues no earlier than the i-th request arrives, so
        # a matched request's latency (command - arrival + data latency + nBL) is at least the
        # unloaded minimum data + nBL
        latency = l_time[l_order] - r_arr[r_order] + data + c["nBL"]
        assert np.all(latency >= data + c["nBL"]), "a column command before its request arrived"

    # (b) the independent checker
    violations = check(log, dev)
    assert violations == [], "\n".join(v.describe(log) for v in violations[:5])

    # (c) statistics agree with the unloaded minimum
    eps = 1e-9
    if s.reads:
        floor_ns = (c["nCL"] + c["nBL"]) * s.tck_ns
        assert s.p50_read_latency_ns >= floor_ns - eps
        assert s.avg_read_latency_ns >= floor_ns - eps
        assert s.max_read_latency_ns >= s.p50_read_latency_ns
    if s.writes:
        assert s.avg_write_latency_ns >= (c["nCWL"] + c["nBL"]) * s.tck_ns - eps

    # (e) never above peak
    assert s.bandwidth_GBps <= s.peak_GBps * (1 + 1e-12)

    # (d) determinism on a fresh system
    _, s2, log2 = simulate(case)
    d1, d2 = s.to_dict(), s2.to_dict()
    d1.pop("wall_s")
    d2.pop("wall_s")
    assert d1 == d2
    assert log.dtype == log2.dtype and log.tobytes() == log2.tobytes()


@settings(max_examples=10, deadline=None)
@given(case=cases(), split=st.floats(0.0, 1.0))
def test_a_trace_split_over_two_runs_conserves_requests(case: Case, split: float) -> None:
    """Feeding the trace in two ``run`` calls loses and duplicates nothing, and stays legal."""
    n = len(case.addr)
    k = int(split * n)
    mem = MemorySystem(case.spec, record_commands=True)
    arr = case.arrival
    # arrivals of each call are relative to its start
    first = None if arr is None else arr[:k]
    second = None if arr is None else arr[k:] - (arr[k] if k < n else 0)
    mem.run(case.addr[:k], case.is_write[:k], first)
    s = mem.run(case.addr[k:], case.is_write[k:], second)
    assert s.requests == n and s.writes == int(case.is_write.sum())
    log = mem.command_log()
    assert int(np.isin(log["command"], READS + WRITES).sum()) == n
    assert check(log, case.spec.dev) == []
    assert s.bandwidth_GBps <= s.peak_GBps * (1 + 1e-12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_random_traces_conserve_requests_obey_timing_and_are_deterministic(case: Case) -> None:
    check_case(case)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_random_traces_many_examples(case: Case) -> None:
    """The same properties over many more examples."""
    check_case(case)
