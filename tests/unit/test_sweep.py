"""Tests of design-space sweeps, :mod:`h2m2.sweep`, and the kernel memo store.

Every run uses a cheap point function (:func:`h2m2.sweep.dram_point` on a small trace, or one
defined here), so nothing depends on the full simulator except the one test of ``run_point``.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from child_process import restore_sigint

import h2m2
from h2m2.cli import main
from h2m2.memo_store import KernelMemoStore, engine_version
from h2m2.sweep import Point, SpecError, SweepSpec, read_results, sweep

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "sweep_llama2.yaml"
DRAM = "h2m2.sweep:dram_point"
GiB = 1 << 30


def _dram_spec(requests: int = 4000, seeds: int = 3) -> dict[str, Any]:
    """A DRAM sweep of 4 x ``seeds`` points (2 capacities x seeds x 2 zipped patterns)."""
    return {
        "point": DRAM,
        "base": {
            "system": "h2m2",
            "params": {"requests": requests, "pattern": "random", "write_fraction": 0.0},
        },
        "axes": {
            "grid": {"system.hbm.capacity_gb": [16, 32], "seed": list(range(seeds))},
            "zip": {"params.pattern": ["random", "stream"], "params.write_fraction": [0.0, 0.3]},
        },
    }


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows without the wall-clock column, in point order."""
    return frame.drop(columns=["wall_s"]).reset_index(drop=True)


# --------------------------------------------------------------------------- expansion
def test_grid_zip_random_counts_and_order() -> None:
    spec = SweepSpec(
        {
            "point": DRAM,
            "base": {"system": "h2m2", "batch": 1},
            "axes": {
                "grid": {"seq_len": [1, 2, 3], "system.hbm.capacity_gb": [48, 96]},
                "zip": {"batch": [4, 8], "policy": ["a", "b"]},
                "random": {
                    "n": 5,
                    "seed": 7,
                    "fields": {
                        "system.link.bandwidth_GBps": {"uniform": [100, 900]},
                        "system.lpddr.npu.cores": {"choice": [2, 4, 8]},
                        "iterations": {"randint": [1, 64], "step": 8},
                    },
                },
            },
        }
    )
    points = spec.points()
    assert spec.shape() == "3 x 2 x 2 x 5"
    assert len(points) == 60
    assert len({p.id for p in points}) == 60
    # first axis outermost, like itertools.product
    assert [p.values["seq_len"] for p in points[:20]] == [1] * 20
    assert [p.values["system.hbm.capacity_gb"] for p in points[:20:10]] == [48, 96]
    assert [(p.values["batch"], p.values["policy"]) for p in points[:10:5]] == [(4, "a"), (8, "b")]
    for p in points:
        assert 100 <= p.values["system.link.bandwidth_GBps"] <= 900
        assert p.values["system.lpddr.npu.cores"] in (2, 4, 8)
        assert p.values["iterations"] in range(1, 65, 8)
        assert p.system().devices[1].npu.cores == p.values["system.lpddr.npu.cores"]


def test_expansion_is_deterministic_and_random_fields_are_independent() -> None:
    def spec(seed: int, extra: bool = False) -> dict[str, Any]:
        fields: dict[str, Any] = {"batch": {"randint": [1, 1000]}}
        if extra:
            fields["system.link.bandwidth_GBps"] = {"loguniform": [16, 4096]}
        return {
            "point": DRAM,
            "base": {"system": "h2m2"},
            "axes": {"random": {"n": 20, "seed": seed, "fields": fields}},
        }

    a = [(p.id, p.values) for p in SweepSpec(spec(1)).points()]
    b = [(p.id, p.values) for p in SweepSpec(spec(1)).points()]
    assert a == b
    c = [p.values["batch"] for p in SweepSpec(spec(2)).points()]
    assert c != [v["batch"] for _, v in a]
    # adding a field does not change the samples of the others
    d = SweepSpec(spec(1, extra=True)).points()
    assert [p.values["batch"] for p in d] == [v["batch"] for _, v in a]
    assert all(16 <= p.values["system.link.bandwidth_GBps"] <= 4096 for p in d)


