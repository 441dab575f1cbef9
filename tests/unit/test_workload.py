"""Unit tests of h2m2.workload: sublayers, units, footprints and kernels of decode/prefill.

Expected values are hand calculations written out in each test (INT8: one byte per element).
"""

from __future__ import annotations

import dataclasses
import math
import random
from typing import Any

import pytest

from h2m2 import models
from h2m2.models import ModelSpec
from h2m2.workload import (
    SUBLAYERS,
    DecodeIteration,
    Iteration,
    PrefillIteration,
    Request,
    Sublayer,
)

GPT3 = models.get("GPT3-175B")
CHIN = models.get("Chinchilla-70B")
LLAMA2 = models.get("Llama2-70B")
MIXTRAL = models.get("Mixtral-8x7B")

KERNEL_FIELDS = {
    "linear": {"op", "m", "k", "n", "element_bytes"},
    "attention": {"op", "batch", "kv_heads", "group", "head_dim", "kv_len", "element_bytes"},
    "vector": {"op", "vop", "elements", "element_bytes"},
}
VECTOR_OPS = {"softmax", "layernorm", "rmsnorm", "gelu", "silu", "swiglu", "rope", "residual_add"}


def _random_lens(n: int, seed: int = 1) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(1, 3000) for _ in range(n)]


def _check_kernel(k: dict[str, Any]) -> None:
    assert set(k) == KERNEL_FIELDS[k["op"]], k
    for key, value in k.items():
        if key not in ("op", "vop"):
            assert isinstance(value, int) and value >= 1, (key, k)
    if k["op"] == "vector":
        assert k["vop"] in VECTOR_OPS


def _linear_macs(k: dict[str, Any]) -> int:
    return int(k["m"] * k["k"] * k["n"])


def _linear_weight_bytes(k: dict[str, Any]) -> int:
    return int(k["k"] * k["n"] * k["element_bytes"])


