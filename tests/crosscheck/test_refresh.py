"""Refresh under load: time lost, refresh counts, refresh time and the per-bank rotation.

All expectations come from the preset's timing table in cycles (``nREFI``, ``nRFC``, ``nREFIpb``,
``nRFCpb``) and from the command log; none from the engine's refresh code.

Time lost to all-bank refresh. A saturating sequential read stream is run with ``refresh="none"``
and with ``refresh="all_bank"``; the fraction of time lost is ``cycles_all_bank / cycles_none - 1``
and is compared with ``nRFC / nREFI`` (a rank is unavailable tRFC out of every tREFI).
Tolerance: the ratio (lost fraction) / (nRFC / nREFI) must lie in **[0.9, 1.5]**. Why: a
sequential stream keeps the controller's queue on one bank of one rank, so every REFab of that
rank stalls the data bus for tRFC plus the close/reopen around it (tRTP + tRP(ab) before the
REFab, tRCD after it), i.e. a ratio of about 1 + (tRTP + tRP + tRCD) / tRFC = 1.12 (HBM3) and
1.18 (LPDDR5X). The band leaves room below for refreshes partly hidden behind service of another
rank (HBM3 has two stack IDs per pseudo-channel) and above for the refreshes of two ranks that do
not overlap, bank-switch bubbles and the end of the run. Outside it, refresh is either not
costing its tRFC (too low) or costing far more than tRFC (too high).
"""

from __future__ import annotations

import numpy as np
import pytest

from h2m2.dram import ControllerSpec, DramStats, MemorySpec, MemorySystem
from h2m2.dram.standard import Command

# (standard, JEDEC channels, stream requests): ~22 tREFI (HBM3) and ~39 tREFI (LPDDR5X) of
# saturated streaming.
SYSTEMS = {
    "HBM3": ("HBM3", 16, 2_000_000),
    "LPDDR5X": ("LPDDR5X", 8, 600_000),
}


class Result:
    def __init__(self, name: str, refresh: str) -> None:
        std, channels, n = SYSTEMS[name]
        self.mem = MemorySystem(
            MemorySpec(std, channels=channels, controller=ControllerSpec(refresh=refresh)),
            record_commands=True,
        )
        self.stats: DramStats = self.mem.run(
            np.arange(n, dtype=np.uint64) * np.uint64(self.mem.transaction_bytes)
        )
        self.log = self.mem.command_log()
        self.c = self.mem.spec.dev.cycles()
        self.org = self.mem.spec.dev.organization

    def per_rank(self, cmd: Command) -> dict[int, np.ndarray]:
        """Entries of ``cmd`` grouped by (channel, rank), in issue order."""
        e = self.log[self.log["command"] == int(cmd)]
        key = e["channel"].astype(np.int64) * self.org.ranks + e["rank"]
        return {int(k): e[key == k] for k in np.unique(key)}


@pytest.fixture(scope="module")
def runs() -> dict[tuple[str, str], Result]:
    return {}


def get_run(cache: dict[tuple[str, str], Result], name: str, refresh: str) -> Result:
    if (name, refresh) not in cache:
        cache[(name, refresh)] = Result(name, refresh)
    return cache[(name, refresh)]


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_all_bank_refresh_costs_about_tRFC_over_tREFI(runs, name: str) -> None:
    on, off = get_run(runs, name, "all_bank"), get_run(runs, name, "none")
    assert on.stats.requests == off.stats.requests
    assert off.stats.commands["REFab"] == 0 and off.stats.refresh_cycles == 0
    lost = on.stats.cycles / off.stats.cycles - 1
    expected = on.c["nRFC"] / on.c["nREFI"]
    assert 0.9 <= lost / expected <= 1.5, (
        f"{name}: refresh cost {lost:.4f} of the time, nRFC/nREFI = {expected:.4f}"
    )


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_refab_count_per_rank_is_cycles_over_tREFI(runs, name: str) -> None:
    r = get_run(runs, name, "all_bank")
    ranks = r.mem.spec.scheduled_channels * r.org.ranks
    by_rank = r.per_rank(Command.REFab)
    assert len(by_rank) == ranks, "every rank refreshes"
    # Each rank is due once per nREFI from a first due time in [nREFI, 2 nREFI) (ranks are
    # staggered inside one interval); a refresh due at the very end may be cut off by the end of
    # its channel's requests.
    n = r.stats.cycles // r.c["nREFI"]
    counts = np.array([len(v) for v in by_rank.values()])
    assert counts.min() >= n - 2 and counts.max() <= n
    assert abs(counts.mean() - r.stats.cycles / r.c["nREFI"]) <= 1.5
    # Spacing: consecutive REFab of a rank are due exactly nREFI apart; each is issued within
    # one nRFC of its due time, so the gaps stay within nREFI +- nRFC.
    for entries in by_rank.values():
        gaps = np.diff(entries["time"])
        assert np.all(np.abs(gaps - r.c["nREFI"]) <= r.c["nRFC"])


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_refresh_cycles_are_refab_count_times_tRFC(runs, name: str) -> None:
    r = get_run(runs, name, "all_bank")
    n_ref = int(np.count_nonzero(r.log["command"] == int(Command.REFab)))
    assert n_ref == r.stats.commands["REFab"] > 0
    assert r.stats.refresh_cycles == n_ref * r.c["nRFC"]
    assert r.stats.commands["REFpb"] == 0


