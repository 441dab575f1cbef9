"""LPDDR5 (JESD209-5B) device presets.

Source: JEDEC JESD209-5B (LPDDR5/5X) as restated by public simulator presets (Ramulator 2 LPDDR5)
and vendor data sheets; values in ../shared/spec/dram-standards.md, checked 2026-11-26. Analog
timings are given in ns (with the CK floor JEDEC states) so that other speed bins derive their
cycle counts; RL and WL, which JEDEC lists in CK per speed bin, are given in CK here.

Organisation: one x16 channel per device (a die), bank-group mode (4 bank groups x 4 banks), 2 KB
page (1024 columns x 16 bit), BL16 = 32 bytes per column command; CK = data rate / 8 (WCK:CK 4:1).
LPDDR5 has one command bus for row and column commands (``dual_command_bus=False``).

Modelling choices (each also in docs/assumptions.md):

* WCK always on: the CAS WCK-synchronisation overhead is not modelled; ODT is off.
* RD -> WR on the data bus is the derived :data:`NRTW` expression (no JEDEC name for it).
* RD -> PRE is ``BL/n + RU(tRTP/tCK)`` (JESD209-5B read-to-precharge), 8 CK at 6400; WR -> PRE is
  ``WL + BL/n + RU(tWR/tCK)`` and WR -> RD ``WL + BL/n + RU(tWTR/tCK)`` (JEDEC adds one more CK to
  some of these; it is not added, as in the HBM3 rows).
* tRC is ``tRAS + tRPpb`` in whole CK (JEDEC defines it so), written as ``nRAS + nRP`` in the rows.
* tRRD is one value for any two banks (LPDDR5 has no tRRD_S/tRRD_L split).
* Per-bank refresh: JEDEC's REFpb refreshes a bank pair every tREFIpb = 488 ns (16 banks in 8
  pairs per tREFI). The engine's REFpb refreshes the one bank it names, so nREFIpb is tREFI / 16 =
  244 ns: every bank is still blocked tRFCpb once per tREFI, as on the device.
* Two ranks on one channel (the high-capacity LPDDR5X preset) pay ``nRTRS`` extra CK between
  bursts of different ranks (an assumption: DQ hand-over between ranks).
"""

from __future__ import annotations

from h2m2.dram.standard import (
    Constraint,
    DeviceSpec,
    Energy,
    Organization,
    ck,
    ck_ns,
    interval_ns,
    ns,
)

__all__ = ["CONSTRAINTS", "DEFAULT", "NRTW", "PRESETS", "LPDDR5_6400_x16"]

# nRTW, RD -> WR on the channel's data bus (derived value, JESD209-5B read-to-write, simplified):
#   nRTW = RL + BL/n + RU(tWCKDQO_max / tCK) + 1 - WL
# The read data leaves the bus RL + BL/n after the RD, late by at most tWCKDQO, plus one CK to turn
# the bus around; the write data enters WL after the WR. 13 CK at LPDDR5-6400, 16 at LPDDR5X-8533.
NRTW = "nCL + nBL + nWCKDQO + 1 - nCWL"