def test_equal_points_are_deduplicated() -> None:
    spec = SweepSpec(
        {
            "point": DRAM,
            "base": {"system": "h2m2"},
            "axes": {"grid": {"batch": [1, 1, 2]}},
        }
    )
    assert [p.values["batch"] for p in spec.points()] == [1, 2]


def test_equivalent_paths_give_the_same_id() -> None:
    def ids(base: dict[str, Any]) -> list[str]:
        return [p.id for p in SweepSpec({"point": DRAM, "base": base}).points()]

    flat = ids({"system": "h2m2", "system.hbm.capacity_gb": 48})
    preset_param = ids({"system": {"preset": "h2m2", "hbm_capacity_gb": 48}})
    nested = ids({"system": {"preset": "h2m2", "hbm": {"capacity_gb": 48.0}}})
    assert flat == preset_param == nested
    assert ids({"system": "h2m2"}) != flat


def test_derived_fields_resolve() -> None:
    def system(**paths: Any) -> h2m2.hardware.SystemSpec:
        base = {"system": "h2m2", **{k.replace("__", "."): v for k, v in paths.items()}}
        return SweepSpec({"point": DRAM, "base": base}).points()[0].system()

    s = system(system__hbm__bandwidth_GBps=2250.0)
    hbm = s.devices[0].memory
    assert hbm.peak_GBps == pytest.approx(2250.0)
    assert hbm.dev.name == f"HBM3_{hbm.dev.data_rate_mts:g}_16Gb_8hi"
    assert hbm.capacity_bytes == 96 * GiB  # the preset's capacity is kept
    s = system(system__hbm__dram_preset="HBM3E_9600_16Gb_8hi")
    assert s.devices[0].memory.dev.name == "HBM3E_9600_16Gb_8hi"
    assert s.devices[0].memory.capacity_bytes == 96 * GiB
    s = system(system__hbm__data_rate_mts=4800, system__hbm__channels=32)
    assert s.devices[0].memory.dev.name == "HBM3_4800_16Gb_8hi"
    assert s.devices[0].memory.capacity_bytes == 32 * GiB
    s = system(system__npu__cores=2, system__lpddr__npu__cores=8, system__link__latency_ns=100)
    assert [d.npu.cores for d in s.devices] == [2, 8]
    assert s.link is not None and s.link.latency_ns == 100.0
    s = system(system__hbm__dram__nCL=30, system__hbm__controller__page_policy="closed")
    assert s.devices[0].memory.dev.timings["nCL"].ck == 30
    assert s.devices[0].memory.controller.page_policy == "closed"

    devices = {
        "devices": [
            {"name": "near", "dram_preset": "HBM3", "capacity_gb": 32, "npu": {"cores": 2}},
            {"name": "far", "dram_preset": "LPDDR5X_8533_16GB_x16", "channels": 8},
        ],
        "link": {"bandwidth_GBps": 100},
    }
    s = SweepSpec({"point": DRAM, "base": {"system": devices}}).points()[0].system()
    assert [(d.name, d.memory.channels, d.npu.cores) for d in s.devices] == [
        ("near", 32, 2),
        ("far", 8, 4),
    ]
    assert s.link is not None and s.link.bandwidth_GBps == 100.0


