"""Design-space sweeps: a spec of axes over a base configuration, run in parallel, saved to Parquet.

A sweep specification names a ``base`` configuration and ``axes`` that vary it. Every combination
is a *point*: a fully resolved configuration (a :class:`~h2m2.hardware.SystemSpec`, a
:class:`~h2m2.models.ModelSpec`, the run options and free ``params``) whose id is the sha256 of
the canonical JSON of that configuration, as the engine receives it, plus the engine version and
the point function's name. Points run in a local process pool (default), on a Dask cluster
(``scheduler="tcp://HOST:PORT"``) or on any :class:`concurrent.futures.Executor`. Each finished
point is written at once, atomically, as one Parquet file of a dataset directory; re-running the
sweep skips the points already there, so an interrupted sweep loses nothing it finished.

Spec format (YAML, TOML, JSON or a dict)
----------------------------------------
.. code-block:: yaml

    point: h2m2.sweep:run_point     # optional: the point function, "module:function"
    base:
      system: h2m2                  # a system preset of h2m2.presets, or a mapping (below)
      model: llama2-70b             # a zoo name (h2m2.models), or a mapping of ModelSpec fields
      batch: 128                    # run options: batch, seq_len (int or per-request list),
      seq_len: 2048                 #   policy, iterations, fidelity, seed; absent ones are not
      policy: h2m2                  #   passed, so h2m2.simulate's defaults apply
      params: {}                    # free keyword arguments of the point function
    axes:
      grid:                         # cartesian product, first axis outermost
        seq_len: [1024, 2048, 4096]
        system.hbm.capacity_gb: [48, 96]
      zip:                          # paired lists of equal length (or a list of such groups)
        batch: [32, 64]
        policy: [h2m2, lpddr_only]
      random:                       # n samples, deterministic for a seed
        n: 8
        seed: 1
        fields:
          system.link.bandwidth_GBps: {uniform: [240, 960]}
          system.lpddr.npu.cores: {choice: [2, 4, 8]}
          seq_len: {randint: [256, 4096], step: 256}   # also loguniform: [lo, hi]

The groups combine as a cartesian product: ``grid x zip x random``. An axis overrides the base
value of its path. Nested mappings are read as dotted paths (so TOML's ``system.hbm.capacity_gb =
[48, 96]`` works unquoted). Points with equal ids are run and returned once.

Dotted paths
------------
``batch``, ``seq_len``, ``policy``, ``iterations``, ``fidelity``, ``seed``
    Run options.
``params.NAME``
    A point-function argument declared under ``base.params``.
``model``, ``model.FIELD``
    A zoo model name; a :class:`~h2m2.models.ModelSpec` field of it (``model.layers``). A model
    mapping is ``{zoo: NAME, FIELD: ...}`` or every ModelSpec field.
``system``
    A system preset name (``h2m2``, ``lpddr_only``); ``system.PARAM`` is a parameter of the
    preset function (``system.hbm_capacity_gb``, ``system.lpddr_channels``).
``system.devices``
    Instead of a preset (base only): a list of devices, each a mapping with ``name``,
    ``dram_preset`` and any device field below; two devices get a default link.
``system.barrier_ns``, ``system.link.FIELD``
    :class:`~h2m2.hardware.SystemSpec` barrier and :class:`~h2m2.hardware.LinkSpec` fields.
``system.npu.FIELD``, ``system.mmu.FIELD``, ``system.controller.FIELD``
    Fields of every device's NPU, MMU or memory controller (a device's own setting wins).
``system.DEV.FIELD``, for the device named ``DEV`` (``hbm``, ``lpddr``):
    ``dram_preset``
        DRAM device preset (``HBM3E_9600_16Gb_8hi``); the capacity is kept unless given.
    ``dram.KEY``
        :meth:`~h2m2.dram.DeviceSpec.override` of the preset: a timing in cycles (``nCL``), in ns
        (``tRCD_RD_ns``), an organisation field (``rows``) or ``data_rate_mts``.
    ``data_rate_mts``
        Data rate per pin (the preset's ns timings are re-rounded to the new clock).
    ``channels``
        JEDEC channels of the memory system.
    ``capacity_gb``
        Derived: capacity in GiB (2**30 bytes, as in :func:`h2m2.presets.hbm_device`), a whole
        number of DRAM devices (an HBM stack, an LPDDR package); sets ``channels``.
    ``bandwidth_GBps``
        Derived: peak bandwidth; sets ``data_rate_mts = bandwidth_GBps * 8000 / (channels x
        pseudo_channels x dq_bits)`` after the channel count is known.
    ``mapping``, ``xor_bank``
        Address mapping order (``row-rank-bank-column-bankgroup-channel``) and bank XOR.
    ``controller.FIELD``, ``npu.FIELD``, ``mmu.FIELD``
        :class:`~h2m2.dram.ControllerSpec`, :class:`~h2m2.hardware.NpuSpec`,
        :class:`~h2m2.hardware.MmuSpec` fields of that device.

A system mapping is ``{preset: NAME, ...}`` or ``{devices: [...], ...}`` plus any of the fields
above as nested keys (``{preset: h2m2, hbm: {capacity_gb: 48}}``). A device whose data rate is
changed is renamed ``<STD>_<new MT/s>_<org>``.

Validation: the whole spec is expanded and every point resolved before anything runs; an unknown
field, a value of the wrong type, an empty axis, zip lists of different lengths or a value the
hardware rejects raise :class:`SpecError` naming the spec path (``axes.grid.seq_len[2]``).

Execution
---------
Points run in a local :class:`~concurrent.futures.ProcessPoolExecutor` (the platform's default
start method; worker processes ignore Ctrl-C so that the parent stops them), at most twice as many
in flight as there are workers. A worker that dies (a crash, the OOM killer) breaks the pool: it is
rebuilt and the points it held run again one at a time, so only the point that kills its worker is
recorded as failed. On Ctrl-C the workers are stopped and :class:`KeyboardInterrupt` propagates;
every saved point stays. With ``scheduler`` the points are Dask tasks on the cluster (a lost worker
is Dask's to retry); with ``executor`` they go to that executor. Rows are written by this process
only, so workers need no shared file system. The point function and :class:`Point` must pickle.

Shared kernel memo: each point gets ``memo_dir`` (default ``OUT/_memo``) and :meth:`Point.memo`
opens a :class:`~h2m2.memo_store.KernelMemoStore` scoped to the point's system; :func:`run_point`
passes it to :func:`h2m2.simulate` as ``memo=``, so a kernel one point simulated (``sampled``) is
read back by every later point with the same system, in any process. Workers without a shared
file system each keep their own copy of the directory (a per-machine memo).

Results
-------
One row per point: ``point_id``, every assigned path (lists as JSON text), ``resolved.*``
(capacity, channels, data rate and peak bandwidth of each device, link bandwidth), the point
function's metrics, ``status`` (``"ok"`` or ``"failed"``), ``error``, ``traceback`` and
``wall_s``. The dataset is ``OUT/point-<id>.parquet``; read it with :func:`read_results`.
Failed points are retried on the next run (``retry_failed``).

Owns: worker processes of its local pool, the Parquet files of ``out``. Hot path: no.

Example
-------
>>> import h2m2.sweep as hs
>>> frame = hs.sweep("examples/sweep_llama2.yaml", out="runs/llama2")  # doctest: +SKIP
>>> frame.groupby("system.hbm.capacity_gb")["iteration_time_s"].mean()  # doctest: +SKIP
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import hashlib
import importlib
import inspect
import itertools
import json
import math
import os
import signal
import socket
import sys
import time
import traceback as tb
import typing
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from h2m2 import models, presets
from h2m2.dram import standards
from h2m2.dram.address_mapping import AddressMapping
from h2m2.dram.memory_system import ControllerSpec, MemorySpec
from h2m2.engine import FIDELITIES, set_default_threads
from h2m2.hardware import AcceleratorSpec, LinkSpec, MmuSpec, NpuSpec, SystemSpec
from h2m2.memo_store import KernelMemoStore, engine_version
from h2m2.models import ModelSpec

if TYPE_CHECKING:
    import pandas as pd

    from h2m2.dram.standard import DeviceSpec

__all__ = [
    "RUN_FIELDS",
    "Point",
    "PointFunction",
    "SpecError",
    "SweepSpec",
    "dram_point",
    "read_results",
    "result_metrics",
    "run_point",
    "sweep",
]

RUN_FIELDS: tuple[str, ...] = ("batch", "seq_len", "policy", "iterations", "fidelity", "seed")
_BASE_FIELDS: tuple[str, ...] = ("system", "model", *RUN_FIELDS, "params")
_TOP_FIELDS = ("base", "axes", "point")
_AXIS_GROUPS = ("grid", "zip", "random")
_DISTRIBUTIONS = ("choice", "uniform", "loguniform", "randint")
_RESERVED_COLUMNS = ("point_id", "status", "error", "traceback", "wall_s")
_GiB = 1 << 30

PointFunction = Callable[["Point"], Mapping[str, Any]]
Origins = Mapping[str, str]


class SpecError(ValueError):
    """A sweep specification that cannot run; the message starts with the offending spec path.

    Attributes
    ----------
    path
        The spec path (``axes.grid.system.hbm.capacity_gb[1]``).
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


