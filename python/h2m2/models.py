"""Decoder-only LLM shapes: :class:`ModelSpec`, the model zoo and Hugging Face config reading.

A :class:`ModelSpec` holds what the simulator needs to size one decode (or prefill) iteration:
the layer count, the attention shape (query heads, KV heads, head dimension), the FFN shape and
kind, the vocabulary, the element size and, for mixture-of-experts models, the expert count and
top-k. Every derived size is a documented property or method whose docstring gives its formula.
:mod:`h2m2.workload` turns a model and a batch into sublayers and kernels.

What the weight sizes count
---------------------------
Counted: the QKV projection, the attention output projection and the FFN matrices of every decoder
layer (all experts for MoE), and, when asked for, the token embedding table and a separate LM head
(only when the model does not tie it to the embedding). Not counted (all below 0.01 % of the
weights of every zoo model, and not streamed by the paper's kernels): biases, norm scales,
learned position embeddings and the MoE router (``d_model x experts``).

Spec: ../shared/spec/h2m2.md sections 2 and 6; issue 4 ("Workloads").
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "FFN_KINDS",
    "NORM_KINDS",
    "ModelSpec",
    "get",
    "names",
]

# FFN kind -> weight matrices per FFN (per expert for MoE).
#   "gelu":   up [d_model x ffn_dim] and down [ffn_dim x d_model]; any non-gated activation.
#   "swiglu": gate and up [d_model x ffn_dim] and down [ffn_dim x d_model].
FFN_KINDS: Mapping[str, int] = {"gelu": 2, "swiglu": 3}

# Normalisation before the attention block and before the FFN (a vector op of the engine).
NORM_KINDS: tuple[str, ...] = ("layernorm", "rmsnorm")

_INT_FIELDS = (
    "layers",
    "d_model",
    "q_heads",
    "kv_heads",
    "head_dim",
    "ffn_dim",
    "vocab",
    "element_bytes",
    "experts",
    "experts_per_token",
)


@dataclass(frozen=True)
class ModelSpec:
    """Shape of a decoder-only transformer (validated on construction).

    Parameters
    ----------
    name
        Model name, used in every error message.
    layers
        Decoder layers (all identical).
    d_model
        Hidden size.
    q_heads
        Query heads per layer.
    kv_heads
        Key/value heads per layer (``q_heads`` for multi-head attention, fewer for GQA/MQA);
        must divide ``q_heads``.
    head_dim
        Dimension of one head.
    ffn_dim
        FFN inner size (per expert for MoE).
    ffn_kind
        ``"gelu"`` (2 matrices; any non-gated activation, ReLU included) or ``"swiglu"``
        (3 matrices: gate, up, down).
    vocab
        Vocabulary size (rows of the embedding table).
    element_bytes
        Bytes per weight, activation and KV element (default 1: INT8, as in the paper).
    experts
        FFN experts per layer (default 1: a dense model).
    experts_per_token
        Experts each token is routed to, top-k (default 1); at most ``experts``.
    norm
        ``"layernorm"`` or ``"rmsnorm"`` (default ``""``: resolved to ``"rmsnorm"`` for SwiGLU
        models and ``"layernorm"`` otherwise).
    rotary
        Rotary position embedding applied to Q and K (a vector op; default False).
    tied_embeddings
        The LM head shares the embedding table's weights (default True, the Hugging Face default).
    source
        Where the numbers come from (not compared by ``==``).

    Raises
    ------
    ValueError
        Naming the model, the field, its value and the rule it breaks.

    Example
    -------
    >>> m = ModelSpec("tiny", layers=2, d_model=64, q_heads=4, kv_heads=2, head_dim=16,
    ...               ffn_dim=256, ffn_kind="swiglu", vocab=1000)
    >>> m.kv_bytes_per_token
    128
    """

    name: str
    layers: int
    d_model: int
    q_heads: int
    kv_heads: int
    head_dim: int
    ffn_dim: int
    ffn_kind: str
    vocab: int
    element_bytes: int = 1
    experts: int = 1
    experts_per_token: int = 1
    norm: str = ""
    rotary: bool = False
    tied_embeddings: bool = True
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"ModelSpec: name={self.name!r} must be a non-empty string")
        who = f"ModelSpec {self.name}"
        for fname in _INT_FIELDS:
            v = getattr(self, fname)
            if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                raise ValueError(f"{who}: {fname}={v!r} must be a positive integer")
        if self.q_heads % self.kv_heads:
            raise ValueError(
                f"{who}: q_heads={self.q_heads} must be divisible by kv_heads={self.kv_heads} "
                "(each KV head serves a whole group of query heads)"
            )
        if self.ffn_kind not in FFN_KINDS:
            raise ValueError(
                f"{who}: ffn_kind={self.ffn_kind!r} is unknown; known: {', '.join(FFN_KINDS)}"
            )
        if self.experts_per_token > self.experts:
            raise ValueError(
                f"{who}: experts_per_token={self.experts_per_token} must not exceed "
                f"experts={self.experts}"
            )
        if self.norm == "":
            object.__setattr__(
                self, "norm", "rmsnorm" if self.ffn_kind == "swiglu" else "layernorm"
            )
        if self.norm not in NORM_KINDS:
            raise ValueError(
                f"{who}: norm={self.norm!r} is unknown; known: {', '.join(NORM_KINDS)}"
            )
        for fname in ("rotary", "tied_embeddings"):
            if not isinstance(getattr(self, fname), bool):
                raise ValueError(f"{who}: {fname}={getattr(self, fname)!r} must be a bool")

    # ----------------------------------------------------------------- shape
    @property
    def ffn_matrices(self) -> int:
        """Weight matrices per FFN (per expert): 2 for ``"gelu"``, 3 for ``"swiglu"``."""
        return FFN_KINDS[self.ffn_kind]

    @property
    def group_size(self) -> int:
        """Query heads per KV head: ``q_heads / kv_heads`` (1 for multi-head attention)."""
        return self.q_heads // self.kv_heads

    @property
    def is_moe(self) -> bool:
        """True for a mixture-of-experts model (``experts > 1``)."""
        return self.experts > 1

    # ----------------------------------------------------------------- weights (one layer)
    @property
    def qkv_weight_bytes(self) -> int:
        """QKV projection weights of one layer.

        ``d_model x (q_heads + 2 kv_heads) x head_dim x element_bytes``.
        """
        return (
            self.d_model * (self.q_heads + 2 * self.kv_heads) * self.head_dim * self.element_bytes
        )

    @property
    def out_proj_weight_bytes(self) -> int:
        """Out-projection, one layer: ``q_heads x head_dim x d_model x element_bytes``."""
        return self.q_heads * self.head_dim * self.d_model * self.element_bytes

    @property
    def expert_weight_bytes(self) -> int:
        """One FFN (one expert): ``ffn_matrices x d_model x ffn_dim x element_bytes``."""
        return self.ffn_matrices * self.d_model * self.ffn_dim * self.element_bytes

    @property
    def ffn_weight_bytes(self) -> int:
        """FFN weights of one layer, all experts.

        ``experts x ffn_matrices x d_model x ffn_dim x element_bytes``.
        """
        return self.experts * self.expert_weight_bytes

    @property
    def layer_weight_bytes(self) -> int:
        """One decoder layer: ``qkv_weight_bytes + out_proj_weight_bytes + ffn_weight_bytes``."""
        return self.qkv_weight_bytes + self.out_proj_weight_bytes + self.ffn_weight_bytes

    def sublayer_weight_bytes(self) -> dict[str, int]:
        """Weights of one layer by sublayer of the H2M2 split.

        Returns
        -------
        dict
            ``{"qkv": qkv_weight_bytes, "attention": 0, "fc": out_proj_weight_bytes +
            ffn_weight_bytes}`` (fc = out-projection + FFN, spec section 3).

        Example
        -------
        >>> m = get("GPT3-175B")
        >>> m.sublayer_weight_bytes()["fc"] == 9 * 12288**2
        True
        """
        return {
            "qkv": self.qkv_weight_bytes,
            "attention": 0,
            "fc": self.out_proj_weight_bytes + self.ffn_weight_bytes,
        }

    # ----------------------------------------------------------------- weights (model)
    @property
    def embedding_bytes(self) -> int:
        """Token embedding table: ``vocab x d_model x element_bytes``."""
        return self.vocab * self.d_model * self.element_bytes

    @property
    def lm_head_bytes(self) -> int:
        """Separate LM head: ``vocab x d_model x element_bytes``, 0 when tied to the embedding."""
        return 0 if self.tied_embeddings else self.embedding_bytes

    def total_weight_bytes(self, *, embeddings: bool = True) -> int:
        """Weights of the whole model.

        ``layers x layer_weight_bytes``, plus ``embedding_bytes + lm_head_bytes`` when
        ``embeddings`` is true (a tied LM head is counted once, as the embedding table).

        Parameters
        ----------
        embeddings
            Count the embedding table and the untied LM head (default True). The decoder
            sublayers the H2M2 mapping places do not include them.

        Returns
        -------
        int
            Bytes.

        Example
        -------
        >>> m = get("GPT3-175B")
        >>> m.total_weight_bytes(embeddings=False) == 96 * 12 * 12288**2
        True
        """
        total = self.layers * self.layer_weight_bytes
        if embeddings:
            total += self.embedding_bytes + self.lm_head_bytes
        return total

    def parameter_count(self, *, embeddings: bool = True) -> int:
        """Counted parameters: ``total_weight_bytes(embeddings=...) / element_bytes``.

        Parameters
        ----------
        embeddings
            As in :meth:`total_weight_bytes` (default True).

        Returns
        -------
        int
            Parameters (biases, norms, position embeddings and the MoE router excluded).

        Example
        -------
        >>> get("Llama-3-8B").parameter_count()
        8029995008
        """
        return self.total_weight_bytes(embeddings=embeddings) // self.element_bytes

    # ----------------------------------------------------------------- KV cache
    @property
    def kv_bytes_per_token_per_layer(self) -> int:
        """K and V of one token in one layer: ``2 x kv_heads x head_dim x element_bytes``."""
        return 2 * self.kv_heads * self.head_dim * self.element_bytes

    @property
    def kv_bytes_per_token(self) -> int:
        """K and V of one token, all layers: ``2 x layers x kv_heads x head_dim x element_bytes``.

        Example
        -------
        >>> get("Llama2-70B").kv_bytes_per_token
        163840
        """
        return self.layers * self.kv_bytes_per_token_per_layer

    # ----------------------------------------------------------------- Hugging Face
    @classmethod
    def from_hf_config(
        cls, path: str | Path, *, name: str | None = None, element_bytes: int = 1
    ) -> ModelSpec:
        """Read a Hugging Face ``config.json`` from disk (no network access).

        Keys read (the first one present and not null wins):

        * layers: ``num_hidden_layers``, ``n_layer``, ``num_layers``
        * d_model: ``hidden_size``, ``n_embd``, ``d_model``
        * q_heads: ``num_attention_heads``, ``n_head``
        * kv_heads: ``num_key_value_heads`` (default: q_heads)
        * head_dim: ``head_dim`` (default: d_model / q_heads, which must divide)
        * ffn_dim: ``intermediate_size``, ``ffn_dim``, ``n_inner`` (default: 4 x d_model)
        * ffn_kind: ``hidden_act``, ``activation_function``, ``hidden_activation``: silu, swish
          and swiglu give ``"swiglu"``; gelu* and relu give ``"gelu"``
        * vocab: ``vocab_size``
        * experts, experts_per_token: ``num_local_experts`` (default 1), ``num_experts_per_tok``
          (default 1; required when num_local_experts > 1)
        * tied_embeddings: ``tie_word_embeddings`` (default True, as in Hugging Face)
        * norm: ``"rmsnorm"`` if ``rms_norm_eps`` is present, else ``"layernorm"``
        * rotary: any of ``rope_theta``, ``rope_scaling``, ``rotary_dim``, ``rotary_pct``,
          ``rotary_emb_base`` present, or ``model_type`` in a list of RoPE families

        ``torch_dtype`` is ignored: the simulated precision is ``element_bytes``.

        Parameters
        ----------
        path
            The JSON file.
        name
            Model name (default: ``_name_or_path`` from the file, else the file's directory name
            for a ``config.json``, else the file stem).
        element_bytes
            Bytes per element (default 1, INT8).

        Returns
        -------
        ModelSpec

        Raises
        ------
        FileNotFoundError
            If the file does not exist.
        ValueError
            Naming the file and the missing or bad key (or the rule a read value breaks).

        Example
        -------
        >>> spec = ModelSpec.from_hf_config("llama/config.json")  # doctest: +SKIP
        >>> spec.kv_heads  # doctest: +SKIP
        8
        """
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(f"{p}: Hugging Face config file not found") from None
        try:
            cfg = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"{p}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
            ) from None
        if not isinstance(cfg, dict):
            raise ValueError(
                f"{p}: a config.json must hold a JSON object, not {type(cfg).__name__}"
            )
        reader = _HfReader(p, cfg)

        layers = reader.get_int(
            "number of decoder layers", "num_hidden_layers", "n_layer", "num_layers"
        )
        d_model = reader.get_int("hidden size", "hidden_size", "n_embd", "d_model")
        q_heads = reader.get_int("attention heads", "num_attention_heads", "n_head")
        kv_heads = reader.get_int("KV heads", "num_key_value_heads", default=q_heads)
        if reader.has("head_dim"):
            head_dim = reader.get_int("head dimension", "head_dim")
        else:
            if d_model % q_heads:
                raise ValueError(
                    f"{p}: no head_dim key, and hidden size {d_model} is not divisible by "
                    f"{q_heads} attention heads"
                )
            head_dim = d_model // q_heads
        ffn_dim = reader.get_int(
            "FFN size", "intermediate_size", "ffn_dim", "n_inner", default=4 * d_model
        )
        act_key, act = reader.get_str(
            "activation", "hidden_act", "activation_function", "hidden_activation"
        )
        ffn_kind = _ffn_kind_of(act)
        if ffn_kind is None:
            raise ValueError(
                f"{p}: key {act_key}={act!r} is not a supported activation "
                "(silu/swish/swiglu -> swiglu; gelu*/relu -> gelu)"
            )
        vocab = reader.get_int("vocabulary size", "vocab_size")
        experts = reader.get_int("experts", "num_local_experts", default=1)
        if experts > 1:
            top_k = reader.get_int("experts per token", "num_experts_per_tok")
        else:
            top_k = reader.get_int("experts per token", "num_experts_per_tok", default=1)
        tied = reader.get_bool("tie_word_embeddings", default=True)
        norm = "rmsnorm" if reader.has("rms_norm_eps") else "layernorm"
        rotary = any(reader.has(k) for k in _ROPE_KEYS) or cfg.get("model_type") in _ROPE_FAMILIES

        if name is None:
            raw = cfg.get("_name_or_path")
            if isinstance(raw, str) and raw.strip():
                name = raw.strip()
            elif p.name == "config.json" and p.parent.name:
                name = p.parent.name
            else:
                name = p.stem
        try:
            return cls(
                name=name,
                layers=layers,
                d_model=d_model,
                q_heads=q_heads,
                kv_heads=kv_heads,
                head_dim=head_dim,
                ffn_dim=ffn_dim,
                ffn_kind=ffn_kind,
                vocab=vocab,
                element_bytes=element_bytes,
                experts=experts,
                experts_per_token=top_k,
                norm=norm,
                rotary=rotary,
                tied_embeddings=tied,
                source=f"Hugging Face config {p}",
            )
        except ValueError as exc:
            raise ValueError(f"{p}: {exc}") from None

    def to_hf_config(self) -> dict[str, Any]:
        """This model as a Hugging Face style config dict (inverse of :meth:`from_hf_config`).

        Returns
        -------
        dict
            Llama-style keys; ``rms_norm_eps`` is written for RMSNorm and ``rope_theta`` for
            rotary models so that reading the dict back gives an equal :class:`ModelSpec`.

        Example
        -------
        >>> cfg = get("Llama2-70B").to_hf_config()
        >>> cfg["num_key_value_heads"]
        8
        """
        cfg: dict[str, Any] = {
            "_name_or_path": self.name,
            "num_hidden_layers": self.layers,
            "hidden_size": self.d_model,
            "num_attention_heads": self.q_heads,
            "num_key_value_heads": self.kv_heads,
            "head_dim": self.head_dim,
            "intermediate_size": self.ffn_dim,
            "hidden_act": "silu" if self.ffn_kind == "swiglu" else "gelu",
            "vocab_size": self.vocab,
            "tie_word_embeddings": self.tied_embeddings,
        }
        if self.is_moe:
            cfg["num_local_experts"] = self.experts
            cfg["num_experts_per_tok"] = self.experts_per_token
        if self.norm == "rmsnorm":
            cfg["rms_norm_eps"] = 1e-5
        if self.rotary:
            cfg["rope_theta"] = 10000.0
        return cfg


# Keys whose presence means rotary position embeddings; model types that always use them.
_ROPE_KEYS = ("rope_theta", "rope_scaling", "rotary_dim", "rotary_pct", "rotary_emb_base")
_ROPE_FAMILIES = frozenset(
    {
        "llama",
        "mistral",
        "mixtral",
        "qwen2",
        "gemma",
        "gemma2",
        "phi3",
        "gptj",
        "gpt_neox",
        "falcon",
    }
)


def _ffn_kind_of(activation: str) -> str | None:
    act = activation.strip().lower()
    if act in ("silu", "swish", "swiglu"):
        return "swiglu"
    if act.startswith("gelu") or act in ("relu", "quick_gelu"):
        return "gelu"
    return None


class _HfReader:
    """Typed look-ups in a config dict; errors name the file and the key."""

    _MISSING = object()

    def __init__(self, path: Path, cfg: dict[str, Any]) -> None:
        self.path = path
        self.cfg = cfg

    def has(self, key: str) -> bool:
        return self.cfg.get(key) is not None

    def _first(self, what: str, keys: Sequence[str], default: Any) -> tuple[str, Any]:
        for key in keys:
            if self.cfg.get(key) is not None:
                return key, self.cfg[key]
        if default is self._MISSING:
            raise ValueError(
                f"{self.path}: missing key for the {what}: expected one of {', '.join(keys)}"
            )
        return "", default

    def get_int(self, what: str, *keys: str, default: Any = _MISSING) -> int:
        key, value = self._first(what, keys, default)
        if not key:
            return int(value)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(
                f"{self.path}: key {key}={value!r} ({what}) must be a positive integer"
            )
        return value

    def get_str(self, what: str, *keys: str) -> tuple[str, str]:
        key, value = self._first(what, keys, self._MISSING)
        if not isinstance(value, str):
            raise ValueError(f"{self.path}: key {key}={value!r} ({what}) must be a string")
        return key, value

    def get_bool(self, key: str, *, default: bool) -> bool:
        if not self.has(key):
            return default
        value = self.cfg[key]
        if not isinstance(value, bool):
            raise ValueError(f"{self.path}: key {key}={value!r} must be true or false")
        return value


# ------------------------------------------------------------------------------------- zoo
# Shapes as published; INT8 (element_bytes=1) as in the H2M2 evaluation. Biases, norms and
# position embeddings are not part of the shape (see the module docstring).
_ZOO_LIST: tuple[ModelSpec, ...] = (
    # Brown et al., "Language Models are Few-Shot Learners" (2020), Table 2.1: 96 layers,
    # d_model 12288, 96 heads, d_head 128, d_ff = 4 d_model; GPT-2 BPE vocabulary of 50257;
    # GPT-2 architecture: LayerNorm, GELU, learned positions, LM head tied to the embedding.
    ModelSpec(
        "GPT3-175B",
        layers=96,
        d_model=12288,
        q_heads=96,
        kv_heads=96,
        head_dim=128,
        ffn_dim=49152,
        ffn_kind="gelu",
        vocab=50257,
        norm="layernorm",
        rotary=False,
        tied_embeddings=True,
        source="Brown et al. 2020, Table 2.1",
    ),
    # Hoffmann et al., "Training Compute-Optimal Large Language Models" (2022), Table 4:
    # 80 layers, d_model 8192, 64 heads, key/value size 128, FFN 4 d_model = 32768 (2 matrices,
    # as in the H2M2 table); Gopher-family tokenizer of 32000 (Rae et al. 2021), RMSNorm and
    # relative position encodings (no RoPE). Embedding tying is not stated: assumed untied.
    ModelSpec(
        "Chinchilla-70B",
        layers=80,
        d_model=8192,
        q_heads=64,
        kv_heads=64,
        head_dim=128,
        ffn_dim=32768,
        ffn_kind="gelu",
        vocab=32000,
        norm="rmsnorm",
        rotary=False,
        tied_embeddings=False,
        source="Hoffmann et al. 2022, Table 4; Rae et al. 2021",
    ),
    # Touvron et al., "Llama 2" (2023) and meta-llama/Llama-2-70b-hf config.json: 80 layers,
    # hidden 8192, 64 heads, 8 KV heads (GQA), intermediate 28672 SwiGLU, vocab 32000, untied.
    ModelSpec(
        "Llama2-70B",
        layers=80,
        d_model=8192,
        q_heads=64,
        kv_heads=8,
        head_dim=128,
        ffn_dim=28672,
        ffn_kind="swiglu",
        vocab=32000,
        norm="rmsnorm",
        rotary=True,
        tied_embeddings=False,
        source="Touvron et al. 2023; meta-llama/Llama-2-70b-hf config.json",
    ),
    # meta-llama/Meta-Llama-3-8B config.json: 32 layers, hidden 4096, 32 heads, 8 KV heads,
    # intermediate 14336 SwiGLU, vocab 128256, untied.
    ModelSpec(
        "Llama-3-8B",
        layers=32,
        d_model=4096,
        q_heads=32,
        kv_heads=8,
        head_dim=128,
        ffn_dim=14336,
        ffn_kind="swiglu",
        vocab=128256,
        norm="rmsnorm",
        rotary=True,
        tied_embeddings=False,
        source="meta-llama/Meta-Llama-3-8B config.json",
    ),
    # meta-llama/Meta-Llama-3-70B config.json: 80 layers, hidden 8192, 64 heads, 8 KV heads,
    # intermediate 28672 SwiGLU, vocab 128256, untied.
    ModelSpec(
        "Llama-3-70B",
        layers=80,
        d_model=8192,
        q_heads=64,
        kv_heads=8,
        head_dim=128,
        ffn_dim=28672,
        ffn_kind="swiglu",
        vocab=128256,
        norm="rmsnorm",
        rotary=True,
        tied_embeddings=False,
        source="meta-llama/Meta-Llama-3-70B config.json",
    ),
    # Zhang et al., "OPT" (2022), Table 1 and facebook/opt-66b config.json: 64 layers,
    # hidden 9216, 72 heads (head_dim 128), ffn_dim 36864 with ReLU (2 matrices), vocab 50272,
    # LayerNorm, learned positions, LM head tied.
    ModelSpec(
        "OPT-66B",
        layers=64,
        d_model=9216,
        q_heads=72,
        kv_heads=72,
        head_dim=128,
        ffn_dim=36864,
        ffn_kind="gelu",
        vocab=50272,
        norm="layernorm",
        rotary=False,
        tied_embeddings=True,
        source="Zhang et al. 2022, Table 1; facebook/opt-66b config.json",
    ),
    # Jiang et al., "Mixtral of Experts" (2024), Table 1 and mistralai/Mixtral-8x7B-v0.1
    # config.json: 32 layers, hidden 4096, 32 heads, 8 KV heads, head_dim 128, 8 SwiGLU experts of
    # 14336, top-2 routing, vocab 32000, untied.
    ModelSpec(
        "Mixtral-8x7B",
        layers=32,
        d_model=4096,
        q_heads=32,
        kv_heads=8,
        head_dim=128,
        ffn_dim=14336,
        ffn_kind="swiglu",
        vocab=32000,
        experts=8,
        experts_per_token=2,
        norm="rmsnorm",
        rotary=True,
        tied_embeddings=False,
        source="Jiang et al. 2024, Table 1; mistralai/Mixtral-8x7B-v0.1 config.json",
    ),
)

_ZOO: dict[str, ModelSpec] = {m.name: m for m in _ZOO_LIST}


def names() -> tuple[str, ...]:
    """Names of the zoo models, the paper's three first.

    Returns
    -------
    tuple of str

    Example
    -------
    >>> names()[:3]
    ('GPT3-175B', 'Chinchilla-70B', 'Llama2-70B')
    """
    return tuple(_ZOO)


def get(name: str) -> ModelSpec:
    """Look a zoo model up by name (case-insensitive).

    Parameters
    ----------
    name
        A name from :func:`names`, in any case.

    Returns
    -------
    ModelSpec

    Raises
    ------
    ValueError
        For an unknown name; the message lists the known ones.

    Example
    -------
    >>> m = get("llama2-70b")
    >>> (m.q_heads, m.kv_heads)
    (64, 8)
    """
    key = name.strip().lower() if isinstance(name, str) else ""
    for model_name, spec in _ZOO.items():
        if model_name.lower() == key:
            return spec
    raise ValueError(f"unknown model {name!r}; known models: {', '.join(_ZOO)}")