# ---------------------------------------------------------------------------------------------
# Constraint rows, grouped by scope. Latencies are expressions over the timing names below.
# ---------------------------------------------------------------------------------------------
CONSTRAINTS: tuple[Constraint, ...] = (
    # ======== channel (one x16 data bus, one command bus, one controller) ========
    Constraint("tBL(data bus)", "channel", ("RD", "RDA"), ("RD", "RDA"), "nBL"),
    Constraint("tBL(data bus)", "channel", ("WR", "WRA"), ("WR", "WRA"), "nBL"),
    Constraint("tRTW", "channel", ("RD", "RDA"), ("WR", "WRA"), NRTW),
    Constraint("tBL(data bus)", "channel", ("WR", "WRA"), ("RD", "RDA"), "nBL"),
    Constraint("tPPD", "channel", ("PRE", "PREA"), ("PRE", "PREA"), "nPPD"),
    # ======== rank (one die, or dies in lockstep) ========
    Constraint("tCCD_S", "rank", ("RD", "RDA"), ("RD", "RDA"), "nCCD_S"),
    Constraint("tCCD_S", "rank", ("WR", "WRA"), ("WR", "WRA"), "nCCD_S"),
    Constraint("tWTR_S", "rank", ("WR", "WRA"), ("RD", "RDA"), "nCWL + nBL + nWTR_S"),
    Constraint("tRTRS", "rank", ("RD", "RDA"), ("RD", "RDA"), "nBL + nRTRS", sibling=True),
    Constraint("tRTRS", "rank", ("WR", "WRA"), ("WR", "WRA"), "nBL + nRTRS", sibling=True),
    Constraint("tRRD", "rank", ("ACT",), ("ACT",), "nRRD"),
    Constraint("tFAW", "rank", ("ACT",), ("ACT",), "nFAW", window=4),
    # all-bank precharge and refresh act on every bank of the rank
    Constraint("tRAS(PREA)", "rank", ("ACT",), ("PREA",), "nRAS"),
    Constraint("tRTP(PREA)", "rank", ("RD",), ("PREA",), "nBL + nRTP"),
    Constraint("tWR(PREA)", "rank", ("WR",), ("PREA",), "nCWL + nBL + nWR"),
    Constraint("tRPab", "rank", ("PREA",), ("ACT", "REFab", "REFpb"), "nRPab"),
    Constraint("tRC(REFab)", "rank", ("ACT",), ("REFab",), "nRAS + nRP"),
    Constraint("tRPpb(REFab)", "rank", ("PRE",), ("REFab",), "nRP"),
    Constraint("tRTP+tRP(REFab)", "rank", ("RDA",), ("REFab",), "nBL + nRTP + nRP"),
    Constraint("tWR+tRP(REFab)", "rank", ("WRA",), ("REFab",), "nCWL + nBL + nWR + nRP"),
    Constraint("tRFCab", "rank", ("REFab",), ("ACT", "REFab", "REFpb"), "nRFC"),
    Constraint("tRFCpb(REFab)", "rank", ("REFpb",), ("REFab",), "nRFCpb"),
    Constraint("tpbR2pbR", "rank", ("REFpb",), ("REFpb",), "nPBR2PBR"),
    Constraint("tpbR2ACT", "rank", ("REFpb",), ("ACT",), "nPBR2ACT"),
    Constraint("tRRD(REFpb)", "rank", ("ACT",), ("REFpb",), "nRRD"),
    # ======== bank group ========
    Constraint("tCCD_L", "bankgroup", ("RD", "RDA"), ("RD", "RDA"), "nCCD_L"),
    Constraint("tCCD_L", "bankgroup", ("WR", "WRA"), ("WR", "WRA"), "nCCD_L"),
    Constraint("tWTR_L", "bankgroup", ("WR", "WRA"), ("RD", "RDA"), "nCWL + nBL + nWTR_L"),
    # ======== bank ========
    Constraint("tRC", "bank", ("ACT",), ("ACT", "REFpb"), "nRAS + nRP"),
    Constraint("tRCD", "bank", ("ACT",), ("RD", "RDA", "WR", "WRA"), "nRCD"),
    Constraint("tRAS", "bank", ("ACT",), ("PRE",), "nRAS"),
    Constraint("tRPpb", "bank", ("PRE",), ("ACT", "REFpb"), "nRP"),
    Constraint("tRTP", "bank", ("RD",), ("PRE",), "nBL + nRTP"),
    Constraint("tWR", "bank", ("WR",), ("PRE",), "nCWL + nBL + nWR"),
    Constraint("tRTP+tRP", "bank", ("RDA",), ("ACT", "REFpb"), "nBL + nRTP + nRP"),
    Constraint("tWR+tRP", "bank", ("WRA",), ("ACT", "REFpb"), "nCWL + nBL + nWR + nRP"),
    Constraint("tRFCpb", "bank", ("REFpb",), ("ACT", "REFpb"), "nRFCpb"),
)