# ------------------------------------------------------------------------------ value checks
def _describe(value: Any) -> str:
    text = f"{type(value).__name__} {value!r}"
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            pass
        else:  # PyYAML reads 1e9 (no dot, no sign) as a string
            text += " (write numbers like 1.0e+9 in YAML)"
    return text


def _coerce(value: Any, kind: Any, where: str) -> Any:
    """``value`` checked against a field type (int, float, bool, str or a Literal)."""
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise SpecError(where, f"expected true or false, got {_describe(value)}")
    if kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise SpecError(where, f"expected an integer, got {_describe(value)}")
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise SpecError(where, f"expected a finite number, got {value!r}")
            return float(value)
        raise SpecError(where, f"expected a number, got {_describe(value)}")
    if kind is str:
        if isinstance(value, str):
            return value
        raise SpecError(where, f"expected a string, got {_describe(value)}")
    if typing.get_origin(kind) is Literal:
        choices = typing.get_args(kind)
        if value in choices and isinstance(value, str):
            return value
        raise SpecError(where, f"expected one of {', '.join(map(repr, choices))}, got {value!r}")
    raise SpecError(where, f"this field ({kind}) cannot be set from a sweep spec")


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


_NPU_FIELDS = _field_types(NpuSpec)
_MMU_FIELDS = _field_types(MmuSpec)
_LINK_FIELDS = _field_types(LinkSpec)
_CONTROLLER_FIELDS = _field_types(ControllerSpec)
_MODEL_FIELDS = _field_types(ModelSpec)
_GROUPS: dict[str, tuple[type, dict[str, Any]]] = {
    "npu": (NpuSpec, _NPU_FIELDS),
    "mmu": (MmuSpec, _MMU_FIELDS),
    "controller": (ControllerSpec, _CONTROLLER_FIELDS),
}
_DEVICE_LEAVES: dict[str, Any] = {
    "dram_preset": str,
    "channels": int,
    "capacity_gb": float,
    "data_rate_mts": float,
    "bandwidth_GBps": float,
    "mapping": str,
    "xor_bank": bool,
}


def _system_presets() -> dict[str, Callable[..., SystemSpec]]:
    """The functions of :mod:`h2m2.presets` that return a whole system."""
    out: dict[str, Callable[..., SystemSpec]] = {}
    for name in presets.__all__:
        fn = getattr(presets, name)
        if inspect.signature(fn).return_annotation in ("SystemSpec", SystemSpec):
            out[name] = fn
    return out


_SYSTEM_PRESETS = _system_presets()
_DEFAULT_BARRIER_NS = typing.cast(
    float, {f.name: f.default for f in dataclasses.fields(SystemSpec)}["barrier_ns"]
)


def _preset_params(fn: Callable[..., Any]) -> dict[str, Any]:
    """Parameters of a preset function that take a plain number or bool."""
    return {
        name: type(p.default)
        for name, p in inspect.signature(fn).parameters.items()
        if type(p.default) in (int, float, bool)
    }


def _check_run_field(name: str, value: Any, where: str) -> Any:
    if name in ("batch", "iterations"):
        v = _coerce(value, int, where)
        if v <= 0:
            raise SpecError(where, f"{name}={v} must be positive")
        return v
    if name == "seed":
        v = _coerce(value, int, where)
        if v < 0:
            raise SpecError(where, f"seed={v} must not be negative")
        return v
    if name == "seq_len":
        if isinstance(value, (list, tuple)):
            if not value:
                raise SpecError(where, "a per-request seq_len list must not be empty")
            return [_check_run_field("seq_len", v, f"{where}[{i}]") for i, v in enumerate(value)]
        v = _coerce(value, int, where)
        if v <= 0:
            raise SpecError(where, f"seq_len={v} must be positive")
        return v
    if name == "policy":
        v = _coerce(value, str, where)
        if not v.strip():
            raise SpecError(where, "policy must not be empty")
        return v
    if name == "fidelity":
        v = _coerce(value, str, where)
        if v not in FIDELITIES:
            raise SpecError(where, f"fidelity={v!r} must be one of {', '.join(FIDELITIES)}")
        return v
    raise SpecError(where, f"unknown field; known: {', '.join(_BASE_FIELDS)}")  # pragma: no cover


def _check_param(value: Any, where: str) -> Any:
    scalar = (str, int, float, bool, type(None))
    if isinstance(value, scalar) and not (isinstance(value, float) and not math.isfinite(value)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, scalar) for v in value):
        return list(value)
    raise SpecError(
        where, f"a param is a number, string, bool, null or a list of them, not {_describe(value)}"
    )


# ------------------------------------------------------------------------------ spec parsing
def _canonical(path: str) -> str:
    """``system.preset`` -> ``system``, ``model.zoo`` -> ``model`` (the mapping forms' keys)."""
    if path == "system.preset":
        return "system"
    if path == "model.zoo":
        return "model"
    return path


def _flatten(
    value: Mapping[str, Any],
    prefix: str,
    origin: str,
    out: dict[str, tuple[Any, str]],
    *,
    keep: Callable[[str, Any], bool] = lambda p, v: False,
) -> None:
    """Nested mappings as dotted paths; ``keep(path, value)`` stops the recursion at a path."""
    for key, v in value.items():
        if not isinstance(key, str) or not key:
            raise SpecError(origin, f"keys must be non-empty strings, got {key!r}")
        path = f"{prefix}.{key}" if prefix else key
        where = f"{origin}.{key}"
        if isinstance(v, Mapping) and not keep(path, v):
            _flatten(v, path, where, out, keep=keep)
        else:
            out[_canonical(path)] = (v, where)


def _check_head(path: str, where: str, base_params: Iterable[str]) -> None:
    head, _, rest = path.partition(".")
    if head not in _BASE_FIELDS:
        raise SpecError(where, f"unknown field {head!r}; known: {', '.join(_BASE_FIELDS)}")
    if head in RUN_FIELDS and rest:
        raise SpecError(where, f"{head} has no field {rest!r}")
    if head == "params":
        if not rest:
            raise SpecError(where, "params is a mapping; address one with params.NAME")
        if rest not in base_params:
            raise SpecError(where, f"unknown param {rest!r}; declare it under base.params")


@dataclass(frozen=True)
class _Dim:
    """One axis dimension: each entry assigns some paths (a grid axis, a zip group, samples)."""

    name: str
    origins: dict[str, str]  # path -> spec path of its list or distribution
    entries: tuple[dict[str, tuple[Any, str]], ...]


def _axis_lists(group: Any, origin: str) -> dict[str, tuple[list[Any], str]]:
    if not isinstance(group, Mapping):
        raise SpecError(
            origin, f"expected a mapping of dotted paths to lists, got {_describe(group)}"
        )
    if not group:
        raise SpecError(origin, "no axes given (empty mapping)")
    flat: dict[str, tuple[Any, str]] = {}
    _flatten(group, "", origin, flat)
    if not flat:
        raise SpecError(origin, "no axes given (empty mapping)")
    out: dict[str, tuple[list[Any], str]] = {}
    for path, (values, where) in flat.items():
        if not isinstance(values, (list, tuple)):
            raise SpecError(where, f"an axis is a list of values, got {_describe(values)}")
        if not values:
            raise SpecError(where, "empty axis (no values)")
        out[path] = (list(values), where)
    return out


