"""Benchmarks (pytest-benchmark): ``python -m pytest benchmarks --benchmark-only``.

The files are named ``bench_<area>.py`` (STYLE rule 23); pytest only collects ``test_*.py`` by
default, so this hook collects them when the ``benchmarks/`` directory is run. Plain test runs
(``testpaths = ["tests"]``) never see them.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    # a file named on the command line is collected by pytest itself; do not collect it twice
    if (
        file_path.suffix == ".py"
        and file_path.name.startswith("bench_")
        and not parent.session.isinitpath(file_path)
    ):
        return pytest.Module.from_parent(parent, path=file_path)
    return None
