"""One test per JEDEC rule the controller must respect, for HBM3 and LPDDR5X: each gate is tight.

Each test builds a tiny trace that makes the controller want to issue the second command of a rule
as early as possible (the requests are queued before the first command issues, every other rule is
long satisfied), then reads both commands from the command log and asserts that their distance is
*exactly* the rule's latency in cycles: not less (legality) and not more (tightness: the controller
was blocked at t-1 and issued at t). Where another rule binds with a larger latency the test says
so and asserts the larger one.

Latencies come from the preset's own constraint rows (:meth:`DeviceSpec.constraint_rows`, the
JEDEC expressions evaluated in cycles), looked up by rule name; the engine's compiled tables are
never read. Addresses are built from the documented address mapping (most significant field
first, above the column-command offset) and checked against ``MemorySystem.decode``. Every log is
also handed to the independent checker, which must find nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from h2m2.dram import AddressMapping, ControllerSpec, MemorySpec, MemorySystem
from h2m2.dram.checker import check
from h2m2.dram.standard import Command, DeviceSpec
from h2m2.dram.standards import get

ACT, PRE, PREA, RD, WR, RDA, WRA, REFab, REFpb = tuple(Command)

HBM3 = get("HBM3")
LPDDR5X = get("LPDDR5X")
LPDDR5X_2RANK = get("LPDDR5X_8533_16GB_x16")

# Requests of the "measured" part of a scenario arrive here, long after the warm-up requests that
# open rows at cycle 0 (every row rule of the warm-up, e.g. tRC = 72 CK, is long satisfied) and
# long before the first refresh (nREFI >= 4167 CK in both presets).
T = 1000


# ------------------------------------------------------------------------------ test-side helpers
@dataclass(frozen=True)
class Req:
    """A request of a scenario: arrival cycle, read/write, and where it goes."""

    at: int
    write: bool = False
    rank: int = 0
    bg: int = 0
    bank: int = 0
    row: int = 0
    column: int = 0


def encode(spec: MemorySpec, r: Req, channel: int = 0) -> int:
    """Byte address of a request under ``spec.mapping`` (no XOR hashing), computed here."""
    o = spec.dev.organization
    sizes = {
        "channel": spec.scheduled_channels,
        "rank": o.ranks,
        "bankgroup": o.bank_groups,
        "bank": o.banks_per_group,
        "row": o.rows,
        "column": o.bursts_per_row,
    }
    value = {
        "channel": channel,
        "rank": r.rank,
        "bankgroup": r.bg,
        "bank": r.bank,
        "row": r.row,
        "column": r.column,
    }
    x = 0
    for name in spec.mapping.order:  # most significant first
        assert 0 <= value[name] < sizes[name]
        x = x * sizes[name] + value[name]
    return x * o.transaction_bytes


Entry = tuple[int, Command, int, int, int]  # time, command, rank, bankgroup, bank


class Run:
    """A scenario's memory system (one JEDEC channel), its log, and lookups into the log."""

    def __init__(self, dev: DeviceSpec, reqs: Sequence[Req], **controller: object) -> None:
        ctrl = {"refresh": "none", **controller}
        self.spec = MemorySpec(
            dev, channels=1, mapping=AddressMapping(), controller=ControllerSpec(**ctrl)
        )  # type: ignore[arg-type]
        self.mem = MemorySystem(self.spec, record_commands=True)
        reqs = sorted(reqs, key=lambda r: r.at)
        addr = np.array([encode(self.spec, r) for r in reqs], dtype=np.uint64)
        fields = self.mem.decode(addr)
        for i, r in enumerate(reqs):  # the test's encoder agrees with the engine's decoder
            got = tuple(
                int(fields[k][i]) for k in ("channel", "rank", "bankgroup", "bank", "row", "column")
            )
            assert got == (0, r.rank, r.bg, r.bank, r.row, r.column)
        self.stats = self.mem.run(
            addr,
            np.array([r.write for r in reqs], dtype=bool),
            np.array([r.at for r in reqs], dtype=np.int64),
        )
        assert self.stats.requests == len(reqs)
        self.log = self.mem.command_log()
        violations = check(self.log, dev)
        assert violations == [], "\n".join(v.describe(self.log) for v in violations[:5])
        self.rows = dev.constraint_rows()

    def times(self, cmd: Command, **where: int) -> list[int]:
        """Issue cycles of ``cmd`` on channel 0 matching ``where`` (rank=, bank=, row=, ...)."""
        sel = (self.log["command"] == int(cmd)) & (self.log["channel"] == 0)
        for k, v in where.items():
            sel &= self.log[k] == v
        return [int(t) for t in self.log["time"][sel]]

    def one(self, cmd: Command, **where: int) -> int:
        ts = self.times(cmd, **where)
        assert len(ts) == 1, f"expected one {cmd.name} at {where}, log has {ts}"
        return ts[0]

    def from_cycle(self, t0: int, cmds: Sequence[Command]) -> list[Entry]:
        """(time, command, rank, bankgroup, bank) of ``cmds`` on channel 0 at or after ``t0``."""
        sel = (self.log["channel"] == 0) & (self.log["time"] >= t0)
        sel &= np.isin(self.log["command"], [int(c) for c in cmds])
        return [
            (
                int(e["time"]),
                Command(int(e["command"])),
                int(e["rank"]),
                int(e["bankgroup"]),
                int(e["bank"]),
            )
            for e in self.log[sel]
        ]

    def assert_blocked_before(self, t: int, cmd: Command, *rules: str) -> None:
        """Tightness, seen by the checker: the ``cmd`` issued at cycle ``t`` would break one of
        ``rules`` one cycle earlier (the log is otherwise unchanged)."""
        sel = (self.log["command"] == int(cmd)) & (self.log["channel"] == 0)
        idx = np.flatnonzero(sel & (self.log["time"] == t))
        assert len(idx) == 1, f"no single {cmd.name} at {t}"
        moved = self.log.copy()
        moved["time"][idx[0]] -= 1
        found = {v.rule for v in check(moved, self.spec.dev) if v.second == idx[0]}
        assert found & set(rules), f"{cmd.name} at {t - 1} breaks {found or 'nothing'}, not {rules}"

    def lat(self, name: str, prev: Command, nxt: Command) -> int:
        """Latency in cycles of the preset's row ``name`` between ``prev`` and ``nxt``."""
        found = [
            r.latency_cycles
            for r in self.rows
            if r.name == name and prev in r.preceding and nxt in r.following
        ]
        assert found, f"{self.spec.dev.name} has no row {name} for {prev.name} -> {nxt.name}"
        return max(found)


