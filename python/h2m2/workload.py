"""Decode and prefill iterations expanded into H2M2 sublayers, units and kernels.

Models: spec section 3. An iteration of a decoder-only model over a batch of requests is the
same decoder layer repeated ``layers`` times; one layer is three sublayers, each divided into N
units that the mapping places n on one device and N - n on the other:

* ``qkv`` (QKV projection): one unit per KV head, carrying its group's ``q_heads / kv_heads``
  query-head columns plus its own K and V columns, ``(group + 2) x head_dim`` output columns of
  the ``d_model``-row weight. For multi-head attention (group 1) a unit is one head.
* ``attention``: one unit per KV head, owning that head's KV cache of every request in this
  layer. The group's query heads share one read of it (GQA), so the KV bytes of a unit do not
  depend on ``q_heads``. Softmax is inside the attention kernel (as in the C++ tile planner).
* ``fc`` (out-projection + FFN): units are output-column slices. N_fc defaults to ``q_heads``
  (96 for GPT3-175B, the paper's per-head granularity); unit j owns slice j of the out-projection
  columns, of the FFN up (and gate) columns and of the FFN down columns, each matrix cut into N
  near-equal contiguous slices (the first ``total mod N`` slices one column wider). For MoE the
  fc units are the experts: unit e owns expert e's whole FFN plus slice e of the out-projection.

Per unit and per layer a :class:`Sublayer` gives weight bytes (resident and read this iteration),
KV bytes, activation bytes in and out, multiply-accumulates and the token rows its weights
multiply; footprints multiply the per-layer bytes by ``layers``. ``kernel_for(units)`` gives the
one fused kernel a device runs for a contiguous run of units; ``kernels_for(units)`` gives the
same work as the sequence of kernels with the vector ops (norm, RoPE, activation, residual adds)
as separate ``vector`` kernels. Kernel dicts use the C++ ``KernelDesc`` field names and hold only
the fields their op reads (absent fields keep the KernelDesc defaults, see
``cpp/bindings/npu_convert.hpp``).

Owns: nothing mutable; every class is a frozen dataclass validated on construction.
Time: none. Hot path: no (built once per epoch).

Decisions (also in docs/assumptions.md):

- Decode: a request of sequence length L reads the K/V of L tokens in each layer, the token
  processed in this iteration included (its K/V are written by ``qkv`` and read by
  ``attention``); the KV footprint of the request is L tokens.
- The fused attention kernel uses one ``kv_len`` for the batch: the mean length rounded up
  (the C++ layout holds equal-length blocks); the Sublayer's ``kv_bytes`` and ``ops`` are the
  exact per-request sums.
- Activations: the input of a ``qkv`` or ``fc`` unit is the whole input vector of each token
  (``replicated_input``: copied to every device that holds a unit); an ``attention`` unit reads
  only its group's queries. ``activation_out_bytes`` sum to the sublayer's output. The residual
  stream is not counted. ``exchange_bytes`` of ``fc`` are the intermediate activations that must
  be made whole inside the sublayer when its units are split over devices: the out-projection
  output (the FFN norm needs every column) and the FFN hidden vector (the down projection needs
  every column); for MoE the out-projection output and the partial sums of the expert outputs.
- MoE routing is balanced unless ``expert_tokens`` is given: the ``tokens x top_k`` token-expert
  assignments are spread evenly, experts 0..r-1 taking one more. An expert with no token is not
  read (``weight_read_bytes`` = its out-projection slice only); its weights stay resident.
- The MoE router (a ``d_model x experts`` GEMV) is not modelled.
- The LM head (``d_model x vocab``, once per iteration for the last token of each request) and
  the embedding lookup are outside the three sublayers: see ``lm_head_kernel()``.
- Prefill (beyond the paper, which simulates decode only): the same sublayers with m = the sum of
  the prompt lengths for the linear layers; causal attention, each query attending to itself and
  the earlier tokens of its prompt: ``L(L+1)/2`` scores per head and request. The fused prefill
  attention kernel is the decode attention op with the prompt's queries folded into ``group``:
  ``group = (q_heads / kv_heads) x q_rows`` with ``q_rows = ceil(sum L(L+1)/2 / (batch x
  kv_len))`` (``(L+1)/2`` rows per request for equal lengths), so the MACs match the causal count
  and K/V are read once. The C++ tile planner keeps linear inputs and attention queries resident
  in the scratchpad, so long prompts need kernels cut in token chunks by the engine.

Spec: ../shared/spec/h2m2.md sections 3 and 6; issue 4 ("Workloads").
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from h2m2.models import ModelSpec

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PHASES",
    "SUBLAYERS",
    "DecodeIteration",
    "Iteration",
    "PrefillIteration",
    "Request",
    "Sublayer",
]

SUBLAYERS: tuple[str, ...] = ("qkv", "attention", "fc")
PHASES: tuple[str, ...] = ("decode", "prefill")

_IterationT = TypeVar("_IterationT", bound="Iteration")

# Per-unit fields of a Sublayer, in to_frame() column order.
_UNIT_FIELDS = (
    "tokens",
    "weight_bytes",
    "weight_read_bytes",
    "kv_bytes",
    "activation_in_bytes",
    "activation_out_bytes",
    "ops",
)


def _split(total: int, parts: int) -> tuple[int, ...]:
    """``total`` in ``parts`` near-equal integers, the first ``total mod parts`` one larger."""
    base, extra = divmod(total, parts)
    return tuple(base + (1 if i < extra else 0) for i in range(parts))


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _linear(m: int, k: int, n: int, element_bytes: int) -> dict[str, Any]:
    return {"op": "linear", "m": m, "k": k, "n": n, "element_bytes": element_bytes}


def _vector(vop: str, elements: int, element_bytes: int) -> dict[str, Any]:
    return {"op": "vector", "vop": vop, "elements": elements, "element_bytes": element_bytes}


# ------------------------------------------------------------------------------- Request
@dataclass(frozen=True)
class Request:
    """One request of a batch.

    Parameters
    ----------
    id
        Request identifier (a non-negative integer).
    prompt_len
        Prompt tokens (at least 1).
    generated
        Tokens generated so far (default 0).

    Raises
    ------
    ValueError
        Naming the request, field and value.

    Example
    -------
    >>> r = Request(7, prompt_len=100, generated=28)
    >>> r.seq_len
    128
    """

    id: int
    prompt_len: int
    generated: int = 0

    def __post_init__(self) -> None:
        for fname, low in (("id", 0), ("prompt_len", 1), ("generated", 0)):
            v = getattr(self, fname)
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise ValueError(f"Request {self.id!r}: {fname}={v!r} must be an integer >= {low}")

    @property
    def seq_len(self) -> int:
        """Context length of a decode iteration: ``prompt_len + generated``."""
        return self.prompt_len + self.generated


# ------------------------------------------------------------------------------- Sublayer
@dataclass(frozen=True)
class Sublayer:
    """One sublayer of ONE decoder layer, divided into units (all layers are identical).

    Per-unit fields are tuples with one entry per unit, in bytes or MACs for one layer;
    footprint properties multiply by ``layers``. Built by :class:`DecodeIteration` and
    :class:`PrefillIteration`.

    Parameters
    ----------
    name
        ``"qkv"``, ``"attention"`` or ``"fc"``.
    phase
        ``"decode"`` or ``"prefill"``.
    model
        The model.
    seq_lens
        Per-request sequence lengths (decode) or prompt lengths (prefill).
    unit_kind
        ``"head"``, ``"kv_group"``, ``"kv_head"``, ``"column_slice"`` or ``"expert"``.
    tokens
        Token rows each unit's weights multiply (``qkv``/``fc``: batch for decode, the prompt
        tokens for prefill; MoE ``fc``: the tokens routed to the expert) or query rows of an
        ``attention`` unit.
    weight_bytes
        Resident weights of the unit in one layer.
    weight_read_bytes
        Weights the unit streams in this iteration in one layer (less than ``weight_bytes`` only
        for an MoE expert with no routed token).
    kv_bytes
        KV cache of the unit in one layer (read once by the attention kernel).
    activation_in_bytes
        Input activation the unit needs in one layer (the whole input when ``replicated_input``).
    activation_out_bytes
        Output activation the unit produces in one layer.
    ops
        Multiply-accumulates of the unit in one layer.
    replicated_input
        Every unit needs the same whole input (``qkv``, ``fc``), rather than a part of its own.
    exchange_bytes
        Intermediate activations of one layer that must be assembled whole inside the sublayer
        (``fc`` only; see the module docstring).
    layers
        Decoder layers the iteration repeats this sublayer for.

    Raises
    ------
    ValueError
        Naming the sublayer, field and value.

    Example
    -------
    >>> from h2m2 import models
    >>> it = DecodeIteration.uniform(models.get("GPT3-175B"), batch=32, seq_len=1024)
    >>> it.fc.units, it.fc.kernel_for(48)["n"]
    (96, 55296)
    """

    name: str
    phase: str
    model: ModelSpec = field(repr=False)
    seq_lens: tuple[int, ...] = field(repr=False)
    unit_kind: str
    tokens: tuple[int, ...] = field(repr=False)
    weight_bytes: tuple[int, ...] = field(repr=False)
    weight_read_bytes: tuple[int, ...] = field(repr=False)
    kv_bytes: tuple[int, ...] = field(repr=False)
    activation_in_bytes: tuple[int, ...] = field(repr=False)
    activation_out_bytes: tuple[int, ...] = field(repr=False)
    ops: tuple[int, ...] = field(repr=False)
    replicated_input: bool
    exchange_bytes: int
    layers: int

    def __post_init__(self) -> None:
        who = f"Sublayer {self.name!r}"
        if self.name not in SUBLAYERS:
            raise ValueError(f"{who}: name is unknown; known: {', '.join(SUBLAYERS)}")
        if self.phase not in PHASES:
            raise ValueError(f"{who}: phase={self.phase!r} is unknown; known: {', '.join(PHASES)}")
        n = len(self.weight_bytes)
        if n < 1:
            raise ValueError(f"{who}: weight_bytes is empty: a sublayer needs at least one unit")
        for fname in _UNIT_FIELDS:
            values = getattr(self, fname)
            if not isinstance(values, tuple) or len(values) != n:
                raise ValueError(
                    f"{who}: {fname} must be a tuple of {n} values (one per unit, as weight_bytes)"
                )
            for i, v in enumerate(values):
                if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                    raise ValueError(f"{who}: {fname}[{i}]={v!r} must be a non-negative integer")
        for i, (read, held) in enumerate(
            zip(self.weight_read_bytes, self.weight_bytes, strict=True)
        ):
            if read > held:
                raise ValueError(
                    f"{who}: weight_read_bytes[{i}]={read} must not exceed weight_bytes[{i}]={held}"
                )
        if self.layers < 1:
            raise ValueError(f"{who}: layers={self.layers} must be >= 1")
        if self.exchange_bytes < 0:
            raise ValueError(f"{who}: exchange_bytes={self.exchange_bytes} must be >= 0")

    # ----------------------------------------------------------------- sizes
    @property
    def units(self) -> int:
        """N, the number of units."""
        return len(self.weight_bytes)

    @property
    def batch(self) -> int:
        """Requests in the iteration."""
        return len(self.seq_lens)

    @property
    def read_bytes(self) -> tuple[int, ...]:
        """Bytes each unit streams from memory in one layer: ``weight_read_bytes + kv_bytes``."""
        return tuple(w + k for w, k in zip(self.weight_read_bytes, self.kv_bytes, strict=True))

    def total(self, name: str) -> int:
        """One-layer total of a per-unit field over all units.

        ``activation_in_bytes`` of a replicated input is counted once (the distinct input).

        Parameters
        ----------
        name
            A per-unit field (``"weight_bytes"``, ``"kv_bytes"``, ``"ops"``, ...) or
            ``"read_bytes"``.

        Returns
        -------
        int

        Raises
        ------
        ValueError
            For an unknown field.

        Example
        -------
        >>> from h2m2 import models
        >>> it = DecodeIteration.uniform(models.get("GPT3-175B"), batch=1, seq_len=1)
        >>> it.qkv.total("weight_bytes")
        452984832
        """
        if name == "read_bytes":
            return sum(self.read_bytes)
        if name not in _UNIT_FIELDS:
            raise ValueError(
                f"Sublayer {self.name!r}: unknown per-unit field {name!r}; known: "
                f"{', '.join((*_UNIT_FIELDS, 'read_bytes'))}"
            )
        values: tuple[int, ...] = getattr(self, name)
        if name == "activation_in_bytes" and self.replicated_input:
            return values[0]
        return sum(values)

    # ----------------------------------------------------------------- footprints
    @property
    def unit_weight_footprint_bytes(self) -> tuple[int, ...]:
        """Weights of each unit over all layers: ``weight_bytes x layers``."""
        return tuple(w * self.layers for w in self.weight_bytes)

    @property
    def unit_kv_footprint_bytes(self) -> tuple[int, ...]:
        """KV cache of each unit over all layers: ``kv_bytes x layers``."""
        return tuple(k * self.layers for k in self.kv_bytes)

    @property
    def unit_footprint_bytes(self) -> tuple[int, ...]:
        """Weights plus KV of each unit over all layers."""
        return tuple(
            (w + k) * self.layers for w, k in zip(self.weight_bytes, self.kv_bytes, strict=True)
        )

    @property
    def weight_footprint_bytes(self) -> int:
        """Weights of the sublayer over all units and layers."""
        return sum(self.weight_bytes) * self.layers

    @property
    def kv_footprint_bytes(self) -> int:
        """KV cache of the sublayer over all units and layers."""
        return sum(self.kv_bytes) * self.layers

    def footprint_bytes(self, units: int | None = None, *, start: int = 0) -> int:
        """Weights plus KV over all layers of units ``start .. start + units - 1``.

        Parameters
        ----------
        units
            How many units (default: all units from ``start``); 0 gives 0.
        start
            First unit (default 0).

        Returns
        -------
        int
            Bytes.

        Raises
        ------
        ValueError
            If the range is not inside ``0 .. units``.

        Example
        -------
        >>> from h2m2 import models
        >>> it = DecodeIteration.uniform(models.get("Llama2-70B"), batch=1, seq_len=1)
        >>> it.attention.footprint_bytes(1)
        20480
        """
        if units is None:
            units = self.units - start
        if units == 0 and 0 <= start <= self.units:
            return 0
        sel = self._select(units, start)
        return sum(self.unit_footprint_bytes[sel])

    # ----------------------------------------------------------------- kernels
    def _select(self, units: int, start: int) -> slice:
        if (
            not isinstance(units, int)
            or not isinstance(start, int)
            or units < 1
            or start < 0
            or start + units > self.units
        ):
            raise ValueError(
                f"Sublayer {self.name!r}: units={units!r} from start={start!r} is outside its "
                f"{self.units} units (need units >= 1, start >= 0, start + units <= {self.units})"
            )
        return slice(start, start + units)

    def _kv_len(self) -> int:
        return _ceil_div(sum(self.seq_lens), len(self.seq_lens))

    def kernel_for(self, units: int, *, start: int = 0) -> dict[str, Any]:
        """The fused kernel that runs units ``start .. start + units - 1`` on one device.

        * ``qkv``: linear ``m = tokens, k = d_model, n = units x (group + 2) x head_dim``.
        * ``attention`` (decode): attention ``batch, kv_heads = units, group = q_heads /
          kv_heads, head_dim, kv_len = ceil(mean sequence length)``; softmax is inside.
          Prefill: the queries are folded into ``group`` (module docstring).
        * ``fc``: one linear streaming exactly the weights the units read:
          ``k = d_model, n = ceil(weight elements / d_model), m = ceil(MACs / weight elements)``
          (m = tokens for a dense model; the whole FFN chain is charged as one weight stream).

        Vector ops other than softmax are not included: see :meth:`kernels_for`.

        Parameters
        ----------
        units
            Units on the device (at least 1).
        start
            First unit (default 0; the other device's run starts where this one ends).

        Returns
        -------
        dict
            KernelDesc fields: ``op`` and the fields that op reads, plus ``element_bytes``.

        Raises
        ------
        ValueError
            If the range is not inside the sublayer's units.

        Example
        -------
        >>> from h2m2 import models
        >>> it = DecodeIteration.uniform(models.get("Llama2-70B"), batch=4, seq_len=100)
        >>> it.attention.kernel_for(2)["group"]
        8
        """
        sel = self._select(units, start)
        m, eb = self.model, self.model.element_bytes
        if self.name == "qkv":
            return _linear(self.tokens[0], m.d_model, units * (m.group_size + 2) * m.head_dim, eb)
        if self.name == "attention":
            kv_len = self._kv_len()
            group = m.group_size
            if self.phase == "prefill":
                causal = sum(L * (L + 1) // 2 for L in self.seq_lens)
                group *= _ceil_div(causal, self.batch * kv_len)
            return {
                "op": "attention",
                "batch": self.batch,
                "kv_heads": units,
                "group": group,
                "head_dim": m.head_dim,
                "kv_len": kv_len,
                "element_bytes": eb,
            }
        elements = sum(self.weight_read_bytes[sel]) // eb
        macs = sum(self.ops[sel])
        return _linear(_ceil_div(macs, elements), m.d_model, _ceil_div(elements, m.d_model), eb)

    def kernels_for(self, units: int, *, start: int = 0) -> dict[str, dict[str, Any]]:
        """The kernels, in order, that run units ``start .. start + units - 1`` on one device.

        * ``qkv``: ``norm`` (layernorm/rmsnorm over the whole input, ``tokens x d_model``
          elements, replicated on each device holding qkv units), ``qkv`` (linear as in
          :meth:`kernel_for`), ``rope`` (rotary models: the Q and K columns,
          ``tokens x units x (group + 1) x head_dim`` elements).
        * ``attention``: ``attention`` (as in :meth:`kernel_for`; softmax inside).
        * ``fc`` (dense): ``out_proj`` (linear, k = q_heads x head_dim, n = the units'
          out-projection columns), ``residual_attn`` (residual add on those columns), ``norm``
          (whole row, replicated), ``ffn_in`` (up, and gate for SwiGLU, fused: n = (1 or 2) x
          the units' FFN columns), ``activation`` (gelu or swiglu on the units' FFN columns),
          ``ffn_down`` (linear, k = ffn_dim, n = the units' down columns), ``residual_ffn``.
        * ``fc`` (MoE): ``out_proj``, ``residual_attn``, ``norm`` as above; then, if any selected
          expert has tokens, ``ffn_in`` / ``activation`` / ``ffn_down`` over the active experts
          with m = their mean routed tokens rounded up; ``residual_ffn`` (combine and residual add
          on the units' out-projection columns).

        Parameters
        ----------
        units
            Units on the device (at least 1).
        start
            First unit (default 0).

        Returns
        -------
        dict
            Kernel name -> KernelDesc dict, in execution order.

        Raises
        ------
        ValueError
            If the range is not inside the sublayer's units.

        Example
        -------
        >>> from h2m2 import models
        >>> it = DecodeIteration.uniform(models.get("Llama2-70B"), batch=4, seq_len=100)
        >>> list(it.qkv.kernels_for(8))
        ['norm', 'qkv', 'rope']
        """
        sel = self._select(units, start)
        m, eb = self.model, self.model.element_bytes
        if self.name == "attention":
            return {"attention": self.kernel_for(units, start=start)}
        rows = self.batch_rows
        kernels: dict[str, dict[str, Any]] = {}
        if self.name == "qkv":
            kernels["norm"] = _vector(m.norm, rows * m.d_model, eb)
            kernels["qkv"] = self.kernel_for(units, start=start)
            if m.rotary:
                elements = rows * units * (m.group_size + 1) * m.head_dim
                kernels["rope"] = _vector("rope", elements, eb)
            return kernels
        out_cols = sum(_split(m.d_model, self.units)[sel])
        kernels["out_proj"] = _linear(rows, m.q_heads * m.head_dim, out_cols, eb)
        kernels["residual_attn"] = _vector("residual_add", rows * out_cols, eb)
        kernels["norm"] = _vector(m.norm, rows * m.d_model, eb)
        act = "swiglu" if m.ffn_kind == "swiglu" else "gelu"
        in_mats = m.ffn_matrices - 1
        if m.is_moe:
            active = [t for t in self.tokens[sel] if t > 0]
            if active:
                t_mean = _ceil_div(sum(active), len(active))
                n_ffn = len(active) * m.ffn_dim
                kernels["ffn_in"] = _linear(t_mean, m.d_model, in_mats * n_ffn, eb)
                kernels["activation"] = _vector(act, sum(active) * m.ffn_dim, eb)
                kernels["ffn_down"] = _linear(t_mean, m.ffn_dim, len(active) * m.d_model, eb)
            kernels["residual_ffn"] = _vector("residual_add", rows * out_cols, eb)
            return kernels
        ffn_cols = sum(_split(m.ffn_dim, self.units)[sel])
        kernels["ffn_in"] = _linear(rows, m.d_model, in_mats * ffn_cols, eb)
        kernels["activation"] = _vector(act, rows * ffn_cols, eb)
        kernels["ffn_down"] = _linear(rows, m.ffn_dim, out_cols, eb)
        kernels["residual_ffn"] = _vector("residual_add", rows * out_cols, eb)
        return kernels

    @property
    def batch_rows(self) -> int:
        """Token rows of the input: batch (decode) or the sum of prompt lengths (prefill)."""
        return self.batch if self.phase == "decode" else sum(self.seq_lens)

    # ----------------------------------------------------------------- tables
    def to_frame(self) -> pd.DataFrame:
        """One row per unit: the per-unit fields (one layer) and the footprints (all layers).

        Returns
        -------
        pandas.DataFrame
            Columns ``sublayer, unit, tokens, weight_bytes, weight_read_bytes, kv_bytes,
            activation_in_bytes, activation_out_bytes, ops, read_bytes, weight_footprint_bytes,
            kv_footprint_bytes, footprint_bytes``.

        Example
        -------
        >>> from h2m2 import models
        >>> it = DecodeIteration.uniform(models.get("Llama2-70B"), batch=2, seq_len=8)
        >>> len(it.attention.to_frame())
        8
        """
        import pandas as pd

        data: dict[str, Any] = {
            "sublayer": [self.name] * self.units,
            "unit": list(range(self.units)),
        }
        for fname in _UNIT_FIELDS:
            data[fname] = list(getattr(self, fname))
        data["read_bytes"] = list(self.read_bytes)
        data["weight_footprint_bytes"] = list(self.unit_weight_footprint_bytes)
        data["kv_footprint_bytes"] = list(self.unit_kv_footprint_bytes)
        data["footprint_bytes"] = list(self.unit_footprint_bytes)
        frame = pd.DataFrame(data)
        for col in frame.columns[2:]:
            frame[col] = frame[col].astype("int64")
        return frame


# ------------------------------------------------------------------------------- builders
def _build_qkv(model: ModelSpec, phase: str, seq_lens: tuple[int, ...], rows: int) -> Sublayer:
    eb, n = model.element_bytes, model.kv_heads
    cols = (model.group_size + 2) * model.head_dim
    weight = model.d_model * cols * eb
    return Sublayer(
        name="qkv",
        phase=phase,
        model=model,
        seq_lens=seq_lens,
        unit_kind="head" if model.group_size == 1 else "kv_group",
        tokens=(rows,) * n,
        weight_bytes=(weight,) * n,
        weight_read_bytes=(weight,) * n,
        kv_bytes=(0,) * n,
        activation_in_bytes=(rows * model.d_model * eb,) * n,
        activation_out_bytes=(rows * cols * eb,) * n,
        ops=(rows * model.d_model * cols,) * n,
        replicated_input=True,
        exchange_bytes=0,
        layers=model.layers,
    )


def _build_attention(
    model: ModelSpec, phase: str, seq_lens: tuple[int, ...], rows: int
) -> Sublayer:
    eb, n, g, hd = model.element_bytes, model.kv_heads, model.group_size, model.head_dim
    total_len = sum(seq_lens)
    # Keys each query attends to, summed over the queries of one head: decode has one query per
    # request over L keys; prefill is causal, L(L+1)/2 per request.
    scores = total_len if phase == "decode" else sum(L * (L + 1) // 2 for L in seq_lens)
    return Sublayer(
        name="attention",
        phase=phase,
        model=model,
        seq_lens=seq_lens,
        unit_kind="head" if g == 1 else "kv_head",
        tokens=(rows,) * n,
        weight_bytes=(0,) * n,
        weight_read_bytes=(0,) * n,
        kv_bytes=(2 * total_len * hd * eb,) * n,
        activation_in_bytes=(rows * g * hd * eb,) * n,
        activation_out_bytes=(rows * g * hd * eb,) * n,
        ops=(2 * g * hd * scores,) * n,
        replicated_input=False,
        exchange_bytes=0,
        layers=model.layers,
    )


def _build_fc(
    model: ModelSpec,
    phase: str,
    seq_lens: tuple[int, ...],
    rows: int,
    units: int,
    expert_tokens: tuple[int, ...] | None,
) -> Sublayer:
    eb, d, f = model.element_bytes, model.d_model, model.ffn_dim
    attn_width = model.q_heads * model.head_dim
    out_cols = _split(d, units)
    if model.is_moe:
        tokens = expert_tokens or _split(rows * model.experts_per_token, units)
        expert = model.expert_weight_bytes
        out_w = tuple(attn_width * c * eb for c in out_cols)
        weight = tuple(w + expert for w in out_w)
        read = tuple(w + (expert if t else 0) for w, t in zip(out_w, tokens, strict=True))
        ops = tuple(
            rows * attn_width * c + t * model.ffn_matrices * d * f
            for c, t in zip(out_cols, tokens, strict=True)
        )
        act_out = tuple(t * d * eb for t in tokens)
        exchange = 2 * rows * d * eb
        kind = "expert"
    else:
        ffn_cols = _split(f, units)
        in_mats = model.ffn_matrices - 1
        elements = tuple(
            attn_width * c + in_mats * d * u + f * c
            for c, u in zip(out_cols, ffn_cols, strict=True)
        )
        tokens = (rows,) * units
        weight = tuple(e * eb for e in elements)
        read = weight
        ops = tuple(rows * e for e in elements)
        act_out = tuple(rows * c * eb for c in out_cols)
        exchange = rows * (d + f) * eb
        kind = "column_slice"
    return Sublayer(
        name="fc",
        phase=phase,
        model=model,
        seq_lens=seq_lens,
        unit_kind=kind,
        tokens=tuple(tokens),
        weight_bytes=weight,
        weight_read_bytes=read,
        kv_bytes=(0,) * units,
        activation_in_bytes=(rows * attn_width * eb,) * units,
        activation_out_bytes=act_out,
        ops=ops,
        replicated_input=True,
        exchange_bytes=exchange,
        layers=model.layers,
    )


# ------------------------------------------------------------------------------- iterations
@dataclass(frozen=True)
class Iteration:
    """Common part of :class:`DecodeIteration` and :class:`PrefillIteration` (not built directly).

    Parameters
    ----------
    model
        The model.
    seq_lens
        One length per request (``batch = len(seq_lens)``, at least 1; every length >= 1).
    expert_tokens
        MoE only: tokens routed to each expert (``experts`` values, each between 0 and the token
        rows, summing to rows x top-k). Default None: balanced routing.
    fc_units
        Units of the fc sublayer (default None: ``q_heads`` for a dense model, ``experts`` for
        MoE, which allows no other value).

    Attributes
    ----------
    layers
        Decoder layers: the three sublayers describe ONE layer and the iteration repeats them
        ``layers`` times.
    qkv, attention, fc
        The sublayers.

    Raises
    ------
    ValueError
        Naming the iteration, the model, the field and the value.

    Example
    -------
    >>> from h2m2 import models
    >>> it = DecodeIteration(models.get("GPT3-175B"), [512, 1024])
    >>> it.batch, it.layers
    (2, 96)
    """

    phase: ClassVar[str] = ""

    model: ModelSpec
    seq_lens: Sequence[int]
    expert_tokens: Sequence[int] | None = field(default=None, kw_only=True)
    fc_units: int | None = field(default=None, kw_only=True)
    layers: int = field(init=False)
    qkv: Sublayer = field(init=False, repr=False, compare=False)
    attention: Sublayer = field(init=False, repr=False, compare=False)
    fc: Sublayer = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if type(self) is Iteration:
            raise TypeError("Iteration is abstract: build a DecodeIteration or PrefillIteration")
        if not isinstance(self.model, ModelSpec):
            raise ValueError(
                f"{type(self).__name__}: model={self.model!r} must be a ModelSpec "
                "(use h2m2.models.get(name))"
            )
        m = self.model
        who = f"{type(self).__name__}({m.name})"
        lens = self._int_tuple(who, "seq_lens", self.seq_lens)
        if not lens:
            raise ValueError(f"{who}: seq_lens is empty: batch must be >= 1 request")
        for i, L in enumerate(lens):
            if L < 1:
                raise ValueError(f"{who}: seq_lens[{i}]={L} must be >= 1")
        object.__setattr__(self, "seq_lens", lens)
        rows = len(lens) if self.phase == "decode" else sum(lens)

        routed: tuple[int, ...] | None = None
        if self.expert_tokens is not None:
            if not m.is_moe:
                raise ValueError(
                    f"{who}: expert_tokens given but {m.name} is dense (experts={m.experts})"
                )
            routed = self._int_tuple(who, "expert_tokens", self.expert_tokens)
            if len(routed) != m.experts:
                raise ValueError(
                    f"{who}: expert_tokens has {len(routed)} values; need one per expert "
                    f"(experts={m.experts})"
                )
            for i, t in enumerate(routed):
                if not 0 <= t <= rows:
                    raise ValueError(
                        f"{who}: expert_tokens[{i}]={t} must be between 0 and the {rows} token rows"
                    )
            if sum(routed) != rows * m.experts_per_token:
                raise ValueError(
                    f"{who}: expert_tokens sum to {sum(routed)}; must be token rows x top-k = "
                    f"{rows} x {m.experts_per_token} = {rows * m.experts_per_token}"
                )
            object.__setattr__(self, "expert_tokens", routed)

        fc_units = self.fc_units
        if fc_units is None:
            fc_units = m.experts if m.is_moe else m.q_heads
        elif not isinstance(fc_units, int) or isinstance(fc_units, bool):
            raise ValueError(f"{who}: fc_units={fc_units!r} must be an integer")
        elif m.is_moe and fc_units != m.experts:
            raise ValueError(
                f"{who}: fc_units={fc_units} must equal experts={m.experts} for an MoE model "
                "(its fc units are the experts)"
            )
        elif not 1 <= fc_units <= min(m.d_model, m.ffn_dim):
            raise ValueError(
                f"{who}: fc_units={fc_units} must be between 1 and min(d_model, ffn_dim)="
                f"{min(m.d_model, m.ffn_dim)} (every unit needs at least one column)"
            )

        object.__setattr__(self, "layers", m.layers)
        object.__setattr__(self, "qkv", _build_qkv(m, self.phase, lens, rows))
        object.__setattr__(self, "attention", _build_attention(m, self.phase, lens, rows))
        object.__setattr__(self, "fc", _build_fc(m, self.phase, lens, rows, fc_units, routed))

    @staticmethod
    def _int_tuple(who: str, fname: str, values: Any) -> tuple[int, ...]:
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise ValueError(f"{who}: {fname}={values!r} must be a sequence of integers")
        out = []
        for i, v in enumerate(values):
            if isinstance(v, bool):
                raise ValueError(f"{who}: {fname}[{i}]={v!r} must be an integer")
            try:
                out.append(operator.index(v))
            except TypeError:
                raise ValueError(f"{who}: {fname}[{i}]={v!r} must be an integer") from None
        return tuple(out)

    # ----------------------------------------------------------------- constructors
    @classmethod
    def uniform(
        cls: type[_IterationT], model: ModelSpec, *, batch: int, seq_len: int, **options: Any
    ) -> _IterationT:
        """An iteration of ``batch`` requests that all have length ``seq_len``.

        Parameters
        ----------
        model
            The model.
        batch
            Requests (at least 1).
        seq_len
            Length of every request (at least 1).
        **options
            ``expert_tokens``, ``fc_units``.

        Returns
        -------
        DecodeIteration or PrefillIteration
            An instance of the class it is called on.

        Raises
        ------
        ValueError
            For a batch below 1 or a length below 1.

        Example
        -------
        >>> from h2m2 import models
        >>> DecodeIteration.uniform(models.get("GPT3-175B"), batch=32, seq_len=2048).batch
        32
        """
        if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
            raise ValueError(
                f"{cls.__name__}({model.name}): batch={batch!r} must be an integer >= 1"
            )
        return cls(model, [seq_len] * batch, **options)

    @classmethod
    def from_requests(
        cls: type[_IterationT], model: ModelSpec, requests: Sequence[Request], **options: Any
    ) -> _IterationT:
        """An iteration over ``requests``: decode uses ``seq_len``, prefill ``prompt_len``.

        Parameters
        ----------
        model
            The model.
        requests
            The batch (at least one request).
        **options
            ``expert_tokens``, ``fc_units``.

        Returns
        -------
        DecodeIteration or PrefillIteration

        Raises
        ------
        ValueError
            For an empty batch.

        Example
        -------
        >>> from h2m2 import models
        >>> reqs = [Request(0, prompt_len=10, generated=5), Request(1, prompt_len=20)]
        >>> DecodeIteration.from_requests(models.get("Llama-3-8B"), reqs).seq_lens
        (15, 20)
        """
        field_name = "seq_len" if cls.phase == "decode" else "prompt_len"
        return cls(model, [getattr(r, field_name) for r in requests], **options)

    # ----------------------------------------------------------------- views
    @property
    def batch(self) -> int:
        """Requests in the iteration: ``len(seq_lens)``."""
        return len(self.seq_lens)

    @property
    def tokens(self) -> int:
        """Token rows of the linear layers: batch (decode) or sum of prompt lengths (prefill)."""
        return self.qkv.tokens[0]

    @property
    def sublayers(self) -> tuple[Sublayer, Sublayer, Sublayer]:
        """``(qkv, attention, fc)``, the order of execution."""
        return (self.qkv, self.attention, self.fc)

    def sublayer(self, name: str) -> Sublayer:
        """The sublayer called ``name``.

        Parameters
        ----------
        name
            ``"qkv"``, ``"attention"`` or ``"fc"``.

        Returns
        -------
        Sublayer

        Raises
        ------
        ValueError
            For an unknown name.

        Example
        -------
        >>> from h2m2 import models
        >>> DecodeIteration(models.get("GPT3-175B"), [8]).sublayer("fc").unit_kind
        'column_slice'
        """
        if name not in SUBLAYERS:
            raise ValueError(f"unknown sublayer {name!r}; known: {', '.join(SUBLAYERS)}")
        sub: Sublayer = getattr(self, name)
        return sub

    @property
    def units(self) -> dict[str, int]:
        """N per sublayer, ``{"qkv": ..., "attention": ..., "fc": ...}``."""
        return {s.name: s.units for s in self.sublayers}

    @property
    def mapping_space_size(self) -> int:
        """Head-aware mappings ``(n_qkv, n_att, n_fc)``: ``prod(N + 1)`` over the sublayers."""
        return math.prod(s.units + 1 for s in self.sublayers)

    @property
    def weight_footprint_bytes(self) -> int:
        """Decoder-layer weights of all sublayers over all layers (no embedding or LM head)."""
        return sum(s.weight_footprint_bytes for s in self.sublayers)

    @property
    def kv_footprint_bytes(self) -> int:
        """KV cache of the batch over all layers: ``model.kv_bytes_per_token x sum(seq_lens)``."""
        return sum(s.kv_footprint_bytes for s in self.sublayers)

    @property
    def footprint_bytes(self) -> int:
        """``weight_footprint_bytes + kv_footprint_bytes``."""
        return self.weight_footprint_bytes + self.kv_footprint_bytes

    def lm_head_kernel(self) -> dict[str, Any]:
        """The LM head, outside the three sublayers: linear ``m = batch, k = d_model, n = vocab``.

        Only the last position of each request needs logits, in decode and prefill alike.

        Returns
        -------
        dict
            A KernelDesc dict.

        Example
        -------
        >>> from h2m2 import models
        >>> DecodeIteration(models.get("GPT3-175B"), [8, 8]).lm_head_kernel()["n"]
        50257
        """
        m = self.model
        return _linear(self.batch, m.d_model, m.vocab, m.element_bytes)

    def to_frame(self, *, per_unit: bool = False) -> pd.DataFrame:
        """The iteration as a table.

        Parameters
        ----------
        per_unit
            One row per (sublayer, unit) as in :meth:`Sublayer.to_frame` (default False: one
            row per sublayer with the one-layer totals and the all-layer footprints).

        Returns
        -------
        pandas.DataFrame

        Example
        -------
        >>> from h2m2 import models
        >>> DecodeIteration(models.get("GPT3-175B"), [8]).to_frame()["units"].tolist()
        [96, 96, 96]
        """
        import pandas as pd

        if per_unit:
            return pd.concat([s.to_frame() for s in self.sublayers], ignore_index=True)
        rows = []
        for s in self.sublayers:
            row: dict[str, Any] = {
                "phase": self.phase,
                "sublayer": s.name,
                "unit_kind": s.unit_kind,
                "units": s.units,
            }
            for fname in (*_UNIT_FIELDS[1:], "read_bytes"):
                row[fname] = s.total(fname)
            row["exchange_bytes"] = s.exchange_bytes
            row["weight_footprint_bytes"] = s.weight_footprint_bytes
            row["kv_footprint_bytes"] = s.kv_footprint_bytes
            row["footprint_bytes"] = s.footprint_bytes()
            rows.append(row)
        return pd.DataFrame(rows)


@dataclass(frozen=True)
class DecodeIteration(Iteration):
    """One decode iteration: every request generates one token.

    ``seq_lens[i]`` is request i's sequence length: the tokens whose K/V its attention reads in
    each layer, the token processed in this iteration included. Linear layers have m = batch.
    Fields, options and errors as in :class:`Iteration`.

    Example
    -------
    >>> from h2m2 import models
    >>> it = DecodeIteration.uniform(models.get("Llama2-70B"), batch=128, seq_len=1024)
    >>> it.kv_footprint_bytes == 128 * 1024 * 163840
    True
    """

    phase: ClassVar[str] = "decode"


@dataclass(frozen=True)
class PrefillIteration(Iteration):
    """One prefill iteration: each request's prompt runs through the model at once.

    Beyond the paper (decode only). ``seq_lens[i]`` is request i's prompt length. Linear layers
    have m = sum of prompt lengths; attention is causal (``L(L+1)/2`` scores per head and
    request); the prompt's K/V (``kv_bytes``) are the KV cache the iteration leaves behind.
    Fields, options and errors as in :class:`Iteration`.

    Example
    -------
    >>> from h2m2 import models
    >>> it = PrefillIteration(models.get("Llama-3-8B"), [100, 28])
    >>> it.tokens
    128
    """

    phase: ClassVar[str] = "prefill"
