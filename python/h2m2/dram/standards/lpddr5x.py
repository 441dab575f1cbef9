"""LPDDR5X (JESD209-5B) device presets, including the H2M2 capacity-centric memory device.

Source: JEDEC JESD209-5B (LPDDR5/5X) as restated in ../shared/spec/dram-standards.md, checked
2026-11-26: same architecture as LPDDR5 at up to 8533 MT/s (CK 1.067 GHz, tCK ~0.9375 ns), core
timings in ns as LPDDR5. The constraint rows are LPDDR5's (:data:`lpddr5.CONSTRAINTS`).

Choices (each also in docs/assumptions.md):

* Core timings (tRCD, tRP, tRAS, tWR, tRTP, tWTR, tRRD, tFAW, refresh) are LPDDR5's in ns. LPDDR5X
  may have shorter tRRD/tFAW; keeping LPDDR5's is the conservative choice until checked.
* RL and WL are LPDDR5-6400's in ns (21.25 ns, 11.25 ns), so that the cycle counts derive:
  RL = RU(21.25 / 0.9375) = 23 CK and WL = 12 CK at 8533. JESD209-5B lists RL/WL in CK per speed
  bin; these derived values (about 21.3-21.6 ns of read latency across the LPDDR5X bins) are what
  to check against the JEDEC table.
* ``LPDDR5X_8533_16GB_x16`` is the H2M2 capacity-centric memory: 512 GB over 32 x16 channels =
  16 GiB behind each channel. No single LPDDR5X die holds that; the preset stands for several
  high-density dies per channel: two ranks, each rank two 32 Gb byte-mode (x8) dies side by side
  forming the x16 bus (2 KB page across the pair), i.e. 4 dies x 32 Gb = 128 Gb = 16 GiB. Rows
  per bank = 16 GiB / (2 ranks x 16 banks x 2 KB) = 262144 (2^18, the row count of a 32 Gb x8
  die). Refresh uses the 32 Gb values (tRFCab 380 ns, tRFCpb 190 ns).
"""

from __future__ import annotations

from h2m2.dram.standard import DeviceSpec, Energy, Organization, ck, ck_ns, interval_ns, ns
from h2m2.dram.standards.lpddr5 import CONSTRAINTS

__all__ = ["DEFAULT", "PRESETS", "LPDDR5X_8533_16GB_x16", "LPDDR5X_8533_x16"]

# ---------------------------------------------------------------------------------------------
# LPDDR5X-8533 (tCK = 0.9375 ns, CK 1.067 GHz), one x16 channel of a 16 Gb die: 2 GB per channel.
# ---------------------------------------------------------------------------------------------
LPDDR5X_8533_x16 = DeviceSpec(
    name="LPDDR5X_8533_x16",
    standard="LPDDR5X",
    data_rate_mts=8533.0,
    ck_ratio=8,  # JESD209-5B: CK = data rate / 8 (WCK:CK 4:1)
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
        # ---- read / write latencies and data bus (cycle counts at 8533 in comments)
        "nCL": ns(21.25),  # RL = LPDDR5-6400's 17 CK in ns -> 23 CK
        "nCWL": ns(11.25),  # WL = LPDDR5-6400's 9 CK in ns -> 12 CK
        "nBL": ck(2),  # BL16
        "nWCKDQO": ns(1.6),  # tWCKDQO(max) (assumed value): 2 CK
        # ---- row timings (LPDDR5's in ns)
        "nRCD": ck_ns(2, 18.0),  # 20 CK
        "nRP": ck_ns(2, 18.0),  # tRPpb, 20 CK
        "nRPab": ck_ns(2, 21.0),  # 23 CK
        "nRAS": ck_ns(3, 42.0),  # 45 CK
        "nWR": ck_ns(4, 34.0),  # 37 CK
        "nRTP": ck_ns(4, 7.5),  # 8 CK; RD -> PRE = nBL + nRTP = 10 CK
        "nPPD": ck(2),
        # ---- column-to-column and turnarounds
        "nCCD_S": ck(2),  # BL16 / bank-group mode, different bank groups
        "nCCD_L": ck(4),  # same bank group
        "nWTR_S": ck_ns(4, 6.25),  # 7 CK
        "nWTR_L": ck_ns(4, 12.0),  # 13 CK
        "nRTRS": ck(2),  # rank-to-rank DQ hand-over (assumed)
        # ---- activation rate (LPDDR5's; possibly shorter on LPDDR5X)
        "nRRD": ck_ns(4, 5.0),  # 6 CK
        "nFAW": ck_ns(16, 20.0),  # 22 CK
        # ---- refresh (16 Gb die: tRFCab 280 ns, tRFCpb 140 ns; tREFI 3.906 us)
        "nREFI": interval_ns(3906.0),
        "nREFIpb": interval_ns(3906.0 / 16),  # one bank per REFpb (JEDEC: bank pair every 488 ns)
        "nRFC": ns(280.0),  # tRFCab
        "nRFCpb": ns(140.0),
        "nPBR2PBR": ns(90.0),  # tpbR2pbR, 96 CK
        "nPBR2ACT": ns(7.5),  # tpbR2ACT, 8 CK
    },
    constraints=CONSTRAINTS,
    energy=Energy(
        # Same per-command guesses as the LPDDR5 preset (docs/assumptions.md): vendor claims of
        # ~20 % better efficiency than LPDDR5 are not applied for lack of per-command figures;
        # background raised from 30 to 33 mW for the faster clock.
        act_pre_pJ=1000.0,
        rd_pJ=800.0,
        wr_pJ=850.0,
        refab_pJ=30000.0,
        refpb_pJ=2000.0,
        background_mW=33.0,
    ),
    dual_command_bus=False,
    source="JESD209-5B via ../shared/spec/dram-standards.md (LPDDR5 core timings in ns, RL/WL "
    "derived from LPDDR5-6400 in ns), checked 2026-11-26",
)

# ---------------------------------------------------------------------------------------------
# The H2M2 capacity-centric memory device: 16 GiB behind one x16 channel (32 of them = 512 GiB,
# 546 GB/s). Four 32 Gb x8 dies per channel: 2 ranks x 2 byte-mode dies (see module docstring).
# ---------------------------------------------------------------------------------------------
LPDDR5X_8533_16GB_x16 = LPDDR5X_8533_x16.override(
    name="LPDDR5X_8533_16GB_x16",
    ranks=2,
    rows=262144,  # 16 GiB / (2 ranks x 16 banks x 2 KB)
    tRFC_ns=380.0,  # 32 Gb die
    tRFCpb_ns=190.0,  # 32 Gb die
    energy=Energy(
        # Guesses: ACT+PRE and column access as the x16 preset (a rank's two x8 dies together open
        # 2 KB and move 32 B); a REFab refreshes two 32 Gb dies for 380 ns (~2 x 38 nJ); background
        # of four dies at ~20 mW each (one rank mostly idle).
        act_pre_pJ=1000.0,
        rd_pJ=800.0,
        wr_pJ=850.0,
        refab_pJ=76000.0,
        refpb_pJ=5000.0,
        background_mW=80.0,
    ),
    source="JESD209-5B via ../shared/spec/dram-standards.md; organisation chosen for the H2M2 "
    "512 GB / 32-channel memory (docs/assumptions.md); checked 2026-11-26",
)

PRESETS: dict[str, DeviceSpec] = {p.name: p for p in (LPDDR5X_8533_x16, LPDDR5X_8533_16GB_x16)}

DEFAULT: str = LPDDR5X_8533_x16.name