# ---------------------------------------------------------------------------------------------
# LPDDR5-6400 (tCK = 1.25 ns, CK 800 MHz), one x16 channel of a 16 Gb die: 2 GB per channel.
# ---------------------------------------------------------------------------------------------
LPDDR5_6400_x16 = DeviceSpec(
    name="LPDDR5_6400_x16",
    standard="LPDDR5",
    data_rate_mts=6400.0,
    ck_ratio=8,  # JESD209-5B: CK = data rate / 8 (WCK:CK 4:1, data on both WCK edges)
    organization=Organization(
        channels=1,
        pseudo_channels=1,
        ranks=1,
        bank_groups=4,  # bank-group mode
        banks_per_group=4,
        rows=65536,  # 16 Gb die: 2 GB / (16 banks x 2 KB)
        columns=1024,  # 2 KB page / 16-bit bus
        dq_bits=16,
        burst_length=16,  # BL16: 32 B per column command
    ),
    timings={
        # ---- read / write latencies and data bus (JESD209-5B RL/WL, set 0 / set A, no DBI)
        "nCL": ck(17),  # RL, 21.25 ns
        "nCWL": ck(9),  # WL, 11.25 ns
        "nBL": ck(2),  # BL16: 16 beats on WCK at 4 WCK per CK, 2 beats per WCK
        "nWCKDQO": ns(1.6),  # tWCKDQO(max), WCK to DQ output offset (assumed value): 2 CK
        # ---- row timings
        "nRCD": ck_ns(2, 18.0),  # 15 CK
        "nRP": ck_ns(2, 18.0),  # tRPpb, 15 CK
        "nRPab": ck_ns(2, 21.0),  # 17 CK
        "nRAS": ck_ns(3, 42.0),  # 34 CK
        "nWR": ck_ns(4, 34.0),  # 28 CK
        "nRTP": ck_ns(4, 7.5),  # 6 CK; RD -> PRE = nBL + nRTP = 8 CK
        "nPPD": ck(2),
        # ---- column-to-column and turnarounds
        "nCCD_S": ck(2),  # BL16 / bank-group mode, different bank groups
        "nCCD_L": ck(4),  # same bank group
        "nWTR_S": ck_ns(4, 6.25),  # 5 CK
        "nWTR_L": ck_ns(4, 12.0),  # 10 CK
        "nRTRS": ck(2),  # rank-to-rank DQ hand-over (assumed)
        # ---- activation rate
        "nRRD": ck_ns(4, 5.0),  # 4 CK
        "nFAW": ck_ns(16, 20.0),  # 16 CK
        # ---- refresh (16 Gb die: tRFCab 280 ns, tRFCpb 140 ns; tREFI 3.906 us)
        "nREFI": interval_ns(3906.0),
        "nREFIpb": interval_ns(3906.0 / 16),  # one bank per REFpb (JEDEC: bank pair every 488 ns)
        "nRFC": ns(280.0),  # tRFCab
        "nRFCpb": ns(140.0),
        "nPBR2PBR": ns(90.0),  # tpbR2pbR: 60-90 ns by density; 90 ns taken for 16 Gb
        "nPBR2ACT": ns(7.5),  # tpbR2ACT, 6 CK
    },
    constraints=CONSTRAINTS,
    energy=Energy(
        # Approximations (docs/assumptions.md). Column access ~3.1 pJ/bit including the LVSTL
        # I/O over the package (vs ~1.8 pJ/bit for HBM3's short TSV/interposer I/O), i.e. about
        # 1.7x HBM3 per streamed bit, in line with published LPDDR4/5 system figures of 4-5
        # pJ/bit at low row locality. ACT+PRE: 2 KB page at ~0.5 nJ/KB (a guess scaled from the
        # HBM3 preset's 0.6 nJ per 1 KB at lower array voltage). Refresh and background from
        # typical 16 Gb LPDDR5 IDD5/IDD3N data-sheet magnitudes (~100 mA and ~28 mA at 1.05 V).
        act_pre_pJ=1000.0,
        rd_pJ=800.0,
        wr_pJ=850.0,
        refab_pJ=30000.0,  # ~(IDD5 - IDD3N) x VDD2H x tRFCab
        refpb_pJ=2000.0,  # one bank: ~1/16 of REFab plus command overhead
        background_mW=30.0,
    ),
    dual_command_bus=False,
    source="JESD209-5B via ../shared/spec/dram-standards.md (Ramulator 2 LPDDR5 preset), "
    "checked 2026-11-26",
)

PRESETS: dict[str, DeviceSpec] = {p.name: p for p in (LPDDR5_6400_x16,)}

DEFAULT: str = LPDDR5_6400_x16.name