# ------------------------------------------------------------------------------ the paper's models
def test_gpt3_decode_units_and_footprints_by_hand() -> None:
    it = DecodeIteration.uniform(GPT3, batch=32, seq_len=2048)
    assert it.layers == 96 and it.batch == 32 and it.tokens == 32
    assert it.units == {"qkv": 96, "attention": 96, "fc": 96}
    assert it.mapping_space_size == 97**3  # (N + 1)^3 = 912,673
    # qkv unit = one head: d x 3 x hd = 12288 x 384 = 4,718,592 bytes; 96 of them = 3 d^2
    assert it.qkv.unit_kind == "head"
    assert set(it.qkv.weight_bytes) == {12288 * 3 * 128} and 96 * 4_718_592 == 3 * 12288**2
    # attention unit = one head's KV in one layer: 2 x (32 x 2048 tokens) x 128 = 16,777,216
    assert set(it.attention.kv_bytes) == {2 * 32 * 2048 * 128}
    # fc unit = 1/96 of out-proj + FFN: 9 d^2 / 96 = 14,155,776 = 12288 x 1152 columns
    assert set(it.fc.weight_bytes) == {9 * 12288**2 // 96} == {14_155_776}
    # footprints = one layer x 96 layers
    assert it.weight_footprint_bytes == 96 * 12 * 12288**2 == 173_946_175_488
    assert it.kv_footprint_bytes == 32 * 2048 * 2_359_296 == 154_618_822_656
    assert it.attention.unit_kv_footprint_bytes[0] == 96 * 16_777_216
    assert it.footprint_bytes == 173_946_175_488 + 154_618_822_656


def test_llama2_gqa_units_by_hand() -> None:
    it = DecodeIteration.uniform(LLAMA2, batch=128, seq_len=8192)
    assert it.units == {"qkv": 8, "attention": 8, "fc": 64}
    assert (it.qkv.unit_kind, it.attention.unit_kind, it.fc.unit_kind) == (
        "kv_group",
        "kv_head",
        "column_slice",
    )
    # qkv unit = KV group: 8 query heads + K + V = 10 x 128 columns of 8192 rows = 10,485,760
    assert set(it.qkv.weight_bytes) == {8192 * (8 + 2) * 128}
    # attention unit = one KV head for 128 x 8192 tokens: 2 x 1,048,576 x 128 = 268,435,456
    assert set(it.attention.kv_bytes) == {2 * 128 * 8192 * 128}
    # fc: (out 8192^2 + 3 x 8192 x 28672) / 64 = 771,751,936 / 64 = 12,058,624
    assert set(it.fc.weight_bytes) == {12_058_624}
    assert it.kv_footprint_bytes == 128 * 8192 * 163_840 == 171_798_691_840


def test_chinchilla_kv_footprint_by_hand() -> None:
    it = DecodeIteration.uniform(CHIN, batch=64, seq_len=4096)
    assert it.kv_footprint_bytes == 64 * 4096 * 1_310_720 == 343_597_383_680
    assert it.weight_footprint_bytes == 80 * 805_306_368


@pytest.mark.parametrize("name", models.names())
def test_zoo_footprints_match_the_model(name: str) -> None:
    m = models.get(name)
    lens = _random_lens(5)
    it = DecodeIteration(m, lens)
    sub = m.sublayer_weight_bytes()
    for s in it.sublayers:
        assert s.total("weight_bytes") == sub[s.name]
        assert s.weight_footprint_bytes == sub[s.name] * m.layers
    assert it.weight_footprint_bytes == m.total_weight_bytes(embeddings=False)
    assert it.kv_footprint_bytes == sum(lens) * m.kv_bytes_per_token


# ------------------------------------------------------------------------------ conservation
@pytest.mark.parametrize("name", models.names())
@pytest.mark.parametrize("phase", [DecodeIteration, PrefillIteration])
def test_units_sum_to_the_sublayer_totals(name: str, phase: type[Iteration]) -> None:
    m = models.get(name)
    lens = _random_lens(6, seed=len(name))
    it = phase(m, lens)
    rows = len(lens) if phase is DecodeIteration else sum(lens)
    d, hd, g, eb = m.d_model, m.head_dim, m.group_size, m.element_bytes
    scores = sum(lens) if phase is DecodeIteration else sum(L * (L + 1) // 2 for L in lens)
    expected = {
        "qkv": {
            "weight_bytes": m.qkv_weight_bytes,
            "kv_bytes": 0,
            "ops": rows * m.qkv_weight_bytes // eb,
            "activation_out_bytes": rows * (m.q_heads + 2 * m.kv_heads) * hd * eb,
        },
        "attention": {
            "weight_bytes": 0,
            "kv_bytes": sum(lens) * m.kv_bytes_per_token_per_layer,
            "ops": 2 * m.q_heads * hd * scores,
            "activation_out_bytes": rows * m.q_heads * hd * eb,
        },
        "fc": {
            "weight_bytes": m.out_proj_weight_bytes + m.ffn_weight_bytes,
            "kv_bytes": 0,
            "ops": (
                rows * (m.out_proj_weight_bytes + m.ffn_weight_bytes) // eb
                if not m.is_moe
                else rows * m.out_proj_weight_bytes + rows * m.experts_per_token * d * m.ffn_dim
                * m.ffn_matrices
            ),
            "activation_out_bytes": rows * d * eb * (m.experts_per_token if m.is_moe else 1),
        },
    }  # fmt: skip
    for s in it.sublayers:
        for fname, value in expected[s.name].items():
            assert s.total(fname) == value, (s.name, fname)
        assert (
            sum(s.unit_footprint_bytes)
            == s.footprint_bytes()
            == s.weight_footprint_bytes + (s.kv_footprint_bytes)
        )
        n = s.units
        for split in (1, n // 3, n - 1):
            if 0 < split < n:
                assert s.footprint_bytes(split) + s.footprint_bytes(start=split) == (
                    s.footprint_bytes()
                )
    assert g * m.kv_heads == m.q_heads


@pytest.mark.parametrize("fc_units", [1, 7, 96, 100])
def test_uneven_fc_split_conserves_weights_and_ops(fc_units: int) -> None:
    it = DecodeIteration(GPT3, [10, 20, 30], fc_units=fc_units)
    assert it.fc.units == fc_units
    assert it.fc.total("weight_bytes") == 9 * 12288**2
    assert it.fc.total("ops") == 3 * 9 * 12288**2
    assert it.fc.total("activation_out_bytes") == 3 * 12288
    # slices differ by at most one column of each matrix
    w = it.fc.weight_bytes
    assert max(w) - min(w) <= 12288 + 12288 + 49152


# ------------------------------------------------------------------------------ GQA
def test_gqa_kv_is_read_once_per_group() -> None:
    base: dict[str, Any] = {
        "name": "g",
        "layers": 4,
        "d_model": 1024,
        "head_dim": 128,
        "ffn_dim": 4096,
        "ffn_kind": "swiglu",
    }
    mha = ModelSpec(**base, q_heads=8, kv_heads=8, vocab=100)
    gqa = ModelSpec(**base, q_heads=64, kv_heads=8, vocab=100)
    lens = [100, 300]
    a, b = DecodeIteration(mha, lens).attention, DecodeIteration(gqa, lens).attention
    assert a.units == b.units == 8
    assert a.kv_bytes == b.kv_bytes == (2 * 400 * 128,) * 8  # independent of q_heads
    assert b.ops == tuple(8 * x for x in a.ops)  # 8 query heads share each KV read
    assert b.kernel_for(8)["group"] == 8 and a.kernel_for(8)["group"] == 1
    assert mha.kv_bytes_per_token == gqa.kv_bytes_per_token == 2 * 4 * 8 * 128


# ------------------------------------------------------------------------------ MoE
def test_mixtral_fc_units_are_experts() -> None:
    it = DecodeIteration.uniform(MIXTRAL, batch=16, seq_len=512)
    fc = it.fc
    assert fc.units == 8 and fc.unit_kind == "expert"
    # unit = expert FFN 3 x 4096 x 14336 + out-proj slice 4096 x 512 columns
    assert set(fc.weight_bytes) == {3 * 4096 * 14336 + 4096 * 512}
    # balanced routing: 16 tokens x top-2 / 8 experts = 4 tokens each
    assert fc.tokens == (4,) * 8
    assert fc.ops[0] == 16 * 4096 * 512 + 4 * 3 * 4096 * 14336
    assert fc.read_bytes == fc.weight_bytes
    assert it.units == {"qkv": 8, "attention": 8, "fc": 8}


def test_moe_idle_experts_are_not_read() -> None:
    it = DecodeIteration.uniform(MIXTRAL, batch=1, seq_len=10)
    fc = it.fc
    assert fc.tokens == (1, 1, 0, 0, 0, 0, 0, 0)  # 1 token x top-2
    out_slice = 4096 * 512
    assert fc.weight_read_bytes[:2] == (out_slice + 3 * 4096 * 14336,) * 2
    assert fc.weight_read_bytes[2:] == (out_slice,) * 6
    assert fc.weight_bytes == (out_slice + 3 * 4096 * 14336,) * 8  # still resident
    k = fc.kernel_for(6, start=2)
    assert _linear_weight_bytes(k) == 6 * out_slice
    names = list(fc.kernels_for(6, start=2))
    assert names == ["out_proj", "residual_attn", "norm", "residual_ffn"]


def test_moe_explicit_routing_and_errors() -> None:
    it = DecodeIteration(MIXTRAL, [5] * 4, expert_tokens=[4, 4, 0, 0, 0, 0, 0, 0])
    assert it.fc.tokens == (4, 4, 0, 0, 0, 0, 0, 0)
    with pytest.raises(ValueError, match=r"expert_tokens sum to 7; must be .* = 4 x 2 = 8"):
        DecodeIteration(MIXTRAL, [5] * 4, expert_tokens=[4, 3, 0, 0, 0, 0, 0, 0])
    with pytest.raises(ValueError, match=r"expert_tokens has 2 values; need one per expert"):
        DecodeIteration(MIXTRAL, [5] * 4, expert_tokens=[4, 4])
    with pytest.raises(ValueError, match=r"expert_tokens\[0\]=5 must be between 0 and the 4"):
        DecodeIteration(MIXTRAL, [5] * 4, expert_tokens=[5, 3, 0, 0, 0, 0, 0, 0])
    with pytest.raises(ValueError, match=r"expert_tokens given but GPT3-175B is dense"):
        DecodeIteration(GPT3, [5], expert_tokens=[1])
    with pytest.raises(ValueError, match=r"fc_units=4 must equal experts=8"):
        DecodeIteration(MIXTRAL, [5], fc_units=4)


# ------------------------------------------------------------------------------ kernels
def test_fused_kernels_of_gpt3_decode() -> None:
    it = DecodeIteration.uniform(GPT3, batch=32, seq_len=2048)
    q = it.qkv.kernel_for(40)
    assert q == {"op": "linear", "m": 32, "k": 12288, "n": 40 * 3 * 128, "element_bytes": 1}
    a = it.attention.kernel_for(56, start=40)
    assert a == {
        "op": "attention",
        "batch": 32,
        "kv_heads": 56,
        "group": 1,
        "head_dim": 128,
        "kv_len": 2048,
        "element_bytes": 1,
    }
    f = it.fc.kernel_for(96)
    assert f == {"op": "linear", "m": 32, "k": 12288, "n": 96 * 1152, "element_bytes": 1}


@pytest.mark.parametrize("name", models.names())
def test_fused_kernels_carry_exactly_the_units_work(name: str) -> None:
    m = models.get(name)
    it = DecodeIteration.uniform(m, batch=8, seq_len=300)
    for s in it.sublayers:
        for units, start in ((s.units, 0), (1, 0), (s.units - 1, 1), (max(1, s.units // 3), 0)):
            k = s.kernel_for(units, start=start)
            _check_kernel(k)
            sel = slice(start, start + units)
            if k["op"] == "linear":
                assert _linear_weight_bytes(k) == sum(s.weight_read_bytes[sel])
                assert _linear_macs(k) == sum(s.ops[sel]) or m.is_moe
            else:  # equal lengths: the attention kernel is exact
                assert 2 * units * k["batch"] * k["group"] * k["kv_len"] * k["head_dim"] == sum(
                    s.ops[sel]
                )
                assert 2 * units * k["batch"] * k["kv_len"] * k["head_dim"] == sum(s.kv_bytes[sel])


@pytest.mark.parametrize("name", models.names())
def test_kernel_sequences_match_the_unit_totals(name: str) -> None:
    m = models.get(name)
    it = DecodeIteration(m, _random_lens(4))
    for s in it.sublayers:
        for units, start in ((s.units, 0), (max(1, s.units // 2), s.units - max(1, s.units // 2))):
            ks = s.kernels_for(units, start=start)
            for k in ks.values():
                _check_kernel(k)
            linears = [k for k in ks.values() if k["op"] == "linear"]
            sel = slice(start, start + units)
            if s.name == "attention":
                assert list(ks) == ["attention"]
                continue
            assert sum(_linear_weight_bytes(k) for k in linears) == sum(s.weight_read_bytes[sel])
            if not m.is_moe:
                assert sum(_linear_macs(k) for k in linears) == sum(s.ops[sel])
    expected_qkv = ["norm", "qkv", "rope"] if m.rotary else ["norm", "qkv"]
    assert list(it.qkv.kernels_for(1)) == expected_qkv
    assert list(it.fc.kernels_for(1)) == [
        "out_proj",
        "residual_attn",
        "norm",
        "ffn_in",
        "activation",
        "ffn_down",
        "residual_ffn",
    ]
    assert it.fc.kernels_for(1)["activation"]["vop"] == (
        "swiglu" if m.ffn_kind == "swiglu" else "gelu"
    )


def test_llama2_fc_kernel_sequence_by_hand() -> None:
    it = DecodeIteration.uniform(LLAMA2, batch=128, seq_len=1024)
    ks = it.fc.kernels_for(16)  # 16 of 64 slices: 2048 out/down columns, 7168 FFN columns
    assert ks["out_proj"] == {"op": "linear", "m": 128, "k": 8192, "n": 2048, "element_bytes": 1}
    assert ks["ffn_in"]["n"] == 2 * 7168  # gate + up
    assert ks["ffn_down"] == {"op": "linear", "m": 128, "k": 28672, "n": 2048, "element_bytes": 1}
    assert ks["activation"] == {
        "op": "vector",
        "vop": "swiglu",
        "elements": 128 * 7168,
        "element_bytes": 1,
    }
    assert ks["norm"]["elements"] == 128 * 8192 and ks["norm"]["vop"] == "rmsnorm"
    assert it.qkv.kernels_for(2)["rope"]["elements"] == 128 * 2 * (8 + 1) * 128


def test_attention_kernel_uses_the_mean_length_rounded_up() -> None:
    it = DecodeIteration(LLAMA2, [100, 201])
    k = it.attention.kernel_for(8)
    assert k["kv_len"] == 151  # ceil(301 / 2)
    assert it.attention.kv_bytes[0] == 2 * 301 * 128  # the unit's bytes stay exact


def test_kernel_range_errors() -> None:
    it = DecodeIteration(GPT3, [8])
    for units, start in ((0, 0), (97, 0), (10, 90), (1, -1)):
        with pytest.raises(ValueError, match=r"Sublayer 'fc': units=.* is outside its 96 units"):
            it.fc.kernel_for(units, start=start)
    assert it.fc.footprint_bytes(0) == 0
    with pytest.raises(ValueError, match=r"outside its 96 units"):
        it.fc.footprint_bytes(97)


def test_lm_head_kernel() -> None:
    k = DecodeIteration(LLAMA2, [1, 2, 3]).lm_head_kernel()
    assert k == {"op": "linear", "m": 3, "k": 8192, "n": 32000, "element_bytes": 1}
    assert PrefillIteration(LLAMA2, [10, 20]).lm_head_kernel()["m"] == 2


# ------------------------------------------------------------------------------ prefill
def test_prefill_by_hand() -> None:
    it = PrefillIteration(GPT3, [100, 28])
    assert it.phase == "prefill" and it.tokens == 128
    # linear layers: m = 128 prompt tokens
    assert it.qkv.kernel_for(96) == {
        "op": "linear",
        "m": 128,
        "k": 12288,
        "n": 96 * 384,
        "element_bytes": 1,
    }
    assert it.qkv.total("ops") == 128 * 3 * 12288**2
    # causal attention: per head 2 x 128 x (100 x 101 / 2 + 28 x 29 / 2) = 2 x 128 x 5456
    assert set(it.attention.ops) == {2 * 128 * (5050 + 406)}
    # KV cache left behind: (100 + 28) tokens
    assert it.kv_footprint_bytes == 128 * 2_359_296
    k = it.attention.kernel_for(96)
    assert k["kv_len"] == 64  # mean prompt length
    assert k["group"] == math.ceil((5050 + 406) / (2 * 64)) == 43


def test_prefill_attention_kernel_is_causal_for_equal_lengths() -> None:
    it = PrefillIteration.uniform(LLAMA2, batch=2, seq_len=1023)
    k = it.attention.kernel_for(8)
    assert k["group"] == 8 * 512  # group x (L + 1) / 2 query rows
    macs = 2 * 8 * k["batch"] * k["group"] * k["kv_len"] * k["head_dim"]
    assert macs == it.attention.total("ops") == 8 * 2 * 8 * 128 * 2 * 1023 * 1024 // 2


def test_moe_prefill_routes_prompt_tokens() -> None:
    it = PrefillIteration(MIXTRAL, [7, 5])
    assert it.fc.tokens == _split_like(12 * 2, 8)
    assert sum(it.fc.tokens) == 24


def _split_like(total: int, parts: int) -> tuple[int, ...]:
    return tuple(total // parts + (1 if i < total % parts else 0) for i in range(parts))


# ------------------------------------------------------------------------------ requests, errors
def test_requests() -> None:
    reqs = [Request(0, prompt_len=10, generated=5), Request(1, prompt_len=20)]
    assert [r.seq_len for r in reqs] == [15, 20]
    assert DecodeIteration.from_requests(GPT3, reqs).seq_lens == (15, 20)
    assert PrefillIteration.from_requests(GPT3, reqs).seq_lens == (10, 20)
    with pytest.raises(ValueError, match=r"Request 3: prompt_len=0 must be an integer >= 1"):
        Request(3, prompt_len=0)
    with pytest.raises(ValueError, match=r"Request 3: generated=-1 must be an integer >= 0"):
        Request(3, prompt_len=4, generated=-1)


def test_batch_of_zero_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"DecodeIteration\(GPT3-175B\): seq_lens is empty: batch"):
        DecodeIteration(GPT3, [])
    with pytest.raises(ValueError, match=r"PrefillIteration\(GPT3-175B\): seq_lens is empty"):
        PrefillIteration.from_requests(GPT3, [])
    with pytest.raises(ValueError, match=r"DecodeIteration\(GPT3-175B\): batch=0 must be"):
        DecodeIteration.uniform(GPT3, batch=0, seq_len=10)


@pytest.mark.parametrize("bad", [-5, 0])
def test_negative_or_zero_length_is_rejected(bad: int) -> None:
    with pytest.raises(
        ValueError, match=rf"DecodeIteration\(Llama2-70B\): seq_lens\[2\]={bad} must"
    ):
        DecodeIteration(LLAMA2, [10, 20, bad])
    with pytest.raises(ValueError, match=rf"PrefillIteration\(Llama2-70B\): seq_lens\[0\]={bad}"):
        PrefillIteration(LLAMA2, [bad])


@pytest.mark.parametrize("bad", [2.5, "12", True, None])
def test_non_integer_lengths_are_rejected(bad: Any) -> None:
    with pytest.raises(ValueError, match=r"seq_lens.* must be"):
        DecodeIteration(GPT3, [4, bad])


def test_unknown_model_and_sublayer() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'gpt-4'; known models: GPT3-175B"):
        DecodeIteration(models.get("gpt-4"), [1])
    with pytest.raises(ValueError, match=r"model='GPT3-175B' must be a ModelSpec"):
        DecodeIteration("GPT3-175B", [1])  # type: ignore[arg-type]
    it = DecodeIteration(GPT3, [1])
    assert it.sublayer("attention") is it.attention
    with pytest.raises(ValueError, match=r"unknown sublayer 'ffn'; known: qkv, attention, fc"):
        it.sublayer("ffn")
    with pytest.raises(ValueError, match=r"fc_units=0 must be between 1 and"):
        DecodeIteration(GPT3, [1], fc_units=0)
    with pytest.raises(TypeError, match=r"Iteration is abstract"):
        Iteration(GPT3, [1])


def test_sublayer_validates_its_fields() -> None:
    good = DecodeIteration(GPT3, [1]).qkv
    with pytest.raises(ValueError, match=r"Sublayer 'qkv': kv_bytes must be a tuple of 96 values"):
        dataclasses.replace(good, kv_bytes=(0,) * 3)
    with pytest.raises(ValueError, match=r"Sublayer 'qkv': ops\[0\]=-1 must be a non-negative"):
        dataclasses.replace(good, ops=(-1, *good.ops[1:]))
    with pytest.raises(ValueError, match=r"weight_read_bytes\[0\]=.* must not exceed weight_bytes"):
        dataclasses.replace(good, weight_read_bytes=(10**12, *good.weight_read_bytes[1:]))
    with pytest.raises(ValueError, match=r"Sublayer 'mlp': name is unknown"):
        dataclasses.replace(good, name="mlp")
    with pytest.raises(ValueError, match=r"unknown per-unit field 'flops'"):
        good.total("flops")


# ------------------------------------------------------------------------------ tables, identity
def test_frames() -> None:
    it = DecodeIteration.uniform(LLAMA2, batch=4, seq_len=64)
    summary = it.to_frame()
    assert summary["sublayer"].tolist() == list(SUBLAYERS)
    assert summary["units"].tolist() == [8, 8, 64]
    assert summary["footprint_bytes"].sum() == it.footprint_bytes
    assert summary.set_index("sublayer").loc["qkv", "activation_in_bytes"] == 4 * 8192  # once
    per_unit = it.to_frame(per_unit=True)
    assert len(per_unit) == 8 + 8 + 64
    assert per_unit.groupby("sublayer")["weight_bytes"].sum()["fc"] == it.fc.total("weight_bytes")
    assert str(per_unit["ops"].dtype) == "int64"


def test_iterations_are_frozen_values() -> None:
    a = DecodeIteration(GPT3, [3, 4])
    b = DecodeIteration(GPT3, (3, 4))
    assert a == b and hash(a) == hash(b) and isinstance(a.seq_lens, tuple)
    other: object = PrefillIteration(GPT3, [3, 4])
    assert a != other
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.seq_lens = (1,)  # type: ignore[misc]
    assert isinstance(a.fc, Sublayer) and a.fc.layers == 96


@pytest.mark.skipif(
    not hasattr(__import__("h2m2._core", fromlist=["npu"]).npu, "plan"),
    reason="this build of h2m2._core has no tile planner",
)
@pytest.mark.parametrize("name", models.names())
def test_decode_kernels_are_accepted_by_the_tile_planner(name: str) -> None:
    from h2m2 import _core

    it = DecodeIteration.uniform(models.get(name), batch=32, seq_len=2048)
    for s in it.sublayers:
        n = max(1, s.units // 2)
        fused = s.kernel_for(n)
        plan = _core.npu.plan(fused, {})
        if fused["op"] == "linear":
            assert plan["load_bytes"] == sum(s.weight_read_bytes[:n])
            assert plan["ops"] == _linear_macs(fused)
        else:
            assert plan["load_bytes"] == sum(s.kv_bytes[:n])
            assert plan["ops"] == sum(s.ops[:n])  # equal lengths: exact
        for k in s.kernels_for(n).values():
            _core.npu.plan(k, {})  # raises on a shape the planner cannot run
