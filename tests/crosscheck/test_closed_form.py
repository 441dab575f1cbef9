"""Closed forms against the engine: unloaded read latency, peak bandwidth and capacity.

Independent evidence: every expected value is computed here from the preset's timing table in
cycles (:meth:`DeviceSpec.cycles`) or from its organisation, never from engine internals.

Unloaded read latency (from queue entry to the last data beat, in CK), one request at a time:

* row miss (closed bank):                          nRCD + nCL + nBL
* row hit (same row, arriving long after):                nCL + nBL
* row conflict (same bank, another row, long after): nRP + nRCD + nCL + nBL

(``nRCD`` is ``nRCD_RD`` where the standard splits it; ``nRP`` is the per-bank precharge.) "Long
after" means every rule started by the previous request (tRAS, tRC, tRTP, ...) has expired.
Latencies are read twice: from the command log (RD cycle - arrival + nCL + nBL) and from the
statistics (the mean read latency after each single-request run).
"""

from __future__ import annotations

import numpy as np
import pytest

from h2m2.dram import ControllerSpec, MemorySpec, MemorySystem
from h2m2.dram.standard import Command, DeviceSpec
from h2m2.dram.standards import _PRESETS, get

PRESETS = sorted(_PRESETS)


def rcd(dev: DeviceSpec) -> int:
    c = dev.cycles()
    return c["nRCD_RD"] if "nRCD_RD" in c else c["nRCD"]


def closed_forms(dev: DeviceSpec) -> dict[str, int]:
    c = dev.cycles()
    data = c["nCL"] + c["nBL"]
    return {"miss": rcd(dev) + data, "hit": data, "conflict": c["nRP"] + rcd(dev) + data}


def address(mem: MemorySystem, row: int, column: int) -> int:
    """Address of (channel 0, rank 0, bank group 0, bank 0, row, column) under the default mapping
    (row-rank-bank-column-bankgroup-channel, most significant first), computed here."""
    spec, o = mem.spec, mem.spec.dev.organization
    assert spec.mapping.order == ("row", "rank", "bank", "column", "bankgroup", "channel")
    x = row
    x = x * o.ranks * o.banks_per_group
    x = (x * o.bursts_per_row + column) * o.bank_groups * spec.scheduled_channels
    return x * o.transaction_bytes


# The three requests: a miss at 0, a hit to the same row, a conflict in the same bank.
ROWCOL = {"miss": (0, 0), "hit": (0, 1), "conflict": (1, 0)}


