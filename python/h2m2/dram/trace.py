"""Request traces: a plain-text format, read and written in bulk.

Format
------
One request per line::

    # comment lines and blank lines are skipped
    R 0x1f40
    w 1f80 12

* the operation, ``R`` (read) or ``W`` (write), in either case;
* the byte address in hexadecimal, with or without ``0x``;
* optionally, the arrival time in memory command-clock cycles, a non-negative decimal integer,
  relative to the start of the run. Either every request has an arrival or none has; arrivals
  must not decrease from one request to the next.

Fields are separated by spaces or tabs; ``\\r\\n`` line ends are accepted.

Reading is vectorised with numpy over the raw bytes of the file (no Python loop per line): a
million-line trace parses in a fraction of a second. Only when that fast path meets something it
does not accept does a line-by-line scan run, to find the first bad line and name it in a
:class:`TraceError` (or to parse the rare valid input the fast path leaves to it, such as an
address written with more than 16 hex digits).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["TraceError", "read_trace", "write_trace"]

_FORMAT = "R|W <hex address> [<arrival cycle>]"

# Byte classes of the fast path.
_SPACE, _TAB, _CR, _NL, _HASH = 32, 9, 13, 10, 35
_INVALID = 255
_HEX_VALUE = np.full(256, _INVALID, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX_VALUE[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX_VALUE[_c] = 10 + _i
_DEC_VALUE = np.full(256, _INVALID, dtype=np.uint8)
_DEC_VALUE[48:58] = np.arange(10, dtype=np.uint8)
_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_DEC_DIGITS = np.frombuffer(b"0123456789", dtype=np.uint8)

_MAX_HEX_DIGITS = 16  # every 16-digit hex number fits in uint64
_MAX_DEC_DIGITS = 18  # every 18-digit decimal number fits in int64

_HEX_RE = re.compile(r"(?:0[xX])?([0-9a-fA-F]+)")
_DEC_RE = re.compile(r"[0-9]+")
_NEG_RE = re.compile(r"-[0-9]+")

_WRITE_CHUNK = 1 << 20  # lines formatted at once by write_trace


class TraceError(ValueError):
    """A malformed line in a trace file.

    Parameters
    ----------
    path
        The trace file.
    line
        1-based line number of the bad line.
    text
        The line, stripped of surrounding white space.
    reason
        What is wrong with it.

    Example
    -------
    >>> err = TraceError("a.trace", 3, "X 0x40", "bad operation 'X' (expected R or W)")
    >>> str(err)
    "a.trace:3: bad operation 'X' (expected R or W): 'X 0x40'"
    """

    def __init__(self, path: str | os.PathLike[str], line: int, text: str, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.text = text
        self.reason = reason
        super().__init__(f"{self.path}:{line}: {reason}: {text!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.path, self.line, self.text, self.reason))


def read_trace(
    path: str | os.PathLike[str],
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.bool_], npt.NDArray[np.int64] | None]:
    """Read a trace file (format in the module docstring).

    Parameters
    ----------
    path
        The trace file.

    Returns
    -------
    addresses : numpy.ndarray of uint64
        Byte address of each request, in file order.
    is_write : numpy.ndarray of bool
        True for ``W`` lines.
    arrival : numpy.ndarray of int64 or None
        Arrival cycle of each request, or None when the trace gives none.

    Raises
    ------
    TraceError
        For the first malformed line: bad operation, bad hex address, bad, negative or decreasing
        arrival, missing or extra fields, or an arrival on some requests but not on others. The
        message names the file, the 1-based line number, the line and the problem.
    OSError
        If the file cannot be read.

    Example
    -------
    >>> addresses, is_write, arrival = read_trace("stream.trace")
    >>> stats = MemorySystem("HBM3").run(addresses, is_write, arrival)
    """
    data = Path(path).read_bytes()
    parsed = _parse_fast(data)
    if parsed is None:
        parsed = _parse_slow(data, path)
    return parsed


def write_trace(
    path: str | os.PathLike[str],
    addresses: npt.ArrayLike,
    is_write: npt.ArrayLike | None,
    arrival: npt.ArrayLike | None = None,
) -> None:
    """Write requests to a trace file that :func:`read_trace` reads back unchanged.

    Lines have a fixed width per file (zero-padded hex addresses, right-aligned arrivals), and
    the file opens with one ``#`` comment line naming the format.

    Parameters
    ----------
    path
        File to create (overwritten if it exists).
    addresses
        Non-negative integer byte addresses.
    is_write
        Boolean per request, or None for all reads.
    arrival
        Non-negative, non-decreasing integer arrival cycles, or None (default) to write none.

    Raises
    ------
    ValueError
        For arrays of different lengths, negative or non-integer addresses, negative or
        decreasing arrivals.

    Example
    -------
    >>> write_trace("stream.trace", np.arange(0, 4096, 32), None)
    >>> read_trace("stream.trace")[0][:2]
    array([ 0, 32], dtype=uint64)
    """
    addr = _as_uint64(addresses)
    n = addr.size
    if is_write is None:
        w = np.zeros(n, dtype=np.bool_)
    else:
        w = np.asarray(is_write, dtype=np.bool_).ravel()
        if w.size != n:
            raise ValueError(f"write_trace: is_write has {w.size} entries for {n} addresses")
    arr: npt.NDArray[np.int64] | None = None
    if arrival is not None:
        a = np.asarray(arrival)
        if a.size and a.dtype.kind not in "ui":
            raise ValueError(f"write_trace: arrival must be integers, got dtype {a.dtype}")
        arr = a.astype(np.int64).ravel()
        if arr.size != n:
            raise ValueError(f"write_trace: arrival has {arr.size} entries for {n} addresses")
        if n and int(arr.min()) < 0:
            i = int(np.argmax(arr < 0))
            raise ValueError(f"write_trace: arrival of request {i} is negative ({int(arr[i])})")
        if n > 1:
            dec = np.diff(arr) < 0
            if dec.any():
                i = int(np.argmax(dec)) + 1
                raise ValueError(
                    f"write_trace: arrivals must not decrease: request {i} arrives at "
                    f"{int(arr[i])}, before request {i - 1} at {int(arr[i - 1])}"
                )

    hex_width = max(1, (int(addr.max()).bit_length() + 3) // 4) if n else 1
    dec_width = len(str(int(arr.max()))) if arr is not None and n else 1
    header = f"# h2m2 trace: {_FORMAT}\n".encode()
    with open(path, "wb") as f:
        f.write(header)
        for lo in range(0, n, _WRITE_CHUNK):
            hi = min(n, lo + _WRITE_CHUNK)
            chunk_arr = arr[lo:hi] if arr is not None else None
            f.write(_format_lines(addr[lo:hi], w[lo:hi], chunk_arr, hex_width, dec_width))


# --------------------------------------------------------------------------------- internals
def _as_uint64(addresses: npt.ArrayLike) -> npt.NDArray[np.uint64]:
    a = np.asarray(addresses)
    if a.ndim != 1:
        a = a.ravel()
    if a.size == 0:
        return np.zeros(0, dtype=np.uint64)
    if a.dtype.kind not in "ui":
        raise ValueError(f"write_trace: addresses must be integers, got dtype {a.dtype}")
    if a.dtype.kind == "i" and int(a.min()) < 0:
        i = int(np.argmax(a < 0))
        raise ValueError(f"write_trace: address of request {i} is negative ({int(a[i])})")
    return a.astype(np.uint64)


def _format_lines(
    addr: npt.NDArray[np.uint64],
    w: npt.NDArray[np.bool_],
    arr: npt.NDArray[np.int64] | None,
    hex_width: int,
    dec_width: int,
) -> bytes:
    """Fixed-width lines ``R 0x<hex> [<arrival>]\\n`` built as one uint8 matrix."""
    n = addr.size
    width = 4 + hex_width + (1 + dec_width if arr is not None else 0) + 1
    out = np.empty((n, width), dtype=np.uint8)
    out[:, 0] = np.where(w, ord("W"), ord("R"))
    out[:, 1] = _SPACE
    out[:, 2] = ord("0")
    out[:, 3] = ord("x")
    for k in range(hex_width):
        shift = np.uint64(4 * (hex_width - 1 - k))
        out[:, 4 + k] = _HEX_DIGITS[(addr >> shift) & np.uint64(0xF)]
    if arr is not None:
        col = 4 + hex_width
        out[:, col] = _SPACE
        for k in range(dec_width):
            power = 10 ** (dec_width - 1 - k)
            digit = _DEC_DIGITS[(arr // power) % 10]
            # Right-align: leading zeros become spaces (the last digit is always written).
            lead = arr < power if k < dec_width - 1 else np.zeros(n, dtype=np.bool_)
            out[:, col + 1 + k] = np.where(lead, _SPACE, digit)
    out[:, -1] = _NL
    return out.tobytes()


def _parse_fast(
    data: bytes,
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.bool_], npt.NDArray[np.int64] | None] | None:
    """Vectorised parse; None when anything is not plainly valid (the slow path decides)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size == 0:
        return _empty()
    newline = buf == _NL
    sep = newline | (buf == _SPACE) | (buf == _TAB) | (buf == _CR)
    # Token boundaries: a token starts after a separator and ends before one.
    start_mask = ~sep
    start_mask[1:] &= sep[:-1]
    end_mask = ~sep
    end_mask[:-1] &= sep[1:]
    starts = np.flatnonzero(start_mask)
    ends = np.flatnonzero(end_mask) + 1
    del start_mask, end_mask, sep
    if starts.size == 0:
        return _empty()
    line_of = np.searchsorted(np.flatnonzero(newline), starts, side="right")
    del newline
    # First token of each non-blank line; comment lines start with '#'.
    first = np.ones(starts.size, dtype=np.bool_)
    first[1:] = line_of[1:] != line_of[:-1]
    heads = np.flatnonzero(first)
    counts = np.diff(np.append(heads, starts.size))
    data_lines = buf[starts[heads]] != _HASH
    heads, counts = heads[data_lines], counts[data_lines]
    if heads.size == 0:
        return _empty()
    fields = int(counts[0])
    if fields not in (2, 3) or not (counts == fields).all():
        return None

    # Operation: one character, R or W in either case.
    op_start = starts[heads]
    if not (ends[heads] - op_start == 1).all():
        return None
    op = buf[op_start] | 0x20  # lower case
    is_write = op == ord("w")
    if not (is_write | (op == ord("r"))).all():
        return None

    # Address: hex with an optional 0x / 0X prefix, 1 to 16 digits.
    a_start, a_end = starts[heads + 1], ends[heads + 1]
    prefixed = (a_end - a_start >= 2) & (buf[a_start] == ord("0"))
    prefixed &= (buf[np.minimum(a_start + 1, buf.size - 1)] | 0x20) == ord("x")
    a_start = a_start + 2 * prefixed
    addresses = _digits(buf, a_start, a_end, _HEX_VALUE, _MAX_HEX_DIGITS, 16)
    if addresses is None:
        return None

    arrival: npt.NDArray[np.int64] | None = None
    if fields == 3:
        values = _digits(buf, starts[heads + 2], ends[heads + 2], _DEC_VALUE, _MAX_DEC_DIGITS, 10)
        if values is None:
            return None
        arrival = values.astype(np.int64)
        if arrival.size > 1 and (np.diff(arrival) < 0).any():
            return None
    return addresses, is_write, arrival


