"""Unit tests of h2m2.models: ModelSpec validation, derived sizes, the zoo, Hugging Face configs.

Expected sizes are hand calculations written out in each case (INT8: one byte per element).
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from h2m2 import models
from h2m2.models import ModelSpec

# ------------------------------------------------------------------------------ hand calculations
# Per model, one layer: qkv = d x (q + 2 kv) x hd, out = q x hd x d, ffn = mats x d x f (x experts);
# total = layers x layer + embedding (vocab x d) + LM head (vocab x d, only if untied);
# KV per token = 2 x layers x kv x hd.
HAND: dict[str, dict[str, int]] = {
    "GPT3-175B": {
        "qkv": 12288 * (96 + 2 * 96) * 128,  # = 3 x 12288^2 = 452,984,832
        "out": 96 * 128 * 12288,  # = 12288^2 = 150,994,944
        "ffn": 2 * 12288 * 49152,  # = 8 x 12288^2 = 1,207,959,552
        "layer": 1_811_939_328,  # = 12 x 12288^2
        "layers_total": 173_946_175_488,  # 96 x 1,811,939,328
        "embeddings": 50257 * 12288,  # = 617,558,016; LM head tied
        "total": 174_563_733_504,  # ~174.6e9 with embeddings
        "kv_per_token": 2 * 96 * 96 * 128,  # = 2,359,296
    },
    "Chinchilla-70B": {
        "qkv": 8192 * (64 + 2 * 64) * 128,  # = 3 x 8192^2 = 201,326,592
        "out": 64 * 128 * 8192,  # = 67,108,864
        "ffn": 2 * 8192 * 32768,  # = 536,870,912
        "layer": 805_306_368,  # = 12 x 8192^2
        "layers_total": 64_424_509_440,  # 80 x 805,306,368
        "embeddings": 2 * 32000 * 8192,  # untied: 2 x 262,144,000
        "total": 64_948_797_440,
        "kv_per_token": 2 * 80 * 64 * 128,  # = 1,310,720
    },
    "Llama2-70B": {
        "qkv": 8192 * (64 + 2 * 8) * 128,  # = 83,886,080
        "out": 64 * 128 * 8192,  # = 67,108,864
        "ffn": 3 * 8192 * 28672,  # = 704,643,072
        "layer": 855_638_016,
        "layers_total": 68_451_041_280,  # 80 x 855,638,016
        "embeddings": 2 * 32000 * 8192,  # untied: 524,288,000
        "total": 68_975_329_280,
        "kv_per_token": 2 * 80 * 8 * 128,  # = 163,840 (GQA)
    },
    "Llama-3-8B": {
        "qkv": 4096 * (32 + 2 * 8) * 128,  # = 25,165,824
        "out": 32 * 128 * 4096,  # = 16,777,216
        "ffn": 3 * 4096 * 14336,  # = 176,160,768
        "layer": 218_103_808,
        "layers_total": 6_979_321_856,  # 32 x 218,103,808
        "embeddings": 2 * 128256 * 4096,  # untied: 1,050,673,152
        "total": 8_029_995_008,
        "kv_per_token": 2 * 32 * 8 * 128,  # = 65,536
    },
    "Llama-3-70B": {
        "qkv": 8192 * (64 + 2 * 8) * 128,  # = 83,886,080
        "out": 64 * 128 * 8192,
        "ffn": 3 * 8192 * 28672,
        "layer": 855_638_016,
        "layers_total": 68_451_041_280,
        "embeddings": 2 * 128256 * 8192,  # untied: 2,101,346,304
        "total": 70_552_387_584,
        "kv_per_token": 2 * 80 * 8 * 128,  # = 163,840
    },
    "OPT-66B": {
        "qkv": 9216 * (72 + 2 * 72) * 128,  # = 3 x 9216^2 = 254,803,968
        "out": 72 * 128 * 9216,  # = 84,934,656
        "ffn": 2 * 9216 * 36864,  # = 679,477,248
        "layer": 1_019_215_872,  # = 12 x 9216^2
        "layers_total": 65_229_815_808,  # 64 x 1,019,215,872
        "embeddings": 50272 * 9216,  # tied: 463,306,752
        "total": 65_693_122_560,
        "kv_per_token": 2 * 64 * 72 * 128,  # = 1,179,648
    },
    "Mixtral-8x7B": {
        "qkv": 4096 * (32 + 2 * 8) * 128,  # = 25,165,824
        "out": 32 * 128 * 4096,  # = 16,777,216
        "ffn": 8 * 3 * 4096 * 14336,  # 8 experts: 1,409,286,144
        "layer": 1_451_229_184,
        "layers_total": 46_439_333_888,  # 32 x 1,451,229,184
        "embeddings": 2 * 32000 * 4096,  # untied: 262,144,000
        "total": 46_701_477_888,
        "kv_per_token": 2 * 32 * 8 * 128,  # = 65,536
    },
}


def test_hand_table_covers_the_zoo() -> None:
    assert set(HAND) == set(models.names())


@pytest.mark.parametrize("name", list(HAND))
def test_zoo_weight_and_kv_sizes_match_hand_calculation(name: str) -> None:
    m, h = models.get(name), HAND[name]
    assert m.element_bytes == 1
    assert m.qkv_weight_bytes == h["qkv"]
    assert m.out_proj_weight_bytes == h["out"]
    assert m.ffn_weight_bytes == h["ffn"]
    assert m.layer_weight_bytes == h["layer"] == h["qkv"] + h["out"] + h["ffn"]
    assert m.total_weight_bytes(embeddings=False) == h["layers_total"] == m.layers * h["layer"]
    assert m.embedding_bytes + m.lm_head_bytes == h["embeddings"]
    assert m.total_weight_bytes() == h["total"] == h["layers_total"] + h["embeddings"]
    assert m.kv_bytes_per_token == h["kv_per_token"]
    assert m.kv_bytes_per_token_per_layer * m.layers == h["kv_per_token"]
    sub = m.sublayer_weight_bytes()
    assert sub == {"qkv": h["qkv"], "attention": 0, "fc": h["out"] + h["ffn"]}


def test_gpt3_numbers_quoted_in_the_brief() -> None:
    m = models.get("GPT3-175B")
    assert m.layer_weight_bytes == 12 * 12288**2 == 1_811_939_328
    assert round(m.total_weight_bytes() / 1e9, 1) == 174.6
    assert m.kv_bytes_per_token == 2_359_296
    assert models.get("Llama2-70B").kv_bytes_per_token == 163_840


@pytest.mark.parametrize(
    ("name", "published", "uncounted"),
    [
        # Published parameter counts (Hugging Face safetensors totals). Uncounted by ModelSpec:
        # RMSNorm scales, 2 per layer + 1 final, of d_model each; Mixtral's router d x experts.
        ("Llama-3-8B", 8_030_261_248, (2 * 32 + 1) * 4096),
        ("Llama2-70B", 68_976_648_192, (2 * 80 + 1) * 8192),
        ("Mixtral-8x7B", 46_702_792_704, (2 * 32 + 1) * 4096 + 32 * 4096 * 8),
    ],
)
def test_parameter_counts_match_published_totals(name: str, published: int, uncounted: int) -> None:
    assert models.get(name).parameter_count() + uncounted == published


def test_parameter_count_divides_by_element_bytes() -> None:
    m = dataclasses.replace(models.get("Llama-3-8B"), element_bytes=2)
    assert m.total_weight_bytes() == 2 * 8_029_995_008
    assert m.parameter_count() == 8_029_995_008
    assert m.kv_bytes_per_token == 2 * 65_536


def test_tied_lm_head_is_counted_once() -> None:
    m = models.get("GPT3-175B")
    assert m.tied_embeddings and m.lm_head_bytes == 0
    untied = dataclasses.replace(m, tied_embeddings=False)
    assert untied.total_weight_bytes() - m.total_weight_bytes() == 50257 * 12288
    assert untied.total_weight_bytes(embeddings=False) == m.total_weight_bytes(embeddings=False)


# ------------------------------------------------------------------------------ zoo
def test_zoo_names_and_lookup() -> None:
    assert models.names() == (
        "GPT3-175B",
        "Chinchilla-70B",
        "Llama2-70B",
        "Llama-3-8B",
        "Llama-3-70B",
        "OPT-66B",
        "Mixtral-8x7B",
    )
    assert models.get("gpt3-175b") is models.get("GPT3-175B")
    assert models.get("  MIXTRAL-8X7B ").experts == 8


def test_unknown_model_lists_known_names() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'GPT-5'.*GPT3-175B.*Mixtral-8x7B"):
        models.get("GPT-5")


@pytest.mark.parametrize("name", models.names())
def test_zoo_models_are_self_consistent(name: str) -> None:
    m = models.get(name)
    assert m.q_heads * m.head_dim == m.d_model
    assert m.source
    assert m.norm == ("rmsnorm" if name != "GPT3-175B" and name != "OPT-66B" else "layernorm")


def test_zoo_shapes_of_the_paper_table() -> None:
    gpt3, chin, llama = (models.get(n) for n in ("GPT3-175B", "Chinchilla-70B", "Llama2-70B"))
    assert (gpt3.layers, gpt3.d_model, gpt3.q_heads, gpt3.kv_heads, gpt3.ffn_dim) == (
        96,
        12288,
        96,
        96,
        49152,
    )
    assert (gpt3.ffn_matrices, chin.ffn_matrices, llama.ffn_matrices) == (2, 2, 3)
    assert (llama.group_size, gpt3.group_size) == (8, 1)
    assert (gpt3.vocab, chin.vocab, llama.vocab) == (50257, 32000, 32000)
    mix = models.get("Mixtral-8x7B")
    assert (mix.experts, mix.experts_per_token, mix.is_moe, llama.is_moe) == (8, 2, True, False)


# ------------------------------------------------------------------------------ validation
TINY: dict[str, Any] = {
    "name": "tiny",
    "layers": 2,
    "d_model": 64,
    "q_heads": 4,
    "kv_heads": 2,
    "head_dim": 16,
    "ffn_dim": 256,
    "ffn_kind": "swiglu",
    "vocab": 1000,
}


def test_tiny_model_defaults() -> None:
    m = ModelSpec(**TINY)
    assert (m.element_bytes, m.experts, m.experts_per_token) == (1, 1, 1)
    assert m.norm == "rmsnorm"  # resolved from ffn_kind
    assert ModelSpec(**{**TINY, "ffn_kind": "gelu"}).norm == "layernorm"


@pytest.mark.parametrize(
    "field",
    ["layers", "d_model", "q_heads", "kv_heads", "head_dim", "ffn_dim", "vocab", "element_bytes",
     "experts", "experts_per_token"],
)  # fmt: skip
@pytest.mark.parametrize("bad", [0, -3, 2.0, True])
def test_non_positive_or_non_integer_fields_are_rejected(field: str, bad: Any) -> None:
    with pytest.raises(ValueError, match=rf"ModelSpec tiny: {field}={bad!r} must be a positive"):
        ModelSpec(**{**TINY, field: bad})


def test_q_heads_must_divide_by_kv_heads() -> None:
    with pytest.raises(ValueError, match=r"tiny: q_heads=4 must be divisible by kv_heads=3"):
        ModelSpec(**{**TINY, "kv_heads": 3})


def test_unknown_ffn_kind() -> None:
    with pytest.raises(ValueError, match=r"tiny: ffn_kind='relu' is unknown; known: gelu, swiglu"):
        ModelSpec(**{**TINY, "ffn_kind": "relu"})


def test_top_k_cannot_exceed_experts() -> None:
    with pytest.raises(ValueError, match=r"tiny: experts_per_token=3 must not exceed experts=2"):
        ModelSpec(**{**TINY, "experts": 2, "experts_per_token": 3})


def test_bad_name_norm_and_flags() -> None:
    with pytest.raises(ValueError, match=r"name='' must be a non-empty string"):
        ModelSpec(**{**TINY, "name": ""})
    with pytest.raises(ValueError, match=r"tiny: norm='batchnorm' is unknown"):
        ModelSpec(**{**TINY, "norm": "batchnorm"})
    with pytest.raises(ValueError, match=r"tiny: rotary=1 must be a bool"):
        ModelSpec(**{**TINY, "rotary": 1})


def test_model_spec_is_frozen_and_hashable() -> None:
    m = ModelSpec(**TINY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.layers = 3  # type: ignore[misc]
    assert {m: 1}[ModelSpec(**TINY)] == 1
    assert dataclasses.replace(m, source="elsewhere") == m  # source is not compared


# ------------------------------------------------------------------------------ Hugging Face
def _write(tmp_path: Path, cfg: dict[str, Any], name: str = "config.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(cfg), encoding="utf-8")
    return path


LLAMA3_8B_CONFIG: dict[str, Any] = {
    "architectures": ["LlamaForCausalLM"],
    "hidden_act": "silu",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "max_position_embeddings": 8192,
    "model_type": "llama",
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "rms_norm_eps": 1e-05,
    "rope_theta": 500000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "vocab_size": 128256,
}

GPT2_CONFIG: dict[str, Any] = {
    "activation_function": "gelu_new",
    "architectures": ["GPT2LMHeadModel"],
    "model_type": "gpt2",
    "n_ctx": 1024,
    "n_embd": 768,
    "n_head": 12,
    "n_inner": None,
    "n_layer": 12,
    "n_positions": 1024,
    "layer_norm_epsilon": 1e-05,
    "vocab_size": 50257,
}


def test_llama_style_config_reads_as_the_zoo_model(tmp_path: Path) -> None:
    path = _write(tmp_path, LLAMA3_8B_CONFIG)
    m = ModelSpec.from_hf_config(path, name="Llama-3-8B")
    assert m == models.get("Llama-3-8B")
    assert m.source.endswith("config.json")
    # torch_dtype is ignored: element_bytes is the caller's choice
    assert ModelSpec.from_hf_config(path, element_bytes=2).element_bytes == 2


def test_gpt2_style_config(tmp_path: Path) -> None:
    folder = tmp_path / "gpt2"
    folder.mkdir()
    m = ModelSpec.from_hf_config(_write(folder, GPT2_CONFIG))
    assert m.name == "gpt2"  # the directory of config.json
    assert (m.layers, m.d_model, m.q_heads, m.kv_heads, m.head_dim) == (12, 768, 12, 12, 64)
    assert (m.ffn_dim, m.ffn_kind, m.vocab) == (4 * 768, "gelu", 50257)  # n_inner null -> 4 d
    assert (m.norm, m.rotary, m.tied_embeddings, m.experts) == ("layernorm", False, True, 1)
    assert m.layer_weight_bytes == 12 * 768**2


def test_opt_and_mixtral_style_configs(tmp_path: Path) -> None:
    opt = {
        "_name_or_path": "facebook/opt-66b",
        "activation_function": "relu",
        "ffn_dim": 36864,
        "hidden_size": 9216,
        "num_attention_heads": 72,
        "num_hidden_layers": 64,
        "vocab_size": 50272,
        "model_type": "opt",
    }
    m = ModelSpec.from_hf_config(_write(tmp_path, opt, "opt.json"))
    assert m.name == "facebook/opt-66b"
    assert dataclasses.replace(m, name="OPT-66B") == models.get("OPT-66B")
    mixtral = {
        **LLAMA3_8B_CONFIG,
        "model_type": "mixtral",
        "num_local_experts": 8,
        "num_experts_per_tok": 2,
        "vocab_size": 32000,
    }
    m = ModelSpec.from_hf_config(_write(tmp_path, mixtral, "mixtral.json"), name="Mixtral-8x7B")
    assert m == models.get("Mixtral-8x7B")


@pytest.mark.parametrize("name", models.names())
def test_every_zoo_model_round_trips_through_a_written_config(tmp_path: Path, name: str) -> None:
    m = models.get(name)
    path = _write(tmp_path, m.to_hf_config())
    assert ModelSpec.from_hf_config(path) == m


@pytest.mark.parametrize(
    ("drop", "keys"),
    [
        ("num_hidden_layers", "num_hidden_layers, n_layer, num_layers"),
        ("hidden_size", "hidden_size, n_embd, d_model"),
        ("num_attention_heads", "num_attention_heads, n_head"),
        ("hidden_act", "hidden_act, activation_function, hidden_activation"),
        ("vocab_size", "vocab_size"),
    ],
)
def test_missing_key_names_file_and_keys(tmp_path: Path, drop: str, keys: str) -> None:
    cfg = {k: v for k, v in LLAMA3_8B_CONFIG.items() if k != drop}
    path = _write(tmp_path, cfg)
    with pytest.raises(
        ValueError, match=rf"{re.escape(str(path))}: missing key .*expected one of {keys}$"
    ):
        ModelSpec.from_hf_config(path)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("hidden_size", "4096", r"key hidden_size='4096' \(hidden size\) must be a positive"),
        ("num_hidden_layers", 0, r"key num_hidden_layers=0 .* must be a positive integer"),
        ("intermediate_size", 14336.5, r"key intermediate_size=14336.5"),
        ("hidden_act", "tanh", r"key hidden_act='tanh' is not a supported activation"),
        ("hidden_act", 3, r"key hidden_act=3 \(activation\) must be a string"),
        ("tie_word_embeddings", "no", r"key tie_word_embeddings='no' must be true or false"),
        ("num_key_value_heads", 5, r"q_heads=32 must be divisible by kv_heads=5"),
    ],
)
def test_bad_values_name_file_and_key(tmp_path: Path, key: str, value: Any, message: str) -> None:
    path = _write(tmp_path, {**LLAMA3_8B_CONFIG, key: value})
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}: .*{message}"):
        ModelSpec.from_hf_config(path)


def test_moe_config_needs_top_k(tmp_path: Path) -> None:
    path = _write(tmp_path, {**LLAMA3_8B_CONFIG, "num_local_experts": 8})
    with pytest.raises(
        ValueError, match=r"missing key for the experts per token.*num_experts_per_tok"
    ):
        ModelSpec.from_hf_config(path)


def test_head_dim_must_follow_when_absent(tmp_path: Path) -> None:
    path = _write(tmp_path, {**GPT2_CONFIG, "n_embd": 770})
    with pytest.raises(ValueError, match=r"no head_dim key, and hidden size 770 is not divisible"):
        ModelSpec.from_hf_config(path)
    explicit = _write(tmp_path, {**GPT2_CONFIG, "n_embd": 770, "head_dim": 64}, "c2.json")
    assert ModelSpec.from_hf_config(explicit).head_dim == 64


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(
        FileNotFoundError, match=r"nothere\.json: Hugging Face config file not found"
    ):
        ModelSpec.from_hf_config(tmp_path / "nothere.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"n_layer": 12,\n oops}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.json: not valid JSON \(line 2"):
        ModelSpec.from_hf_config(broken)
    listed = _write(tmp_path, [1, 2], "list.json")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"list\.json: a config\.json must hold a JSON object"):
        ModelSpec.from_hf_config(listed)
