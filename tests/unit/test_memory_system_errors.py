"""Bad input to the DRAM memory system: a clear Python exception naming the field and the value.

Configuration errors are raised at construction, input errors before anything is simulated (the
system stays usable afterwards), and nothing crashes the interpreter.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import h2m2
from h2m2.dram import AddressMapping, ControllerSpec, MemorySpec, MemorySystem
from h2m2.dram.standards import get

# the h2m2 package this test imported, whether installed or from the source tree
PYTHON_DIR = Path(h2m2.__file__).resolve().parents[1]


@pytest.fixture
def mem() -> MemorySystem:
    return MemorySystem("LPDDR5X")


# ------------------------------------------------------------------------------ device / standard
def test_unknown_standard_names_the_name_and_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown DRAM standard 'HBM4'.*HBM3.*LPDDR5X"):
        MemorySystem("HBM4")
    with pytest.raises(ValueError, match="unknown DRAM standard 'GDDR9'"):
        MemorySpec("GDDR9")


@pytest.mark.parametrize(
    ("field", "value"), [("banks_per_group", 3), ("rows", 1000), ("bank_groups", 6), ("ranks", 3)]
)
def test_non_power_of_two_organisation_names_the_field(field: str, value: int) -> None:
    dev = get("HBM3").override(**{field: value})
    with pytest.raises(ValueError, match=rf"organization\.{field}={value} must be a power of two"):
        MemorySystem(dev)


@pytest.mark.parametrize(("field", "value"), [("channels", 0), ("rows", -4), ("dq_bits", 0)])
def test_non_positive_organisation_names_the_field(field: str, value: int) -> None:
    with pytest.raises(ValueError, match=rf"organization\.{field}={value} must be a positive"):
        MemorySystem(get("LPDDR5X").override(**{field: value}))


def test_zero_burst_length_timing_names_nBL() -> None:
    with pytest.raises(ValueError, match=r"HBM3_6400_16Gb_8hi: nBL=0 cycles must be positive"):
        MemorySystem(get("HBM3").override(nBL=0))


@pytest.mark.parametrize(
    ("override", "timing"),
    [({"nRCD_RD": -1}, "nRCD_RD"), ({"tRCD_RD_ns": -1.0}, "nRCD_RD"), ({"nCL": -3}, "nCL")],
)
def test_negative_timing_names_the_timing(override: dict[str, float], timing: str) -> None:
    with pytest.raises(
        ValueError,
        match=rf"HBM3_6400_16Gb_8hi: timing {timing}=.* must not be "
        r"negative",
    ):
        MemorySystem(get("HBM3").override(**override))


def test_zero_refresh_interval_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"nREFI=0 cycles must be positive"):
        MemorySystem(get("LPDDR5X").override(nREFI=0))


def test_refresh_interval_shorter_than_refresh_time_names_both() -> None:
    with pytest.raises(ValueError, match=r"LPDDR5X_8533_x16: tREFI=100 CK must exceed tRFC=\d+ CK"):
        MemorySystem(get("LPDDR5X").override(nREFI=100))


def test_burst_longer_than_nBL_is_rejected() -> None:
    # BL16 at 8 beats per CK needs 2 CK
    with pytest.raises(ValueError, match=r"nBL=1 CK is shorter than the burst"):
        MemorySystem(get("LPDDR5X").override(nBL=1))


def test_unknown_override_names_the_key() -> None:
    with pytest.raises(ValueError, match=r"cannot override 'nFOO'"):
        get("HBM3").override(nFOO=3)


@pytest.mark.parametrize("channels", [0, -1, 2.5])
def test_bad_channel_count_names_channels(channels: object) -> None:
    with pytest.raises(ValueError, match=rf"MemorySpec: channels={channels!r} must be a positive"):
        MemorySpec("HBM3", channels=channels)  # type: ignore[arg-type]


def test_device_of_the_wrong_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"device=42 must be a DeviceSpec or a preset name"):
        MemorySpec(42)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------- controller
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"write_high_watermark": 80},
            "write watermarks low=16, high=80 must satisfy 0 <= low < high <= write_queue=64",
        ),
        ({"write_low_watermark": 48}, "write watermarks low=48, high=48 must satisfy"),
        ({"write_low_watermark": -1}, "write watermarks low=-1, high=48 must satisfy"),
        ({"write_queue": 32}, "high=48 must satisfy 0 <= low < high <= write_queue=32"),
        ({"page_policy": "lazy"}, "page_policy='lazy' must be 'open' or 'closed'"),
        ({"refresh": "sometimes"}, "refresh='sometimes' must be 'all_bank', 'per_bank' or 'none'"),
        ({"read_queue": 0}, "read_queue=0 must be a positive integer"),
        ({"write_queue": -4}, "write_queue=-4 must be a positive integer"),
        ({"row_hit_cap": 0}, "row_hit_cap=0 must be a positive integer"),
        ({"read_queue": 8.5}, "read_queue=8.5 must be a positive integer"),
        ({"read_queue": 32768}, "read_queue=32768 exceeds 32767 slots"),
        ({"write_queue": 1 << 20, "write_high_watermark": 48}, "write_queue=1048576 exceeds 32767"),
    ],
)
def test_bad_controller_settings_name_the_field(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=r"^ControllerSpec: .*" + re.escape(message)):
        ControllerSpec(**kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------- mapping
@pytest.mark.parametrize(
    "order",
    [
        ("row", "rank"),
        ("row", "row", "bank", "column", "bankgroup", "channel"),
        ("row", "rank", "bank", "column", "bankgroup", "chan"),
        ("row", "rank", "bank", "column", "bankgroup", "channel", "row"),
    ],
)
def test_bad_mapping_order_names_the_order(order: tuple[str, ...]) -> None:
    with pytest.raises(
        ValueError,
        match=r"AddressMapping: order=" + "-".join(order) + " must name "
        r"each of channel, rank, bankgroup, bank, row, column",
    ):
        AddressMapping(order=order)


def test_bad_mapping_text_names_the_order() -> None:
    with pytest.raises(ValueError, match=r"order=row-rank-bank-column-bg-channel must name each"):
        AddressMapping.parse("row-rank-bank-column-bg-channel")


# ------------------------------------------------------------------------------------------- run
def test_address_beyond_capacity_names_address_and_capacity(mem: MemorySystem) -> None:
    cap = mem.capacity_bytes
    assert cap == 2 << 30
    addr = np.array([0, 64, cap + 0x40], dtype=np.uint64)
    with pytest.raises(
        ValueError,
        match=rf"address {cap + 0x40:#x} of request 2 is beyond the "
        rf"capacity of {cap} bytes",
    ):
        mem.run(addr)
    with pytest.raises(ValueError, match=rf"address {cap:#x} of request 0"):
        mem.run(np.array([cap], dtype=np.uint64))
    assert mem.stats().requests == 0, "nothing was simulated"
    assert mem.run(np.array([cap - 32], dtype=np.uint64)).requests == 1, "still usable"


def test_negative_address_names_the_request_and_value(mem: MemorySystem) -> None:
    with pytest.raises(ValueError, match=r"address of request 1 is negative \(-32\)"):
        mem.run(np.array([0, -32, 64], dtype=np.int64))
    assert mem.stats().requests == 0


def test_non_integer_addresses_are_rejected(mem: MemorySystem) -> None:
    with pytest.raises(ValueError, match=r"addresses must be integers, got dtype float64"):
        mem.run(np.array([0.0, 32.0]))
    with pytest.raises(ValueError, match=r"addresses must be one-dimensional, got shape \(2, 2\)"):
        mem.run(np.zeros((2, 2), dtype=np.uint64))


def test_mismatched_is_write_length_names_both_lengths(mem: MemorySystem) -> None:
    with pytest.raises(ValueError, match=r"is_write has 1 entries for 3 addresses"):
        mem.run(np.array([0, 32, 64], dtype=np.uint64), np.array([True]))


def test_mismatched_arrival_length_names_both_lengths(mem: MemorySystem) -> None:
    with pytest.raises(ValueError, match=r"arrival_cycles has 2 entries for 3 addresses"):
        mem.run(np.array([0, 32, 64], dtype=np.uint64), arrival_cycles=np.array([0, 1]))


def test_decreasing_arrivals_name_both_requests(mem: MemorySystem) -> None:
    with pytest.raises(
        ValueError,
        match=r"arrival cycles must not decrease: request 2 arrives at "
        r"3, before request 1 at 5",
    ):
        mem.run(np.array([0, 32, 64], dtype=np.uint64), arrival_cycles=np.array([0, 5, 3]))
    assert mem.stats().requests == 0


def test_negative_arrival_names_the_request(mem: MemorySystem) -> None:
    with pytest.raises(ValueError, match=r"arrival cycle of request 0 is negative"):
        mem.run(np.array([0, 32], dtype=np.uint64), arrival_cycles=np.array([-1, 3]))


def test_command_log_without_recording_raises(mem: MemorySystem) -> None:
    mem.run(np.array([0], dtype=np.uint64))
    with pytest.raises(RuntimeError, match=r"record_commands=False"):
        mem.command_log()


def test_extra_keywords_with_a_spec_are_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"channels given with a MemorySpec"):
        MemorySystem(MemorySpec("HBM3"), channels=2)


def test_engine_rejects_a_bad_address_without_the_python_checks(mem: MemorySystem) -> None:
    """The C++ core guards itself too (std::invalid_argument -> ValueError), naming the address."""
    cap = mem.capacity_bytes
    with pytest.raises(ValueError, match=rf"address 0x{cap:x} is beyond the capacity of {cap}"):
        mem._core.run_trace(np.array([cap], dtype=np.uint64), None, None)


# --------------------------------------------------------------------------- nothing crashes
def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        # a sanitizer build needs its runtime preloaded in the child too
        env={
            "PYTHONPATH": str(PYTHON_DIR),
            "PATH": "/usr/bin:/bin",
            **{
                k: v
                for k, v in os.environ.items()
                if k in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS")
            },
        },
    )


def test_bad_input_exits_with_a_python_traceback_not_a_signal() -> None:
    proc = run_python(
        """
        import numpy as np
        from h2m2.dram import MemorySystem
        mem = MemorySystem("HBM3")
        mem.run(np.array([mem.capacity_bytes * 2], dtype=np.uint64))
        """
    )
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback (most recent call last)" in proc.stderr
    assert "ValueError: HBM3_6400_16Gb_8hi: address 0x" in proc.stderr


def test_every_bad_input_in_one_process_leaves_the_interpreter_alive() -> None:
    proc = run_python(
        """
        import numpy as np
        from h2m2.dram import ControllerSpec, MemorySpec, MemorySystem
        from h2m2.dram.standards import get
        cases = [
            lambda: MemorySystem("HBM4"),
            lambda: MemorySystem(get("HBM3").override(banks_per_group=3)),
            lambda: MemorySystem(get("HBM3").override(nBL=0)),
            lambda: MemorySystem("HBM3", controller=ControllerSpec(page_policy="x")),
        ]
        mem = MemorySystem("LPDDR5X", record_commands=True)
        cases += [
            lambda: mem.run(np.array([1 << 40], dtype=np.uint64)),
            lambda: mem.run(np.array([-1])),
            lambda: mem.run(np.array([0, 32]), arrival_cycles=np.array([4, 2])),
            lambda: mem._core.run_trace(np.array([1 << 40], dtype=np.uint64), None, None),
        ]
        for i, case in enumerate(cases):
            try:
                case()
            except (ValueError, TypeError):
                pass
            else:
                raise SystemExit(f"case {i} raised nothing")
        s = mem.run(np.arange(1000, dtype=np.uint64) * 32)
        assert s.requests == 1000, s.requests
        assert len(mem.command_log()) > 0
        print("alive")
        """
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.strip() == "alive"