def opened(*banks: tuple[int, int, int]) -> list[Req]:
    """Warm-up reads at cycle 0 that leave row 0 open in each (rank, bankgroup, bank)."""
    return [Req(0, rank=r, bg=g, bank=b) for r, g, b in banks]


# --------------------------------------------------------------------------- scenarios (per rule)
# Each scenario returns (distance found, distance required) after asserting the first command
# issued where the scenario expects it.


def act_to_read(dev: DeviceSpec, rule: str) -> tuple[int, int]:
    """One read to a closed bank: ACT at its arrival, RD exactly tRCD later."""
    run = Run(dev, [Req(0)])
    act, rd = run.one(ACT), run.one(RD)
    assert act == 0
    run.assert_blocked_before(rd, RD, rule)
    return rd - act, run.lat(rule, ACT, RD)


def act_to_write(dev: DeviceSpec, rule: str) -> tuple[int, int]:
    run = Run(dev, [Req(0, write=True)])
    act, wr = run.one(ACT), run.one(WR)
    assert act == 0
    run.assert_blocked_before(wr, WR, rule)
    return wr - act, run.lat(rule, ACT, WR)


def column_pair(
    dev: DeviceSpec,
    first_write: bool,
    second_write: bool,
    second: tuple[int, int, int],
    rules: Sequence[str],
) -> tuple[int, int]:
    """Two column commands to open rows: the first to (rank 0, bg 0, bank 0), the second to
    ``second``. Both requests wait from cycle T; when the direction changes the second request
    arrives one cycle later, so that the first is served first (reads go before writes while both
    wait, and a lone write is drained at once). Required distance: the largest of ``rules``.
    """
    r, g, b = second
    run = Run(
        dev,
        [
            *opened((0, 0, 0), second),
            Req(T, write=first_write),
            Req(T + int(first_write != second_write), write=second_write, rank=r, bg=g, bank=b),
        ],
    )
    c1 = WR if first_write else RD
    c2 = WR if second_write else RD
    cols = run.from_cycle(T, (RD, WR, RDA, WRA))
    assert [c[1:] for c in cols] == [(c1, 0, 0, 0), (c2, r, g, b)], cols
    assert cols[0][0] == T, f"first {c1.name} expected at {T}: {cols}"
    run.assert_blocked_before(cols[1][0], c2, *rules)
    return cols[1][0] - cols[0][0], max(run.lat(name, c1, c2) for name in rules)


def act_to_act(
    dev: DeviceSpec, second: tuple[int, int, int], rules: Sequence[str]
) -> tuple[int, int]:
    """Reads to two closed banks, both waiting from cycle 0: ACT at 0, the next ACT at tRRD."""
    r, g, b = second
    run = Run(dev, [Req(0), Req(0, rank=r, bg=g, bank=b)])
    acts = run.from_cycle(0, (ACT,))
    assert [a[1:] for a in acts] == [(ACT, 0, 0, 0), (ACT, r, g, b)], acts
    assert acts[0][0] == 0
    run.assert_blocked_before(acts[1][0], ACT, *rules)
    return acts[1][0] - acts[0][0], max(run.lat(name, ACT, ACT) for name in rules)


FIVE_BANKS = ((0, 0, 0), (0, 1, 0), (0, 2, 0), (0, 3, 0), (0, 0, 1))


