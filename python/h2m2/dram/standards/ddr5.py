"""DDR5 (JESD79-5) device presets: one 32-bit sub-channel of a DIMM is one scheduled channel.

Source: JEDEC JESD79-5 (DDR5) speed bins 4800B (40-39-39) and 5600B (46-45-45) and core timings
as restated by public simulator presets (Ramulator 2 DDR5) and vendor data sheets for 16 Gb x8
dies; recalled, not re-checked against the JEDEC text in this session (2026-11-26): check before
relying on them. Analog timings are given in ns with JEDEC's CK floor; CL and CWL, which JEDEC
lists in CK per speed bin, are in CK and overridden per bin.

Organisation: a DIMM has two independent 32-bit sub-channels (``channels=2``), each scheduled by
its own controller (no pseudo-channels). A sub-channel is four 16 Gb x8 dies in lockstep (a
non-ECC DIMM; the ECC die of an RDIMM is not modelled), single rank: 8 bank groups x 4 banks, 64K
rows, 1 KB page per die, so ``columns=1024`` at ``dq_bits=32`` is a 4 KB row across the four dies.
BL16 moves 64 bytes per column command; CK = data rate / 2.

Modelling choices (each also in docs/assumptions.md):

* Same-bank refresh (REFsb refreshes bank b in every bank group) is represented by REFpb, which
  refreshes the one bank it names: nREFIpb = tREFI / 32 so every bank is blocked tRFCsb once per
  tREFI, as on the device. REFsb -> REFsb spacing is tREFSBRD; REFsb -> ACT of another bank uses
  tRRD_S like an activate.
* RD -> WR on the data bus is the derived :data:`NRTW` expression.
* WR -> WR in the same bank group uses tCCD_L_WR (max(32 nCK, 20 ns)); the shorter tCCD_L_WR2 case
  is not modelled.
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

__all__ = ["CONSTRAINTS", "DEFAULT", "NRTW", "PRESETS", "DDR5_4800_x32", "DDR5_5600_x32"]

# nRTW, RD -> WR on the sub-channel's data bus (derived value, JESD79-5 read-to-write, simplified):
#   nRTW = CL + BL/2 + 2 - CWL
# the read burst ends CL + BL/2 after the RD; two CK cover the read postamble, the write preamble
# and the bus turnaround; the write burst starts CWL after the WR. 12 CK at 4800B and 5600B.
NRTW = "nCL + nBL + 2 - nCWL"

# ---------------------------------------------------------------------------------------------
# Constraint rows, grouped by scope. Latencies are expressions over the timing names below.
# ---------------------------------------------------------------------------------------------
CONSTRAINTS: tuple[Constraint, ...] = (
    # ======== channel (= one 32-bit sub-channel: one data bus, one controller) ========
    Constraint("tBL(data bus)", "channel", ("RD", "RDA"), ("RD", "RDA"), "nBL"),
    Constraint("tBL(data bus)", "channel", ("WR", "WRA"), ("WR", "WRA"), "nBL"),
    Constraint("tRTW", "channel", ("RD", "RDA"), ("WR", "WRA"), NRTW),
    Constraint("tBL(data bus)", "channel", ("WR", "WRA"), ("RD", "RDA"), "nBL"),
    Constraint("tPPD", "channel", ("PRE", "PREA"), ("PRE", "PREA"), "nPPD"),
    # ======== rank ========
    Constraint("tCCD_S", "rank", ("RD", "RDA"), ("RD", "RDA"), "nCCD_S"),
    Constraint("tCCD_S", "rank", ("WR", "WRA"), ("WR", "WRA"), "nCCD_S"),
    Constraint("tWTR_S", "rank", ("WR", "WRA"), ("RD", "RDA"), "nCWL + nBL + nWTR_S"),
    Constraint("tRTRS", "rank", ("RD", "RDA"), ("RD", "RDA"), "nBL + nRTRS", sibling=True),
    Constraint("tRTRS", "rank", ("WR", "WRA"), ("WR", "WRA"), "nBL + nRTRS", sibling=True),
    Constraint("tRRD_S", "rank", ("ACT",), ("ACT",), "nRRD_S"),
    Constraint("tFAW", "rank", ("ACT",), ("ACT",), "nFAW", window=4),
    # all-bank precharge and refresh act on every bank of the rank
    Constraint("tRAS(PREA)", "rank", ("ACT",), ("PREA",), "nRAS"),
    Constraint("tRTP(PREA)", "rank", ("RD",), ("PREA",), "nRTP"),
    Constraint("tWR(PREA)", "rank", ("WR",), ("PREA",), "nCWL + nBL + nWR"),
    Constraint("tRP(PREA)", "rank", ("PREA",), ("ACT", "REFab", "REFpb"), "nRP"),
    Constraint("tRC(REFab)", "rank", ("ACT",), ("REFab",), "nRC"),
    Constraint("tRP(REFab)", "rank", ("PRE",), ("REFab",), "nRP"),
    Constraint("tRTP+tRP(REFab)", "rank", ("RDA",), ("REFab",), "nRTP + nRP"),
    Constraint("tWR+tRP(REFab)", "rank", ("WRA",), ("REFab",), "nCWL + nBL + nWR + nRP"),
    Constraint("tRFC1", "rank", ("REFab",), ("ACT", "REFab", "REFpb"), "nRFC"),
    Constraint("tRFCsb(REFab)", "rank", ("REFpb",), ("REFab",), "nRFCpb"),
    Constraint("tREFSBRD", "rank", ("REFpb",), ("REFpb",), "nREFSBRD"),
    Constraint("tRRD_S(REFsb)", "rank", ("REFpb",), ("ACT",), "nRRD_S"),
    Constraint("tRRD_S(REFsb)", "rank", ("ACT",), ("REFpb",), "nRRD_S"),
    # ======== bank group ========
    Constraint("tCCD_L", "bankgroup", ("RD", "RDA"), ("RD", "RDA"), "nCCD_L"),
    Constraint("tCCD_L_WR", "bankgroup", ("WR", "WRA"), ("WR", "WRA"), "nCCD_L_WR"),
    Constraint("tWTR_L", "bankgroup", ("WR", "WRA"), ("RD", "RDA"), "nCWL + nBL + nWTR_L"),
    Constraint("tRRD_L", "bankgroup", ("ACT",), ("ACT",), "nRRD_L"),
    # ======== bank ========
    Constraint("tRC", "bank", ("ACT",), ("ACT", "REFpb"), "nRC"),
    Constraint("tRCD", "bank", ("ACT",), ("RD", "RDA", "WR", "WRA"), "nRCD"),
    Constraint("tRAS", "bank", ("ACT",), ("PRE",), "nRAS"),
    Constraint("tRP", "bank", ("PRE",), ("ACT", "REFpb"), "nRP"),
    Constraint("tRTP", "bank", ("RD",), ("PRE",), "nRTP"),
    Constraint("tWR", "bank", ("WR",), ("PRE",), "nCWL + nBL + nWR"),
    Constraint("tRTP+tRP", "bank", ("RDA",), ("ACT", "REFpb"), "nRTP + nRP"),
    Constraint("tWR+tRP", "bank", ("WRA",), ("ACT", "REFpb"), "nCWL + nBL + nWR + nRP"),
    Constraint("tRFCsb", "bank", ("REFpb",), ("ACT", "REFpb"), "nRFCpb"),
)

# ---------------------------------------------------------------------------------------------
# DDR5-4800B (tCK = 0.41667 ns, CK 2.4 GHz), 16 Gb x8 dies, 1 rank: 8 GiB per sub-channel.
# ---------------------------------------------------------------------------------------------
DDR5_4800_x32 = DeviceSpec(
    name="DDR5_4800_x32",
    standard="DDR5",
    data_rate_mts=4800.0,
    ck_ratio=2,  # JESD79-5: data on both CK edges
    organization=Organization(
        channels=2,  # 32-bit sub-channels per DIMM
        pseudo_channels=1,
        ranks=1,
        bank_groups=8,
        banks_per_group=4,
        rows=65536,  # 16 Gb x8 die: 2 GB / (32 banks x 1 KB)
        columns=1024,  # 1 KB page per x8 die; 4 dies in lockstep -> 4 KB row
        dq_bits=32,
        burst_length=16,  # BL16: 64 B per column command
    ),
    timings={
        # ---- read / write latencies and data bus (cycle counts at 4800 in comments)
        "nCL": ck(40),  # 4800B: 16.67 ns
        "nCWL": ck(38),  # CWL = CL - 2
        "nBL": ck(8),  # BL16 at 2 beats per CK
        # ---- row timings
        "nRCD": ns(16.0),  # 39 CK
        "nRP": ns(16.0),  # 39 CK
        "nRAS": ns(32.0),  # 77 CK
        "nRC": ns(48.0),  # tRAS + tRP, 116 CK
        "nWR": ns(30.0),  # 72 CK
        "nRTP": ck_ns(12, 7.5),  # 18 CK
        "nPPD": ck(2),
        # ---- column-to-column and turnarounds
        "nCCD_S": ck(8),  # = BL/2
        "nCCD_L": ck_ns(8, 5.0),  # 12 CK
        "nCCD_L_WR": ck_ns(32, 20.0),  # 48 CK
        "nWTR_S": ck_ns(4, 2.5),  # 6 CK
        "nWTR_L": ck_ns(16, 10.0),  # 24 CK
        "nRTRS": ck(2),  # rank-to-rank DQ hand-over (assumed; matters only with ranks=2)
        # ---- activation rate
        "nRRD_S": ck(8),
        "nRRD_L": ck_ns(8, 5.0),  # 12 CK
        "nFAW": ck(32),  # 1 KB page (x8): 32 nCK (13.3 ns at 4800)
        # ---- refresh (16 Gb: tRFC1 295 ns, tRFCsb 130 ns; tREFI 3.9 us at normal temperature)
        "nREFI": interval_ns(3900.0),
        "nREFIpb": interval_ns(
            3900.0 / 32
        ),  # one bank per REFpb (JEDEC REFsb: 8 banks every 975 ns)
        "nRFC": ns(295.0),  # tRFC1
        "nRFCpb": ns(130.0),  # tRFCsb
        "nREFSBRD": ns(30.0),  # REFsb to REFsb of another bank (assumed value), 72 CK
    },
    constraints=CONSTRAINTS,
    energy=Energy(
        # Approximations for one 32-bit sub-channel = four x8 dies (docs/assumptions.md).
        # ACT+PRE ~1.0 nJ per die from IDD-style estimates ((IDD0 - IDD3N) x VDD x tRC with
        # ~20 mA at 1.1 V over 48 ns, plus VPP), x4 dies. Column access ~5.5 pJ/bit including
        # the DIMM I/O with termination (a guess within published DDR4/DDR5 figures of 5-8
        # pJ/bit), 64 B per burst. Refresh ~(IDD5B - IDD3N) x VDD x tRFC1 with ~200 mA per die.
        # Background: IDD3N ~50 mA at 1.1 V per die; RCD/PMIC power is not included.
        act_pre_pJ=4000.0,
        rd_pJ=2800.0,
        wr_pJ=3000.0,
        refab_pJ=260000.0,
        refpb_pJ=10000.0,  # one bank: ~1/32 of REFab plus command overhead
        background_mW=220.0,
    ),
    dual_command_bus=False,
    source="JESD79-5 speed bin 4800B and 16 Gb x8 core timings (Ramulator 2 DDR5 preset, "
    "recalled), checked 2026-11-26",
)

# DDR5-5600B (tCK = 0.35714 ns): 46-45-45; core timings in ns as 4800, CL/CWL per bin.
DDR5_5600_x32 = DDR5_4800_x32.override(
    name="DDR5_5600_x32",
    data_rate_mts=5600.0,
    nCL=46,
    nCWL=44,
    source="JESD79-5 speed bin 5600B and 16 Gb x8 core timings (Ramulator 2 DDR5 preset, "
    "recalled), checked 2026-11-26",
)

PRESETS: dict[str, DeviceSpec] = {p.name: p for p in (DDR5_4800_x32, DDR5_5600_x32)}

DEFAULT: str = DDR5_4800_x32.name
