"""Unit tests of the DRAM standard presets (pure Python, no C++).

Expected values are closed forms computed by hand from ../shared/spec/dram-standards.md; each test
states its formula.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from h2m2.dram import standards
from h2m2.dram.standard import Command, Constraint, DeviceSpec, Scope, Timing, ck, ns
from h2m2.dram.standards import ddr5, hbm3, hbm3e, lpddr5, lpddr5x

GiB = 1 << 30
PRESET_NAMES = sorted({standards.get(n).name for n in standards.names()})


def _row(spec: DeviceSpec, name: str, prev: str, nxt: str) -> int:
    """Latency in cycles of the row called ``name`` that applies between ``prev`` and ``nxt``."""
    matches = [
        r.latency_cycles
        for r in spec.constraint_rows()
        if r.name == name and Command[prev] in r.preceding and Command[nxt] in r.following
    ]
    assert len(matches) == 1, (name, prev, nxt, matches)
    return matches[0]


# ------------------------------------------------------------------------------ every preset
def test_registry_holds_every_standard_family() -> None:
    assert set(standards.DEFAULTS) == {"HBM3", "HBM3E", "LPDDR5", "LPDDR5X", "DDR5"}
    assert {standards.get(f).standard for f in standards.DEFAULTS} == set(standards.DEFAULTS)
    assert len(PRESET_NAMES) >= 9


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_preset_validates(name: str) -> None:
    spec = standards.get(name)
    spec.validate()
    assert spec.name == name
    assert spec.source, "every preset names its source"


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_compile_produces_tables(name: str) -> None:
    spec = standards.get(name)
    t = spec.compile()
    shape = (len(Scope), len(Command), len(Command))
    assert t["same"].shape == shape and t["same"].dtype == np.int64
    assert t["sibling"].shape == shape and t["sibling"].dtype == np.int64
    assert t["windows"].shape == (1, 5)  # tFAW only
    scope, pmask, fmask, window, latency = t["windows"][0].tolist()
    assert (scope, pmask, fmask, window) == (Scope.rank, 1 << Command.ACT, 1 << Command.ACT, 4)
    cyc = spec.cycles()
    assert latency == cyc["nFAW"]
    for key in ("nCL", "nCWL", "nBL", "nREFI", "nREFIpb"):
        assert t[key] == cyc[key]
    assert t["tck_ps"] == spec.tck_ps
    assert t["transaction_bytes"] == spec.organization.transaction_bytes
    # every command pair that must be ordered on one bank has a rule
    bank = t["same"][Scope.bank]
    assert bank[Command.ACT, Command.RD] > 0
    assert bank[Command.ACT, Command.PRE] == cyc["nRAS"]
    assert bank[Command.PRE, Command.ACT] == cyc["nRP"]
    assert t["same"][Scope.channel, Command.RD, Command.RD] == cyc["nBL"]


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_burst_fills_nbl_cycles(name: str) -> None:
    # nBL = burst_length / beats per CK (ck_ratio), so a stream of bursts reaches exactly peak
    spec = standards.get(name)
    assert spec.cycles()["nBL"] * spec.ck_ratio == spec.organization.burst_length


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_per_bank_refresh_covers_each_bank_once_per_trefi(name: str) -> None:
    # REFpb refreshes one bank: nREFIpb = tREFI / banks per rank (HBM3: per stack ID)
    spec = standards.get(name)
    refi, refipb = spec.timings["nREFI"], spec.timings["nREFIpb"]
    assert refipb.ns * spec.organization.banks_per_rank == pytest.approx(refi.ns)
    # in cycles too: intervals round down, so a rotation over the banks never exceeds tREFI
    c = spec.cycles()
    assert c["nREFIpb"] * spec.organization.banks_per_rank <= c["nREFI"]
    assert c["nREFI"] * spec.tck_ns <= refi.ns + 1e-9


def test_reused_constraint_rows() -> None:
    assert hbm3e.HBM3E_9600_16Gb_8hi.constraints is hbm3.CONSTRAINTS
    assert lpddr5x.LPDDR5X_8533_x16.constraints is lpddr5.CONSTRAINTS
    assert lpddr5x.LPDDR5X_8533_16GB_x16.constraints is lpddr5.CONSTRAINTS
    assert ddr5.DDR5_5600_x32.constraints is ddr5.CONSTRAINTS


# ------------------------------------------------------------------------------ capacity
def test_capacity_hbm3_h2m2_stack() -> None:
    # 32 pseudo-channels x 2 stack IDs x 16 banks x 16384 rows x 1 KiB = 16 GiB per stack
    spec = standards.get("HBM3_4000_16Gb_8hi")
    o = spec.organization
    assert o.row_bytes == 1024
    assert o.bytes_per_channel == 2 * 16 * 16384 * 1024 == GiB // 2
    assert o.scheduled_channels == 32
    assert o.bytes_per_channel * o.scheduled_channels == 16 * GiB
    # six stacks: the 96 GB H2M2 HBM
    assert 6 * o.bytes_per_channel * o.scheduled_channels == 96 * GiB


def test_capacity_lpddr5x_h2m2_channel() -> None:
    # 2 ranks x 16 banks x 262144 rows x 2 KiB = 16 GiB per channel; 32 channels = 512 GiB
    o = standards.get("LPDDR5X_8533_16GB_x16").organization
    assert o.row_bytes == 2048
    assert o.rows & (o.rows - 1) == 0
    assert o.bytes_per_channel == 2 * 16 * 262144 * 2048 == 16 * GiB
    assert o.scheduled_channels == 1
    assert 32 * o.bytes_per_channel == 512 * GiB


@pytest.mark.parametrize(
    ("name", "per_channel", "per_device"),
    [
        ("HBM3_6400_16Gb_8hi", GiB // 2, 16 * GiB),
        ("HBM3E_9600_16Gb_8hi", GiB // 2, 16 * GiB),
        ("LPDDR5_6400_x16", 2 * GiB, 2 * GiB),  # one 16 Gb die
        ("LPDDR5X_8533_x16", 2 * GiB, 2 * GiB),
        ("DDR5_4800_x32", 8 * GiB, 16 * GiB),  # 4 x 16 Gb x8 dies per sub-channel, 2 per DIMM
    ],
)
def test_capacity_other_presets(name: str, per_channel: int, per_device: int) -> None:
    o = standards.get(name).organization
    assert o.bytes_per_channel == per_channel
    assert o.bytes_per_channel * o.scheduled_channels == per_device


def test_transaction_sizes() -> None:
    assert standards.get("HBM3").organization.transaction_bytes == 32  # 32 bit x BL8
    assert standards.get("LPDDR5").organization.transaction_bytes == 32  # 16 bit x BL16
    assert standards.get("LPDDR5X").organization.transaction_bytes == 32
    assert standards.get("DDR5").organization.transaction_bytes == 64  # 32 bit x BL16
    assert standards.get("LPDDR5X").organization.bursts_per_row == 1024 // 16


# ------------------------------------------------------------------------------ clock and peak
@pytest.mark.parametrize(
    ("name", "tck_ns"),
    [
        ("HBM3_6400_16Gb_8hi", 0.625),  # 4 / 6.4 GT/s
        ("HBM3_4000_16Gb_8hi", 1.0),
        ("HBM3E_9600_16Gb_8hi", 4000 / 9600),
        ("HBM3E_8000_16Gb_8hi", 0.5),
        ("LPDDR5_6400_x16", 1.25),  # 8 / 6.4 GT/s
        ("LPDDR5X_8533_x16", 8000 / 8533),  # ~0.9375
        ("DDR5_4800_x32", 2000 / 4800),
        ("DDR5_5600_x32", 2000 / 5600),
    ],
)
def test_tck(name: str, tck_ns: float) -> None:
    spec = standards.get(name)
    assert spec.tck_ns == pytest.approx(tck_ns)
    assert spec.tck_ps == round(tck_ns * 1000)


def test_peak_bandwidth() -> None:
    # dq_bits x MT/s / 8 / 1000 GB/s per scheduled channel
    hbm = standards.get("HBM3_6400_16Gb_8hi")
    assert hbm.channel_peak_GBps == pytest.approx(32 * 6400 / 8 / 1000) == 25.6
    assert hbm.channel_peak_GBps * hbm.organization.scheduled_channels == pytest.approx(819.2)
    lp = standards.get("LPDDR5X_8533_x16")
    assert lp.channel_peak_GBps == pytest.approx(16 * 8533 / 8 / 1000)
    assert lp.channel_peak_GBps == pytest.approx(17.066)
    # H2M2: 32 LPDDR5X channels ~546 GB/s (paper: 544 at 8500), 6 HBM3-4000 stacks ~3 TB/s
    assert 32 * lp.channel_peak_GBps == pytest.approx(546.1, abs=0.1)
    h2 = standards.get("HBM3_4000_16Gb_8hi")
    assert 6 * 32 * h2.channel_peak_GBps == pytest.approx(3072.0)
    assert standards.get("HBM3E_9600_16Gb_8hi").channel_peak_GBps * 32 == pytest.approx(1228.8)
    assert standards.get("DDR5_4800_x32").channel_peak_GBps == pytest.approx(19.2)


# ------------------------------------------------------------------------------ cycle counts
def test_hbm3_6400_cycles() -> None:
    c = standards.get("HBM3_6400_16Gb_8hi").cycles()
    expected = {"nCL": 20, "nCWL": 10, "nBL": 2, "nRCD_RD": 31, "nRCD_WR": 15, "nRP": 26,
                "nRAS": 45, "nRC": 72, "nWR": 33, "nRTP": 9, "nFAW": 24, "nRRD_S": 4,
                "nRRD_L": 5, "nCCD_S": 2, "nCCD_L": 4, "nRTW": 20}  # fmt: skip
    assert {k: c[k] for k in expected} == expected
    # tRREFD = max(3 CK, 8 ns) = ceil(8 / 0.625) = 13
    assert c["nRREFD"] == 13


def test_hbm3e_9600_cycles() -> None:
    spec = standards.get("HBM3E_9600_16Gb_8hi")
    c = spec.cycles()
    tck = 4000 / 9600
    # core timings = HBM3-6400's ns: nCL = ceil(12.5 / tCK) = 30, nRCD_RD = ceil(19.375 / tCK) = 47
    assert c["nCL"] == math.ceil(12.5 / tck) == 30
    assert c["nRCD_RD"] == math.ceil(19.375 / tck) == 47
    assert c["nRC"] == 108
    # clock-based HBM3 timings keep their HBM3-6400 length in ns: tCCD_L = ceil(2.5 / tCK) = 6
    assert c["nCCD_L"] == 6
    assert c["nCCD_S"] == c["nBL"] == 2
    # the 8000 bin inherits: nCL = ceil(12.5 / 0.5) = 25
    assert standards.get("HBM3E_8000_16Gb_8hi").cycles()["nCL"] == 25


def test_lpddr5_6400_cycles() -> None:
    spec = standards.get("LPDDR5_6400_x16")
    c = spec.cycles()
    expected = {"nCL": 17, "nCWL": 9, "nBL": 2, "nRCD": 15, "nRP": 15, "nRPab": 17, "nRAS": 34,
                "nWR": 28, "nWTR_S": 5, "nWTR_L": 10, "nCCD_S": 2, "nCCD_L": 4, "nPPD": 2,
                "nFAW": 16}  # fmt: skip
    assert {k: c[k] for k in expected} == expected
    assert c["nRRD"] == max(4, math.ceil(5 / 1.25)) == 4
    # tRC = tRAS + tRPpb in whole CK = 34 + 15; RD -> PRE = BL/n + RU(7.5 / 1.25) = 2 + 6
    assert _row(spec, "tRC", "ACT", "ACT") == 49
    assert _row(spec, "tRTP", "RD", "PRE") == 8
    # nRTW = RL + BL/n + RU(tWCKDQO / tCK) + 1 - WL = 17 + 2 + 2 + 1 - 9
    assert _row(spec, "tRTW", "RD", "WR") == 13
    # refresh: tREFI 3.906 us = 3124 CK (an interval, rounded down: 3124.8);
    # tRFCab(16 Gb) 280 ns = 224 CK; tpbR2ACT 7.5 ns = 6 CK
    assert (c["nREFI"], c["nRFC"], c["nRFCpb"], c["nPBR2ACT"]) == (3124, 224, 112, 6)


def test_lpddr5x_8533_cycles() -> None:
    spec = standards.get("LPDDR5X_8533_x16")
    c = spec.cycles()
    tck = 8000 / 8533
    # RL/WL given as LPDDR5-6400's ns: RU(21.25 / tCK) = 23, RU(11.25 / tCK) = 12
    assert c["nCL"] == math.ceil(21.25 / tck) == 23
    assert c["nCWL"] == 12
    assert c["nRCD"] == math.ceil(18 / tck) == 20
    assert c["nRAS"] == math.ceil(42 / tck) == 45
    assert c["nRRD"] == max(4, math.ceil(5 / tck)) == 6
    assert c["nFAW"] == max(16, math.ceil(20 / tck)) == 22
    assert _row(spec, "tRTW", "RD", "WR") == 23 + 2 + 2 + 1 - 12
    big = standards.get("LPDDR5X_8533_16GB_x16").cycles()
    assert big["nRFC"] == math.ceil(380 / tck)  # 32 Gb dies
    assert big["nCL"] == c["nCL"]


def test_ddr5_cycles() -> None:
    spec = standards.get("DDR5_4800_x32")
    c = spec.cycles()
    expected = {"nCL": 40, "nCWL": 38, "nBL": 8, "nRCD": 39, "nRP": 39, "nRAS": 77, "nRC": 116,
                "nWR": 72, "nRTP": 18, "nCCD_S": 8, "nCCD_L": 12, "nCCD_L_WR": 48,
                "nRRD_S": 8, "nRRD_L": 12, "nFAW": 32}  # fmt: skip
    assert {k: c[k] for k in expected} == expected
    assert _row(spec, "tRTW", "RD", "WR") == 40 + 8 + 2 - 38
    fast = standards.get("DDR5_5600_x32")
    f = fast.cycles()
    # 5600B: 46-45-45 (CL from the bin, tRCD = tRP = ceil(16 / 0.35714) = 45)
    assert (f["nCL"], f["nRCD"], f["nRP"], f["nCWL"]) == (46, 45, 45, 44)
    assert fast.organization == spec.organization
    # REFsb represented by REFpb: tRFC1 295 ns, tRFCsb 130 ns at 4800
    assert (c["nRFC"], c["nRFCpb"]) == (math.ceil(295 / (2000 / 4800)), 312)


@pytest.mark.parametrize(
    ("name", "expected_ns"),
    [
        ("HBM3_6400_16Gb_8hi", (31 + 20 + 2) * 0.625),  # 33.125
        ("LPDDR5_6400_x16", (15 + 17 + 2) * 1.25),  # 42.5
        ("LPDDR5X_8533_x16", (20 + 23 + 2) * 8000 / 8533),  # 42.2
    ],
)
def test_unloaded_closed_bank_read_latency(name: str, expected_ns: float) -> None:
    # tRCD + tCL + tBL, computed from cycles
    spec = standards.get(name)
    c = spec.cycles()
    rcd = c["nRCD_RD"] if "nRCD_RD" in c else c["nRCD"]
    assert (rcd + c["nCL"] + c["nBL"]) * spec.tck_ns == pytest.approx(expected_ns)


def test_unloaded_latency_matches_spec_ballpark() -> None:
    hbm = standards.get("HBM3_6400_16Gb_8hi")
    c = hbm.cycles()
    assert (c["nRCD_RD"] + c["nCL"] + c["nBL"]) * hbm.tck_ns == pytest.approx(33.0, abs=0.5)
    lp = standards.get("LPDDR5_6400_x16")
    c = lp.cycles()
    assert (c["nRCD"] + c["nCL"] + c["nBL"]) * lp.tck_ns == pytest.approx(42.5)


def test_compiled_tables_hold_expected_entries() -> None:
    t = standards.get("HBM3_6400_16Gb_8hi").compile()
    assert t["same"][Scope.bank, Command.ACT, Command.RD] == 31
    assert t["same"][Scope.bank, Command.ACT, Command.WR] == 15
    assert t["sibling"][Scope.rank, Command.RD, Command.RD] == 3  # tCCD_R
    assert t["same"][Scope.bankgroup, Command.RD, Command.RD] == 4  # tCCD_L
    assert t["dual_command_bus"] is True
    t = standards.get("LPDDR5_6400_x16").compile()
    assert t["same"][Scope.channel, Command.RD, Command.WR] == 13
    assert t["same"][Scope.rank, Command.PREA, Command.ACT] == 17  # tRPab
    assert t["same"][Scope.bank, Command.REFpb, Command.ACT] == 112  # tRFCpb
    assert t["same"][Scope.rank, Command.REFpb, Command.REFpb] == 72  # tpbR2pbR 90 ns
    assert t["dual_command_bus"] is False
    # no rule where none is declared
    assert t["same"][Scope.bank, Command.RD, Command.ACT] == -1


def test_energy_per_bit_ordering() -> None:
    # a streamed read costs least per bit on HBM, then LPDDR, then DDR5 (the ratio is what matters)
    def pj_per_bit(name: str) -> float:
        spec = standards.get(name)
        return spec.energy.rd_pJ / (spec.organization.transaction_bytes * 8)

    assert pj_per_bit("HBM3") < pj_per_bit("LPDDR5X") < pj_per_bit("DDR5")
    assert 1.3 < pj_per_bit("LPDDR5X") / pj_per_bit("HBM3") < 2.5


# ------------------------------------------------------------------------------ override
def test_override_by_cycles_and_by_ns() -> None:
    base = standards.get("HBM3_6400_16Gb_8hi")
    slow = base.override(name="HBM3_slowCL", nCL=24)
    assert slow.cycles()["nCL"] == 24
    assert slow.timings["nCL"] == ck(24)
    assert slow.name == "HBM3_slowCL"
    assert base.cycles()["nCL"] == 20  # the original is untouched
    by_ns = base.override(tRCD_RD_ns=20.0)
    assert by_ns.timings["nRCD_RD"] == ns(20.0)
    assert by_ns.cycles()["nRCD_RD"] == math.ceil(20.0 / 0.625) == 32
    assert by_ns.name == base.name
    org = base.override(rows=32768)
    assert org.organization.rows == 32768
    assert org.organization.bytes_per_channel == 2 * base.organization.bytes_per_channel
    faster = base.override(data_rate_mts=3200.0)
    assert faster.tck_ns == pytest.approx(1.25)
    assert faster.cycles()["nCL"] == 10  # 12.5 ns at 1.25 ns


def test_override_unknown_key() -> None:
    with pytest.raises(ValueError, match=r"cannot override 'nFOO'"):
        standards.get("HBM3").override(nFOO=3)
    with pytest.raises(ValueError, match=r"cannot override 'tFOO_ns'"):
        standards.get("LPDDR5").override(tFOO_ns=3.0)
    with pytest.raises(ValueError, match="HBM3_6400_16Gb_8hi"):
        standards.get("HBM3").override(organization=None)


# ------------------------------------------------------------------------------ validate errors
def test_validate_rejects_non_power_of_two_banks() -> None:
    bad = standards.get("LPDDR5X").override(banks_per_group=3)
    with pytest.raises(ValueError, match=r"organization\.banks_per_group=3 .*power of two"):
        bad.validate()


def test_validate_rejects_zero_nbl() -> None:
    bad = standards.get("HBM3").override(nBL=0)
    with pytest.raises(ValueError, match=r"nBL=0 cycles must be positive"):
        bad.validate()


def test_validate_rejects_nbl_shorter_than_burst() -> None:
    bad = standards.get("HBM3").override(nBL=1)
    with pytest.raises(ValueError, match=r"nBL=1 CK is shorter than the burst"):
        bad.validate()


def test_validate_rejects_negative_timing() -> None:
    spec = standards.get("LPDDR5")
    bad = dataclasses.replace(spec, timings={**spec.timings, "nRCD": Timing(ck=-1)})
    with pytest.raises(ValueError, match=r"timing nRCD=.*must not be negative"):
        bad.validate()


def test_validate_rejects_plain_number_timing() -> None:
    spec = standards.get("LPDDR5")
    bad = dataclasses.replace(spec, timings={**spec.timings, "nRCD": 15})
    with pytest.raises(ValueError, match=r"timing nRCD=15 must be a Timing"):
        bad.validate()


def test_validate_rejects_refi_not_above_rfc() -> None:
    bad = standards.get("LPDDR5X_8533_x16").override(tREFI_ns=100.0)
    with pytest.raises(ValueError, match=r"LPDDR5X_8533_x16: tREFI=107 CK must exceed tRFC=299"):
        bad.validate()


def test_validate_rejects_missing_controller_timing() -> None:
    spec = standards.get("DDR5")
    timings = {k: v for k, v in spec.timings.items() if k != "nREFIpb"}
    with pytest.raises(ValueError, match=r"timing nREFIpb is required by the controller"):
        dataclasses.replace(spec, timings=timings).validate()


def _with_row(spec: DeviceSpec, row: Constraint) -> DeviceSpec:
    return dataclasses.replace(spec, constraints=(*spec.constraints, row))


def test_validate_rejects_unknown_command() -> None:
    bad = _with_row(standards.get("HBM3"), Constraint("tX", "bank", ("ACT",), ("NOP",), "nRC"))
    with pytest.raises(ValueError, match=r"constraint tX: unknown command 'NOP'"):
        bad.validate()


def test_validate_rejects_unknown_scope() -> None:
    bad = _with_row(standards.get("HBM3"), Constraint("tX", "row", ("ACT",), ("RD",), "nRC"))
    with pytest.raises(ValueError, match=r"constraint tX: unknown scope 'row'"):
        bad.validate()


def test_validate_rejects_unknown_timing_in_latency() -> None:
    bad = _with_row(
        standards.get("LPDDR5"), Constraint("tX", "bank", ("ACT",), ("RD",), "nRCD + nFOO")
    )
    with pytest.raises(ValueError, match=r"constraint tX: latency 'nRCD \+ nFOO' uses an unknown"):
        bad.validate()
    # an HBM3 name that LPDDR5 does not have
    bad = _with_row(standards.get("LPDDR5"), Constraint("tX", "bank", ("ACT",), ("RD",), "nRCD_RD"))
    with pytest.raises(ValueError, match="unknown timing"):
        bad.validate()


def test_validate_rejects_malformed_latency() -> None:
    bad = _with_row(standards.get("DDR5"), Constraint("tX", "bank", ("ACT",), ("RD",), "nRCD +"))
    with pytest.raises(ValueError, match=r"constraint tX: latency 'nRCD \+' is not a valid"):
        bad.validate()


def test_validate_rejects_negative_latency() -> None:
    bad = _with_row(
        standards.get("DDR5"), Constraint("tX", "bank", ("ACT",), ("RD",), "nCWL - nCL")
    )
    with pytest.raises(ValueError, match=r"constraint tX: latency 'nCWL - nCL'=-2 is negative"):
        bad.validate()


def test_constraint_rows_validate_first() -> None:
    bad = standards.get("HBM3").override(nBL=0)
    with pytest.raises(ValueError, match="nBL"):
        bad.compile()


# ------------------------------------------------------------------------------ registry
def test_get_is_case_insensitive() -> None:
    assert standards.get("hbm3") is standards.get("HBM3_6400_16Gb_8hi")
    assert standards.get("lpddr5x_8533_16gb_x16").name == "LPDDR5X_8533_16GB_x16"
    assert standards.get("  Lpddr5X ").name == lpddr5x.DEFAULT == "LPDDR5X_8533_x16"
    assert standards.get("ddr5").name == "DDR5_4800_x32"
    assert standards.get("HBM3E").name == hbm3e.DEFAULT
    assert standards.get("lpddr5").name == "LPDDR5_6400_x16"


def test_get_unknown_lists_known_names() -> None:
    with pytest.raises(ValueError, match=r"unknown DRAM standard 'GDDR9'; known: .*") as info:
        standards.get("GDDR9")
    message = str(info.value)
    for name in (*PRESET_NAMES, *standards.DEFAULTS):
        assert name in message