def five_acts(dev: DeviceSpec, rrd_other_bg: str, rrd_same_bg: str) -> tuple[list[int], int, int]:
    """Reads to five closed banks (four bank groups, then bank group 0 again), all waiting from 0.

    Returns the ACT times, the tFAW latency and the distance the tRRD rows alone would give the
    fifth ACT after the first (three tRRD_S steps to the fourth ACT, then tRRD_S again; tRRD_L from
    the first ACT, same bank group).
    """
    run = Run(dev, [Req(0, rank=r, bg=g, bank=b) for r, g, b in FIVE_BANKS])
    acts = run.from_cycle(0, (ACT,))
    assert [a[2:] for a in acts] == list(FIVE_BANKS), acts
    t = [a[0] for a in acts]
    rrd_s, rrd_l = run.lat(rrd_other_bg, ACT, ACT), run.lat(rrd_same_bg, ACT, ACT)
    assert t[:4] == [0, rrd_s, 2 * rrd_s, 3 * rrd_s], "tRRD between different bank groups"
    faw = run.lat("tFAW", ACT, ACT)
    run.assert_blocked_before(t[4], ACT, "tFAW" if faw > 4 * rrd_s else rrd_other_bg)
    return t, faw, max(4 * rrd_s, rrd_l)


def conflict_after_open(dev: DeviceSpec, write: bool) -> Run:
    """Row 0 of bank (0, 0, 0) opened at cycle 0; at T a hit (read or write) and a request to row 1
    of the same bank arrive together: column command at T, PRE as soon as allowed, then ACT."""
    return Run(dev, [*opened((0, 0, 0)), Req(T, write=write), Req(T, write=write, row=1)])


def conflict_from_closed(dev: DeviceSpec) -> Run:
    """Reads to rows 0 and 1 of one closed bank at cycles 0 and 1: ACT 0, RD, PRE, ACT row 1."""
    return Run(dev, [Req(0), Req(1, row=1)])


def rda_to_act(dev: DeviceSpec) -> Run:
    """Closed page: a read's RDA long after its ACT, with a read to another row of the bank waiting.

    Writes drain first (high watermark 1): a write to row 0 of bank (0,0,0) and one to bank (0,0,1)
    of the same bank group (an ACT 5 CK later, tRRD_L), while a read to row 0 and a read to row 1
    of bank (0,0,0) wait. The read to row 0 is the row's last hit, so it issues RDA, and only
    after tWTR_L from the second write: long enough after the ACT that tRC no longer binds the
    ACT of row 1, which then waits for exactly RDA + tRTP + tRP.
    """
    return Run(
        dev,
        [Req(0, write=True), Req(0, write=True, bank=1), Req(0), Req(0, row=1)],
        page_policy="closed",
        write_high_watermark=1,
        write_low_watermark=0,
    )


def wra_to_act(dev: DeviceSpec) -> Run:
    """Closed page: a lone write (WRA, the row's last hit) while a read to another row of the same
    bank waits (high watermark 1 keeps the controller writing): the ACT waits WRA + tWR + tRP."""
    return Run(
        dev,
        [Req(0, write=True), Req(1, row=1)],
        page_policy="closed",
        write_high_watermark=1,
        write_low_watermark=0,
    )


def refresh_run(dev: DeviceSpec, mode: str, reqs: Sequence[Req]) -> Run:
    return Run(dev, reqs, refresh=mode)


# Refresh due times of (channel 0, rank 0): the controller staggers ranks over the interval and
# channel 0 rank 0 comes first, at exactly one interval (per-bank: bank 0 first, round-robin).
def refab_due(dev: DeviceSpec) -> int:
    return dev.cycles()["nREFI"]


def refpb_due(dev: DeviceSpec) -> int:
    return dev.cycles()["nREFIpb"]


# ------------------------------------------------------------------------------------------ HBM3
def test_hbm3_act_to_read_obeys_tRCD_RD() -> None:
    got, want = act_to_read(HBM3, "tRCD_RD")
    assert got == want == HBM3.cycles()["nRCD_RD"]


def test_hbm3_act_to_write_obeys_tRCD_WR() -> None:
    got, want = act_to_write(HBM3, "tRCD_WR")
    assert got == want == HBM3.cycles()["nRCD_WR"]


def test_hbm3_read_to_read_same_bankgroup_obeys_tCCD_L() -> None:
    got, want = column_pair(HBM3, False, False, (0, 0, 1), ("tCCD_L", "tCCD_S", "tBL(data bus)"))
    assert got == want == HBM3.cycles()["nCCD_L"]


def test_hbm3_read_to_read_other_bankgroup_obeys_tCCD_S() -> None:
    # tCCD_S = nBL = 2 CK: the data-bus row gives the same distance.
    got, want = column_pair(HBM3, False, False, (0, 1, 0), ("tCCD_S", "tBL(data bus)"))
    assert got == want == HBM3.cycles()["nCCD_S"]