def _random_dim(group: Any, base_params: Iterable[str]) -> _Dim:
    import numpy as np

    origin = "axes.random"
    if not isinstance(group, Mapping):
        raise SpecError(
            origin, f"expected a mapping with n, seed and fields, got {_describe(group)}"
        )
    for key in group:
        if key not in ("n", "seed", "fields"):
            raise SpecError(f"{origin}.{key}", "unknown field; known: n, seed, fields")
    if "n" not in group:
        raise SpecError(f"{origin}.n", "required: the number of samples")
    n = _coerce(group["n"], int, f"{origin}.n")
    if n <= 0:
        raise SpecError(f"{origin}.n", f"n={n} must be positive")
    seed = _coerce(group.get("seed", 0), int, f"{origin}.seed")
    if seed < 0:
        raise SpecError(f"{origin}.seed", f"seed={seed} must not be negative")
    fields = group.get("fields")
    if not isinstance(fields, Mapping) or not fields:
        raise SpecError(f"{origin}.fields", "required: a mapping of dotted paths to distributions")
    flat: dict[str, tuple[Any, str]] = {}

    def is_distribution(path: str, value: Any) -> bool:
        # {uniform: [1, 2]} holds no mapping; a path prefix ({hbm: {...}}) always does
        return not any(isinstance(x, Mapping) for x in value.values())

    _flatten(fields, "", f"{origin}.fields", flat, keep=is_distribution)
    columns: dict[str, list[Any]] = {}
    origins: dict[str, str] = {}
    for path, (dist, where) in flat.items():
        _check_head(path, where, base_params)
        if not isinstance(dist, Mapping):
            raise SpecError(
                where,
                f"expected a distribution ({', '.join(_DISTRIBUTIONS)}), got {_describe(dist)}",
            )
        kinds = [k for k in dist if k in _DISTRIBUTIONS]
        extra = [k for k in dist if k not in _DISTRIBUTIONS and k != "step"]
        if len(kinds) != 1 or extra:
            raise SpecError(
                where, f"give exactly one of {', '.join(_DISTRIBUTIONS)} (and step with randint)"
            )
        kind = kinds[0]
        arg = dist[kind]
        if "step" in dist and kind != "randint":
            raise SpecError(f"{where}.step", "step applies only to randint")
        # One generator per path, so that adding a field does not change the others' samples.
        key = int.from_bytes(hashlib.sha256(path.encode()).digest()[:8], "little")
        rng = np.random.default_rng([seed, key])
        if kind == "choice":
            if not isinstance(arg, (list, tuple)) or not arg:
                raise SpecError(f"{where}.choice", "expected a non-empty list of values")
            idx = rng.integers(0, len(arg), size=n)
            columns[path] = [arg[int(i)] for i in idx]
        else:
            if not isinstance(arg, (list, tuple)) or len(arg) != 2:
                raise SpecError(f"{where}.{kind}", "expected [low, high]")
            num = int if kind == "randint" else float
            lo = _coerce(arg[0], num, f"{where}.{kind}[0]")
            hi = _coerce(arg[1], num, f"{where}.{kind}[1]")
            if not lo < hi:
                raise SpecError(f"{where}.{kind}", f"low={lo} must be below high={hi}")
            if kind == "uniform":
                columns[path] = [float(x) for x in rng.uniform(lo, hi, size=n)]
            elif kind == "loguniform":
                if lo <= 0:
                    raise SpecError(f"{where}.{kind}[0]", f"low={lo} must be positive")
                columns[path] = [
                    float(math.exp(x)) for x in rng.uniform(math.log(lo), math.log(hi), size=n)
                ]
            else:
                step = _coerce(dist.get("step", 1), int, f"{where}.step")
                if step <= 0:
                    raise SpecError(f"{where}.step", f"step={step} must be positive")
                count = (hi - lo) // step + 1
                columns[path] = [lo + step * int(i) for i in rng.integers(0, count, size=n)]
        origins[path] = where
    entries = tuple(
        {p: (columns[p][i], f"{origins[p]} (sample {i})") for p in columns} for i in range(n)
    )
    return _Dim("random", origins, entries)


def _parse_axes(axes: Any, base_params: Iterable[str]) -> list[_Dim]:
    if axes is None:
        return []
    if not isinstance(axes, Mapping):
        raise SpecError(
            "axes", f"expected a mapping with grid, zip and/or random, got {_describe(axes)}"
        )
    base_params = list(base_params)
    dims: list[_Dim] = []
    for key in axes:
        if key not in _AXIS_GROUPS:
            raise SpecError(f"axes.{key}", f"unknown axis group; known: {', '.join(_AXIS_GROUPS)}")
    if "grid" in axes:
        for path, (values, where) in _axis_lists(axes["grid"], "axes.grid").items():
            _check_head(path, where, base_params)
            entries = tuple({path: (v, f"{where}[{i}]")} for i, v in enumerate(values))
            dims.append(_Dim(f"grid {path}", {path: where}, entries))
    if "zip" in axes:
        groups = axes["zip"]
        listed = isinstance(groups, (list, tuple))
        if listed and not groups:
            raise SpecError("axes.zip", "empty list of zip groups")
        for g, group in enumerate(groups if listed else [groups]):
            origin = f"axes.zip[{g}]" if listed else "axes.zip"
            lists = _axis_lists(group, origin)
            lengths = {path: len(values) for path, (values, _) in lists.items()}
            if len(set(lengths.values())) > 1:
                detail = ", ".join(f"{lists[p][1]} has {n}" for p, n in lengths.items())
                raise SpecError(origin, f"zip lists must have equal lengths: {detail} values")
            for path, (_, where) in lists.items():
                _check_head(path, where, base_params)
            n = next(iter(lengths.values()))
            entries = tuple(
                {p: (values[i], f"{where}[{i}]") for p, (values, where) in lists.items()}
                for i in range(n)
            )
            dims.append(
                _Dim(f"zip {'+'.join(lists)}", {p: w for p, (_, w) in lists.items()}, entries)
            )
    if "random" in axes:
        dims.append(_random_dim(axes["random"], base_params))
    seen: dict[str, str] = {}
    for dim in dims:
        for path, where in dim.origins.items():
            if path in seen:
                raise SpecError(where, f"{path} is also swept by {seen[path]}; sweep a path once")
            seen[path] = where
    return dims


def _parse_base(base: Any) -> dict[str, tuple[Any, str]]:
    if not isinstance(base, Mapping):
        raise SpecError(
            "base", f"expected a mapping (system, model, batch, ...), got {_describe(base)}"
        )
    flat: dict[str, tuple[Any, str]] = {}
    _flatten(base, "", "base", flat, keep=lambda p, v: p == "system.devices")
    for path, (_, where) in flat.items():
        head, _, rest = path.partition(".")
        if head not in _BASE_FIELDS:
            raise SpecError(where, f"unknown field {head!r}; known: {', '.join(_BASE_FIELDS)}")
        if head in RUN_FIELDS and rest:
            raise SpecError(where, f"{head} has no field {rest!r}")
        if head == "params" and (not rest or "." in rest):
            raise SpecError(where, "params is a mapping of names to numbers, strings or lists")
    if "system" not in flat and "system.devices" not in flat:
        raise SpecError("base.system", "required: a system preset name or a system mapping")
    return flat


# ------------------------------------------------------------------------------ resolution
def _blame(message: str, changes: Mapping[str, tuple[Any, str]]) -> str:
    """The origin of the change that an error message names (``cores=0``), else all of them."""
    for key, (_, where) in changes.items():
        if f"{key.rsplit('.', 1)[-1]}=" in message:
            return where
    return ", ".join(where for _, where in changes.values()) or "base.system"


def _apply(
    obj: Any, fields: Mapping[str, Any], changes: Mapping[str, tuple[Any, str]], what: str
) -> Any:
    """``dataclasses.replace(obj, **changes)`` with each value type-checked."""
    if not changes:
        return obj
    typed = {}
    for key, (value, where) in changes.items():
        if key not in fields:
            raise SpecError(where, f"unknown field {key!r} of {what}; known: {', '.join(fields)}")
        typed[key] = _coerce(value, fields[key], where)
    try:
        return dataclasses.replace(obj, **typed)
    except (ValueError, TypeError) as exc:
        raise SpecError(_blame(str(exc), changes), str(exc)) from None


def _renamed(dev: DeviceSpec, rate: float) -> str:
    """``HBM3_4000_16Gb_8hi`` at 4800 MT/s -> ``HBM3_4800_16Gb_8hi`` (else ``NAME@4800``)."""
    parts = dev.name.split("_")
    if len(parts) >= 2 and parts[1] == f"{dev.data_rate_mts:g}":
        parts[1] = f"{rate:g}"
        return "_".join(parts)
    return f"{dev.name}@{rate:g}"


def _with_rate(dev: DeviceSpec, rate: float, where: str) -> DeviceSpec:
    if rate <= 0:
        raise SpecError(where, f"data rate {rate:g} MT/s must be positive")
    try:
        out = dev.override(name=_renamed(dev, rate), data_rate_mts=rate)
        out.validate()
    except ValueError as exc:
        raise SpecError(where, str(exc)) from None
    return out


def _device_bytes(dev: DeviceSpec) -> int:
    """Capacity of one DRAM device (an HBM stack, an LPDDR package): all its channels."""
    org = dev.organization
    return org.channels * org.pseudo_channels * org.bytes_per_channel


def _channel_bytes(dev: DeviceSpec) -> int:
    org = dev.organization
    return org.pseudo_channels * org.bytes_per_channel


def _channels_for(dev: DeviceSpec, capacity_bytes: float, where: str) -> int:
    devices = capacity_bytes / _device_bytes(dev)
    if capacity_bytes <= 0 or abs(devices - round(devices)) > 1e-9 or round(devices) == 0:
        step = _device_bytes(dev) / _GiB
        raise SpecError(
            where,
            f"{capacity_bytes / _GiB:g} GiB is not a whole number of {dev.name} devices "
            f"({step:g} GiB each)",
        )
    return round(devices) * dev.organization.channels


