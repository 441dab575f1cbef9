"""``h2m2 reproduce``: the output contract of issue 5, resume, and speedups vs LPDDR-only.

Runs the internal ``--tiny`` set in analytic fidelity in this process (``--workers 1``), so the
whole module takes a few tens of seconds.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import h2m2
from h2m2.cli import main
from h2m2.experiments import EXPERIMENTS, reproduce

COLUMNS = {
    "main.csv": ["model", "batch", "seq_len", "system", "iteration_time_s", "speedup"],
    "mapping_study.csv": ["model", "seq_len", "policy", "iteration_time_s", "speedup"],
    "overheads.csv": ["model", "abstraction_pct", "solver_pct", "total_pct"],
    "dynamic.csv": ["iteration", "policy", "iteration_time_s"],
    "energy.csv": ["system", "speedup", "energy_per_token_J", "energy_rel"],
    "sensitivity.csv": ["knob", "value", "model", "speedup"],
}
FIGURES = {
    "main": "main_speedup.png",
    "mapping_study": "mapping_study.png",
    "overheads": "overheads.png",
    "dynamic": "dynamic.png",
    "energy": "energy.png",
    "sensitivity": "sensitivity.png",
}


def _args(out: Path, only: str) -> list[str]:
    return [
        "reproduce",
        "--quick",
        "--tiny",
        "--fidelity",
        "analytic",
        "--only",
        only,
        "--out",
        str(out),
        "--workers",
        "1",
        "--no-progress",
    ]


@pytest.fixture
def count_simulate(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = h2m2.simulate

    def counting(*a: object, **k: object) -> object:
        calls[0] += 1
        return real(*a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(h2m2, "simulate", counting)
    return calls


def test_only_main_and_mapping_then_resume(tmp_path: Path, count_simulate: list[int]) -> None:
    out = tmp_path / "r"
    assert main(_args(out, "main,mapping_study")) == 0
    first = count_simulate[0]
    assert first > 0
    names = {p.name for p in out.iterdir() if not p.name.startswith(".")}
    assert names == {
        "main.csv",
        "mapping_study.csv",
        "report.md",
        "main_speedup.png",
        "mapping_study.png",
    }
    for f in ("main.csv", "mapping_study.csv"):
        assert list(pd.read_csv(out / f).columns) == COLUMNS[f]
    report = (out / "report.md").read_text()
    for name in ("main", "mapping_study"):
        assert EXPERIMENTS[name].TITLE in report
    assert "analytic" in report and "one decoder layer is simulated" in report
    assert "1.46" in report  # the paper's GPT3 headline beside ours

    # Speedups are relative to lpddr_only at the same (model, S).
    df = pd.read_csv(out / "main.csv")
    assert set(df.system) == {"lpddr_only", "hierarchical", "h2m2", "oracle"}
    for (_, _), g in df.groupby(["model", "seq_len"]):
        base = float(g[g.system == "lpddr_only"].iteration_time_s.iloc[0])
        assert float(g[g.system == "lpddr_only"].speedup.iloc[0]) == pytest.approx(1.0)
        for r in g.itertuples():
            assert r.speedup == pytest.approx(base / r.iteration_time_s)
    ms = pd.read_csv(out / "mapping_study.csv")
    gpt_base = df[(df.model == "GPT3-175B") & (df.system == "lpddr_only")].set_index("seq_len")
    for r in ms.itertuples():
        assert r.speedup == pytest.approx(
            gpt_base.loc[r.seq_len, "iteration_time_s"] / r.iteration_time_s
        )

    # Resume: every point is cached, nothing is simulated again, same numbers.
    assert len(list((out / ".points").glob("*.json"))) > 0
    count_simulate[0] = 0
    assert main(_args(out, "main,mapping_study")) == 0
    assert count_simulate[0] == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "main.csv"), df)


def test_every_experiment_output(tmp_path: Path) -> None:
    res = reproduce(tmp_path, quick=True, tiny=True, fidelity="analytic", workers=1, progress=False)
    assert res["stats"]["failed"] == 0
    report = (tmp_path / "report.md").read_text()
    for f, cols in COLUMNS.items():
        frame = pd.read_csv(tmp_path / f)
        assert list(frame.columns[: len(cols)]) == cols, f
        assert len(frame) > 0, f
    for name, png in FIGURES.items():
        assert (tmp_path / png).stat().st_size > 0
        assert EXPERIMENTS[name].TITLE in report
    dyn = pd.read_csv(tmp_path / "dynamic.csv")
    summary = dyn[dyn.iteration == "mean"]
    assert sorted(summary.policy) == ["flexgen", "h2m2", "oracle"]
    energy = pd.read_csv(tmp_path / "energy.csv").set_index("system")
    assert energy.loc["lpddr_only", "speedup"] == pytest.approx(1.0)
    assert energy.loc["lpddr_only", "energy_rel"] == pytest.approx(1.0)
    assert set(pd.read_csv(tmp_path / "sensitivity.csv").knob) == {
        "hbm_capacity_gb",
        "hbm_bandwidth_TBps",
        "lpddr_bandwidth_GBps",
        "lpddr_cores",
    }


def test_unknown_experiment_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_args(tmp_path, "main,nope")) == 2
    assert "nope" in capsys.readouterr().err