def test_hbm3_read_to_read_other_rank_obeys_tCCD_R() -> None:
    # Different stack IDs: tCCD_R (3 CK) binds over the data bus (nBL = 2 CK).
    got, want = column_pair(HBM3, False, False, (1, 0, 0), ("tCCD_R", "tBL(data bus)"))
    assert got == want == HBM3.cycles()["nCCD_R"]


def test_hbm3_write_to_write_same_bankgroup_obeys_tCCD_L() -> None:
    got, want = column_pair(HBM3, True, True, (0, 0, 1), ("tCCD_L", "tCCD_S", "tBL(data bus)"))
    assert got == want == HBM3.cycles()["nCCD_L"]


def test_hbm3_write_to_write_other_bankgroup_obeys_tCCD_S() -> None:
    got, want = column_pair(HBM3, True, True, (0, 1, 0), ("tCCD_S", "tBL(data bus)"))
    assert got == want == HBM3.cycles()["nCCD_S"]


def test_hbm3_write_to_read_same_bankgroup_obeys_tWTR_L() -> None:
    got, want = column_pair(HBM3, True, False, (0, 0, 1), ("tWTR_L", "tWTR_S", "tBL(data bus)"))
    c = HBM3.cycles()
    assert got == want == c["nCWL"] + c["nBL"] + c["nWTR_L"]


def test_hbm3_write_to_read_other_bankgroup_obeys_tWTR_S() -> None:
    got, want = column_pair(HBM3, True, False, (0, 1, 0), ("tWTR_S", "tBL(data bus)"))
    c = HBM3.cycles()
    assert got == want == c["nCWL"] + c["nBL"] + c["nWTR_S"]


def test_hbm3_read_to_write_obeys_tRTW() -> None:
    got, want = column_pair(HBM3, False, True, (0, 1, 0), ("tRTW",))
    assert got == want == HBM3.cycles()["nRTW"]


def test_hbm3_act_to_act_other_bankgroup_obeys_tRRD_S() -> None:
    got, want = act_to_act(HBM3, (0, 1, 0), ("tRRD_S",))
    assert got == want == HBM3.cycles()["nRRD_S"]


def test_hbm3_act_to_act_same_bankgroup_obeys_tRRD_L() -> None:
    got, want = act_to_act(HBM3, (0, 0, 1), ("tRRD_L", "tRRD_S"))
    assert got == want == HBM3.cycles()["nRRD_L"]


def test_hbm3_five_acts_obey_tFAW() -> None:
    t, faw, rrd_only = five_acts(HBM3, "tRRD_S", "tRRD_L")
    assert faw > rrd_only  # the tRRD rows alone would allow the fifth ACT earlier
    assert t[4] - t[0] == faw == HBM3.cycles()["nFAW"]


def test_hbm3_act_to_pre_obeys_tRAS() -> None:
    run = conflict_from_closed(HBM3)
    act, rd, pre = run.one(ACT, row=0), run.one(RD, row=0), run.one(PRE)
    assert act == 0 and rd == run.lat("tRCD_RD", ACT, RD)
    assert rd + run.lat("tRTP", RD, PRE) < act + run.lat("tRAS", ACT, PRE)  # tRAS binds
    assert pre - act == run.lat("tRAS", ACT, PRE) == HBM3.cycles()["nRAS"]
    run.assert_blocked_before(pre, PRE, "tRAS")


def test_hbm3_act_to_act_same_bank_obeys_tRC() -> None:
    run = conflict_from_closed(HBM3)
    act0, pre, act1 = run.one(ACT, row=0), run.one(PRE), run.one(ACT, row=1)
    trc, trp = run.lat("tRC", ACT, ACT), run.lat("tRP", PRE, ACT)
    assert act0 + trc > pre + trp  # HBM3: tRC (72) > tRAS + tRP (71), so tRC binds
    assert act1 - act0 == trc == HBM3.cycles()["nRC"]
    run.assert_blocked_before(act1, ACT, "tRC")


def test_hbm3_read_to_pre_obeys_tRTP() -> None:
    run = conflict_after_open(HBM3, write=False)
    assert [t for t in run.times(RD, row=0) if t >= T] == [T]
    run.assert_blocked_before(run.one(PRE), PRE, "tRTP")
    assert run.one(PRE) - T == run.lat("tRTP", RD, PRE) == HBM3.cycles()["nRTP"]


def test_hbm3_write_to_pre_obeys_tWR() -> None:
    run = conflict_after_open(HBM3, write=True)
    assert run.times(WR, row=0) == [T]
    c = HBM3.cycles()
    run.assert_blocked_before(run.one(PRE), PRE, "tWR")
    assert run.one(PRE) - T == run.lat("tWR", WR, PRE) == c["nCWL"] + c["nBL"] + c["nWR"]


def test_hbm3_pre_to_act_obeys_tRP() -> None:
    run = conflict_after_open(HBM3, write=False)
    pre, act = run.one(PRE), run.one(ACT, row=1)
    assert act - pre == run.lat("tRP", PRE, ACT) == HBM3.cycles()["nRP"]
    run.assert_blocked_before(act, ACT, "tRP")