def _resolve_device(
    acc: AcceleratorSpec,
    fields: Mapping[str, tuple[Any, str]],
    wide: Mapping[str, Mapping[str, tuple[Any, str]]],
) -> AcceleratorSpec:
    """Apply one device's fields in a fixed order (preset, overrides, size, bandwidth, parts)."""
    prefix = f"system.{acc.name}"
    groups: dict[str, dict[str, tuple[Any, str]]] = {g: dict(wide.get(g, {})) for g in _GROUPS}
    overrides: dict[str, tuple[Any, str]] = {}
    leaves: dict[str, tuple[Any, str]] = {}
    for sub, (value, where) in fields.items():
        head, _, rest = sub.partition(".")
        if head in _GROUPS and rest and "." not in rest:
            groups[head][rest] = (value, where)
        elif head == "dram" and rest and "." not in rest:
            overrides[rest] = (value, where)
        elif sub in _DEVICE_LEAVES:
            leaves[sub] = (_coerce(value, _DEVICE_LEAVES[sub], where), where)
        else:
            known = [*_DEVICE_LEAVES, *(f"{g}.FIELD" for g in _GROUPS), "dram.KEY"]
            raise SpecError(where, f"unknown field {prefix}.{sub}; a device has {', '.join(known)}")
    for a, b in (("channels", "capacity_gb"), ("data_rate_mts", "bandwidth_GBps")):
        if a in leaves and b in leaves:
            raise SpecError(
                leaves[b][1], f"{prefix}.{a} and {prefix}.{b} set the same thing; give one"
            )
    if "data_rate_mts" in overrides and ("data_rate_mts" in leaves or "bandwidth_GBps" in leaves):
        raise SpecError(overrides["data_rate_mts"][1], f"the data rate of {prefix} is set twice")

    mem = acc.memory
    dev, channels = mem.dev, mem.channels
    assert channels is not None
    if "dram_preset" in leaves:
        name, where = leaves["dram_preset"]
        try:
            new = standards.get(name)
        except ValueError as exc:
            raise SpecError(where, str(exc)) from None
        if "channels" not in leaves and "capacity_gb" not in leaves:
            capacity = mem.capacity_bytes
            if capacity % _device_bytes(new):
                raise SpecError(
                    where,
                    f"the capacity of {prefix} ({capacity / _GiB:g} GiB) is not a whole number of "
                    f"{new.name} devices ({_device_bytes(new) / _GiB:g} GiB each); set "
                    f"{prefix}.capacity_gb or {prefix}.channels",
                )
            channels = capacity // _channel_bytes(new)
        dev = new
    if "data_rate_mts" in leaves:
        overrides["data_rate_mts"] = leaves["data_rate_mts"]
    if overrides:
        changes: dict[str, Any] = {}
        for key, (value, where) in sorted(overrides.items()):
            changes[key] = _coerce(
                value, float if key.endswith("_ns") or key == "data_rate_mts" else int, where
            )
        rate = changes.get("data_rate_mts", dev.data_rate_mts)
        try:
            name = _renamed(dev, rate) if rate != dev.data_rate_mts else dev.name
            dev = dev.override(name=name, **changes)
            dev.validate()
        except (ValueError, TypeError) as exc:
            raise SpecError(_blame(str(exc), overrides), str(exc)) from None
    if "channels" in leaves:
        channels, where = leaves["channels"]
        if channels <= 0:
            raise SpecError(where, f"channels={channels} must be positive")
    elif "capacity_gb" in leaves:
        capacity_gb, where = leaves["capacity_gb"]
        channels = _channels_for(dev, capacity_gb * _GiB, where)
    if "bandwidth_GBps" in leaves:
        bandwidth, where = leaves["bandwidth_GBps"]
        org = dev.organization
        dev = _with_rate(
            dev, bandwidth * 8000.0 / (channels * org.pseudo_channels * org.dq_bits), where
        )

    mapping = mem.mapping
    if "mapping" in leaves:
        text, where = leaves["mapping"]
        try:
            mapping = AddressMapping.parse(text, xor_bank=mapping.xor_bank)
        except ValueError as exc:
            raise SpecError(where, str(exc)) from None
    if "xor_bank" in leaves:
        mapping = dataclasses.replace(mapping, xor_bank=leaves["xor_bank"][0])
    controller = _apply(mem.controller, _CONTROLLER_FIELDS, groups["controller"], "ControllerSpec")
    try:
        memory = MemorySpec(dev, channels=channels, mapping=mapping, controller=controller)
    except (ValueError, TypeError) as exc:
        raise SpecError(_blame(str(exc), fields) if fields else prefix, str(exc)) from None
    return dataclasses.replace(
        acc,
        memory=memory,
        npu=_apply(acc.npu, _NPU_FIELDS, groups["npu"], "NpuSpec"),
        mmu=_apply(acc.mmu, _MMU_FIELDS, groups["mmu"], "MmuSpec"),
    )


def _device_list(
    value: Any, where: str
) -> list[tuple[AcceleratorSpec, dict[str, tuple[Any, str]]]]:
    if not isinstance(value, (list, tuple)) or not value:
        raise SpecError(
            where, f"expected a non-empty list of device mappings, got {_describe(value)}"
        )
    out = []
    for i, entry in enumerate(value):
        here = f"{where}[{i}]"
        if not isinstance(entry, Mapping):
            raise SpecError(
                here, f"a device is a mapping (name, dram_preset, ...), got {_describe(entry)}"
            )
        for key in ("name", "dram_preset"):
            if key not in entry:
                raise SpecError(f"{here}.{key}", "required")
        name = _coerce(entry["name"], str, f"{here}.name")
        if not name or "." in name or name in (*_GROUPS, "link", "devices", "barrier_ns"):
            raise SpecError(
                f"{here}.name", f"device name {name!r} is empty, has a dot or is reserved"
            )
        preset = _coerce(entry["dram_preset"], str, f"{here}.dram_preset")
        try:
            memory = MemorySpec(preset)
        except ValueError as exc:
            raise SpecError(f"{here}.dram_preset", str(exc)) from None
        flat: dict[str, tuple[Any, str]] = {}
        _flatten(
            {k: v for k, v in entry.items() if k not in ("name", "dram_preset")}, "", here, flat
        )
        out.append((AcceleratorSpec(name, memory), flat))
    return out


def _resolve_system(values: Mapping[str, Any], origins: Origins) -> SystemSpec:
    def where(path: str) -> str:
        return origins.get(path, path)

    sys_values = {p: v for p, v in values.items() if p == "system" or p.startswith("system.")}
    preset_name = sys_values.pop("system", None)
    devices_value = sys_values.pop("system.devices", None)
    if preset_name is not None and devices_value is not None:
        raise SpecError(where("system.devices"), "give a system preset or a device list, not both")
    if preset_name is None and devices_value is None:
        raise SpecError("base.system", "required: a system preset name or a system mapping")

    preset_kwargs: dict[str, tuple[Any, str]] = {}
    link: dict[str, tuple[Any, str]] = {}
    wide: dict[str, dict[str, tuple[Any, str]]] = {}
    per_device: dict[str, dict[str, tuple[Any, str]]] = {}
    barrier: tuple[Any, str] | None = None
    fn: Callable[..., SystemSpec] | None = None
    params: dict[str, Any] = {}
    if preset_name is not None:
        name = _coerce(preset_name, str, where("system"))
        key = name.strip().lower().replace("-", "_")
        if key not in _SYSTEM_PRESETS:
            raise SpecError(
                where("system"),
                f"unknown system preset {name!r}; known: {', '.join(_SYSTEM_PRESETS)}",
            )
        fn = _SYSTEM_PRESETS[key]
        params = _preset_params(fn)
    for path, value in sys_values.items():
        parts = path.split(".")
        w = where(path)
        if len(parts) == 2 and parts[1] in params:
            preset_kwargs[parts[1]] = (value, w)
        elif len(parts) == 2 and parts[1] == "barrier_ns":
            barrier = (value, w)
        elif len(parts) == 3 and parts[1] == "link":
            link[parts[2]] = (value, w)
        elif len(parts) == 3 and parts[1] in _GROUPS:
            wide.setdefault(parts[1], {})[parts[2]] = (value, w)
        elif len(parts) >= 3:
            per_device.setdefault(parts[1], {})[".".join(parts[2:])] = (value, w)
        else:
            known = [
                *(f"system.{p}" for p in params),
                "system.barrier_ns",
                "system.link.FIELD",
                "system.npu.FIELD",
                "system.mmu.FIELD",
                "system.controller.FIELD",
                "system.DEVICE.FIELD",
            ]
            raise SpecError(w, f"unknown field {path}; known: {', '.join(known)}")

    if fn is not None:
        kwargs = {k: _coerce(v, params[k], w) for k, (v, w) in preset_kwargs.items()}
        try:
            system = fn(**kwargs)
        except (ValueError, TypeError) as exc:
            raise SpecError(
                _blame(str(exc), preset_kwargs) if preset_kwargs else where("system"), str(exc)
            ) from None
        devices: list[tuple[AcceleratorSpec, dict[str, tuple[Any, str]]]]
        devices = [(d, {}) for d in system.devices]
    else:
        devices = _device_list(devices_value, where("system.devices"))
        system = None
    names = [d.name for d, _ in devices]
    for dev_name, fields in per_device.items():
        if dev_name not in names:
            first = next(iter(fields.values()))[1]
            raise SpecError(
                first,
                f"unknown field: the system has no device {dev_name!r} "
                f"(devices: {', '.join(names)})",
            )
    resolved = tuple(
        _resolve_device(acc, {**own, **per_device.get(acc.name, {})}, wide) for acc, own in devices
    )
    if system is None:
        link_spec = LinkSpec() if len(resolved) == 2 else None
        barrier_ns = _DEFAULT_BARRIER_NS
    else:
        link_spec, barrier_ns = system.link, system.barrier_ns
    if link:
        if link_spec is None:
            raise SpecError(next(iter(link.values()))[1], "the system has one device and no link")
        link_spec = _apply(link_spec, _LINK_FIELDS, link, "LinkSpec")
    if barrier is not None:
        barrier_ns = _coerce(barrier[0], float, barrier[1])
    try:
        return SystemSpec(devices=resolved, link=link_spec, barrier_ns=barrier_ns)
    except ValueError as exc:
        # A rule across devices (page sizes): blame the swept system fields, else the base.
        swept = [w for p, w in origins.items() if p.startswith("system.") and "axes." in w]
        blame = where("system") if preset_name is not None else where("system.devices")
        if barrier is not None and "barrier" in str(exc):
            blame = barrier[1]
        elif swept:
            blame = ", ".join(swept)
        raise SpecError(blame, str(exc)) from None


