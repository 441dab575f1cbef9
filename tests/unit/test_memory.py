"""Unit tests of the memory abstraction, ``h2m2.memory`` (hand-computed expectations).

Small spaces: 4 KiB pages, a few frames per device, so every frame number is predictable
(frames are handed out lowest first, pages of one request in ascending logical order).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from h2m2.memory import (
    AddressSpace,
    CapacityError,
    DeviceMemory,
    InvariantError,
    MigrationPlan,
)

P = 4096
HBM, LP = 0, 1


def space2(hbm_pages: int = 8, lp_pages: int = 16, logical_pages: int = 256) -> AddressSpace:
    return AddressSpace(
        [DeviceMemory("HBM", hbm_pages * P), DeviceMemory("LPDDR", lp_pages * P)],
        page_bytes=P,
        logical_bytes=logical_pages * P,
    )


def table(space: AddressSpace, device: int | str, pages: Any) -> list[tuple[int, int]]:
    dev, frame = space.page_table(device)
    return [(int(dev[p]), int(frame[p])) for p in pages]


def state(space: AddressSpace) -> tuple[Any, ...]:
    """Everything observable, for 'nothing changed' checks."""
    tables = tuple(
        (space.page_table(d)[0].copy(), space.page_table(d)[1].copy())
        for d in range(len(space.devices))
    )
    tensors = tuple(
        (t, space.placement(t.name).tolist(), space.residency(t.name).tolist())
        for t in space.tensors
    )
    return tables, tensors, space.usage()


def assert_same_state(a: tuple[Any, ...], b: tuple[Any, ...]) -> None:
    for (d1, f1), (d2, f2) in zip(a[0], b[0], strict=True):
        np.testing.assert_array_equal(d1, d2)
        np.testing.assert_array_equal(f1, f2)
    assert a[1:] == b[1:]


# ------------------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"name": "", "capacity_bytes": P}, ValueError, "name=''"),
        ({"name": "HBM", "capacity_bytes": 0}, ValueError, "capacity_bytes=0 must be positive"),
        ({"name": "HBM", "capacity_bytes": "1"}, TypeError, "capacity_bytes='1'"),
        ({"name": "HBM", "capacity_bytes": True}, TypeError, "capacity_bytes=True"),
        (
            {"name": "HBM", "capacity_bytes": P, "reserved_bytes": -1},
            ValueError,
            "reserved_bytes=-1",
        ),
        (
            {"name": "HBM", "capacity_bytes": P, "reserved_bytes": P + 1},
            ValueError,
            "reserved_bytes=4097 must not exceed capacity_bytes=4096",
        ),
    ],
)
def test_device_memory_validation(kwargs: dict[str, Any], exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        DeviceMemory(**kwargs)


def test_device_memory_reserved_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        DeviceMemory("HBM", 8 * P, P)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("devices", "kwargs", "exc", "match"),
    [
        ([], {}, ValueError, "at least one"),
        (["HBM"], {}, TypeError, r"devices\[0\]='HBM' must be a DeviceMemory"),
        ([DeviceMemory("A", P), DeviceMemory("A", P)], {}, ValueError, "must be unique"),
        (
            [DeviceMemory("A", P)],
            {"page_bytes": 3000},
            ValueError,
            "page_bytes=3000 must be a power",
        ),
        ([DeviceMemory("A", P)], {"page_bytes": 0}, ValueError, "page_bytes=0 must be positive"),
        (
            [DeviceMemory("A", P)],
            {"page_bytes": P, "logical_bytes": 5000},
            ValueError,
            "logical_bytes=5000 must be a multiple of page_bytes=4096",
        ),
    ],
)
def test_address_space_validation(
    devices: list[Any], kwargs: dict[str, Any], exc: type, match: str
) -> None:
    with pytest.raises(exc, match=match):
        AddressSpace(devices, **kwargs)


def test_defaults_give_2MiB_pages_and_a_1TiB_table() -> None:
    space = AddressSpace([DeviceMemory("HBM", 96 << 30), DeviceMemory("LPDDR", 512 << 30)])
    assert space.page_bytes == 2 << 20
    assert space.logical_bytes == 1 << 40
    dev, frame = space.page_table("LPDDR")
    assert dev.shape == frame.shape == (1 << 19,)
    assert dev.dtype == np.int32 and frame.dtype == np.int64
    assert dev.flags.c_contiguous and frame.flags.c_contiguous
    assert (dev == -1).all() and (frame == -1).all()
    assert space.usage()["HBM"].free_pages == 96 * 512


def test_reserved_bytes_leave_the_allocator() -> None:
    space = AddressSpace(
        [DeviceMemory("HBM", 10 * P + 100, reserved_bytes=3 * P)],
        page_bytes=P,
        logical_bytes=64 * P,
    )
    u = space.usage()["HBM"]
    assert (u.free_pages, u.reserved_bytes, u.stranded_bytes) == (7, 3 * P, 100)
    assert u.used_bytes + u.free_bytes + u.reserved_bytes + u.stranded_bytes == u.capacity_bytes
    space.allocate("a", 7 * P, "HBM")
    with pytest.raises(CapacityError):
        space.allocate("b", 1, "HBM")


# ------------------------------------------------------------------------------ allocation
def test_allocation_is_page_aligned_contiguous_and_lowest_frame_first() -> None:
    space = space2(hbm_pages=16)
    sizes = [1, P, P + 1, 3 * P - 5, 0]
    tensors = [space.allocate(f"t{i}", s, "HBM") for i, s in enumerate(sizes)]
    expected_pages = [1, 1, 2, 3, 0]
    base = 0
    for t, s, n in zip(tensors, sizes, expected_pages, strict=True):
        assert t.base_bytes % P == 0
        assert t.base_bytes == base  # first fit: right after the previous reservation
        assert (t.size_bytes, t.pages) == (s, n)
        base += t.reserved_bytes
    assert tensors[-1].reserved_pages == 1  # a zero-size tensor still owns one logical page
    # Pages in logical order received frames 0, 1, 2, ... on HBM.
    assert table(space, "HBM", range(7)) == [(HBM, f) for f in range(7)]
    # The LPDDR chip has no copy: its table points at the HBM frames.
    assert table(space, "LPDDR", range(7)) == [(HBM, f) for f in range(7)]
    assert table(space, "HBM", [7, 8]) == [(-1, -1), (-1, -1)]
    space.check_invariants()


def test_allocate_with_per_page_placement_spans_devices() -> None:
    space = space2()
    t = space.allocate("w", 4 * P, np.array([HBM, LP, LP, HBM]))
    assert space.placement("w").tolist() == [HBM, LP, LP, HBM]
    assert table(space, "HBM", t.logical_pages()) == [(HBM, 0), (LP, 0), (LP, 1), (HBM, 1)]
    assert table(space, "LPDDR", t.logical_pages()) == [(HBM, 0), (LP, 0), (LP, 1), (HBM, 1)]
    u = space.usage()
    assert (u["HBM"].used_pages, u["LPDDR"].used_pages) == (2, 2)


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda s: s.allocate("a", P, "HBM"), ValueError, "'a' already exists"),
        (lambda s: s.allocate("", P, "HBM"), ValueError, "name=''"),
        (lambda s: s.allocate("b", -1, "HBM"), ValueError, "size_bytes=-1"),
        (
            lambda s: s.allocate("b", 2 * P, "HBM", reserve_bytes=P),
            ValueError,
            "reserve_bytes=4096",
        ),
        (lambda s: s.allocate("b", P, "DDR"), ValueError, "unknown device 'DDR'"),
        (lambda s: s.allocate("b", P, 2), ValueError, r"device=2 out of range \(0..1\)"),
        (lambda s: s.allocate("b", 2 * P, [0]), ValueError, r"shape \(1,\), expected \(2,\)"),
        (lambda s: s.allocate("b", 2 * P, [0, 7]), ValueError, "placement holds device 7"),
        (lambda s: s.allocate("b", P, [0.0]), TypeError, "dtype float64"),
        (lambda s: s.allocate("b", P, True), TypeError, "device=True"),
        (lambda s: s.allocate("b", 0, "HBM", reserve_bytes=300 * P), ValueError, "no free logical"),
    ],
)
def test_allocate_rejects_bad_input_and_changes_nothing(call: Any, exc: type, match: str) -> None:
    space = space2()
    space.allocate("a", P, "HBM")
    before = state(space)
    with pytest.raises(exc, match=match):
        call(space)
    assert_same_state(before, state(space))
    space.check_invariants()


def test_capacity_error_names_needed_and_free_bytes_per_device() -> None:
    space = space2(hbm_pages=4, lp_pages=2)
    space.allocate("w", P, "HBM")
    before = state(space)
    with pytest.raises(CapacityError) as info:
        space.allocate("big", 5 * P, "HBM")
    e = info.value
    assert isinstance(e, ValueError)
    assert e.needed_bytes == {"HBM": 5 * P, "LPDDR": 0}
    assert e.free_bytes == {"HBM": 3 * P, "LPDDR": 2 * P}
    assert e.short_bytes == {"HBM": 2 * P}
    msg = str(e)
    assert "allocate 'big'" in msg
    assert "short on HBM by 8192 B" in msg
    assert "needs HBM 20480 B (5 pages), LPDDR 0 B (0 pages)" in msg
    assert "free HBM 12288 B (3 pages), LPDDR 8192 B (2 pages)" in msg
    assert_same_state(before, state(space))
    # A mixed placement that is short on both devices names both.
    with pytest.raises(CapacityError, match="short on HBM by 4096 B, LPDDR by 4096 B"):
        space.allocate("mixed", 7 * P, [0, 0, 0, 0, 1, 1, 1])


# ------------------------------------------------------------------------------- KV growth
def test_kv_cache_grows_page_by_page() -> None:
    space = space2()
    kv = space.allocate("kv", 0, "HBM", reserve_bytes=4 * P)
    assert (kv.pages, kv.reserved_pages) == (0, 4)
    first = kv.first_page
    token_bytes = 1000
    dev, frame = space.page_table("HBM")
    for tokens in range(1, 17):
        size = tokens * token_bytes
        t = space.grow("kv", size, "HBM")
        assert t.base_bytes == kv.base_bytes  # never moves
        assert t.pages == -(-size // P)
        assert (dev[first : first + t.pages] == HBM).all()
        assert (dev[first + t.pages : first + 4] == -1).all()  # the rest is reserved, unmapped
        assert space.usage()["HBM"].used_pages == t.pages
    assert frame[first : first + 4].tolist() == [0, 1, 2, 3]
    space.check_invariants()


def test_grow_places_new_pages_on_the_given_device() -> None:
    space = space2(hbm_pages=2)
    space.allocate("kv", 2 * P, "HBM", reserve_bytes=5 * P)
    with pytest.raises(CapacityError, match="grow 'kv'"):
        space.grow("kv", 3 * P, "HBM")
    space.grow("kv", 3 * P, "LPDDR")
    space.grow("kv", 5 * P, [LP, LP])
    assert space.placement("kv").tolist() == [HBM, HBM, LP, LP, LP]
    assert table(space, "HBM", range(5)) == [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2)]
    space.check_invariants()


def test_grow_past_the_reservation_extends_in_place_or_raises() -> None:
    space = space2()
    space.allocate("kv", P, "HBM")  # reserves logical page 0 only
    t = space.grow("kv", 3 * P, "HBM")  # pages 1, 2 are free: extended in place
    assert (t.base_bytes, t.reserved_pages, t.pages) == (0, 3, 3)
    space.allocate("next", P, "HBM")  # logical page 3
    before = state(space)
    with pytest.raises(ValueError, match="reserve_bytes >= its maximum size"):
        space.grow("kv", 4 * P, "HBM")
    assert_same_state(before, state(space))
    with pytest.raises(ValueError, match="new_size_bytes=1 must be >= the current size 12288"):
        space.grow("kv", 1, "HBM")
    with pytest.raises(ValueError, match="unknown tensor 'nope'"):
        space.grow("nope", P, "HBM")
    assert space.grow("kv", 3 * P, "HBM") == space.tensor("kv")  # same size: no-op
    space.check_invariants()


def test_free_unmaps_and_recycles_lowest_frames_and_logical_space() -> None:
    space = space2()
    for name in "abc":
        space.allocate(name, 2 * P, "HBM")
    assert space.free("b").tolist() == [2, 3]
    assert table(space, "HBM", [2, 3]) == [(-1, -1), (-1, -1)]
    assert table(space, "LPDDR", [2, 3]) == [(-1, -1), (-1, -1)]
    assert "b" not in space and len(space) == 2
    # A 3-page tensor does not fit b's 2-page logical hole (first fit) but takes b's frames first.
    d = space.allocate("d", 3 * P, "HBM")
    assert d.first_page == 6
    assert space.page_table("HBM")[1][6:9].tolist() == [2, 3, 6]
    e = space.allocate("e", P, "HBM")  # fits the hole
    assert e.first_page == 2
    with pytest.raises(ValueError, match="unknown tensor 'b'"):
        space.free("b")
    space.check_invariants()
    for name in "acde":
        space.free(name)
    assert space.usage()["HBM"].free_pages == 8
    assert space.allocate("z", 8 * P, "HBM", reserve_bytes=256 * P).first_page == 0  # all free
    space.check_invariants()


# ----------------------------------------------------------------------------- duplication
def test_duplicate_gives_each_chip_its_local_copy() -> None:
    space = space2()
    space.allocate("kv", P, "LPDDR")  # LPDDR frame 0, logical page 0
    w = space.allocate("w", 3 * P, "HBM")  # HBM frames 0..2, logical pages 1..3
    pages = w.logical_pages().tolist()
    assert table(space, "LPDDR", pages) == [(HBM, 0), (HBM, 1), (HBM, 2)]
    copied = space.duplicate("w", "LPDDR")
    assert copied.tolist() == pages
    assert table(space, "LPDDR", pages) == [(LP, 1), (LP, 2), (LP, 3)]  # its own copies
    assert table(space, "HBM", pages) == [(HBM, 0), (HBM, 1), (HBM, 2)]  # unchanged
    assert space.placement("w").tolist() == [HBM] * 3  # the primary stays on HBM
    assert space.residency("w").all()
    u = space.usage()
    assert (u["LPDDR"].used_pages, u["LPDDR"].duplicate_pages, u["HBM"].duplicate_pages) == (
        4,
        3,
        0,
    )
    assert space.duplicate("w", "LPDDR").size == 0  # idempotent
    assert space.duplicate("w", "HBM").size == 0  # already primary there
    space.check_invariants()
    assert space.drop_duplicate("w", "LPDDR").tolist() == pages
    assert table(space, "LPDDR", pages) == [(HBM, 0), (HBM, 1), (HBM, 2)]
    assert space.usage()["LPDDR"].used_pages == 1
    assert space.drop_duplicate("w", "HBM").size == 0  # primaries are never dropped
    space.check_invariants()


def test_duplicate_of_a_tensor_spanning_devices_copies_only_the_remote_pages() -> None:
    space = space2()
    space.allocate("w", 3 * P, [HBM, LP, HBM])
    assert space.duplicate("w", "LPDDR").tolist() == [0, 2]
    assert table(space, "LPDDR", range(3)) == [(LP, 1), (LP, 0), (LP, 2)]
    assert table(space, "HBM", range(3)) == [(HBM, 0), (LP, 0), (HBM, 1)]
    # Freeing releases duplicates too.
    space.free("w")
    assert space.usage()["LPDDR"].used_pages == 0
    space.check_invariants()


def test_duplicate_that_does_not_fit_raises_and_changes_nothing() -> None:
    space = space2(hbm_pages=4, lp_pages=2)
    space.allocate("w", 3 * P, "HBM")
    before = state(space)
    with pytest.raises(CapacityError, match=r"duplicate 'w'.*needs HBM 0 B .* LPDDR 12288 B"):
        space.duplicate("w", "LPDDR")
    assert_same_state(before, state(space))


# ---------------------------------------------------------------------------- fragmentation
def test_fragmentation_hand_computed() -> None:
    space = space2(hbm_pages=64, lp_pages=64)
    space.allocate("a", P + 1, "HBM")  # tail P - 1 = 4095 on HBM
    space.allocate("b", 2 * P, "HBM")  # exact: 0
    space.allocate("c", 100, "LPDDR")  # 3996 on LPDDR
    space.allocate("d", 5000, "HBM")  # 3192, duplicated: on both
    space.duplicate("d", "LPDDR")
    space.allocate("e", 2 * P + 10, [HBM, HBM, LP])  # last page on LPDDR: 4086 there
    space.allocate("z", 0, "HBM")  # nothing backed, nothing wasted
    r = space.fragmentation()
    assert (r.tensors, r.partial_tensors, r.page_bytes) == (6, 4, P)
    assert r.wasted_bytes == {"HBM": 4095 + 3192, "LPDDR": 3996 + 3192 + 4086}
    assert r.total_wasted_bytes == 4095 + 3192 + 3996 + 3192 + 4086
    assert r.fraction_of_capacity == {
        "HBM": (4095 + 3192) / (64 * P),
        "LPDDR": (3996 + 3192 + 4086) / (64 * P),
    }
    df = space.to_frame()
    tails = dict(zip(df["name"], df["internal_fragmentation_bytes"], strict=True))
    assert tails == {"a": 4095, "b": 0, "c": 3996, "d": 3192, "e": 4086, "z": 0}


def test_fragmentation_of_gpt3_weight_layouts() -> None:
    # GPT3-175B, INT8, d_model 12288, 96 heads of 128, 2 MiB pages. A per-head qkv slice is
    # 12288 x 384 B = 4.5 MiB -> 3 pages, tail 1.5 MiB; a per-layer qkv tensor (all heads,
    # 432 MiB) has no tail. Two layers of each layout:
    MiB = 1 << 20
    space = AddressSpace([DeviceMemory("LPDDR", 512 << 30)])
    for layer in range(2):
        space.allocate(f"qkv.{layer}", 12288 * 3 * 12288, "LPDDR")
    assert space.fragmentation().wasted_bytes == {"LPDDR": 0}
    for layer in range(2):
        for head in range(96):
            space.allocate(f"qkv.{layer}.{head}", 12288 * 384, "LPDDR")
    r = space.fragmentation()
    assert r.wasted_bytes == {"LPDDR": 2 * 96 * 3 * MiB // 2}
    assert r.fraction_of_capacity["LPDDR"] == pytest.approx(288 / (512 * 1024))


# -------------------------------------------------------------------------------- migration
def test_migration_plan_lists_exactly_the_changed_pages() -> None:
    space = space2()
    space.allocate("x", 2 * P, "LPDDR")  # LPDDR frames 0, 1; logical 0, 1
    w = space.allocate("w", 4 * P, "HBM")  # HBM frames 0..3; logical 2..5
    plan = space.plan_migration({"w": [HBM, LP, HBM, LP], "x": "LPDDR"})
    assert isinstance(plan, MigrationPlan)
    assert plan.pages == len(plan) == 2
    assert plan.tensor.tolist() == ["w", "w"]
    assert plan.logical_page.tolist() == [w.first_page + 1, w.first_page + 3]
    assert plan.src_device.tolist() == [HBM, HBM]
    assert plan.src_frame.tolist() == [1, 3]
    assert plan.dst_device.tolist() == [LP, LP]
    assert plan.dst_frame.tolist() == [2, 3]  # lowest free LPDDR frames, in logical order
    assert plan.copied.tolist() == [True, True]
    assert plan.bytes_by_direction == {("HBM", "LPDDR"): 2 * P}
    assert plan.total_bytes == 2 * P
    frame = plan.to_frame()
    assert frame["src_device"].tolist() == ["HBM", "HBM"]
    assert frame["dst_device"].tolist() == ["LPDDR", "LPDDR"]


def test_no_op_target_gives_an_empty_plan() -> None:
    space = space2()
    space.allocate("w", 3 * P, [HBM, LP, HBM])
    space.allocate("empty", 0, "HBM")
    for target in ({}, {"w": [HBM, LP, HBM]}, {"w": space.placement("w"), "empty": "LPDDR"}):
        plan = space.plan_migration(target)
        assert len(plan) == 0 and plan.total_bytes == 0 and plan.bytes_by_direction == {}
        before = state(space)
        assert space.apply(plan).size == 0
        assert_same_state(before, state(space))


def test_apply_moves_pages_updates_both_tables_and_returns_the_shootdown_set() -> None:
    space = space2()
    w = space.allocate("w", 4 * P, "HBM")
    space.allocate("kv", P, "LPDDR")  # LPDDR frame 0
    pages = w.logical_pages()
    hbm_tables = space.page_table("HBM")
    changed = space.apply(space.plan_migration({"w": [HBM, LP, HBM, LP]}))
    assert changed.tolist() == [pages[1], pages[3]]
    expected = [(HBM, 0), (LP, 1), (HBM, 2), (LP, 2)]
    assert table(space, "HBM", pages) == expected
    assert table(space, "LPDDR", pages) == expected
    assert hbm_tables[0][pages].tolist() == [HBM, LP, HBM, LP]  # earlier views see the update
    u = space.usage()
    assert (u["HBM"].used_pages, u["LPDDR"].used_pages) == (2, 3)
    space.check_invariants()
    # Back again: HBM frames 1 and 3 are the lowest free ones.
    back = space.plan_migration({"w": "HBM"})
    assert back.dst_frame.tolist() == [1, 3]
    assert back.bytes_by_direction == {("LPDDR", "HBM"): 2 * P}
    space.apply(back)
    assert table(space, "LPDDR", pages) == [(HBM, f) for f in range(4)]
    assert space.usage()["LPDDR"].used_pages == 1
    space.check_invariants()


def test_migration_to_a_device_holding_a_duplicate_promotes_it() -> None:
    space = space2()
    space.allocate("x", P, "LPDDR")
    w = space.allocate("w", 2 * P, "HBM")
    space.duplicate("w", "LPDDR")  # LPDDR frames 1, 2
    plan = space.plan_migration({"w": "LPDDR"})
    assert plan.copied.tolist() == [False, False]
    assert plan.dst_frame.tolist() == [1, 2]
    assert plan.total_bytes == 0 and plan.bytes_by_direction == {}
    assert space.apply(plan).tolist() == w.logical_pages().tolist()
    assert table(space, "HBM", w.logical_pages()) == [(LP, 1), (LP, 2)]
    assert space.residency("w").tolist() == [[False, False], [True, True]]
    assert space.usage()["HBM"].used_pages == 0
    space.check_invariants()


def test_migration_that_does_not_fit_raises_and_changes_nothing() -> None:
    space = space2(hbm_pages=4, lp_pages=8)
    space.allocate("h", 3 * P, "HBM")
    space.allocate("w", 4 * P, "LPDDR")
    before = state(space)
    with pytest.raises(CapacityError) as info:
        space.plan_migration({"w": [HBM, HBM, LP, LP], "h": [HBM, HBM, HBM]})
    assert info.value.needed_bytes == {"HBM": 2 * P, "LPDDR": 0}
    assert info.value.free_bytes == {"HBM": P, "LPDDR": 4 * P}
    assert "plan_migration" in str(info.value)
    assert_same_state(before, state(space))
    space.check_invariants()


def test_exchange_between_full_memories_needs_reuse_freed_frames() -> None:
    space = space2(hbm_pages=4, lp_pages=4)
    space.allocate("a", 4 * P, "HBM")
    space.allocate("b", 4 * P, "LPDDR")
    swap = {"a": [LP, LP, HBM, HBM], "b": [HBM, HBM, LP, LP]}
    with pytest.raises(CapacityError):
        space.plan_migration(swap)
    plan = space.plan_migration(swap, reuse_freed_frames=True)
    assert plan.bytes_by_direction == {("HBM", "LPDDR"): 2 * P, ("LPDDR", "HBM"): 2 * P}
    assert plan.dst_frame.tolist() == [0, 1, 0, 1]  # the frames the other pair frees
    space.apply(plan)
    assert space.placement("a").tolist() == [LP, LP, HBM, HBM]
    assert table(space, "HBM", range(8)) == [
        (LP, 0), (LP, 1), (HBM, 2), (HBM, 3), (HBM, 0), (HBM, 1), (LP, 2), (LP, 3)
    ]  # fmt: skip
    space.check_invariants()


def test_stale_or_foreign_plans_are_rejected() -> None:
    space, other = space2(), space2()
    for s in (space, other):
        s.allocate("w", 2 * P, "HBM")
    plan = space.plan_migration({"w": "LPDDR"})
    before = state(other)
    with pytest.raises(ValueError, match="another AddressSpace"):
        other.apply(plan)
    assert_same_state(before, state(other))
    space.allocate("later", P, "HBM")
    before = state(space)
    with pytest.raises(ValueError, match="stale"):
        space.apply(plan)
    assert_same_state(before, state(space))
    fresh = space.plan_migration({"w": "LPDDR"})
    space.apply(fresh)
    with pytest.raises(ValueError, match="stale"):
        space.apply(fresh)  # twice
    with pytest.raises(TypeError, match="must be a MigrationPlan"):
        space.apply({"w": "LPDDR"})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("target", "exc", "match"),
    [
        ({"nope": "HBM"}, ValueError, "plan_migration: unknown tensor 'nope'"),
        ({"w": [0, 1, 0]}, ValueError, r"tensor 'w': placement has shape \(3,\), expected \(4,\)"),
        ({"w": [0, 1, 0, 5]}, ValueError, "tensor 'w': placement holds device 5"),
        ({"w": "DDR"}, ValueError, "unknown device 'DDR'"),
        ({"w": np.zeros(4)}, TypeError, "dtype float64"),
        ([("w", 0)], TypeError, "must be a Mapping"),
    ],
)
def test_plan_migration_validates_the_target(target: Any, exc: type, match: str) -> None:
    space = space2()
    space.allocate("w", 4 * P, "HBM")
    with pytest.raises(exc, match=match):
        space.plan_migration(target)


# ---------------------------------------------------------------- determinism, views, reports
def _scenario(space: AddressSpace) -> MigrationPlan:
    space.allocate("w0", 3 * P + 7, "HBM")
    space.allocate("kv", 0, "LPDDR", reserve_bytes=6 * P)
    space.allocate("w1", 2 * P, [LP, HBM])
    space.grow("kv", 2 * P + 1, "HBM")
    space.duplicate("w0", "LPDDR")
    space.free("w1")
    space.allocate("w2", 4 * P, "LPDDR")
    space.grow("kv", 5 * P, "LPDDR")
    plan = space.plan_migration({"w2": [HBM, LP, HBM, LP], "kv": "HBM", "w0": "LPDDR"})
    space.apply(plan)
    return plan


def test_same_operations_give_identical_page_tables_and_plans() -> None:
    a, b = space2(hbm_pages=16), space2(hbm_pages=16)
    pa, pb = _scenario(a), _scenario(b)
    # w0: 4 duplicated pages promoted (no copy); kv: 2 pages LPDDR -> HBM; w2: 2 pages.
    assert (pa.pages, pa.copied_pages) == (8, 4)
    assert pa.bytes_by_direction == {("LPDDR", "HBM"): 4 * P}
    for col in ("tensor", "logical_page", "src_device", "src_frame", "dst_device", "dst_frame"):
        np.testing.assert_array_equal(getattr(pa, col), getattr(pb, col))
    assert_same_state(state(a), state(b))
    a.check_invariants()


def test_plan_does_not_depend_on_the_order_of_the_target_mapping() -> None:
    a, b = space2(), space2()
    for s in (a, b):
        s.allocate("x", 2 * P, "HBM")
        s.allocate("y", 2 * P, "HBM")
    pa = a.plan_migration({"x": "LPDDR", "y": "LPDDR"})
    pb = b.plan_migration({"y": "LPDDR", "x": "LPDDR"})
    assert pa.logical_page.tolist() == pb.logical_page.tolist() == [0, 1, 2, 3]
    assert pa.dst_frame.tolist() == pb.dst_frame.tolist() == [0, 1, 2, 3]
    assert pa.tensor.tolist() == pb.tensor.tolist() == ["x", "x", "y", "y"]


def test_page_tables_are_read_only_views_updated_in_place() -> None:
    space = space2()
    dev, frame = space.page_table("HBM")
    dev2, frame2 = space.page_table(HBM)
    assert np.shares_memory(dev, dev2) and np.shares_memory(frame, frame2)
    with pytest.raises(ValueError, match="read-only"):
        dev[0] = 1
    space.allocate("w", 2 * P, "LPDDR")
    assert dev[:2].tolist() == [LP, LP] and frame[:2].tolist() == [0, 1]
    space.free("w")
    assert dev[:2].tolist() == [-1, -1]
    plan = space.plan_migration({})
    assert not plan.logical_page.flags.writeable  # apply trusts the plan: it is frozen


def test_usage_and_to_frame() -> None:
    space = space2()
    space.allocate("w", 3 * P, [HBM, LP, LP])
    space.duplicate("w", "HBM")
    space.allocate("kv", 100, "LPDDR", reserve_bytes=4 * P)
    u = space.usage()
    assert list(u) == ["HBM", "LPDDR"]
    assert (u["HBM"].used_pages, u["HBM"].duplicate_pages, u["HBM"].free_pages) == (3, 2, 5)
    assert (u["LPDDR"].used_bytes, u["LPDDR"].free_bytes) == (3 * P, 13 * P)
    df = space.to_frame()
    assert df["name"].tolist() == ["w", "kv"]
    assert df["pages"].tolist() == [3, 1]
    assert df["reserved_bytes"].tolist() == [3 * P, 4 * P]
    assert df["base_bytes"].tolist() == [0, 3 * P]
    assert df["pages_HBM"].tolist() == [1, 0] and df["pages_LPDDR"].tolist() == [2, 1]
    assert df["duplicates_HBM"].tolist() == [2, 0] and df["duplicates_LPDDR"].tolist() == [0, 0]
    assert [t.name for t in space.tensors] == ["w", "kv"]


def test_check_invariants_detects_corruption() -> None:
    space = space2()
    space.allocate("a", 2 * P, "HBM")
    space.allocate("b", P, "LPDDR")
    space.check_invariants()
    space._local[HBM, 1] = 0  # two pages in HBM frame 0
    with pytest.raises(InvariantError, match=r"h2m2 internal error: device 'HBM'.*please report"):
        space.check_invariants()
    space._local[HBM, 1] = 1
    space._pt_frame[LP, 0] = 5  # a stale page-table entry
    with pytest.raises(InvariantError, match="page table of 'LPDDR' is out of date"):
        space.check_invariants()
    space._pt_frame[LP, 0] = 0
    space._primary[10] = LP  # a mapped page no tensor owns
    with pytest.raises(InvariantError, match="logical page 10"):
        space.check_invariants()
    space._primary[10] = -1
    space.check_invariants()