def refpb_by_rank(r: Result) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per (channel, rank): the flat bank index (bg * banks_per_group + bank) and time of each
    REFpb, in issue order."""
    o = r.org
    out = {}
    for k, e in r.per_rank(Command.REFpb).items():
        bank = e["bankgroup"].astype(np.int64) * o.banks_per_group + e["bank"]
        out[k] = (bank, e["time"].astype(np.int64))
    assert len(out) == r.mem.spec.scheduled_channels * o.ranks, "every rank refreshes"
    return out


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_per_bank_refresh_cycles_are_refpb_count_times_tRFCpb(runs, name: str) -> None:
    r = get_run(runs, name, "per_bank")
    s = r.stats
    assert s.commands["REFab"] == 0
    n_pb = int(np.count_nonzero(r.log["command"] == int(Command.REFpb)))
    assert n_pb == s.commands["REFpb"] > 0
    assert s.refresh_cycles == n_pb * r.c["nRFCpb"]


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_per_bank_refresh_is_round_robin_over_the_banks_of_each_rank(runs, name: str) -> None:
    r = get_run(runs, name, "per_bank")
    b_per_rank = r.org.banks_per_rank
    for k, (bank, _) in refpb_by_rank(r).items():
        # bank 0, 1, ..., B-1, 0, 1, ... in every rank, over at least two full rotations
        assert len(bank) >= 2 * b_per_rank
        assert np.array_equal(bank, np.arange(len(bank)) % b_per_rank), f"rank {k}: {bank[:20]}"


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_per_bank_refresh_reaches_every_bank_once_per_tREFI(runs, name: str) -> None:
    """Every bank once per nREFI: with a round-robin over B banks, the j-th REFpb of a rank is
    issued j * nREFI / B after the first, give or take one per-bank interval (nREFIpb) of delay (a
    pending refresh waits for its bank to close). A rotation slower than one per nREFI drifts out of
    this band, however small the difference, once the run is long enough (this one covers ~20-40
    nREFI)."""
    r = get_run(runs, name, "per_bank")
    c, b_per_rank = r.c, r.org.banks_per_rank
    for k, (_, t) in refpb_by_rank(r).items():
        j = np.arange(len(t))
        behind = (t - t[0]) - j * c["nREFI"] / b_per_rank
        assert behind.max() <= c["nREFIpb"], (
            f"{name} rank {k}: REFpb #{int(behind.argmax())} is {behind.max():.0f} CK behind a "
            f"once-per-nREFI rotation ({b_per_rank} x nREFIpb = {b_per_rank * c['nREFIpb']} CK "
            f"per bank vs nREFI = {c['nREFI']} CK)"
        )
        assert behind.min() >= -c["nREFIpb"], "no refresh runs more than one interval early"


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_per_bank_refresh_costs_a_stream_less_than_all_bank(runs, name: str) -> None:
    """With per-bank refresh the other banks keep serving the stream."""
    pb = get_run(runs, name, "per_bank")
    on, off = get_run(runs, name, "all_bank"), get_run(runs, name, "none")
    assert pb.stats.requests == off.stats.requests
    lost_pb = pb.stats.cycles / off.stats.cycles - 1
    lost_ab = on.stats.cycles / off.stats.cycles - 1
    assert 0 <= lost_pb < 0.5 * lost_ab