def test_hbm3_pre_to_pre_obeys_tPPD() -> None:
    run = Run(HBM3, [*opened((0, 0, 0), (0, 1, 0)), Req(T, row=1), Req(T, bg=1, row=1)])
    pres = run.from_cycle(T, (PRE,))
    assert [p[2:] for p in pres] == [(0, 0, 0), (0, 1, 0)] and pres[0][0] == T
    run.assert_blocked_before(pres[1][0], PRE, "tPPD")
    assert pres[1][0] - pres[0][0] == run.lat("tPPD", PRE, PRE) == HBM3.cycles()["nPPD"]


def test_hbm3_read_autoprecharge_to_act_obeys_tRTP_plus_tRP() -> None:
    run = rda_to_act(HBM3)
    act0, rda, act1 = run.one(ACT, bank=0, row=0), run.one(RDA, row=0), run.one(ACT, row=1)
    need = run.lat("tRTP+tRP", RDA, ACT)
    run.assert_blocked_before(act1, ACT, "tRTP+tRP")
    assert rda + need > act0 + run.lat("tRC", ACT, ACT)  # tRC is long satisfied
    assert act1 - rda == need
    c = HBM3.cycles()
    assert need == c["nRTP"] + c["nRP"]


def test_hbm3_write_autoprecharge_to_act_obeys_tWR_plus_tRP() -> None:
    run = wra_to_act(HBM3)
    act0, wra, act1 = run.one(ACT, row=0), run.one(WRA), run.one(ACT, row=1)
    need = run.lat("tWR+tRP", WRA, ACT)
    run.assert_blocked_before(act1, ACT, "tWR+tRP")
    assert wra + need > act0 + run.lat("tRC", ACT, ACT)
    assert act1 - wra == need
    c = HBM3.cycles()
    assert need == c["nCWL"] + c["nBL"] + c["nWR"] + c["nRP"]


def test_hbm3_refresh_obeys_tRFC() -> None:
    due = refab_due(HBM3)
    run = refresh_run(HBM3, "all_bank", [Req(due)])
    ref = run.one(REFab, rank=0)
    assert ref == due  # the read waits behind the refresh from its arrival
    assert run.one(ACT) - ref == run.lat("tRFCab", REFab, ACT) == HBM3.cycles()["nRFC"]
    run.assert_blocked_before(run.one(ACT), ACT, "tRFCab")


def test_hbm3_act_to_precharge_all_obeys_tRAS() -> None:
    # The bank opened 10 CK before the refresh is due: the refresh blocks its read and closes the
    # bank with PREA as soon as tRAS allows.
    due = refab_due(HBM3)
    run = refresh_run(HBM3, "all_bank", [Req(due - 10)])
    act = run.times(ACT)[0]
    assert act == due - 10
    run.assert_blocked_before(run.one(PREA), PREA, "tRAS(PREA)")
    assert run.one(PREA) - act == run.lat("tRAS(PREA)", ACT, PREA) == HBM3.cycles()["nRAS"]


def test_hbm3_act_to_refresh_obeys_tRC() -> None:
    # Same trace: after the PREA (ACT + tRAS), tRC from the ACT (72) binds over tRAS + tRP (71).
    due = refab_due(HBM3)
    run = refresh_run(HBM3, "all_bank", [Req(due - 10)])
    act, prea, ref = run.times(ACT)[0], run.one(PREA), run.one(REFab, rank=0)
    trc = run.lat("tRC(REFab)", ACT, REFab)
    assert act + trc > prea + run.lat("tRP(PREA)", PREA, REFab)
    assert ref - act == trc == HBM3.cycles()["nRC"]
    run.assert_blocked_before(ref, REFab, "tRC(REFab)")


def test_hbm3_precharge_all_to_refresh_obeys_tRP() -> None:
    # The bank opened and read 50 CK before the refresh is due (a second read, to another bank,
    # arrives at the due cycle): PREA at the due cycle, and tRC from the ACT is over before tRP
    # from the PREA.
    due = refab_due(HBM3)
    run = refresh_run(HBM3, "all_bank", [Req(due - 50), Req(due, bg=1)])
    act, prea, ref = run.times(ACT)[0], run.one(PREA), run.one(REFab, rank=0)
    assert prea == due
    trp = run.lat("tRP(PREA)", PREA, REFab)
    assert act + run.lat("tRC(REFab)", ACT, REFab) < prea + trp
    assert ref - prea == trp == HBM3.cycles()["nRP"]
    run.assert_blocked_before(ref, REFab, "tRP(PREA)")


def test_hbm3_per_bank_refresh_obeys_tRFCpb() -> None:
    due = refpb_due(HBM3)
    run = refresh_run(HBM3, "per_bank", [Req(due)])
    ref = run.times(REFpb, rank=0)[0]
    assert ref == due and run.log[run.log["command"] == int(REFpb)][0]["bank"] == 0
    run.assert_blocked_before(run.one(ACT), ACT, "tRFCpb")
    assert run.one(ACT) - ref == run.lat("tRFCpb", REFpb, ACT) == HBM3.cycles()["nRFCpb"]


