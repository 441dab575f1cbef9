"""An on-disk kernel memo shared by the processes of a sweep.

``sampled`` fidelity memoises each kernel's result by its signature (op, shape, placement, device
configuration) inside one engine. A sweep runs thousands of points in many processes, often on
several machines, and most of them repeat the same kernels: :class:`KernelMemoStore` keeps those
results in a directory so that a kernel simulated by one point is read back by every later one.

Layout: ``<root>/<version digest>/<scope>/<key[:2]>/<key>.json`` where ``key =
sha256(signature)`` and ``scope`` names what the signature leaves out (a sweep passes a digest of
the system configuration, because the engine's signatures name devices by index). Each
file holds ``{"signature": ..., "version": ..., "value": ...}``; the value is any JSON object. A
new engine version (a rebuilt ``_core`` or another h2m2 release) gets a new directory, so stale
results are never read. Writes go to a temporary file in the same directory and are renamed into
place, so readers see a whole file or none, and concurrent writers of one key (which by the memo
contract write equal values) cannot corrupt it.

Owns: files under ``root``. Hot path: no (one file per distinct kernel, read once per process).

Example
-------
>>> store = KernelMemoStore(tmp_path)                      # doctest: +SKIP
>>> store.put("linear m=1 k=4096 n=4096 dev=hbm", {"time_ps": 123})  # doctest: +SKIP
>>> store.get("linear m=1 k=4096 n=4096 dev=hbm")          # doctest: +SKIP
{'time_ps': 123}
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from h2m2 import __version__

__all__ = ["KernelMemoStore", "engine_version"]


@functools.lru_cache(maxsize=1)
def engine_version() -> str:
    """The version string that keys cached results: ``h2m2 <version>+core.<digest>``.

    ``digest`` is the first 16 hex digits of the sha256 of the compiled ``h2m2._core`` module, so
    a rebuilt engine never reuses results of another build (``core.none`` when the module is not
    built). Python-side changes that alter results without a release bump are not detected.

    Returns
    -------
    str

    Example
    -------
    >>> engine_version().startswith("h2m2 ")
    True
    """
    digest = "none"
    try:
        spec = importlib.util.find_spec("h2m2._core")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.origin and os.path.isfile(spec.origin):
        h = hashlib.sha256()
        with open(spec.origin, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        digest = h.hexdigest()[:16]
    return f"h2m2 {__version__}+core.{digest}"


class KernelMemoStore:
    """Kernel results on disk, keyed by kernel signature and engine version.

    Safe to share between processes and machines that see the same directory: every file is
    written atomically (temporary file + rename), a corrupt or foreign file reads as a miss.

    Parameters
    ----------
    root
        Directory of the store (created when missing).
    version
        Engine version the entries belong to (default :func:`engine_version`).
    scope
        Namespace inside the version, for what the signatures do not include (default
        ``"global"``); letters, digits, ``-``, ``_`` and ``.`` only.

    Raises
    ------
    OSError
        If ``root`` cannot be created.

    Example
    -------
    >>> store = KernelMemoStore("/tmp/memo")                   # doctest: +SKIP
    >>> store.get("sig") is None                               # doctest: +SKIP
    True
    """

    def __init__(
        self, root: str | os.PathLike[str], *, version: str | None = None, scope: str = "global"
    ) -> None:
        if not scope or not all(c.isalnum() or c in "-_." for c in scope) or scope in (".", ".."):
            raise ValueError(f"KernelMemoStore: scope={scope!r} must be a plain directory name")
        self.root = Path(root)
        self.version = engine_version() if version is None else version
        self.scope = scope
        version_dir = hashlib.sha256(self.version.encode()).hexdigest()[:16]
        self.directory = self.root / version_dir / scope
        self.directory.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0
        self.writes = 0

    def __repr__(self) -> str:
        return (
            f"KernelMemoStore({str(self.root)!r}, version={self.version!r}, scope={self.scope!r})"
        )

    def __getstate__(self) -> dict[str, str]:  # workers get the location, not the counters
        return {"root": str(self.root), "version": self.version, "scope": self.scope}

    def __setstate__(self, state: dict[str, str]) -> None:
        self.__init__(  # type: ignore[misc]
            state["root"], version=state["version"], scope=state["scope"]
        )

    def _path(self, signature: str) -> Path:
        key = hashlib.sha256(signature.encode()).hexdigest()
        return self.directory / key[:2] / f"{key}.json"

    def get(self, signature: str) -> dict[str, Any] | None:
        """The stored value of a kernel, or ``None`` on a miss.

        Parameters
        ----------
        signature
            The kernel's memo signature.

        Returns
        -------
        dict or None
        """
        if not isinstance(signature, str):
            raise TypeError(
                f"KernelMemoStore: signature must be a str, got {type(signature).__name__}"
            )
        try:
            record = json.loads(self._path(signature).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.misses += 1
            return None
        if (
            not isinstance(record, dict)
            or record.get("signature") != signature
            or record.get("version") != self.version
            or not isinstance(record.get("value"), dict)
        ):
            self.misses += 1
            return None
        self.hits += 1
        value: dict[str, Any] = record["value"]
        return value

    def put(self, signature: str, value: Mapping[str, Any]) -> None:
        """Store a kernel's value (atomically; an existing entry is replaced).

        Parameters
        ----------
        signature
            The kernel's memo signature.
        value
            A JSON-serialisable mapping.

        Raises
        ------
        TypeError
            If ``value`` is not JSON-serialisable.
        """
        if not isinstance(signature, str):
            raise TypeError(
                f"KernelMemoStore: signature must be a str, got {type(signature).__name__}"
            )
        text = json.dumps(
            {"signature": signature, "version": self.version, "value": dict(value)},
            sort_keys=True,
            allow_nan=False,
        )
        path = self._path(signature)
        path.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self.writes += 1

    def __contains__(self, signature: object) -> bool:
        return isinstance(signature, str) and self._path(signature).is_file()

    def _files(self) -> Iterator[Path]:
        return (p for p in self.directory.glob("??/*.json") if not p.name.startswith("."))

    def __len__(self) -> int:
        return sum(1 for _ in self._files())

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every readable ``(signature, value)`` of this version and scope, in no order.

        What an engine preloads into its in-memory memo before a run (the scope holds only
        kernels of one system configuration).
        """
        for path in self._files():
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if (
                isinstance(record, dict)
                and record.get("version") == self.version
                and isinstance(record.get("signature"), str)
                and isinstance(record.get("value"), dict)
            ):
                yield record["signature"], record["value"]

    def update(self, entries: Mapping[str, Mapping[str, Any]]) -> int:
        """Store the entries not stored yet; returns how many were written.

        What an engine saves from its in-memory memo after a run.
        """
        written = 0
        for signature, value in entries.items():
            if signature not in self:
                self.put(signature, value)
                written += 1
        return written

    def clear(self) -> None:
        """Remove every entry of this engine version."""
        for p in self._files():
            with contextlib.suppress(FileNotFoundError):
                p.unlink()

    def stats(self) -> dict[str, int]:
        """Hits, misses and writes of this process since the store was opened."""
        return {"hits": self.hits, "misses": self.misses, "writes": self.writes}