def test_yaml_toml_and_dict_specs_agree(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(
        f'point = "{DRAM}"\n[base]\nsystem = "h2m2"\n'
        "[axes.grid]\nseed = [0, 1]\nsystem.hbm.capacity_gb = [48, 96]\n"
    )
    (tmp_path / "s.yaml").write_text(
        f"point: {DRAM}\nbase:\n  system: h2m2\naxes:\n  grid:\n    seed: [0, 1]\n"
        "    system.hbm.capacity_gb: [48, 96]\n"
    )
    as_dict = {
        "point": DRAM,
        "base": {"system": "h2m2"},
        "axes": {"grid": {"seed": [0, 1], "system.hbm.capacity_gb": [48, 96]}},
    }
    ids = [
        [p.id for p in SweepSpec.load(s).points()]
        for s in (tmp_path / "s.toml", tmp_path / "s.yaml", as_dict)
    ]
    assert ids[0] == ids[1] == ids[2] and len(ids[0]) == 4


# --------------------------------------------------------------------------- bad specs
BAD_SPECS = [
    # (what, spec changes, the path the message must start with, a fragment of the message)
    ("unknown base field", {"base": {"system": "h2m2", "sytem": 1}}, "base.sytem", "unknown field"),
    ("unknown top field", {"base": {"system": "h2m2"}, "axis": {}}, "axis", "unknown field"),
    (
        "unknown device field",
        {"axes": {"grid": {"system.hbm.capcity_gb": [48]}}},
        "axes.grid.system.hbm.capcity_gb[0]",
        "unknown field",
    ),
    (
        "unknown device",
        {"axes": {"grid": {"system.hbx.channels": [16]}}},
        "axes.grid.system.hbx.channels[0]",
        "no device 'hbx'",
    ),
    (
        "unknown NPU field",
        {"axes": {"grid": {"system.hbm.npu.corez": [2]}}},
        "axes.grid.system.hbm.npu.corez[0]",
        "unknown field 'corez'",
    ),
    (
        "undeclared param",
        {"axes": {"grid": {"params.x": [1]}}},
        "axes.grid.params.x",
        "declare it under base.params",
    ),
    (
        "wrong type (string for a number)",
        {"axes": {"grid": {"system.hbm.capacity_gb": [48, "96"]}}},
        "axes.grid.system.hbm.capacity_gb[1]",
        "expected a number",
    ),
    (
        "wrong type (YAML 1e9 string)",
        {"base": {"system": "h2m2", "batch": "1e9"}},
        "base.batch",
        "expected an integer",
    ),
    (
        "wrong type (bool for a number)",
        {"axes": {"zip": {"system.link.bandwidth_GBps": [True]}}},
        "axes.zip.system.link.bandwidth_GBps[0]",
        "expected a number",
    ),
    (
        "wrong type in a random sample",
        {"axes": {"random": {"n": 2, "fields": {"batch": {"uniform": [1, 9]}}}}},
        "axes.random.fields.batch (sample 0)",
        "expected an integer",
    ),
    ("empty axis", {"axes": {"grid": {"seq_len": []}}}, "axes.grid.seq_len", "empty axis"),
    ("empty grid", {"axes": {"grid": {}}}, "axes.grid", "no axes"),
    ("axis not a list", {"axes": {"grid": {"batch": 3}}}, "axes.grid.batch", "list of values"),
    (
        "zip lengths differ",
        {"axes": {"zip": {"batch": [1, 2, 3], "seq_len": [1, 2]}}},
        "axes.zip",
        "axes.zip.batch has 3, axes.zip.seq_len has 2",
    ),
    (
        "zip lengths differ (second group)",
        {"axes": {"zip": [{"batch": [1]}, {"seq_len": [1, 2], "policy": ["a"]}]}},
        "axes.zip[1]",
        "equal lengths",
    ),
    (
        "a path swept twice",
        {"axes": {"grid": {"batch": [1]}, "zip": {"batch": [2]}}},
        "axes.zip.batch",
        "also swept by axes.grid.batch",
    ),
    (
        "capacity not whole stacks",
        {"axes": {"grid": {"system.hbm.capacity_gb": [48, 40]}}},
        "axes.grid.system.hbm.capacity_gb[1]",
        "16 GiB each",
    ),
    ("unknown preset", {"base": {"system": "h2m3"}}, "base.system", "unknown system preset"),
    (
        "value the hardware rejects",
        {"axes": {"grid": {"system.hbm.npu.cores": [0]}}},
        "axes.grid.system.hbm.npu.cores[0]",
        "cores=0 must be positive",
    ),
    (
        "bad choice of a literal",
        {"axes": {"grid": {"system.controller.page_policy": ["half"]}}},
        "axes.grid.system.controller.page_policy[0]",
        "expected one of",
    ),
    (
        "unknown fidelity",
        {"base": {"system": "h2m2", "fidelity": "fast"}},
        "base.fidelity",
        "one of",
    ),
    (
        "no link to sweep",
        {"base": {"system": "lpddr_only"}, "axes": {"grid": {"system.link.latency_ns": [1]}}},
        "axes.grid.system.link.latency_ns[0]",
        "no link",
    ),
]


@pytest.mark.parametrize(
    ("changes", "path", "fragment"),
    [case[1:] for case in BAD_SPECS],
    ids=[case[0] for case in BAD_SPECS],
)
def test_bad_spec_is_rejected_with_the_field_path(
    changes: dict[str, Any], path: str, fragment: str
) -> None:
    spec: dict[str, Any] = {"point": DRAM, "base": {"system": "h2m2"}, **changes}
    with pytest.raises(SpecError) as info:
        SweepSpec(spec).points()
    assert str(info.value).startswith(f"{path}: "), str(info.value)
    assert fragment in str(info.value)
    assert info.value.path == path


def test_bad_spec_is_rejected_before_anything_runs(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    spec = _dram_spec()
    spec["axes"]["grid"]["system.hbm.capacity_gb"] = [16, 40]
    spec["base"]["params"]["log"] = str(calls)
    with pytest.raises(SpecError, match=r"^axes\.grid\.system\.hbm\.capacity_gb\[1\]: "):
        sweep(spec, out=tmp_path / "out", workers=1, point_fn=_logging_point)
    assert not calls.exists()
    assert not list((tmp_path / "out").glob("point-*"))


def test_point_function_requirements_are_checked() -> None:
    with pytest.raises(SpecError, match=r"^base\.model: required by the point function"):
        SweepSpec({"base": {"system": "h2m2", "batch": 1, "seq_len": 8}}).points()
    base = {"system": "h2m2", "model": "Llama-3-8B", "batch": 1, "seq_len": 8}
    spec = SweepSpec({"base": base, "axes": {"grid": {"policy": ["h2m2", "h2m3"]}}})
    with pytest.raises(SpecError, match=r"^axes\.grid\.policy\[1\]: policy='h2m3' is unknown"):
        spec.points()


def test_cli_rejects_a_bad_spec_with_the_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("base:\n  system: h2m2\naxes:\n  grid:\n    seq_len: []\n")
    assert main(["sweep", "--dry-run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("h2m2: error: axes.grid.seq_len: empty axis")


# --------------------------------------------------------------------------- the example spec
def test_example_spec_dry_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "--dry-run", "--json", str(EXAMPLE)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["points"] == 6 and out["shape"] == "3 x 2"
    assert len({s["id"] for s in out["sample"]}) == 6

    points = SweepSpec.load(EXAMPLE).points()
    assert len(points) == 6 and len({p.id for p in points}) == 6
    got = [
        (p.values["seq_len"], p.system().devices[0].name, p.system().devices[0].capacity_bytes)
        for p in points
    ]
    expected = [(s, "hbm", c * GiB) for s in (1024, 2048, 4096) for c in (48, 96)]
    assert got == expected
    for p in points:
        assert p.system() == h2m2.presets.h2m2(hbm_capacity_gb=p.values["system.hbm.capacity_gb"])
        assert p.model().name == "Llama2-70B"
        assert p.run_kwargs() == {"batch": 128, "policy": "h2m2", "seq_len": p.values["seq_len"]}

    assert main(["sweep", "--dry-run", str(EXAMPLE), "--sample", "3"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("6 points (3 x 2); base: system=h2m2, model=llama2-70b")
    assert "system.hbm.capacity_gb" in text and points[0].id[:12] in text


# --------------------------------------------------------------------------- execution
def _logging_point(point: Point) -> dict[str, Any]:
    with open(point.params["log"], "a") as f:
        f.write(point.id + "\n")
    return {"x": 1}


def _flaky_point(point: Point) -> dict[str, Any]:
    if point.values["seed"] == 2:
        raise RuntimeError(f"planted failure at seed {point.values['seed']}")
    return {
        "twice_seed": 2 * point.values["seed"],
        "capacity": point.system().devices[0].capacity_bytes,
    }


def _dying_point(point: Point) -> dict[str, Any]:
    if point.values["seed"] == 3:
        os._exit(7)  # a worker killed mid-point (segfault, OOM killer)
    return {"seed_again": point.values["seed"]}


def test_serial_pool_and_executor_give_the_same_rows(tmp_path: Path) -> None:
    spec = _dram_spec()
    serial = sweep(spec, workers=1)
    assert len(serial) == 12 and (serial["status"] == "ok").all()
    assert serial.attrs["sweep"]["ran"] == 12
    pool = sweep(spec, workers=2, out=tmp_path / "pool")
    with ThreadPoolExecutor(2) as ex:
        threads = sweep(spec, executor=ex)
    for other in (pool, threads):
        pd.testing.assert_frame_equal(_comparable(serial), _comparable(other))
    assert len(list((tmp_path / "pool").glob("point-*.parquet"))) == 12
    # the swept parameters, the resolved hardware and the metrics are columns
    row = serial.iloc[0]
    assert row["system.hbm.capacity_gb"] == 16 and row["resolved.hbm.channels"] == 16
    assert row["resolved.hbm.capacity_gb"] == 16.0 and row["requests"] == 4000
    assert row["bandwidth_GBps"] > 0 and row["error"] is None


def test_rerun_skips_saved_points(tmp_path: Path) -> None:
    spec = _dram_spec()
    first = sweep(spec, workers=2, out=tmp_path)
    again = sweep(spec, workers=2, out=tmp_path)
    assert again.attrs["sweep"]["cached"] == 12 and again.attrs["sweep"]["ran"] == 0
    pd.testing.assert_frame_equal(first, again)
    # a bigger sweep over the same directory runs only the new points
    bigger = sweep(_dram_spec(seeds=4), workers=2, out=tmp_path)
    assert bigger.attrs["sweep"]["cached"] == 12 and bigger.attrs["sweep"]["ran"] == 4
    assert len(read_results(tmp_path)) == 16


def test_failing_point_records_its_error_and_the_rest_finish(tmp_path: Path) -> None:
    spec = _dram_spec(seeds=4)
    frame = sweep(spec, workers=2, out=tmp_path, point_fn=_flaky_point)
    failed = frame[frame["status"] == "failed"]
    assert len(frame) == 16 and len(failed) == 4
    assert (failed["seed"] == 2).all()
    assert (failed["error"] == "RuntimeError: planted failure at seed 2").all()
    assert failed["traceback"].str.contains("_flaky_point").all()
    ok = frame[frame["status"] == "ok"]
    assert (ok["twice_seed"] == 2 * ok["seed"]).all()
    assert frame.attrs["sweep"]["failed"] == 4
    saved = read_results(tmp_path)
    assert sorted(saved["status"]) == sorted(frame["status"])
    # a re-run retries only the failed points
    again = sweep(spec, workers=1, out=tmp_path, point_fn=_flaky_point)
    assert again.attrs["sweep"]["cached"] == 12 and again.attrs["sweep"]["ran"] == 4


def test_a_killed_worker_fails_only_its_point(tmp_path: Path) -> None:
    spec = _dram_spec(seeds=5)
    frame = sweep(spec, workers=2, out=tmp_path, point_fn=_dying_point)
    assert len(frame) == 20
    failed = frame[frame["status"] == "failed"]
    assert sorted(failed["seed"]) == [3, 3, 3, 3]
    assert failed["error"].str.contains("worker process died").all()
    ok = frame[frame["status"] == "ok"]
    assert len(ok) == 16 and (ok["seed_again"] == ok["seed"]).all()


def test_the_dataset_is_written_atomically(tmp_path: Path) -> None:
    sweep(_dram_spec(), workers=1, out=tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert all(n.startswith("point-") and n.endswith(".parquet") for n in names)
    # a stale temporary file of a dead writer is removed, a live one is kept
    host = socket.gethostname()
    dead = tmp_path / f".tmp-{host}-999999999-abc.parquet"
    live = tmp_path / f".tmp-{host}-{os.getppid()}-abc.parquet"
    dead.write_bytes(b"partial")
    live.write_bytes(b"partial")
    sweep(_dram_spec(), workers=1, out=tmp_path)
    assert not dead.exists() and live.exists()


def _run_cli(spec: Path, out: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    src = str(Path(h2m2.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [sys.executable, "-m", "h2m2", "sweep", str(spec), "--out", str(out), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the kill takes its workers too
        preexec_fn=restore_sigint,
    )


def _wait_for_files(out: Path, n: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = len(list(out.glob("point-*.parquet")))
        if count >= n:
            return count
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    raise AssertionError(f"fewer than {n} points written in {timeout} s")


def test_interrupted_and_killed_sweeps_resume_without_loss_or_duplicates(tmp_path: Path) -> None:
    spec = _dram_spec(requests=60_000, seeds=10)  # 40 points of ~0.05 s
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    out = tmp_path / "out"

    # Ctrl-C: the sweep stops, says so, and keeps what it finished
    proc = _run_cli(spec_path, out)
    _wait_for_files(out, 4, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert b"interrupted" in err
    after_int = len(list(out.glob("point-*.parquet")))
    assert 4 <= after_int < 40

    # a hard kill of the sweep and its workers (a lost node)
    proc = _run_cli(spec_path, out)
    _wait_for_files(out, after_int + 4, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    killed = len(list(out.glob("point-*.parquet")))
    assert after_int + 4 <= killed < 40

    resumed = sweep(spec, workers=2, out=out)
    info = resumed.attrs["sweep"]
    assert info["cached"] == killed and info["ran"] == 40 - killed and info["failed"] == 0
    files = list(out.glob("point-*.parquet"))
    assert len(files) == 40 and not list(out.glob(".tmp-*"))
    saved = read_results(out)
    assert len(saved) == 40 and saved["point_id"].is_unique
    reference = sweep(spec, workers=2)
    pd.testing.assert_frame_equal(_comparable(reference), _comparable(resumed))


def test_dask_cluster_gives_the_same_rows_as_the_pool_and_a_serial_run(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    spec = _dram_spec()
    serial = sweep(spec, workers=1)
    pool = sweep(spec, workers=2)  # before the cluster's threads exist (fork)
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tcp://127.0.0.1:")
        on_dask = sweep(spec, scheduler=address, out=tmp_path)
        with distributed.Client(address) as client:
            workers = client.scheduler_info()["workers"]
            assert len(workers) == 2
            assert all(w.startswith("tcp://127.0.0.1:") for w in workers)
        assert main(["sweep", str(_write(tmp_path / "s.json", spec)), "--out", str(tmp_path),
                     "--scheduler", address]) == 0  # fmt: skip
    for other in (pool, on_dask):
        pd.testing.assert_frame_equal(_comparable(serial), _comparable(other))
    assert len(read_results(tmp_path)) == 12


def _write(path: Path, spec: dict[str, Any]) -> Path:
    path.write_text(json.dumps(spec))
    return path


def test_sweep_option_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="workers applies only"):
        sweep(_dram_spec(), workers=2, scheduler="tcp://127.0.0.1:1")
    with pytest.raises(ValueError, match="workers=0"):
        sweep(_dram_spec(), workers=0)
    spec = _write(tmp_path / "s.json", _dram_spec())
    assert main(["sweep", str(spec)]) == 2
    assert "--out DIR is required" in capsys.readouterr().err
    assert main(["sweep", str(spec), "--out", str(tmp_path), "--workers", "2",
                 "--scheduler", "tcp://x:1"]) == 2  # fmt: skip
    assert "--workers applies only" in capsys.readouterr().err


def test_cli_runs_a_sweep_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = _dram_spec()
    spec["axes"]["grid"]["seed"] = [0]
    path = _write(tmp_path / "s.json", spec)
    assert main(["sweep", str(path), "--out", str(tmp_path / "o"), "--workers", "1"]) == 0
    assert capsys.readouterr().out.startswith("4 points: 4 done, 0 failed, 0 cached")
    assert main(["sweep", str(path), "--out", str(tmp_path / "o")]) == 0
    assert capsys.readouterr().out.startswith("4 points: 0 done, 0 failed, 4 cached")


def test_run_point_simulates_and_flattens_the_result() -> None:
    pytest.importorskip("h2m2.simulate")
    from h2m2.sweep import run_point

    spec = SweepSpec(
        {
            "base": {
                "system": "h2m2",
                "model": "Llama-3-8B",
                "batch": 4,
                "fidelity": "analytic",
                "iterations": 2,
            },
            "axes": {"zip": {"seq_len": [256, [200, 300, 256, 280]]}},
        }
    )
    rows = [run_point(p) for p in spec.points()]
    for row in rows:
        assert row["iteration_time_s"] > 0 and row["complete"] is True
        assert row["iterations_run"] == 2
        assert row["tokens_per_s"] == pytest.approx(4 / row["iteration_time_s"], rel=1e-6)
        parts = row["qkv_time_s"] + row["attention_time_s"] + row["fc_time_s"]
        assert 0 < parts <= row["iteration_time_s"] * (1 + 1e-9)
    assert rows[0]["seq_len_mean"] == pytest.approx(256.5)  # one token appended per iteration
    assert rows[1]["seq_len_mean"] == pytest.approx(259.5)


# --------------------------------------------------------------------------- kernel memo store
def test_memo_store_round_trip_and_isolation(tmp_path: Path) -> None:
    store = KernelMemoStore(tmp_path)
    assert store.version == engine_version() and store.version.startswith("h2m2 ")
    assert store.get("linear m=1") is None and "linear m=1" not in store
    store.put("linear m=1", {"time_ps": 123, "requests": 4})
    assert store.get("linear m=1") == {"time_ps": 123, "requests": 4}
    assert "linear m=1" in store and len(store) == 1
    assert store.stats() == {"hits": 1, "misses": 1, "writes": 1}
    # another process opening the same directory sees the entry
    other = pickle.loads(pickle.dumps(store))
    assert other.get("linear m=1") == {"time_ps": 123, "requests": 4}
    assert other.stats()["hits"] == 1
    # another engine version or another scope does not
    assert KernelMemoStore(tmp_path, version="h2m2 0.0.0+core.x").get("linear m=1") is None
    assert KernelMemoStore(tmp_path, scope="abc123").get("linear m=1") is None
    # a corrupt file reads as a miss; writes leave no temporary file
    path = next(store.directory.glob("??/*.json"))
    path.write_text("{not json")
    assert store.get("linear m=1") is None
    store.put("linear m=1", {"time_ps": 7})
    assert store.get("linear m=1") == {"time_ps": 7}
    assert not list(store.directory.rglob(".tmp-*"))
    store.clear()
    assert len(store) == 0
    with pytest.raises(ValueError, match="scope"):
        KernelMemoStore(tmp_path, scope="../x")
    with pytest.raises(TypeError):
        store.put("bad", {"x": object()})


def test_points_carry_a_memo_scoped_to_their_system(tmp_path: Path) -> None:
    spec = SweepSpec(_dram_spec())
    points = spec.points(memo_dir=tmp_path)
    stores = [p.memo() for p in points]
    assert all(s is not None and s.root == tmp_path for s in stores)
    scopes = {
        p.values["system.hbm.capacity_gb"]: s.scope
        for p, s in zip(points, stores, strict=True)
        if s is not None
    }
    assert len(set(scopes.values())) == 2  # one per distinct system
    assert SweepSpec(_dram_spec()).points()[0].memo() is None
    # the memo directory is not part of a point's identity
    assert [p.id for p in points] == [p.id for p in SweepSpec(_dram_spec()).points()]


def test_progress_bar_counts_done_failed_and_cached(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _dram_spec(seeds=4)
    sweep(spec, workers=1, out=tmp_path, point_fn=_flaky_point, progress=True)
    err = capsys.readouterr().err
    assert "done 12  failed 4  cached 0" in err and "ETA" in err
    spec["axes"]["grid"]["seed"] = [0, 1, 2, 3, 4]
    sweep(spec, workers=1, out=tmp_path, point_fn=_flaky_point, progress=True)
    assert "done 4  failed 4  cached 12" in capsys.readouterr().err
    sweep(spec, workers=1, out=tmp_path, point_fn=_flaky_point)  # not a terminal: silent
    assert capsys.readouterr().err == ""


def test_memo_store_bulk_load_and_save(tmp_path: Path) -> None:
    store = KernelMemoStore(tmp_path, scope="sys1")
    assert store.update({"a": {"t": 1}, "b": {"t": 2}}) == 2
    assert store.update({"a": {"t": 9}, "c": {"t": 3}}) == 1  # existing entries are kept
    assert dict(store.items()) == {"a": {"t": 1}, "b": {"t": 2}, "c": {"t": 3}}
    assert dict(KernelMemoStore(tmp_path, scope="sys2").items()) == {}
