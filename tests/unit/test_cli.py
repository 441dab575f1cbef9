"""Tests of the ``h2m2`` command line, :mod:`h2m2.cli` (in process, plus one subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import h2m2
from h2m2 import cli
from h2m2.cli import main
from h2m2.dram import standards
from h2m2.dram.command_log import COMMAND_LOG_DTYPE
from h2m2.dram.trace import write_trace

REQUIRED_KEYS = {
    "requests", "reads", "writes", "cycles", "tck_ns", "bandwidth_GBps", "peak_GBps",
    "avg_read_latency_ns", "row_hits", "row_misses", "row_conflicts", "wall_s",
}  # fmt: skip


def _run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert main(["dram", *argv, "--json"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.count("\n") == 1, "exactly one JSON object on one line"
    record = json.loads(out)
    assert isinstance(record, dict)
    return record


def _check_consistent(record: dict, requests: int) -> None:
    missing = REQUIRED_KEYS - record.keys()
    assert not missing, f"keys missing from the JSON: {sorted(missing)}"
    assert record["requests"] == requests
    assert record["reads"] + record["writes"] == requests
    assert record["row_hits"] + record["row_misses"] + record["row_conflicts"] == requests
    assert record["cycles"] > 0 and record["tck_ns"] > 0 and record["wall_s"] >= 0
    # bytes / time: GB/s = bytes per ns
    expected = requests * record["transaction_bytes"] / (record["cycles"] * record["tck_ns"])
    assert record["bandwidth_GBps"] == pytest.approx(expected, rel=1e-9)
    assert 0 < record["bandwidth_GBps"] <= record["peak_GBps"]
    assert record["avg_read_latency_ns"] > 0 or record["reads"] == 0


# --------------------------------------------------------------------------- h2m2 dram
def test_dram_json_on_a_trace_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 3000
    addresses = rng.integers(0, 1 << 30, n, dtype=np.uint64) & ~np.uint64(31)
    is_write = rng.random(n) < 0.25
    path = tmp_path / "mix.trace"
    write_trace(path, addresses, is_write)
    lines = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
    assert len(lines) == n

    record = _run_json(capsys, "--standard", "HBM3", "--trace", str(path))
    _check_consistent(record, len(lines))
    assert record["writes"] == int(is_write.sum())
    assert record["standard"] == standards.get("HBM3").name
    assert record["source"] == str(path)


def test_dram_json_with_arrivals_and_fewer_channels(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    n = 1000
    path = tmp_path / "timed.trace"
    write_trace(path, np.arange(n, dtype=np.uint64) * 32, None, np.arange(n) * 4)
    record = _run_json(capsys, "--standard", "LPDDR5X", "--channels", "2", "--trace", str(path))
    _check_consistent(record, n)
    assert record["channels"] == 2
    # Requests arrive every 4 cycles, so the run lasts at least as long as the arrivals.
    assert record["cycles"] >= 4 * (n - 1)


@pytest.mark.parametrize("pattern", ["stream", "random"])
def test_dram_json_on_a_pattern(capsys: pytest.CaptureFixture[str], pattern: str) -> None:
    argv = ["--pattern", pattern, "--requests", "4000", "--write-fraction", "0.3", "--seed", "5"]
    record = _run_json(capsys, *argv)
    _check_consistent(record, 4000)
    assert 0 < record["writes"] < 4000
    again = _run_json(capsys, *argv)
    for key in REQUIRED_KEYS - {"wall_s"}:
        assert again[key] == record[key], f"{key} differs between two identical runs"


def test_dram_options_reach_the_memory_system(capsys: pytest.CaptureFixture[str]) -> None:
    record = _run_json(
        capsys,
        "--pattern", "random", "--requests", "2000",
        "--mapping", "row-bank-bankgroup-rank-column-channel", "--xor-bank",
        "--page-policy", "closed", "--refresh", "none",
    )  # fmt: skip
    _check_consistent(record, 2000)
    assert record["mapping"] == "row-bank-bankgroup-rank-column-channel (xor)"
    assert record["page_policy"] == "closed" and record["refresh"] == "none"
    assert record["cmd_REFab"] == 0 and record["cmd_REFpb"] == 0
    assert record["cmd_RDA"] > 0, "closed-page policy auto-precharges"


def test_stream_pattern_is_consecutive_transactions() -> None:
    addresses, is_write = cli.synthetic_trace("stream", 5, 1 << 20, 32)
    assert addresses.tolist() == [0, 32, 64, 96, 128]
    assert not is_write.any()
    wrapped, _ = cli.synthetic_trace("stream", 5, 64, 32)
    assert wrapped.tolist() == [0, 32, 0, 32, 0]
    rand, _ = cli.synthetic_trace("random", 1000, 1 << 20, 32, seed=1)
    assert (rand % 32 == 0).all() and (rand < (1 << 20)).all()


def test_dram_table_mentions_bandwidth(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dram", "--pattern", "stream", "--requests", "2000"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "bandwidth" in out.lower() and "GB/s" in out
    assert "row hits" in out and "2,000" in out


def test_dram_table_without_rich(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "_rich_available", lambda: False)
    assert main(["dram", "--standard", "DDR5", "--pattern", "random", "--requests", "500"]) == 0
    out = capsys.readouterr().out
    assert "bandwidth" in out and "GB/s" in out
    lines = out.splitlines()
    value_column = lines[1].index("value")  # header row, then one aligned row per quantity
    assert all(ln[value_column - 2 : value_column] == "  " for ln in lines[3:])


def test_dram_command_log(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "log.npy"
    record = _run_json(
        capsys, "--pattern", "stream", "--requests", "300", "--command-log", str(path)
    )
    log = np.load(path)
    assert log.dtype == COMMAND_LOG_DTYPE
    assert len(log) == record["command_log_rows"]
    assert len(log) == sum(v for k, v in record.items() if k.startswith("cmd_"))


# --------------------------------------------------------------------------- h2m2 standards
def test_standards_lists_every_preset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["standards"]) == 0
    out = capsys.readouterr().out
    presets = {standards.get(n).name for n in standards.names()}
    for name in presets:
        assert name in out
    assert "peak GB/s" in out and "MT/s" in out

    assert main(["standards", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert {r["preset"] for r in records} == presets
    hbm3 = next(r for r in records if "HBM3" in r["default_for"])
    assert hbm3["tck_ns"] == pytest.approx(0.625)
    assert hbm3["capacity_bytes"] == 16 * 2**30
    assert hbm3["peak_GBps"] == pytest.approx(819.2)


# --------------------------------------------------------------------------- errors
def _error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("h2m2: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_unknown_standard_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    err = _error(capsys, ["dram", "--standard", "HBM9", "--pattern", "stream", "--requests", "10"])
    assert "'HBM9'" in err
    for known in ("HBM3", "LPDDR5X", "DDR5"):
        assert known in err


def test_missing_trace_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.trace"
    err = _error(capsys, ["dram", "--trace", str(missing)])
    assert str(missing) in err and "No such file" in err


def test_malformed_trace_names_the_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "bad.trace"
    path.write_text("# ok\nR 0x40\nR 0x80\nR 0xnothex\n")
    err = _error(capsys, ["dram", "--trace", str(path)])
    assert f"{path}:4:" in err and "bad hex address" in err


def test_address_beyond_capacity(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "far.trace"
    path.write_text("R 0x40\nR 0xffffffffffff\n")
    err = _error(capsys, ["dram", "--standard", "LPDDR5", "--trace", str(path)])
    assert "beyond the capacity" in err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["dram"], "--trace --pattern is required"),
        (["dram", "--pattern", "zigzag"], "invalid choice: 'zigzag'"),
        (["dram", "--pattern", "stream", "--requests", "0"], "--requests: 0 must be positive"),
        (["dram", "--pattern", "stream", "--write-fraction", "2"], "between 0 and 1"),
        (["dram", "--pattern", "stream", "--channels", "x"], "'x' is not an integer"),
        (["dram", "--trace", "t", "--pattern", "stream"], "not allowed with argument"),
        (["dram", "--trace", "t", "--requests", "5"], "--requests applies only to --pattern"),
        (["dram", "--pattern", "stream", "--mapping", "row-bank"], "must name each of"),
        ([], "choose a command: dram, standards"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], words: str
) -> None:
    assert words in _error(capsys, argv)


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert h2m2.__version__ in capsys.readouterr().out
    assert main(["dram", "--help"]) == 0
    assert "--pattern" in capsys.readouterr().out


# --------------------------------------------------------------------------- entry point
def test_python_dash_m_entry_point(tmp_path: Path) -> None:
    # Run the same h2m2 package this test imported, whether installed or from the source tree.
    env = dict(os.environ)
    package_parent = str(Path(h2m2.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    argv = ["dram", "--standard", "HBM3", "--pattern", "stream", "--requests", "5000", "--json"]
    proc = subprocess.run(
        [sys.executable, "-m", "h2m2", *argv],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)
    _check_consistent(record, 5000)
