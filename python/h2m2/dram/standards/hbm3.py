"""HBM3 (JESD238) device presets.

Source: JEDEC JESD238 (HBM3) as restated by public simulator presets (Ramulator 2 HBM3, DRAMsim3
HBM) and vendor press material; values in ../shared/spec/dram-standards.md, checked 2026-11-26.
Analog timings are given in ns so that other speed bins derive their cycle counts; clock-based ones
in CK. Organisation: 16 channels x 2 pseudo-channels of 32 bit per stack, BL8 (32 B per column
command), 4 bank groups x 4 banks per stack ID, 1 KB rows per pseudo-channel.
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

__all__ = ["CONSTRAINTS", "PRESETS", "HBM3_4000_16Gb_8hi", "HBM3_6400_16Gb_8hi"]

# ---------------------------------------------------------------------------------------------
# Constraint rows, grouped by scope. Latencies are expressions over the timing names below.
# ---------------------------------------------------------------------------------------------
CONSTRAINTS: tuple[Constraint, ...] = (
    # ======== channel (= pseudo-channel: one data bus, one controller) ========
    Constraint("tBL(data bus)", "channel", ("RD", "RDA"), ("RD", "RDA"), "nBL"),
    Constraint("tBL(data bus)", "channel", ("WR", "WRA"), ("WR", "WRA"), "nBL"),
    Constraint("tRTW", "channel", ("RD", "RDA"), ("WR", "WRA"), "nRTW"),
    Constraint("tBL(data bus)", "channel", ("WR", "WRA"), ("RD", "RDA"), "nBL"),
    Constraint("tPPD", "channel", ("PRE", "PREA"), ("PRE", "PREA"), "nPPD"),
    # ======== rank (= stack ID) ========
    Constraint("tCCD_S", "rank", ("RD", "RDA"), ("RD", "RDA"), "nCCD_S"),
    Constraint("tCCD_S", "rank", ("WR", "WRA"), ("WR", "WRA"), "nCCD_S"),
    Constraint("tWTR_S", "rank", ("WR", "WRA"), ("RD", "RDA"), "nCWL + nBL + nWTR_S"),
    Constraint("tCCD_R", "rank", ("RD", "RDA"), ("RD", "RDA"), "nCCD_R", sibling=True),
    Constraint("tRRD_S", "rank", ("ACT",), ("ACT",), "nRRD_S"),
    Constraint("tFAW", "rank", ("ACT",), ("ACT",), "nFAW", window=4),
    # all-bank precharge and refresh act on every bank of the stack ID
    Constraint("tRAS(PREA)", "rank", ("ACT",), ("PREA",), "nRAS"),
    Constraint("tRTP(PREA)", "rank", ("RD",), ("PREA",), "nRTP"),
    Constraint("tWR(PREA)", "rank", ("WR",), ("PREA",), "nCWL + nBL + nWR"),
    Constraint("tRP(PREA)", "rank", ("PREA",), ("ACT", "REFab", "REFpb"), "nRP"),
    Constraint("tRC(REFab)", "rank", ("ACT",), ("REFab",), "nRC"),
    Constraint("tRP(REFab)", "rank", ("PRE",), ("REFab",), "nRP"),
    Constraint("tRTP+tRP(REFab)", "rank", ("RDA",), ("REFab",), "nRTP + nRP"),
    Constraint("tWR+tRP(REFab)", "rank", ("WRA",), ("REFab",), "nCWL + nBL + nWR + nRP"),
    Constraint("tRFCab", "rank", ("REFab",), ("ACT", "REFab", "REFpb"), "nRFC"),
    Constraint("tRFCpb(REFab)", "rank", ("REFpb",), ("REFab",), "nRFCpb"),
    Constraint("tRREFD", "rank", ("REFpb",), ("REFpb", "ACT"), "nRREFD"),
    Constraint("tRRD(REFpb)", "rank", ("ACT",), ("REFpb",), "nRRD_S"),
    # ======== bank group ========
    Constraint("tCCD_L", "bankgroup", ("RD", "RDA"), ("RD", "RDA"), "nCCD_L"),
    Constraint("tCCD_L", "bankgroup", ("WR", "WRA"), ("WR", "WRA"), "nCCD_L"),
    Constraint("tWTR_L", "bankgroup", ("WR", "WRA"), ("RD", "RDA"), "nCWL + nBL + nWTR_L"),
    Constraint("tRRD_L", "bankgroup", ("ACT",), ("ACT",), "nRRD_L"),
    # ======== bank ========
    Constraint("tRC", "bank", ("ACT",), ("ACT", "REFpb"), "nRC"),
    Constraint("tRCD_RD", "bank", ("ACT",), ("RD", "RDA"), "nRCD_RD"),
    Constraint("tRCD_WR", "bank", ("ACT",), ("WR", "WRA"), "nRCD_WR"),
    Constraint("tRAS", "bank", ("ACT",), ("PRE",), "nRAS"),
    Constraint("tRP", "bank", ("PRE",), ("ACT", "REFpb"), "nRP"),
    Constraint("tRTP", "bank", ("RD",), ("PRE",), "nRTP"),
    Constraint("tWR", "bank", ("WR",), ("PRE",), "nCWL + nBL + nWR"),
    Constraint("tRTP+tRP", "bank", ("RDA",), ("ACT", "REFpb"), "nRTP + nRP"),
    Constraint("tWR+tRP", "bank", ("WRA",), ("ACT", "REFpb"), "nCWL + nBL + nWR + nRP"),
    Constraint("tRFCpb", "bank", ("REFpb",), ("ACT", "REFpb"), "nRFCpb"),
)

# ---------------------------------------------------------------------------------------------
# HBM3-6400 (tCK = 0.625 ns), 16 Gb dies, 8-high: 16 GB per stack, 2 stack IDs per pseudo-channel.
# ---------------------------------------------------------------------------------------------
HBM3_6400_16Gb_8hi = DeviceSpec(
    name="HBM3_6400_16Gb_8hi",
    standard="HBM3",
    data_rate_mts=6400.0,
    ck_ratio=4,  # JESD238: CK = data rate / 4 (1.6 GHz at 6.4 Gb/s)
    organization=Organization(
        channels=16,
        pseudo_channels=2,
        ranks=2,  # stack IDs of an 8-high stack
        bank_groups=4,
        banks_per_group=4,
        rows=16384,  # 16 GB / (32 PC x 2 SID x 16 banks x 1 KB)
        columns=256,  # 1 KB row / 32-bit bus
        dq_bits=32,
        burst_length=8,
    ),
    timings={
        # ---- read / write latencies and data bus
        "nCL": ns(12.5),  # 20 CK at 6400
        "nCWL": ns(6.25),  # 10 CK
        "nBL": ck(2),  # BL8 at 4 beats per CK
        # ---- row timings
        "nRCD_RD": ns(19.375),  # 31 CK
        "nRCD_WR": ns(9.375),  # 15 CK
        "nRP": ns(16.25),  # 26 CK
        "nRAS": ns(28.125),  # 45 CK
        "nRC": ns(45.0),  # 72 CK
        "nWR": ns(20.625),  # 33 CK
        "nRTP": ns(5.625),  # 9 CK
        "nPPD": ck(2),
        # ---- column-to-column and turnarounds
        "nCCD_S": ck(2),
        "nCCD_L": ck(4),
        "nCCD_R": ck(3),
        "nWTR_S": ck(7),
        "nWTR_L": ck(10),
        "nRTW": ck(20),
        # ---- activation rate
        "nRRD_S": ck(4),
        "nRRD_L": ck(5),
        "nFAW": ns(15.0),  # 24 CK
        # ---- refresh (JESD238: tREFI 3.9 us; tRFCab 350 ns for 8 Gb per channel; tRFCpb 200 ns)
        "nREFI": interval_ns(3900.0),
        "nREFIpb": interval_ns(3900.0 / 16),  # every bank of a stack ID once per tREFI
        "nRFC": ns(350.0),
        "nRFCpb": ns(200.0),
        "nRREFD": ck_ns(3, 8.0),
    },
    constraints=CONSTRAINTS,
    energy=Energy(
        # Approximations (see docs/assumptions.md): ~3.9 pJ/bit for a 32 B access at low
        # row locality in HBM2-class parts (O'Connor et al., MICRO 2017), split into ACT+PRE,
        # column access and I/O; background and refresh scaled from HBM2 IDD values.
        act_pre_pJ=600.0,
        rd_pJ=450.0,
        wr_pJ=480.0,
        refab_pJ=15000.0,
        refpb_pJ=1500.0,
        background_mW=45.0,
    ),
    dual_command_bus=True,
    source="JESD238 via ../shared/spec/dram-standards.md (Ramulator 2 HBM3 preset), checked 2026-11-26",
)

# The H2M2 bandwidth-centric memory: 6 stacks at ~4.0 Gb/s per pin give ~3 TB/s (see
# docs/assumptions.md). Same core timings in ns; only the data rate (and so tCK) changes.
HBM3_4000_16Gb_8hi = HBM3_6400_16Gb_8hi.override(name="HBM3_4000_16Gb_8hi", data_rate_mts=4000.0)

PRESETS: dict[str, DeviceSpec] = {p.name: p for p in (HBM3_6400_16Gb_8hi, HBM3_4000_16Gb_8hi)}