def _resolve_model(values: Mapping[str, Any], origins: Origins) -> ModelSpec | None:
    def where(path: str) -> str:
        return origins.get(path, path)

    fields = {p[6:]: (v, where(p)) for p, v in values.items() if p.startswith("model.")}
    if "model" in values:
        name = _coerce(values["model"], str, where("model"))
        try:
            base = models.get(name)
        except ValueError as exc:
            raise SpecError(where("model"), str(exc)) from None
        return _apply(base, _MODEL_FIELDS, fields, f"ModelSpec {base.name}")  # type: ignore[no-any-return]
    if not fields:
        return None
    for key, (_, w) in fields.items():
        if key not in _MODEL_FIELDS:
            raise SpecError(
                w, f"unknown field {key!r} of ModelSpec; known: {', '.join(_MODEL_FIELDS)}"
            )
    typed = {k: _coerce(v, _MODEL_FIELDS[k], w) for k, (v, w) in fields.items()}
    required = [
        f.name
        for f in dataclasses.fields(ModelSpec)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [k for k in required if k not in typed]
    if missing:
        raise SpecError("base.model", f"a model mapping needs {', '.join(missing)} (or zoo: NAME)")
    try:
        return ModelSpec(**typed)
    except (ValueError, TypeError) as exc:
        raise SpecError(_blame(str(exc), fields), str(exc)) from None


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.ndarray):
        return {"dtype": o.dtype.str, "shape": list(o.shape), "data": o.ravel().tolist()}
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    raise TypeError(f"cannot serialise {type(o).__name__} into a point's configuration")


def _canonical_json(obj: Any) -> str:
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), allow_nan=False, default=_json_default
    )


@dataclass(frozen=True)
class _ResolvedSystem:
    spec: SystemSpec
    config_json: str  # canonical JSON of what the engine receives
    summary: dict[str, Any]  # resolved.* row columns

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.config_json.encode()).hexdigest()[:16]


_SYSTEMS: dict[str, _ResolvedSystem] = {}


def _system_entry(values: Mapping[str, Any], origins: Origins) -> _ResolvedSystem:
    key = _canonical_json(
        {p: v for p, v in values.items() if p == "system" or p.startswith("system.")}
    )
    hit = _SYSTEMS.get(key)
    if hit is not None:
        return hit
    spec = _resolve_system(values, origins)
    config = {
        "devices": [d.to_config() for d in spec.devices],
        "link": spec.link.to_config() if spec.link else None,
        "barrier_ns": spec.barrier_ns,
    }
    summary: dict[str, Any] = {}
    for d in spec.devices:
        mem = d.memory
        summary.update(
            {
                f"resolved.{d.name}.dram_preset": mem.dev.name,
                f"resolved.{d.name}.channels": mem.channels,
                f"resolved.{d.name}.capacity_gb": mem.capacity_bytes / _GiB,
                f"resolved.{d.name}.data_rate_mts": mem.dev.data_rate_mts,
                f"resolved.{d.name}.peak_GBps": mem.peak_GBps,
                f"resolved.{d.name}.npu_cores": d.npu.cores,
            }
        )
    if spec.link is not None:
        summary["resolved.link.bandwidth_GBps"] = spec.link.bandwidth_GBps
    entry = _ResolvedSystem(spec, _canonical_json(config), summary)
    if len(_SYSTEMS) > 4096:
        _SYSTEMS.clear()
    _SYSTEMS[key] = entry
    return entry


# ------------------------------------------------------------------------------ points
@dataclass(frozen=True)
class Point:
    """One fully resolved configuration of a sweep.

    Parameters
    ----------
    id
        sha256 (hex) of the canonical JSON of the configuration (system as the engine receives
        it, model, run options, params) and the version string of the sweep.
    values
        Every assigned dotted path (base, then axes) and its checked value.
    memo_dir
        Directory of the shared kernel memo, or None (not part of the id).

    Example
    -------
    >>> p = SweepSpec({"base": {"system": "h2m2", "batch": 8}}).points()[0]
    >>> p.system().devices[0].name, p.values["batch"]
    ('hbm', 8)
    """

    id: str
    values: dict[str, Any]
    memo_dir: str | None = field(default=None, compare=False)

    def __hash__(self) -> int:
        return hash(self.id)

    def system(self) -> SystemSpec:
        """The system (resolved once per process and cached)."""
        return _system_entry(self.values, {}).spec

    def model(self) -> ModelSpec:
        """The model.

        Raises
        ------
        ValueError
            If the spec gives no model.
        """
        m = _resolve_model(self.values, {})
        if m is None:
            raise ValueError("this sweep's base has no model")
        return m

    @property
    def params(self) -> dict[str, Any]:
        """``base.params`` with this point's values."""
        return {p[7:]: v for p, v in self.values.items() if p.startswith("params.")}

    def run_kwargs(self) -> dict[str, Any]:
        """The run options this point sets (``batch``, ``seq_len``, ...)."""
        return {k: self.values[k] for k in RUN_FIELDS if k in self.values}

    def memo(self) -> KernelMemoStore | None:
        """The shared on-disk kernel memo scoped to this point's system, or None.

        Kernel signatures name a device by index, so entries are kept per system configuration.
        """
        if not self.memo_dir:
            return None
        return KernelMemoStore(self.memo_dir, scope=_system_entry(self.values, {}).digest)

    def columns(self) -> dict[str, Any]:
        """Row columns: every assigned path (lists and mappings as JSON), and ``resolved.*``."""
        row: dict[str, Any] = {}
        for path, value in self.values.items():
            row[path] = _canonical_json(value) if isinstance(value, (list, dict)) else value
        row.update(_system_entry(self.values, {}).summary)
        return row