def test_hbm3_per_bank_refresh_to_act_other_bank_obeys_tRREFD() -> None:
    due = refpb_due(HBM3)
    run = refresh_run(HBM3, "per_bank", [Req(due, bg=1)])
    ref = run.times(REFpb, rank=0)[0]
    assert ref == due
    assert run.one(ACT) - ref == run.lat("tRREFD", REFpb, ACT) == HBM3.cycles()["nRREFD"]
    run.assert_blocked_before(run.one(ACT), ACT, "tRREFD")


def test_hbm3_act_to_per_bank_refresh_obeys_tRRD_S() -> None:
    # A bank of another bank group opens one cycle before bank 0's refresh is due.
    due = refpb_due(HBM3)
    run = refresh_run(HBM3, "per_bank", [Req(due - 1, bg=1)])
    act, ref = run.one(ACT), run.times(REFpb, rank=0)[0]
    assert act == due - 1
    assert ref - act == run.lat("tRRD(REFpb)", ACT, REFpb) == HBM3.cycles()["nRRD_S"]
    run.assert_blocked_before(ref, REFpb, "tRRD(REFpb)")


# --------------------------------------------------------------------------------------- LPDDR5X
def test_lpddr5x_act_to_read_obeys_tRCD() -> None:
    got, want = act_to_read(LPDDR5X, "tRCD")
    assert got == want == LPDDR5X.cycles()["nRCD"]


def test_lpddr5x_act_to_write_obeys_tRCD() -> None:
    got, want = act_to_write(LPDDR5X, "tRCD")
    assert got == want == LPDDR5X.cycles()["nRCD"]


def test_lpddr5x_read_to_read_same_bankgroup_obeys_tCCD_L() -> None:
    got, want = column_pair(LPDDR5X, False, False, (0, 0, 1), ("tCCD_L", "tCCD_S", "tBL(data bus)"))
    assert got == want == LPDDR5X.cycles()["nCCD_L"]


def test_lpddr5x_read_to_read_other_bankgroup_obeys_tCCD_S() -> None:
    got, want = column_pair(LPDDR5X, False, False, (0, 1, 0), ("tCCD_S", "tBL(data bus)"))
    assert got == want == LPDDR5X.cycles()["nCCD_S"]


def test_lpddr5x_read_to_read_other_rank_obeys_tRTRS() -> None:
    # Two-rank preset: DQ hand-over between ranks, nBL + nRTRS (4 CK) over tCCD (rank-local).
    got, want = column_pair(LPDDR5X_2RANK, False, False, (1, 0, 0), ("tRTRS", "tBL(data bus)"))
    c = LPDDR5X_2RANK.cycles()
    assert got == want == c["nBL"] + c["nRTRS"]


def test_lpddr5x_write_to_write_other_rank_obeys_tRTRS() -> None:
    got, want = column_pair(LPDDR5X_2RANK, True, True, (1, 0, 0), ("tRTRS", "tBL(data bus)"))
    c = LPDDR5X_2RANK.cycles()
    assert got == want == c["nBL"] + c["nRTRS"]


def test_lpddr5x_write_to_write_same_bankgroup_obeys_tCCD_L() -> None:
    got, want = column_pair(LPDDR5X, True, True, (0, 0, 1), ("tCCD_L", "tCCD_S", "tBL(data bus)"))
    assert got == want == LPDDR5X.cycles()["nCCD_L"]


def test_lpddr5x_write_to_write_other_bankgroup_obeys_tCCD_S() -> None:
    got, want = column_pair(LPDDR5X, True, True, (0, 1, 0), ("tCCD_S", "tBL(data bus)"))
    assert got == want == LPDDR5X.cycles()["nCCD_S"]


def test_lpddr5x_write_to_read_same_bankgroup_obeys_tWTR_L() -> None:
    got, want = column_pair(LPDDR5X, True, False, (0, 0, 1), ("tWTR_L", "tWTR_S", "tBL(data bus)"))
    c = LPDDR5X.cycles()
    assert got == want == c["nCWL"] + c["nBL"] + c["nWTR_L"]


def test_lpddr5x_write_to_read_other_bankgroup_obeys_tWTR_S() -> None:
    got, want = column_pair(LPDDR5X, True, False, (0, 1, 0), ("tWTR_S", "tBL(data bus)"))
    c = LPDDR5X.cycles()
    assert got == want == c["nCWL"] + c["nBL"] + c["nWTR_S"]


def test_lpddr5x_read_to_write_obeys_tRTW() -> None:
    got, want = column_pair(LPDDR5X, False, True, (0, 1, 0), ("tRTW",))
    c = LPDDR5X.cycles()  # RL + BL/n + tWCKDQO + 1 - WL (lpddr5.NRTW)
    assert got == want == c["nCL"] + c["nBL"] + c["nWCKDQO"] + 1 - c["nCWL"]