def _digits(
    buf: npt.NDArray[np.uint8],
    start: npt.NDArray[np.intp],
    end: npt.NDArray[np.intp],
    table: npt.NDArray[np.uint8],
    max_digits: int,
    base: int,
) -> npt.NDArray[np.uint64] | None:
    """Numbers in ``buf[start:end]`` (one per token) in ``base``; None if any token is invalid."""
    length = end - start
    if length.size == 0:
        return np.zeros(0, dtype=np.uint64)
    shortest, longest = int(length.min()), int(length.max())
    if shortest < 1 or longest > max_digits:
        return None
    value = np.zeros(start.size, dtype=np.uint64)
    bad = np.zeros(start.size, dtype=np.bool_)
    scale = 1
    for k in range(longest):  # k-th digit from the right
        pos = end - (k + 1)
        if k < shortest:  # every token has this digit
            digit = table[buf[pos]]
        else:
            present = length > k
            digit = np.where(present, table[buf[np.maximum(pos, 0)]], 0).astype(np.uint8)
        bad |= digit == _INVALID
        value += digit.astype(np.uint64) * np.uint64(scale)
        scale *= base
    if bad.any():
        return None
    return value


def _empty() -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.bool_], None]:
    return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.bool_), None


def _parse_slow(
    data: bytes, path: str | os.PathLike[str]
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.bool_], npt.NDArray[np.int64] | None]:
    """Line-by-line parse; the reference for the format. Raises on the first bad line."""
    addresses: list[int] = []
    writes: list[bool] = []
    arrivals: list[int] = []
    first_line = 0  # line of the first request (decides whether arrivals are given)
    with_arrival = False
    previous_line = 0
    for number, raw in enumerate(data.split(b"\n"), start=1):
        text = raw.decode("utf-8", errors="replace")
        fields = text.split()
        if not fields or fields[0].startswith("#"):
            continue
        line = text.strip()

        def fail(reason: str, number: int = number, line: str = line) -> TraceError:
            return TraceError(path, number, line, reason)

        if len(fields) > 3:
            raise fail(f"extra fields {' '.join(fields[3:])!r} (expected '{_FORMAT}')")
        op = fields[0]
        if op.upper() not in ("R", "W"):
            raise fail(f"bad operation {op!r} (expected R or W)")
        if len(fields) < 2:
            raise fail(f"missing address (expected '{_FORMAT}')")
        match = _HEX_RE.fullmatch(fields[1])
        if match is None:
            raise fail(f"bad hex address {fields[1]!r}")
        address = int(match.group(1), 16)
        if address >= 1 << 64:
            raise fail(f"address {fields[1]!r} does not fit in 64 bits")
        has_arrival = len(fields) == 3
        if not addresses:
            first_line, with_arrival = number, has_arrival
        elif has_arrival != with_arrival:
            if has_arrival:
                reason = f"arrival given, but the first request (line {first_line}) has none"
            else:
                reason = f"arrival missing, but the first request (line {first_line}) has one"
            raise fail(reason + "; give an arrival on every request or on none")
        if has_arrival:
            token = fields[2]
            if _NEG_RE.fullmatch(token):
                raise fail(f"negative arrival {token}")
            if _DEC_RE.fullmatch(token) is None:
                raise fail(f"bad arrival {token!r} (expected a decimal cycle count)")
            cycle = int(token)
            if cycle >= 1 << 63:
                raise fail(f"arrival {token} does not fit in 64 bits")
            if arrivals and cycle < arrivals[-1]:
                raise fail(
                    f"decreasing arrival {cycle}: the previous request (line {previous_line}) "
                    f"arrives at {arrivals[-1]}"
                )
            arrivals.append(cycle)
        addresses.append(address)
        writes.append(op.upper() == "W")
        previous_line = number
    return (
        np.array(addresses, dtype=np.uint64),
        np.array(writes, dtype=np.bool_),
        np.array(arrivals, dtype=np.int64) if with_arrival and addresses else None,
    )