def _fn_name(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"


def _load_function(text: str, where: str) -> PointFunction:
    module, _, name = text.partition(":")
    if not module or not name:
        raise SpecError(where, f"expected 'module:function', got {text!r}")
    try:
        obj: Any = importlib.import_module(module)
        for part in name.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise SpecError(where, f"cannot load point function {text!r}: {exc}") from None
    if not callable(obj):
        raise SpecError(where, f"{text!r} is not callable")
    return obj  # type: ignore[no-any-return]


class SweepSpec:
    """A validated sweep specification.

    Parameters
    ----------
    data
        The spec as a mapping: ``base``, ``axes`` (optional) and ``point`` (optional).
    source
        Where it came from (for messages; default ``"<dict>"``).

    Raises
    ------
    SpecError
        For a malformed spec, naming the spec path.

    Example
    -------
    >>> spec = SweepSpec({"base": {"system": "h2m2"}, "axes": {"grid": {"batch": [1, 2]}}})
    >>> len(spec.points())
    2
    """

    def __init__(self, data: Mapping[str, Any], source: str = "<dict>") -> None:
        if not isinstance(data, Mapping):
            raise SpecError(
                source, f"a sweep spec is a mapping with base and axes, got {_describe(data)}"
            )
        for key in data:
            if key not in _TOP_FIELDS:
                raise SpecError(str(key), f"unknown field; known: {', '.join(_TOP_FIELDS)}")
        if "base" not in data:
            raise SpecError("base", "required: the base configuration")
        self.source = source
        self.base = _parse_base(data["base"])
        for path, (value, where) in self.base.items():
            head = path.partition(".")[0]
            if head in RUN_FIELDS:
                _check_run_field(head, value, where)
            elif head == "params":
                _check_param(value, where)
        params = [p[7:] for p in self.base if p.startswith("params.")]
        self.dims = _parse_axes(data.get("axes"), params)
        point = data.get("point")
        self.point_name = None if point is None else _coerce(point, str, "point")
        self._points: dict[tuple[str, str | None], list[Point]] = {}

    @classmethod
    def load(cls, source: str | os.PathLike[str] | Mapping[str, Any] | SweepSpec) -> SweepSpec:
        """Read a spec from a YAML (``.yaml``/``.yml``), TOML or JSON file, or take a mapping.

        Raises
        ------
        SpecError
            For a malformed file or spec.
        OSError
            If the file cannot be read.
        """
        if isinstance(source, SweepSpec):
            return source
        if isinstance(source, Mapping):
            return cls(source)
        path = Path(source)
        text = path.read_text(encoding="utf-8")
        suffix = path.suffix.lower()
        data: Any
        try:
            if suffix in (".yaml", ".yml"):
                import yaml

                data = yaml.safe_load(text)
            elif suffix == ".toml":
                toml = importlib.import_module(
                    "tomllib" if sys.version_info >= (3, 11) else "tomli"
                )
                data = toml.loads(text)
            elif suffix == ".json":
                data = json.loads(text)
            else:
                raise SpecError(str(path), "a spec file ends in .yaml, .yml, .toml or .json")
        except SpecError:
            raise
        except Exception as exc:  # the parsers' own error types
            raise SpecError(str(path), f"cannot parse: {exc}") from None
        return cls(data, source=str(path))

    def point_function(self) -> PointFunction:
        """The spec's ``point`` function (default :func:`run_point`)."""
        return run_point if self.point_name is None else _load_function(self.point_name, "point")

    def shape(self) -> str:
        """The sizes of the axis dimensions (``"3 x 2"``; ``"1"`` without axes)."""
        return " x ".join(str(len(d.entries)) for d in self.dims) or "1"

    def swept_paths(self) -> list[str]:
        """The paths the axes set, in order."""
        return [p for d in self.dims for p in d.entries[0]]

    def points(
        self,
        *,
        point_fn: PointFunction | None = None,
        memo_dir: str | os.PathLike[str] | None = None,
    ) -> list[Point]:
        """Expand, check and resolve every point (nothing runs).

        Parameters
        ----------
        point_fn
            The point function whose name enters the ids (default :meth:`point_function`).
        memo_dir
            Directory of the shared kernel memo given to each point (default None).

        Returns
        -------
        list of Point
            In axis order; a point equal to an earlier one is dropped.

        Raises
        ------
        SpecError
            For any value that does not resolve, naming its spec path.
        """
        fn = point_fn or self.point_function()
        version = f"{engine_version()}; point {_fn_name(fn)}"
        memo = None if memo_dir is None else str(memo_dir)
        cached = self._points.get((version, memo))
        if cached is not None:
            return list(cached)
        given = [*self.base, *self.swept_paths()]
        for req in getattr(fn, "requires", ()):
            if not any(p == req or p.startswith(f"{req}.") for p in given):
                raise SpecError(f"base.{req}", f"required by the point function {_fn_name(fn)}")
        check: Callable[[Point], None] | None = getattr(fn, "check", None)
        out: list[Point] = []
        seen: set[str] = set()
        for combo in itertools.product(*(d.entries for d in self.dims)):
            assigned = dict(self.base)
            for entry in combo:
                assigned.update(entry)
            values: dict[str, Any] = {}
            origins: dict[str, str] = {}
            for path, (value, where) in assigned.items():
                origins[path] = where
                head = path.partition(".")[0]
                if head in RUN_FIELDS:
                    value = _check_run_field(head, value, where)
                elif head == "params":
                    value = _check_param(value, where)
                values[path] = value
            system = _system_entry(values, origins)
            model = _resolve_model(values, origins)
            model_config = None
            if model is not None:
                model_config = {
                    f.name: getattr(model, f.name) for f in dataclasses.fields(model) if f.compare
                }
            rest = {
                "model": model_config,
                "run": {k: values[k] for k in RUN_FIELDS if k in values},
                "params": {p: v for p, v in values.items() if p.startswith("params.")},
            }
            digest = hashlib.sha256()
            for part in (version, system.config_json, _canonical_json(rest)):
                digest.update(part.encode())
                digest.update(b"\n")
            pid = digest.hexdigest()
            if pid in seen:
                continue
            seen.add(pid)
            point = Point(pid, values, memo)
            if check is not None:
                try:
                    check(point)
                except ValueError as exc:
                    named = {p: (v, origins[p]) for p, v in values.items()}
                    raise SpecError(_blame(str(exc), named), str(exc)) from None
            out.append(point)
        self._points[(version, memo)] = out
        return list(out)


# ------------------------------------------------------------------------------ point functions
def _scalar(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()
    return value


def _number(value: Any) -> float | None:
    value = _scalar(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def result_metrics(result: Any) -> dict[str, Any]:
    """Flatten a :class:`h2m2.Result` into row metrics.

    * ``iteration_time_s`` (mean over iterations), ``tokens_per_s`` (tokens generated / total
      time: one token per request per iteration), ``energy_per_token_J``, ``iterations_run``,
      ``complete`` and ``result_error`` (why a partial run stopped, else None),
      ``policy_calls``, ``policy_time_s``;
    * every numeric column of ``result.to_frame()`` averaged over iterations, under its own name:
      per-sublayer times ``qkv_time_s``, ``attention_time_s``, ``fc_time_s`` (all layers),
      per-device bandwidth, energy and TLB columns, link bytes, ... (see ``Result.to_frame``);
    * ``kernels``, ``kernel_memo_hits``: kernels run and memo hits over the run;
    * ``meta.<key>``: scalar entries of ``result.metadata``.

    Speedups: divide the ``iteration_time_s`` of a baseline row by that of rows that share every
    other parameter column (for example ``policy``).

    Parameters
    ----------
    result
        What :func:`h2m2.simulate` returned.

    Returns
    -------
    dict
        Metric name -> scalar.

    Example
    -------
    >>> result_metrics(h2m2.simulate(system, model, batch=8, seq_len=512))  # doctest: +SKIP
    {'iteration_time_s': ..., 'tokens_per_s': ..., ...}
    """
    import pandas as pd

    out: dict[str, Any] = {}
    t = _number(getattr(result, "iteration_time", None))
    if t is not None:
        out["iteration_time_s"] = t
    total = _number(getattr(result, "total_time", None))
    tokens = _number(getattr(result, "tokens", None))
    if total and tokens is not None:
        out["tokens_per_s"] = tokens / total
    for name in ("energy_per_token_J", "iterations", "policy_calls", "policy_time_s"):
        v = _scalar(getattr(result, name, None))
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out["iterations_run" if name == "iterations" else name] = v
    if hasattr(result, "error"):
        out["complete"] = result.error is None
        out["result_error"] = None if result.error is None else str(result.error)
    frame = result.to_frame() if callable(getattr(result, "to_frame", None)) else None
    if isinstance(frame, pd.DataFrame) and len(frame):
        for col in frame.columns:
            s = frame[col]
            if str(col) == "iteration" or str(col) in out:
                continue
            if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
                out[str(col)] = float(s.mean())
    kernels = getattr(result, "by_sublayer", None)
    if isinstance(kernels, pd.DataFrame) and "memo_hit" in kernels.columns:
        out["kernels"] = len(kernels)
        out["kernel_memo_hits"] = int(kernels["memo_hit"].sum())
    meta = getattr(result, "metadata", None)
    if isinstance(meta, Mapping):
        for k, v in meta.items():
            v = _scalar(v)
            if isinstance(v, (str, int, float, bool)):
                out[f"meta.{k}"] = v
    return out


def run_point(point: Point) -> dict[str, Any]:
    """The default point function: :func:`h2m2.simulate` on the point, flattened.

    Calls ``h2m2.simulate(system, model, **run options, **params)`` and returns
    :func:`result_metrics` of the result. A per-request ``seq_len`` list becomes
    ``requests=[Request(i, prompt_len=L)]`` (``batch``, if given, must equal its length). With a
    ``memo_dir``, simulate gets the sweep's shared :class:`~h2m2.memo_store.KernelMemoStore`
    (scoped to the point's system) as ``memo``.

    Parameters
    ----------
    point
        The point.

    Returns
    -------
    dict
        Metrics (see :func:`result_metrics`).

    Raises
    ------
    ValueError
        For a ``batch`` that contradicts a per-request ``seq_len`` list, and whatever
        :func:`h2m2.simulate` raises (recorded as the point's error by :func:`sweep`).

    Example
    -------
    >>> row = run_point(SweepSpec.load("examples/sweep_llama2.yaml").points()[0])  # doctest: +SKIP
    >>> row["iteration_time_s"]  # doctest: +SKIP
    """
    from h2m2.simulate import simulate

    kwargs = {**point.run_kwargs(), **point.params}
    lengths = kwargs.get("seq_len")
    if isinstance(lengths, list):
        from h2m2.workload import Request

        batch = kwargs.pop("batch", len(lengths))
        if batch != len(lengths):
            raise ValueError(f"batch={batch} but seq_len lists {len(lengths)} request lengths")
        del kwargs["seq_len"]
        kwargs["requests"] = [Request(i, prompt_len=n) for i, n in enumerate(lengths)]
    if point.memo_dir:
        kwargs["memo"] = point.memo()
    return result_metrics(simulate(point.system(), point.model(), **kwargs))


def _check_run_point(point: Point) -> None:
    """What :func:`run_point` can reject before anything runs: an unknown policy name."""
    policy = point.values.get("policy")
    if policy is None:
        return
    from h2m2 import policies

    if policy not in policies.names():
        raise ValueError(f"policy={policy!r} is unknown; known: {', '.join(policies.names())}")


run_point.requires = ("model", "batch", "seq_len")  # type: ignore[attr-defined]
run_point.check = _check_run_point  # type: ignore[attr-defined]


def dram_point(point: Point) -> dict[str, Any]:
    """A DRAM-only point function: a synthetic trace on one device's memory system.

    Reads ``params.device`` (default: the first device), ``params.pattern`` (``"random"`` or
    ``"stream"``, default ``"random"``), ``params.requests`` (default 100000),
    ``params.write_fraction`` (default 0) and the run option ``seed`` (default 0); no model.

    Parameters
    ----------
    point
        The point.

    Returns
    -------
    dict
        :meth:`h2m2.dram.DramStats.to_dict` without ``wall_s``.

    Example
    -------
    >>> base = {"system": "h2m2", "params": {"requests": 1000}}
    >>> dram_point(SweepSpec({"base": base}).points()[0])["requests"]
    1000
    """
    from h2m2.cli import synthetic_trace
    from h2m2.dram import MemorySystem

    p = point.params
    system = point.system()
    device = p.get("device", system.devices[0].name)
    memory = MemorySystem(system.devices[system.device_index(device)].memory)
    addresses, is_write = synthetic_trace(
        p.get("pattern", "random"),
        int(p.get("requests", 100_000)),
        memory.capacity_bytes,
        memory.transaction_bytes,
        write_fraction=float(p.get("write_fraction", 0.0)),
        seed=int(point.values.get("seed", 0)),
    )
    stats = memory.run(addresses, is_write).to_dict()
    stats.pop("wall_s")
    return stats


# ------------------------------------------------------------------------------ execution
@dataclass(frozen=True)
class _Outcome:
    metrics: dict[str, Any] | None
    error: str | None
    traceback: str | None
    wall_s: float


def _call(fn: PointFunction, point: Point) -> _Outcome:
    """Run one point where it is scheduled; never raises for the point's own errors."""
    start = time.perf_counter()
    try:
        raw = fn(point)
        if not isinstance(raw, Mapping):
            raise TypeError(
                f"the point function returned {type(raw).__name__}, not a mapping of metrics"
            )
        metrics: dict[str, Any] = {}
        for key, value in raw.items():
            value = _scalar(value)
            if not isinstance(key, str):
                raise TypeError(f"metric name {key!r} is not a string")
            if not isinstance(value, (str, int, float, bool, type(None))):
                raise TypeError(f"metric {key!r} is a {type(value).__name__}; metrics are scalars")
            metrics[key] = value
    except Exception as exc:
        return _Outcome(
            None, f"{type(exc).__name__}: {exc}", tb.format_exc(), time.perf_counter() - start
        )
    return _Outcome(metrics, None, None, time.perf_counter() - start)


def _call_pooled(fn: PointFunction, point: Point) -> _Outcome:
    """:func:`_call` in a pool worker (a process or a Dask worker): the pool already runs one
    point per core, so the worker's engines simulate their kernels in one thread."""
    set_default_threads(1)
    return _call(fn, point)


def _worker_init() -> None:
    # Ctrl-C goes to the whole process group; the parent alone decides what to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Store:
    """The Parquet dataset: one file per point, written atomically."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._tag = f"{socket.gethostname()}-{os.getpid()}"
        self._sweep_stale()

    def _sweep_stale(self) -> None:
        host = socket.gethostname()
        for tmp in self.path.glob(".tmp-*.parquet"):
            parts = tmp.name.split("-")
            # .tmp-<host>-<pid>-<id>.parquet; hosts may contain dashes
            try:
                pid = int(parts[-2])
            except (ValueError, IndexError):
                continue
            if "-".join(parts[1:-2]) != host or pid == os.getpid():
                continue
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                with contextlib.suppress(OSError):
                    tmp.unlink()
            except PermissionError:
                pass

    def file(self, point_id: str) -> Path:
        return self.path / f"point-{point_id}.parquet"

    def read(self, point_id: str) -> dict[str, Any] | None:
        import pyarrow.parquet as pq

        path = self.file(point_id)
        if not path.exists():
            return None
        try:
            rows = pq.read_table(path).to_pylist()
        except Exception:  # unreadable: run the point again
            return None
        return rows[0] if len(rows) == 1 else None

    def write(self, row: Mapping[str, Any]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist([dict(row)])
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        data = sink.getvalue().to_pybytes()
        tmp = self.path / f".tmp-{self._tag}-{row['point_id']}.parquet"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.file(str(row["point_id"])))
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise


def read_results(out: str | os.PathLike[str]) -> pd.DataFrame:
    """Every row of a sweep's Parquet dataset, in no particular order.

    Points of different sweeps written to one directory have different columns; missing ones
    are empty. Use this instead of ``pandas.read_parquet(out)``, which takes the schema of one
    file.

    Parameters
    ----------
    out
        The ``out`` directory of :func:`sweep`.

    Returns
    -------
    pandas.DataFrame

    Example
    -------
    >>> frame = read_results("runs/llama2")  # doctest: +SKIP
    """
    import pandas as pd
    import pyarrow.parquet as pq

    rows = []
    for path in sorted(Path(out).glob("point-*.parquet")):
        rows.extend(pq.read_table(path).to_pylist())
    return pd.DataFrame(rows)


class _Progress:
    """A live bar on a terminal (done / failed / cached, ETA); silent otherwise."""

    def __init__(self, total: int, cached: int, enabled: bool | None) -> None:
        self.done = self.failed = 0
        self.total = total
        self.cached = cached
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._bar: Any = None

    def start(self) -> None:
        """Show the bar (its refresh thread starts here, after a local pool has forked)."""
        if self.enabled and self.total and self._bar is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("sweep"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(
                    "done {task.fields[done]}  failed {task.fields[failed]}  "
                    "cached {task.fields[cached]}"
                ),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self._task = self._bar.add_task(
                "sweep", total=self.total, done=0, failed=0, cached=self.cached
            )
            self._bar.start()

    def advance(self, ok: bool) -> None:
        if ok:
            self.done += 1
        else:
            self.failed += 1
        if self._bar is not None:
            self._bar.update(self._task, advance=1, done=self.done, failed=self.failed)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _build_row(point: Point, outcome: _Outcome) -> dict[str, Any]:
    """The saved row: id, parameters, resolved hardware, metrics, status.

    A metric named like a parameter column is dropped when equal to it (``batch`` of
    ``Result.to_frame``) and saved as ``result.<name>`` otherwise; so is one named like a
    reserved column.
    """
    row: dict[str, Any] = {"point_id": point.id, **point.columns()}
    for key, value in (outcome.metrics or {}).items():
        if key in _RESERVED_COLUMNS or (key in row and row[key] != value):
            row[f"result.{key}"] = value
        elif key not in row:
            row[key] = value
    row.update(
        status="ok" if outcome.error is None else "failed",
        error=outcome.error,
        traceback=outcome.traceback,
        wall_s=outcome.wall_s,
    )
    return row


class _Runner:
    """Submits points to an executor with a bounded window and records each outcome at once."""

    def __init__(
        self,
        fn: PointFunction,
        record: Callable[[Point, _Outcome], None],
        started: Callable[[], None],
    ) -> None:
        self.fn = fn
        self.record = record
        self.started = started  # called once the first points are submitted
        self.executor: cf.Executor | None = None  # the one in use (a broken pool is replaced)

    def serial(self, todo: Sequence[Point]) -> None:
        self.started()
        for p in todo:
            self.record(p, _call(self.fn, p))

    def run(
        self,
        todo: Sequence[Point],
        executor: cf.Executor,
        window: int,
        rebuild: Callable[[], cf.Executor] | None = None,
    ) -> None:
        """Run every point on ``executor``, at most ``window`` at a time.

        A worker that dies breaks a local pool: with ``rebuild`` the pool is replaced and the
        points it held run again one at a time, so a point that kills its worker is found and
        recorded as failed while the others complete.
        """
        self.executor = executor
        pending = deque(todo)
        quarantine: deque[Point] = deque()
        in_flight: dict[cf.Future[_Outcome], tuple[Point, int, bool]] = {}
        generation = 0
        first = True
        try:
            while pending or quarantine or in_flight:
                while True:
                    if quarantine:
                        if in_flight:
                            break
                        p, alone = quarantine.popleft(), True
                    elif pending and len(in_flight) < window:
                        p, alone = pending.popleft(), False
                    else:
                        break
                    try:
                        future = executor.submit(_call_pooled, self.fn, p)
                        in_flight[future] = (p, generation, alone)
                    except cf.BrokenExecutor:
                        if rebuild is None:
                            raise
                        (quarantine if alone else pending).appendleft(p)
                        executor.shutdown(wait=False)
                        executor, generation = rebuild(), generation + 1
                        self.executor = executor
                if first:  # a local pool has forked its workers: other threads may start now
                    self.started()
                    first = False
                done, _ = cf.wait(list(in_flight), timeout=0.25, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    p, gen, alone = in_flight.pop(fut)
                    try:
                        outcome = fut.result()
                    except cf.BrokenExecutor as exc:
                        if rebuild is None or alone:
                            why = "the worker process died while running this point"
                            self.record(
                                p, _Outcome(None, f"{type(exc).__name__}: {why}", None, 0.0)
                            )
                        else:
                            quarantine.append(p)
                        if rebuild is not None and gen == generation:
                            executor.shutdown(wait=False)
                            executor, generation = rebuild(), generation + 1
                            self.executor = executor
                    except BaseException as exc:  # cancelled, or the executor's own failure
                        if isinstance(exc, KeyboardInterrupt):
                            raise
                        self.record(p, _Outcome(None, f"{type(exc).__name__}: {exc}", None, 0.0))
                    else:
                        self.record(p, outcome)
        except BaseException:
            for fut in in_flight:
                fut.cancel()
            raise


def _cores() -> int:
    """CPUs this process may run on (the affinity mask in a container), else ``os.cpu_count()``."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def _terminate(pool: cf.ProcessPoolExecutor) -> None:
    """Stop a local pool's workers now (Python 3.14 has ``terminate_workers``)."""
    terminate = getattr(pool, "terminate_workers", None)
    if callable(terminate):
        terminate()
        return
    processes = getattr(pool, "_processes", None) or {}
    for proc in list(processes.values()):
        with contextlib.suppress(Exception):
            proc.terminate()
    pool.shutdown(wait=False, cancel_futures=True)


def sweep(
    spec: str | os.PathLike[str] | Mapping[str, Any] | SweepSpec,
    *,
    out: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    executor: cf.Executor | None = None,
    point_fn: PointFunction | None = None,
    memo_dir: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
    retry_failed: bool = True,
) -> pd.DataFrame:
    """Run every point of a sweep and return one row per point.

    Parameters
    ----------
    spec
        A spec file (YAML, TOML, JSON), a mapping or a :class:`SweepSpec`.
    out
        Directory of the Parquet dataset (created; default None: nothing is saved and nothing is
        resumed). Points already saved there are not run again.
    workers
        Local worker processes (default: the CPUs this process may use, ``os.cpu_count()``
        outside a container), at most one per point to run; 1 runs the points in this process.
    scheduler
        Address of a running Dask scheduler (``tcp://HOST:PORT``); needs ``h2m2[dask]``.
    executor
        Any :class:`concurrent.futures.Executor` (not shut down here).
    point_fn
        Picklable function ``point -> {metric: scalar}`` (default: the spec's ``point``, else
        :func:`run_point`). Its optional attributes: ``requires``, the paths every point must
        set; ``check(point)``, which raises ``ValueError`` for a point it cannot run (called for
        every point before anything runs).
    memo_dir
        Directory of the shared kernel memo (default ``OUT/_memo`` with ``out``, else none).
    progress
        Live progress bar (default: when stderr is a terminal).
    retry_failed
        Run points saved as failed again (default True).

    Returns
    -------
    pandas.DataFrame
        One row per point in spec order (see the module docstring for the columns);
        ``frame.attrs["sweep"]`` holds ``points``, ``cached``, ``ran``, ``failed``, ``wall_s``.

    Raises
    ------
    SpecError
        For a bad spec, before anything runs.
    ValueError
        For contradictory options.
    ImportError
        When ``scheduler`` is given without dask.distributed, or the default point function
        has no ``h2m2.simulate`` to call.
    KeyboardInterrupt
        On Ctrl-C, after stopping the workers; every finished point is saved.

    Example
    -------
    >>> frame = sweep("examples/sweep_llama2.yaml", out="runs/llama2", workers=2)  # doctest: +SKIP
    >>> frame[["seq_len", "system.hbm.capacity_gb", "iteration_time_s"]]  # doctest: +SKIP
    """
    import pandas as pd

    start = time.perf_counter()
    if scheduler is not None and executor is not None:
        raise ValueError("sweep: give scheduler or executor, not both")
    if workers is not None and (scheduler is not None or executor is not None):
        raise ValueError("sweep: workers applies only to the local process pool")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ValueError(f"sweep: workers={workers!r} must be a positive integer")
    sw = SweepSpec.load(spec)
    fn = point_fn or sw.point_function()
    store = _Store(out) if out is not None else None
    if memo_dir is None and store is not None:
        memo_dir = store.path / "_memo"
    points = sw.points(point_fn=fn, memo_dir=memo_dir)

    rows: dict[str, dict[str, Any]] = {}
    todo: list[Point] = []
    for p in points:
        saved = store.read(p.id) if store is not None else None
        if saved is not None and (saved.get("status") == "ok" or not retry_failed):
            rows[p.id] = {**saved, **p.columns()}
        else:
            todo.append(p)
    cached = len(rows)
    if todo and fn is run_point:
        try:
            importlib.import_module("h2m2.simulate")
        except ImportError as exc:
            raise ImportError(
                "the default point function needs h2m2.simulate, which cannot be imported "
                f"({exc}); pass point_fn= or set 'point' in the spec"
            ) from None

    bar = _Progress(len(todo), cached, progress)
    failed = 0

    def record(p: Point, outcome: _Outcome) -> None:
        nonlocal failed
        row = _build_row(p, outcome)
        if store is not None:
            store.write(row)
        rows[p.id] = row
        failed += row["status"] != "ok"
        bar.advance(row["status"] == "ok")

    runner = _Runner(fn, record, bar.start)
    n_workers = 1 if workers == 1 else max(1, min(workers or _cores(), len(todo)))
    try:
        if not todo:
            pass
        elif executor is not None:
            window = 2 * (getattr(executor, "_max_workers", None) or 32)
            runner.run(todo, executor, window)
        elif scheduler is not None:
            try:
                from distributed import Client
            except ImportError:
                raise ImportError(
                    "sweep: scheduler= needs dask.distributed: pip install 'h2m2[dask]'"
                ) from None
            client: Any = Client(scheduler, set_as_default=False)  # type: ignore[no-untyped-call]
            with client:
                threads = sum(client.nthreads().values()) or 1
                runner.run(todo, client.get_executor(pure=False), window=2 * threads)
        elif n_workers == 1:
            runner.serial(todo)
        else:

            def make_pool() -> cf.ProcessPoolExecutor:
                return cf.ProcessPoolExecutor(max_workers=n_workers, initializer=_worker_init)

            try:
                runner.run(todo, make_pool(), window=2 * n_workers, rebuild=make_pool)
            except BaseException:
                if isinstance(runner.executor, cf.ProcessPoolExecutor):
                    _terminate(runner.executor)
                raise
            assert runner.executor is not None
            runner.executor.shutdown(wait=True)
    finally:
        bar.close()

    frame = pd.DataFrame([rows[p.id] for p in points])
    frame.attrs["sweep"] = {
        "points": len(points),
        "cached": cached,
        "ran": len(todo),
        "failed": failed,
        "wall_s": time.perf_counter() - start,
        "out": None if store is None else str(store.path),
    }
    return frame