def test_lpddr5x_act_to_act_other_bankgroup_obeys_tRRD() -> None:
    got, want = act_to_act(LPDDR5X, (0, 1, 0), ("tRRD",))
    assert got == want == LPDDR5X.cycles()["nRRD"]


def test_lpddr5x_act_to_act_same_bankgroup_obeys_tRRD() -> None:
    # LPDDR5 has one tRRD for any two banks of a rank (no _S/_L split).
    got, want = act_to_act(LPDDR5X, (0, 0, 1), ("tRRD",))
    assert got == want == LPDDR5X.cycles()["nRRD"]


def test_lpddr5x_five_acts_obey_tFAW() -> None:
    # At 8533 four tRRD steps (4 x 6 = 24 CK) already exceed tFAW (22 CK): tRRD binds the fifth ACT.
    t, faw, rrd_only = five_acts(LPDDR5X, "tRRD", "tRRD")
    assert faw == LPDDR5X.cycles()["nFAW"] < rrd_only
    assert t[4] - t[0] == rrd_only


def test_lpddr5x_five_acts_with_long_tFAW_obey_tFAW() -> None:
    # The same trace with tFAW stretched to 40 CK (> 4 tRRD): the window rule itself is tight.
    dev = LPDDR5X.override(name="LPDDR5X_tFAW40", nFAW=40)
    t, faw, rrd_only = five_acts(dev, "tRRD", "tRRD")
    assert faw == 40 > rrd_only
    assert t[4] - t[0] == faw


def test_lpddr5x_act_to_pre_obeys_tRAS() -> None:
    run = conflict_from_closed(LPDDR5X)
    act, rd, pre = run.one(ACT, row=0), run.one(RD, row=0), run.one(PRE)
    assert act == 0 and rd == run.lat("tRCD", ACT, RD)
    assert rd + run.lat("tRTP", RD, PRE) < act + run.lat("tRAS", ACT, PRE)  # tRAS binds
    assert pre - act == run.lat("tRAS", ACT, PRE) == LPDDR5X.cycles()["nRAS"]
    run.assert_blocked_before(pre, PRE, "tRAS")


def test_lpddr5x_act_to_act_same_bank_obeys_tRC() -> None:
    # LPDDR5: tRC = tRAS + tRPpb in whole CK, so tRC and tRAS-then-tRP coincide.
    run = conflict_from_closed(LPDDR5X)
    act0, pre, act1 = run.one(ACT, row=0), run.one(PRE), run.one(ACT, row=1)
    trc = run.lat("tRC", ACT, ACT)
    assert act0 + trc == pre + run.lat("tRPpb", PRE, ACT)
    c = LPDDR5X.cycles()
    assert act1 - act0 == trc == c["nRAS"] + c["nRP"]
    run.assert_blocked_before(act1, ACT, "tRC", "tRPpb")


def test_lpddr5x_read_to_pre_obeys_tRTP() -> None:
    run = conflict_after_open(LPDDR5X, write=False)
    assert [t for t in run.times(RD, row=0) if t >= T] == [T]
    c = LPDDR5X.cycles()  # BL/n + RU(tRTP/tCK)
    run.assert_blocked_before(run.one(PRE), PRE, "tRTP")
    assert run.one(PRE) - T == run.lat("tRTP", RD, PRE) == c["nBL"] + c["nRTP"]


def test_lpddr5x_write_to_pre_obeys_tWR() -> None:
    run = conflict_after_open(LPDDR5X, write=True)
    assert run.times(WR, row=0) == [T]
    c = LPDDR5X.cycles()
    run.assert_blocked_before(run.one(PRE), PRE, "tWR")
    assert run.one(PRE) - T == run.lat("tWR", WR, PRE) == c["nCWL"] + c["nBL"] + c["nWR"]


def test_lpddr5x_pre_to_act_obeys_tRPpb() -> None:
    run = conflict_after_open(LPDDR5X, write=False)
    pre, act = run.one(PRE), run.one(ACT, row=1)
    assert act - pre == run.lat("tRPpb", PRE, ACT) == LPDDR5X.cycles()["nRP"]
    run.assert_blocked_before(act, ACT, "tRPpb")


def test_lpddr5x_pre_to_pre_obeys_tPPD() -> None:
    run = Run(LPDDR5X, [*opened((0, 0, 0), (0, 1, 0)), Req(T, row=1), Req(T, bg=1, row=1)])
    pres = run.from_cycle(T, (PRE,))
    assert [p[2:] for p in pres] == [(0, 0, 0), (0, 1, 0)] and pres[0][0] == T
    run.assert_blocked_before(pres[1][0], PRE, "tPPD")
    assert pres[1][0] - pres[0][0] == run.lat("tPPD", PRE, PRE) == LPDDR5X.cycles()["nPPD"]


