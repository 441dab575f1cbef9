"""HBM3E device presets.

Source: HBM3E is the JESD238 (HBM3) interface run at 8-9.8 Gb/s per pin (1.0-1.2 TB/s per stack,
vendor press material: SK hynix, Micron, Samsung, 2023-2024); JEDEC publishes no separate HBM3E
timing table. Organisation (16 channels x 2 pseudo-channels of 32 bit, BL8, 4 bank groups x 4 banks
per stack ID, 1 KB rows) and the constraint rows are HBM3's (:data:`hbm3.CONSTRAINTS`). Core timings
are HBM3-6400's in ns (../shared/spec/dram-standards.md: "core timings in ns close to HBM3");
HBM3-6400's clock-based timings become ``max(n CK, n x 0.625 ns)`` so that the faster clock never
makes them shorter in ns than at HBM3-6400 (an assumption, see docs/assumptions.md). Exceptions:
nBL and nCCD_S stay 2 CK (a BL8 burst is 2 CK at any rate, and peak bandwidth needs back-to-back
bursts), nPPD stays 2 CK (command-bus spacing). Checked 2026-11-26.

Capacity: the shipping HBM3E stacks are 24 GB (8-high, 24 Gb dies) and 36 GB (12-high). 24 GB is
3 x 2^33 bytes, which power-of-two rows, ranks and banks cannot express (the address mapping slices
bits for every field but the channel), so the presets here use 16 Gb dies, 8-high: 16 GB per stack,
the same organisation as the H2M2 HBM3 stacks, which makes HBM3E a bandwidth-only what-if.
"""

from __future__ import annotations

from h2m2.dram.standard import DeviceSpec, Energy, Organization, ck, ck_ns, interval_ns, ns
from h2m2.dram.standards.hbm3 import CONSTRAINTS

__all__ = ["DEFAULT", "PRESETS", "HBM3E_8000_16Gb_8hi", "HBM3E_9600_16Gb_8hi"]

# ---------------------------------------------------------------------------------------------
# HBM3E-9600 (tCK = 0.41667 ns, CK 2.4 GHz), 16 Gb dies, 8-high: 16 GB per stack, 1228.8 GB/s.
# ---------------------------------------------------------------------------------------------
HBM3E_9600_16Gb_8hi = DeviceSpec(
    name="HBM3E_9600_16Gb_8hi",
    standard="HBM3E",
    data_rate_mts=9600.0,
    ck_ratio=4,  # as JESD238: CK = data rate / 4
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
        # ---- read / write latencies and data bus (cycle counts at 9600 in comments)
        "nCL": ns(12.5),  # 30 CK
        "nCWL": ns(6.25),  # 15 CK
        "nBL": ck(2),  # BL8 at 4 beats per CK
        # ---- row timings (HBM3-6400 values in ns)
        "nRCD_RD": ns(19.375),  # 47 CK
        "nRCD_WR": ns(9.375),  # 23 CK
        "nRP": ns(16.25),  # 39 CK
        "nRAS": ns(28.125),  # 68 CK
        "nRC": ns(45.0),  # 108 CK
        "nWR": ns(20.625),  # 50 CK
        "nRTP": ns(5.625),  # 14 CK
        "nPPD": ck(2),
        # ---- column-to-column and turnarounds: HBM3-6400's CK counts, floored at their ns value
        "nCCD_S": ck(2),  # = nBL: back-to-back bursts across bank groups
        "nCCD_L": ck_ns(4, 2.5),  # 6 CK
        "nCCD_R": ck_ns(3, 1.875),  # 5 CK
        "nWTR_S": ck_ns(7, 4.375),  # 11 CK
        "nWTR_L": ck_ns(10, 6.25),  # 15 CK
        "nRTW": ck_ns(20, 12.5),  # 30 CK
        # ---- activation rate
        "nRRD_S": ck_ns(4, 2.5),  # 6 CK
        "nRRD_L": ck_ns(5, 3.125),  # 8 CK
        "nFAW": ns(15.0),  # 36 CK
        # ---- refresh (JESD238: tREFI 3.9 us; 8 Gb per channel -> tRFCab 350 ns; tRFCpb 200 ns)
        "nREFI": interval_ns(3900.0),
        "nREFIpb": interval_ns(
            3900.0 / 16
        ),  # one bank per REFpb: every bank of a stack ID once per tREFI
        "nRFC": ns(350.0),
        "nRFCpb": ns(200.0),
        "nRREFD": ck_ns(3, 8.0),
    },
    constraints=CONSTRAINTS,
    energy=Energy(
        # Guess (docs/assumptions.md): per command the same as the HBM3 preset (~1.8 pJ/bit for a
        # column access, ~4.1 pJ/bit for one 32 B access per activation). Vendors claim 10-30 %
        # better efficiency than HBM3 but publish no per-command figure, so none is applied;
        # background is raised from 45 to 55 mW for the 1.5x faster clock and I/O.
        act_pre_pJ=600.0,
        rd_pJ=450.0,
        wr_pJ=480.0,
        refab_pJ=15000.0,
        refpb_pJ=1500.0,
        background_mW=55.0,
    ),
    dual_command_bus=True,
    source="HBM3E = JESD238 at 9.6 Gb/s (vendor press material); core timings from HBM3-6400 "
    "in ../shared/spec/dram-standards.md; checked 2026-11-26",
)

# HBM3E-8000 (tCK = 0.5 ns), 1024 GB/s per stack: same core timings in ns, only the clock changes.
HBM3E_8000_16Gb_8hi = HBM3E_9600_16Gb_8hi.override(name="HBM3E_8000_16Gb_8hi", data_rate_mts=8000.0)

PRESETS: dict[str, DeviceSpec] = {p.name: p for p in (HBM3E_9600_16Gb_8hi, HBM3E_8000_16Gb_8hi)}

DEFAULT: str = HBM3E_9600_16Gb_8hi.name
