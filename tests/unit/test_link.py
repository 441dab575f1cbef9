"""Tests of the chip-to-chip link model, ``h2m2._core.link.Link`` (processor sharing per direction).

Times are integer picoseconds. 1 GB/s = 1 byte/ns, so at ``bw`` GB/s one byte takes 1000 / bw ps.
Each expected time below is worked out by hand from that rule and the processor-sharing rule
(active transfers of a direction split its bandwidth equally).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import pytest

from h2m2 import _core

Link = _core.link.Link


def _config(**overrides: object) -> dict[str, object]:
    cfg: dict[str, object] = {
        "name": "link",
        "bandwidth_GBps": 64.0,  # 64 bytes per 1000 ps: 64-byte multiples give whole picoseconds
        "latency_ps": 500_000,
        "granularity_bytes": 64,
    }
    cfg.update(overrides)
    return cfg


def _wire(nbytes: int, granularity: int) -> int:
    return -(-nbytes // granularity) * granularity


def _serialize_ps(wire_bytes: int, bw_gbps: float) -> int:
    """Exact serialization time, rounded up to a whole picosecond as the model does."""
    bytes_per_s = round(bw_gbps * 1e9)
    return math.ceil(Fraction(wire_bytes * 10**12, bytes_per_s))


def _run_all(link: Any, until: int = 10**15) -> dict[int, int]:
    return dict(link.advance_to(until))


# --------------------------------------------------------------------------- idle link
@pytest.mark.parametrize("granularity", [1, 32, 64, 256])
@pytest.mark.parametrize("nbytes", [1, 63, 64, 65, 1000, 4096, 2 << 20])
def test_idle_transfer_takes_wire_bytes_over_bandwidth_plus_latency(
    nbytes: int, granularity: int
) -> None:
    link = Link(_config(granularity_bytes=granularity))
    expected = _wire(nbytes, granularity) * 1000 // 64 + 500_000  # 64 GB/s: 1000 ps per 64 bytes
    if _wire(nbytes, granularity) * 1000 % 64:
        expected += 1  # rounded up: nothing is delivered early
    assert link.idle_transfer_ps(nbytes) == expected
    t0 = 7_000
    tid = link.start(0, nbytes, t0)
    assert link.next_delivery() == t0 + expected
    assert link.advance_to(t0 + expected - 1) == []
    assert link.advance_to(t0 + expected) == [(tid, t0 + expected)]
    assert link.next_delivery() == _core.link.NEVER
    stats = link.stats()
    assert stats["transfers"] == (1, 0)
    assert stats["bytes"] == (nbytes, 0)
    assert stats["wire_bytes"] == (_wire(nbytes, granularity), 0)
    assert stats["busy_ps"] == (expected - 500_000, 0)  # the wire, not the latency flight


@pytest.mark.parametrize("bw", [480.0, 960.0, 3.0, 0.5, 1234.5])
def test_idle_transfer_rounds_up_to_whole_picoseconds(bw: float) -> None:
    link = Link(_config(bandwidth_GBps=bw, latency_ps=0, granularity_bytes=64))
    for nbytes in (64, 100, 1 << 20, 3 << 30):
        wire = _wire(nbytes, 64)
        exact = wire * 1000 / bw
        got = link.idle_transfer_ps(nbytes)
        assert exact <= got < exact + 1
        assert got == _serialize_ps(wire, bw)


# --------------------------------------------------------------------------- sharing
def test_two_equal_concurrent_transfers_both_finish_at_twice_the_idle_time() -> None:
    link = Link(_config())
    a = link.start(0, 4096, 0)
    b = link.start(0, 4096, 0)
    serialize = 4096 * 1000 // 64
    expected = 2 * serialize + 500_000
    assert link.next_delivery() == expected
    assert link.advance_to(expected - 1) == []
    assert link.advance_to(expected) == [(a, expected), (b, expected)]
    assert link.stats()["busy_ps"] == (2 * serialize, 0)


def test_staggered_arrivals_follow_processor_sharing() -> None:
    # 1 GB/s = 1 byte/ns, granularity 1, latency 100 ps.
    #   A: 1000 bytes at 0 ns.         Alone until 200 ns: 200 bytes sent, 800 left.
    #   B:  500 bytes at 200 ns.       Shared (0.5 byte/ns each): B needs 1000 ns -> done 1200 ns;
    #                                  A sent 500 more in that time, 300 left.
    #   C:  100 bytes at 1300 ns.      A alone 1200..1300 ns: 100 sent, 200 left. Shared from
    #                                  1300 ns: C needs 200 ns -> done 1500 ns, A 100 left.
    #                                  A alone again: done 1600 ns (= 1600 bytes / 1 byte/ns).
    link = Link(_config(bandwidth_GBps=1.0, latency_ps=100, granularity_bytes=1))
    a = link.start(0, 1000, 0)
    b = link.start(0, 500, 200_000)
    assert link.next_delivery() == 1_200_000 + 100
    assert link.advance_to(1_250_000) == [(b, 1_200_100)]
    c = link.start(0, 100, 1_300_000)
    assert link.advance_to(10**9) == [(c, 1_500_100), (a, 1_600_100)]
    stats = link.stats()
    assert stats["busy_ps"] == (1_600_000, 0)
    assert stats["bytes"] == (1600, 0)


def test_uneven_sizes_issued_together_finish_in_size_order() -> None:
    # 64 GB/s, 64-byte granularity: 64 bytes take 1000 ps alone. Sizes 1, 2, 4 units of 64 B.
    # Three share until the smallest is done: 3 * 1000 ps. Then two share for the remaining
    # 1 unit of the middle one: 2 * 1000 ps -> 5000 ps. Then the largest alone: 2 more units,
    # 2000 ps -> 7000 ps (= 7 units in total).
    link = Link(_config(latency_ps=0))
    big = link.start(0, 256, 0)
    small = link.start(0, 64, 0)
    mid = link.start(0, 128, 0)
    assert _run_all(link) == {small: 3000, mid: 5000, big: 7000}


def test_a_transfer_starting_at_a_completion_time_does_not_share_with_it() -> None:
    link = Link(_config(latency_ps=0))
    a = link.start(0, 64, 0)  # done at 1000
    b = link.start(0, 64, 1000)  # starts just as A leaves: alone, done at 2000
    assert _run_all(link) == {a: 1000, b: 2000}


def test_opposite_directions_do_not_interfere() -> None:
    link = Link(_config())
    fwd = [link.start(0, 4096, 0), link.start(0, 4096, 0)]
    back = link.start(1, 4096, 0)
    serialize = 4096 * 1000 // 64
    delivered = _run_all(link)
    assert delivered[back] == serialize + 500_000  # as if alone
    assert [delivered[i] for i in fwd] == [2 * serialize + 500_000] * 2
    stats = link.stats()
    assert stats["transfers"] == (2, 1)
    assert stats["busy_ps"] == (2 * serialize, serialize)


def test_deliveries_are_reported_in_time_order_across_directions() -> None:
    link = Link(_config(latency_ps=0))
    x = link.start(1, 64, 0)  # 1000
    y = link.start(0, 128, 0)  # 2000
    z = link.start(1, 192, 0)  # shares with x: x done 2000, z alone afterwards: 4000
    assert link.advance_to(10**9) == [(x, 2000), (y, 2000), (z, 4000)]


# --------------------------------------------------------------------------- conservation
def test_many_small_transfers_issued_together_conserve_bytes() -> None:
    link = Link(_config(granularity_bytes=32))
    sizes = [1 + (i * 37) % 500 for i in range(300)]
    ids = [link.start(i % 2, n, 0) for i, n in enumerate(sizes)]
    delivered = _run_all(link)
    assert sorted(delivered) == sorted(ids)
    stats = link.stats()
    for d in (0, 1):
        requested = sum(n for i, n in enumerate(sizes) if i % 2 == d)
        wire = sum(_wire(n, 32) for i, n in enumerate(sizes) if i % 2 == d)
        assert stats["bytes"][d] == requested
        assert stats["wire_bytes"][d] == wire
        # Work conserving: the last one leaves when all wire bytes have crossed.
        last = max(delivered[ids[i]] for i in range(len(sizes)) if i % 2 == d)
        assert last == _serialize_ps(wire, 64.0) + 500_000
        assert stats["busy_ps"][d] == _serialize_ps(wire, 64.0)


def test_uneven_bandwidth_is_never_early_and_loses_at_most_a_picosecond_per_event() -> None:
    bw = 480.0
    link = Link(_config(bandwidth_GBps=bw, latency_ps=0, granularity_bytes=1))
    sizes = [100, 333, 333, 1000, 7]
    ids = [link.start(0, n, 0) for n in sizes]
    delivered = _run_all(link)
    # Exact processor sharing, in real numbers: sort by size, the k-th leaves after every
    # transfer has received its size.
    order = sorted(range(len(sizes)), key=lambda i: sizes[i])
    t, sent, exact = 0.0, 0, {}
    for k, i in enumerate(order):
        t += (sizes[i] - sent) * (len(sizes) - k) * 1000 / bw
        sent = sizes[i]
        exact[ids[i]] = t
    for k, i in enumerate(order):
        assert exact[ids[i]] - 1e-6 <= delivered[ids[i]] <= exact[ids[i]] + k + 1


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("bandwidth_GBps", 0.0, "link: bandwidth_GBps=0 must be positive"),
        ("bandwidth_GBps", -3.0, "link: bandwidth_GBps=-3 must be positive"),
        ("bandwidth_GBps", float("nan"), "link: bandwidth_GBps=nan must be positive"),
        ("latency_ps", -1, "link: latency_ps=-1 must be non-negative"),
        ("granularity_bytes", 0, "link: granularity_bytes=0 must be positive"),
    ],
)
def test_bad_config_raises_naming_the_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Link(_config(**{field: value}))


def test_config_names_the_link_and_requires_every_field() -> None:
    with pytest.raises(ValueError, match="c2c: granularity_bytes=-64"):
        Link(_config(name="c2c", granularity_bytes=-64))
    cfg = _config()
    del cfg["latency_ps"]
    with pytest.raises(ValueError, match="missing field latency_ps"):
        Link(cfg)
    with pytest.raises(ValueError, match="unknown field bandwidth_gbps"):
        Link({**_config(), "bandwidth_gbps": 1.0})


def test_bad_transfers_raise() -> None:
    link = Link(_config())
    with pytest.raises(ValueError, match="direction=2 must be 0 or 1"):
        link.start(2, 64, 0)
    with pytest.raises(ValueError, match="bytes=0 must be positive"):
        link.start(0, 0, 0)
    link.start(0, 64, 100)
    with pytest.raises(RuntimeError, match="precedes the link time"):
        link.start(0, 64, 99)