def spaced_arrivals(dev: DeviceSpec, refresh: str) -> list[int]:
    """Arrivals far apart. With refresh on, all three finish before the first refresh is due
    (no earlier than nREFI); with refresh off, tens of refresh intervals apart."""
    n_refi = dev.cycles()["nREFI"]
    if refresh == "none":
        return [0, 20 * n_refi, 40 * n_refi]
    return [0, n_refi // 4, n_refi // 2]


@pytest.mark.parametrize("refresh", ["none", "all_bank"])
@pytest.mark.parametrize("name", PRESETS)
def test_unloaded_read_latency_from_command_log(name: str, refresh: str) -> None:
    dev = get(name)
    mem = MemorySystem(
        MemorySpec(dev, channels=1, controller=ControllerSpec(refresh=refresh)),
        record_commands=True,
    )
    kinds = ["miss", "hit", "conflict"]
    addr = np.array([address(mem, *ROWCOL[k]) for k in kinds], dtype=np.uint64)
    fields = mem.decode(addr)
    assert set(fields["channel"]) == {0} and set(fields["bank"]) == {0}
    assert list(fields["row"]) == [0, 0, 1] and list(fields["column"]) == [0, 1, 0]
    arrivals = spaced_arrivals(dev, refresh)
    stats = mem.run(addr, arrival_cycles=np.array(arrivals, dtype=np.int64))
    log = mem.command_log()
    c = dev.cycles()
    want = closed_forms(dev)
    reads = log[log["command"] == int(Command.RD)]
    assert len(reads) == 3
    for kind, t_arr in zip(kinds, arrivals, strict=True):
        row, col = ROWCOL[kind]
        rd = reads[(reads["row"] == row) & (reads["column"] == col)]
        assert len(rd) == 1
        got = int(rd["time"][0]) - t_arr + c["nCL"] + c["nBL"]
        assert got == want[kind], f"{name} {kind}: {got} CK, closed form {want[kind]} CK"
    assert stats.cycles == arrivals[2] + want["conflict"]
    if refresh != "none":
        assert stats.cycles < c["nREFI"] and stats.commands["REFab"] == 0
    assert stats.row_misses == 1 and stats.row_hits == 1 and stats.row_conflicts == 1
    # Commands: exactly the ones the closed forms count.
    assert stats.commands["ACT"] == 2 and stats.commands["PRE"] == 1


@pytest.mark.parametrize("name", PRESETS)
def test_unloaded_read_latency_from_stats(name: str) -> None:
    """Single-request runs on one system; the statistics' mean read latency (in ns) after each run
    gives that request's latency. All-bank refresh on; the three runs end before the first
    refresh is due."""
    dev = get(name)
    # all-bank refresh: the first refresh is due only after tREFI, after these three runs
    mem = MemorySystem(MemorySpec(dev, channels=1, controller=ControllerSpec(refresh="all_bank")))
    want = closed_forms(dev)
    total = 0
    for k, kind in enumerate(["miss", "hit", "conflict"], start=1):
        a = np.array([address(mem, *ROWCOL[kind])], dtype=np.uint64)
        s = mem.run(a, arrival_cycles=np.array([200], dtype=np.int64))
        sum_cycles = round(s.avg_read_latency_ns * k / s.tck_ns)
        got = sum_cycles - total
        total = sum_cycles
        assert got == want[kind], f"{name} {kind}: {got} CK, closed form {want[kind]} CK"
        assert s.max_read_latency_ns == pytest.approx(
            max(want[x] for x in ["miss", "hit", "conflict"][:k]) * s.tck_ns
        )
    assert s.commands["REFab"] == 0 and s.reads == 3


def test_hbm3_and_lpddr5x_closed_forms_in_cycles() -> None:
    """The closed forms at the two presets the issue names, spelled out from the JESD tables."""
    hbm3 = get("HBM3")  # HBM3-6400: tRCD_RD 31, CL 20, BL 2, tRP 26 (dram-standards.md)
    assert closed_forms(hbm3) == {"miss": 31 + 20 + 2, "hit": 20 + 2, "conflict": 26 + 31 + 20 + 2}
    # "Unloaded closed-bank read latency ~ tRCD + tCL + tBL = ~33 ns"
    assert closed_forms(hbm3)["miss"] * hbm3.tck_ns == pytest.approx(33.0, abs=0.5)
    lp5x = get("LPDDR5X")  # LPDDR5X-8533 (tCK 0.9375 ns): tRCD 20, RL 23, BL 2, tRPpb 20
    assert closed_forms(lp5x) == {"miss": 20 + 23 + 2, "hit": 23 + 2, "conflict": 20 + 20 + 23 + 2}
    lp5 = get("LPDDR5")  # "Unloaded closed-bank read latency ~ tRCD + RL + tBL = ~42.5 ns"
    assert closed_forms(lp5)["miss"] * lp5.tck_ns == pytest.approx(42.5, abs=0.5)


# ------------------------------------------------------------------------ peak bandwidth, capacity
@pytest.mark.parametrize("channels", [1, 3, 16])
@pytest.mark.parametrize("name", PRESETS)
def test_peak_bandwidth_and_capacity_follow_the_organisation(name: str, channels: int) -> None:
    dev = get(name)
    o = dev.organization
    spec = MemorySpec(dev, channels=channels)
    scheduled = channels * o.pseudo_channels
    peak = scheduled * o.dq_bits * dev.data_rate_mts / 8 / 1000  # GB/s
    capacity = (
        scheduled
        * o.ranks
        * o.bank_groups
        * o.banks_per_group
        * o.rows
        * o.columns
        * o.dq_bits
        // 8
    )
    assert spec.scheduled_channels == scheduled
    assert spec.peak_GBps == pytest.approx(peak, rel=1e-12)
    assert spec.capacity_bytes == capacity
    mem = MemorySystem(spec)
    assert mem.capacity_bytes == capacity  # computed by the engine's address mapping
    s = mem.run(np.arange(64, dtype=np.uint64) * mem.transaction_bytes)
    assert s.peak_GBps == pytest.approx(peak, rel=1e-12)
    # bandwidth is bytes over the run's cycles at tCK = 1000 * ck_ratio / data_rate ns
    tck_ns = 1000 * dev.ck_ratio / dev.data_rate_mts
    assert s.tck_ns == pytest.approx(tck_ns, rel=1e-12)
    assert s.bytes == 64 * o.dq_bits * o.burst_length // 8
    assert s.bandwidth_GBps == pytest.approx(s.bytes / (s.cycles * tck_ns), rel=1e-12)


@pytest.mark.parametrize(
    ("name", "channels", "peak_GBps", "capacity_GiB"),
    [
        ("HBM3", 16, 819.2, 16),  # one stack: 1024 bits at 6.4 Gb/s, 16 GB (8-high, 16 Gb)
        ("HBM3_4000_16Gb_8hi", 96, 3072.0, 96),  # H2M2 bandwidth memory: 6 stacks
        ("LPDDR5X", 1, 17.066, 2),  # one x16 channel at 8533 MT/s, 16 Gb die
        ("LPDDR5X_8533_16GB_x16", 32, 546.112, 512),  # H2M2 capacity memory: 512-bit, 512 GB
    ],
)
def test_named_systems_match_their_datasheet_figures(
    name: str, channels: int, peak_GBps: float, capacity_GiB: int
) -> None:
    spec = MemorySpec(name, channels=channels)
    assert spec.peak_GBps == pytest.approx(peak_GBps, rel=1e-9)
    assert spec.capacity_bytes == capacity_GiB << 30
