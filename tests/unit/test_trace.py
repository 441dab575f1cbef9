"""Tests of the trace file format, :mod:`h2m2.dram.trace` (pure Python, no C++)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from h2m2.dram.trace import TraceError, _parse_fast, _parse_slow, read_trace, write_trace


def _write(tmp_path: Path, text: str, name: str = "t.trace") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


# --------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("with_arrival", [False, True])
def test_write_then_read_gives_the_same_requests(tmp_path: Path, with_arrival: bool) -> None:
    rng = np.random.default_rng(1)
    n = 5000
    addresses = rng.integers(0, 1 << 40, n, dtype=np.uint64)
    addresses[:3] = [0, 1, (1 << 64) - 1]  # smallest, odd and largest addresses
    is_write = rng.random(n) < 0.4
    arrival = np.sort(rng.integers(0, 10**12, n)) if with_arrival else None
    path = tmp_path / "rt.trace"
    write_trace(path, addresses, is_write, arrival)
    assert _parse_fast(path.read_bytes()) is not None, "our own output must take the fast path"

    a, w, t = read_trace(path)
    assert a.dtype == np.uint64 and w.dtype == np.bool_
    np.testing.assert_array_equal(a, addresses)
    np.testing.assert_array_equal(w, is_write)
    if with_arrival:
        assert t is not None and t.dtype == np.int64
        np.testing.assert_array_equal(t, arrival)
    else:
        assert t is None


def test_write_accepts_no_write_flags_and_python_lists(tmp_path: Path) -> None:
    path = tmp_path / "l.trace"
    write_trace(path, [0, 64, 4096], None, [0, 0, 7])
    a, w, t = read_trace(path)
    assert a.tolist() == [0, 64, 4096]
    assert w.tolist() == [False, False, False]
    assert t is not None and t.tolist() == [0, 0, 7]


def test_empty_trace_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "e.trace"
    write_trace(path, np.zeros(0, dtype=np.uint64), None)
    a, w, t = read_trace(path)
    assert a.size == 0 and w.size == 0 and t is None


def test_hand_written_variants_parse(tmp_path: Path) -> None:
    # Case-insensitive ops, with and without 0x / 0X, tabs, CRLF, comments, blank lines.
    text = "# header\n\n  r 0x40\t 3\r\nW 80 3\n# middle comment\nw\t0XfF 10\nR 000100 11"
    a, w, t = read_trace(_write(tmp_path, text))
    assert a.tolist() == [0x40, 0x80, 0xFF, 0x100]
    assert w.tolist() == [False, True, True, False]
    assert t is not None and t.tolist() == [3, 3, 10, 11]


def test_only_comments_is_an_empty_trace(tmp_path: Path) -> None:
    a, w, t = read_trace(_write(tmp_path, "# nothing\n\n   \n#R 0x40\n"))
    assert a.size == 0 and w.size == 0 and t is None


def test_long_zero_padded_address_is_accepted(tmp_path: Path) -> None:
    # More than 16 hex digits: the vectorised path declines, the line scan accepts it.
    a, _, _ = read_trace(_write(tmp_path, "R 0x000000000000000000040\nW 80\n"))
    assert a.tolist() == [0x40, 0x80]


def test_fast_and_line_by_line_parsers_agree(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    lines = []
    for i in range(2000):
        op = "rRwW"[int(rng.integers(4))]
        addr = int(rng.integers(0, 1 << 62))
        prefix = ["", "0x", "0X"][i % 3]
        digits = f"{addr:x}" if i % 2 else f"{addr:X}"
        sep = [" ", "\t", "  \t "][i % 3]
        lines.append(f"{op}{sep}{prefix}{digits}{sep}{i // 3}" + ("\r" if i % 5 == 0 else ""))
        if i % 97 == 0:
            lines.append("# comment")
        if i % 89 == 0:
            lines.append("")
    data = "\n".join(lines).encode()
    fast = _parse_fast(data)
    slow = _parse_slow(data, "mem")
    assert fast is not None, "the vectorised parser should accept this valid trace"
    for f, s in zip(fast, slow, strict=True):
        assert f is not None and s is not None
        np.testing.assert_array_equal(f, s)


# --------------------------------------------------------------------------- malformed lines
BAD_LINES = [
    # (file text, bad line number, words the reason must contain)
    ("R 0x40\nX 0x80\n", 2, "bad operation 'X'"),
    ("R 0x40\nRW 0x80\n", 2, "bad operation 'RW'"),
    ("R 0x40\n\n# c\nR 0xg0\n", 4, "bad hex address '0xg0'"),
    ("R 0x\n", 1, "bad hex address '0x'"),
    ("R 0x40 1\nR 0x80 2\nW 0xc0 -5\n", 3, "negative arrival -5"),
    ("R 0x40 1\nR 0x80 1.5\n", 2, "bad arrival '1.5'"),
    ("R 0x40\nR 0x80 3 extra\n", 2, "extra fields 'extra'"),
    ("R 0x40 1\nR 0x80 9\nW 0xc0 4\n", 3, "decreasing arrival 4"),
    ("W\n", 1, "missing address"),
    ("R 0x10000000000000000\n", 1, "does not fit in 64 bits"),
]


@pytest.mark.parametrize(("text", "line", "reason"), BAD_LINES)
def test_malformed_line_is_named_with_its_number(
    tmp_path: Path, text: str, line: int, reason: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(TraceError) as info:
        read_trace(path)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.line == line
    assert reason in err.reason
    bad_text = text.split("\n")[line - 1].strip()
    assert err.text == bad_text
    message = str(err)
    assert message.startswith(f"{path}:{line}: ")
    assert repr(bad_text) in message


def test_first_bad_line_wins_in_a_long_trace(tmp_path: Path) -> None:
    lines = [f"R {32 * i:x}" for i in range(50_000)]
    lines[31_415] = "R 0xZZ"
    lines[40_000] = "Q 0x40"
    with pytest.raises(TraceError) as info:
        read_trace(_write(tmp_path, "\n".join(lines)))
    assert info.value.line == 31_416


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("R 0x40\nR 0x80\nW 0xc0 5\n", 3, "arrival given, but the first request (line 1) has none"),
        ("# h\nR 0x40 0\nR 0x80\n", 3, "arrival missing, but the first request (line 2) has one"),
    ],
)
def test_mixed_arrival_presence_is_an_error(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    with pytest.raises(TraceError) as info:
        read_trace(_write(tmp_path, text))
    assert info.value.line == line
    assert words in str(info.value)


def test_trace_error_pickles() -> None:
    err = TraceError("a.trace", 3, "X 0x40", "bad operation 'X'")
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.path, copy.line, copy.text, copy.reason) == (
        "a.trace",
        3,
        "X 0x40",
        "bad operation 'X'",
    )
    assert str(copy) == str(err)


def test_missing_file_raises_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_trace(tmp_path / "absent.trace")


# --------------------------------------------------------------------------- write_trace checks
@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"addresses": [0, 32], "is_write": [True]}, "is_write has 1 entries for 2 addresses"),
        ({"addresses": [0, -32], "is_write": None}, "address of request 1 is negative"),
        ({"addresses": [0.5], "is_write": None}, "addresses must be integers"),
        ({"addresses": [0, 32], "is_write": None, "arrival": [1]}, "arrival has 1 entries"),
        ({"addresses": [0, 32], "is_write": None, "arrival": [0, -1]}, "arrival of request 1"),
        ({"addresses": [0, 32], "is_write": None, "arrival": [5, 4]}, "must not decrease"),
    ],
)
def test_write_trace_rejects_bad_arrays(tmp_path: Path, kwargs: dict, words: str) -> None:
    with pytest.raises(ValueError, match="write_trace") as info:
        write_trace(tmp_path / "x.trace", **kwargs)
    assert words in str(info.value)