def test_lpddr5x_read_autoprecharge_to_act_obeys_tRTP_plus_tRP() -> None:
    run = rda_to_act(LPDDR5X)
    act0, rda, act1 = run.one(ACT, bank=0, row=0), run.one(RDA, row=0), run.one(ACT, row=1)
    need = run.lat("tRTP+tRP", RDA, ACT)
    run.assert_blocked_before(act1, ACT, "tRTP+tRP")
    assert rda + need > act0 + run.lat("tRC", ACT, ACT)
    assert act1 - rda == need
    c = LPDDR5X.cycles()
    assert need == c["nBL"] + c["nRTP"] + c["nRP"]


def test_lpddr5x_write_autoprecharge_to_act_obeys_tWR_plus_tRP() -> None:
    run = wra_to_act(LPDDR5X)
    act0, wra, act1 = run.one(ACT, row=0), run.one(WRA), run.one(ACT, row=1)
    need = run.lat("tWR+tRP", WRA, ACT)
    run.assert_blocked_before(act1, ACT, "tWR+tRP")
    assert wra + need > act0 + run.lat("tRC", ACT, ACT)
    assert act1 - wra == need
    c = LPDDR5X.cycles()
    assert need == c["nCWL"] + c["nBL"] + c["nWR"] + c["nRP"]


def test_lpddr5x_refresh_obeys_tRFCab() -> None:
    due = refab_due(LPDDR5X)
    run = refresh_run(LPDDR5X, "all_bank", [Req(due)])
    ref = run.one(REFab, rank=0)
    assert ref == due
    assert run.one(ACT) - ref == run.lat("tRFCab", REFab, ACT) == LPDDR5X.cycles()["nRFC"]
    run.assert_blocked_before(run.one(ACT), ACT, "tRFCab")


def test_lpddr5x_act_to_precharge_all_obeys_tRAS() -> None:
    due = refab_due(LPDDR5X)
    run = refresh_run(LPDDR5X, "all_bank", [Req(due - 10)])
    act = run.times(ACT)[0]
    assert act == due - 10
    run.assert_blocked_before(run.one(PREA), PREA, "tRAS(PREA)")
    assert run.one(PREA) - act == run.lat("tRAS(PREA)", ACT, PREA) == LPDDR5X.cycles()["nRAS"]


def test_lpddr5x_precharge_all_to_refresh_obeys_tRPab() -> None:
    # PREA at ACT + tRAS; tRC from the ACT (tRAS + tRPpb) ends before tRPab (> tRPpb) does.
    due = refab_due(LPDDR5X)
    run = refresh_run(LPDDR5X, "all_bank", [Req(due - 10)])
    act, prea, ref = run.times(ACT)[0], run.one(PREA), run.one(REFab, rank=0)
    trp = run.lat("tRPab", PREA, REFab)
    assert act + run.lat("tRC(REFab)", ACT, REFab) < prea + trp
    assert ref - prea == trp == LPDDR5X.cycles()["nRPab"]
    run.assert_blocked_before(ref, REFab, "tRPab")


def test_lpddr5x_precharge_all_at_refresh_due_obeys_tRPab() -> None:
    due = refab_due(LPDDR5X)
    run = refresh_run(LPDDR5X, "all_bank", [Req(due - 50), Req(due, bg=1)])
    prea, ref = run.one(PREA), run.one(REFab, rank=0)
    assert prea == due
    assert ref - prea == run.lat("tRPab", PREA, REFab) == LPDDR5X.cycles()["nRPab"]
    run.assert_blocked_before(ref, REFab, "tRPab")


def test_lpddr5x_per_bank_refresh_obeys_tRFCpb() -> None:
    due = refpb_due(LPDDR5X)
    run = refresh_run(LPDDR5X, "per_bank", [Req(due)])
    ref = run.times(REFpb, rank=0)[0]
    assert ref == due and run.log[run.log["command"] == int(REFpb)][0]["bank"] == 0
    run.assert_blocked_before(run.one(ACT), ACT, "tRFCpb")
    assert run.one(ACT) - ref == run.lat("tRFCpb", REFpb, ACT) == LPDDR5X.cycles()["nRFCpb"]


def test_lpddr5x_per_bank_refresh_to_act_other_bank_obeys_tpbR2ACT() -> None:
    due = refpb_due(LPDDR5X)
    run = refresh_run(LPDDR5X, "per_bank", [Req(due, bg=1)])
    ref = run.times(REFpb, rank=0)[0]
    assert ref == due
    assert run.one(ACT) - ref == run.lat("tpbR2ACT", REFpb, ACT) == LPDDR5X.cycles()["nPBR2ACT"]
    run.assert_blocked_before(run.one(ACT), ACT, "tpbR2ACT")


def test_lpddr5x_act_to_per_bank_refresh_obeys_tRRD() -> None:
    due = refpb_due(LPDDR5X)
    run = refresh_run(LPDDR5X, "per_bank", [Req(due - 1, bg=1)])
    act, ref = run.one(ACT), run.times(REFpb, rank=0)[0]
    assert act == due - 1
    assert ref - act == run.lat("tRRD(REFpb)", ACT, REFpb) == LPDDR5X.cycles()["nRRD"]
    run.assert_blocked_before(ref, REFpb, "tRRD(REFpb)")
