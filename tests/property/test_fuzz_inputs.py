"""Fuzzing the inputs users hand us: every bad input ends in a Python exception that names the
problem (a ValueError subclass); none crashes the interpreter, hangs or slips through."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from h2m2.dram import ControllerSpec, MemorySpec, MemorySystem, standards
from h2m2.dram.checker import check
from h2m2.dram.trace import read_trace
from h2m2.models import ModelSpec

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

_TOKENS = st.sampled_from(
    [
        "R",
        "W",
        "r",
        "w",
        "X",
        "0x",
        "0x1f",
        "ff",
        "-5",
        "12",
        "1e3",
        "#",
        "0xFFFFFFFFFFFFFFFFFF",
        "\t",
        " ",
        "3.5",
        "R W",
        "",
    ]
)


@FUZZ
@given(
    lines=st.lists(st.lists(_TOKENS, max_size=4).map(" ".join), max_size=12),
    raw=st.binary(max_size=64),
)
def test_trace_reader_accepts_or_names_the_problem(
    tmp_path: Path, lines: list[str], raw: bytes
) -> None:
    path = tmp_path / "t.trace"
    path.write_bytes("\n".join(lines).encode() + b"\n" + raw)
    try:
        addr, is_write, arrival = read_trace(path)
    except ValueError as exc:  # TraceError is a ValueError
        assert str(exc)
        return
    assert addr.dtype == np.uint64 and is_write.shape == addr.shape
    assert arrival is None or arrival.shape == addr.shape


_HF_VALUES = st.one_of(
    st.integers(-3, 70000), st.none(), st.text(max_size=6), st.floats(-1, 1e6), st.booleans()
)
_HF_KEYS = st.sampled_from(
    [
        "num_hidden_layers",
        "hidden_size",
        "num_attention_heads",
        "num_key_value_heads",
        "intermediate_size",
        "hidden_act",
        "vocab_size",
        "head_dim",
        "num_local_experts",
        "num_experts_per_tok",
        "n_layer",
        "n_embd",
        "n_head",
        "model_type",
    ]
)


@FUZZ
@given(cfg=st.dictionaries(_HF_KEYS, _HF_VALUES, max_size=10))
def test_hf_config_reader_accepts_or_names_the_problem(
    tmp_path: Path, cfg: dict[str, object]
) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    try:
        spec = ModelSpec.from_hf_config(path)
    except ValueError as exc:
        assert str(exc)
        return
    assert spec.layers > 0 and spec.d_model > 0 and spec.q_heads % spec.kv_heads == 0


@FUZZ
@given(
    name=st.sampled_from(["HBM3", "LPDDR5X", "DDR5"]),
    changes=st.dictionaries(
        st.sampled_from(
            [
                "nCL",
                "nCWL",
                "nBL",
                "nRCD",
                "nRCD_RD",
                "nRP",
                "nRAS",
                "nFAW",
                "nRRD_S",
                "nCCD_L",
                "nREFI",
                "nRFC",
                "banks_per_group",
                "bank_groups",
                "rows",
                "columns",
                "ranks",
            ]
        ),
        st.integers(-4, 70000),
        max_size=4,
    ),
)
def test_custom_standards_are_rejected_or_obey_their_own_rules(
    name: str, changes: dict[str, int]
) -> None:
    """A user-modified standard either fails validation with a message naming the field, or
    simulates a small random trace with no violation of its own (modified) rules."""
    base = standards.get(name)
    try:
        dev = base.override(name="fuzzed", **changes)
        mem = MemorySystem(
            MemorySpec(dev, channels=1, controller=ControllerSpec(refresh="all_bank")),
            record_commands=True,
        )
    except ValueError as exc:
        assert str(exc)
        return
    rng = np.random.default_rng(0)
    addr = rng.integers(0, mem.capacity_bytes // mem.transaction_bytes, 300, dtype=np.uint64)
    s = mem.run(addr * np.uint64(mem.transaction_bytes), rng.random(300) < 0.3)
    assert s.requests == 300
    assert check(mem.command_log(), dev) == []
