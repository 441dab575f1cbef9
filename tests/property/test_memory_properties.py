"""Property tests of the memory abstraction: random operation sequences against a shadow model.

A Hypothesis state machine runs random allocate / grow / free / duplicate / drop_duplicate /
migrate sequences on a small space (three devices of a few 4 KiB frames, 64 logical pages), on a
twin space fed the same operations, and on a plain-Python model (per page: primary device and the
set of devices holding a copy). After every step:

(a) ``check_invariants`` passes (one primary per mapped page, no shared frame, free + used =
    total, reservations tile the logical space, tables point at the local copy);
(b) capacity is never exceeded: per device, used frames = copies in the model <= usable frames;
    an operation raises ``CapacityError`` exactly when the model says it does not fit, and a
    failing operation changes nothing;
(c) every chip's page table agrees with the model: chip d maps page p to d if d holds a copy,
    else to the primary device, at the frame that device's own table gives; unowned pages are
    unmapped;
(d) a migration plan lists exactly the pages whose target differs from the model's primary, it
    copies exactly those whose target holds no copy, its bytes = copied pages x page_bytes (also
    per direction), and ``apply`` returns exactly those pages;
(e) the twin has identical page tables (same operations -> same state).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from h2m2.memory import AddressSpace, CapacityError, DeviceMemory

P = 4096
LOGICAL_PAGES = 64
DEVICES = [
    DeviceMemory("HBM", 6 * P + 123, reserved_bytes=P),  # 5 usable frames
    DeviceMemory("LPDDR", 12 * P),
    DeviceMemory("CXL", 4 * P),
]
FRAMES = [d.usable_frames(P) for d in DEVICES]
N = len(DEVICES)


@dataclass
class ModelTensor:
    size: int
    primary: list[int] = field(default_factory=list)
    copies: list[set[int]] = field(default_factory=list)  # includes the primary


def new_space() -> AddressSpace:
    return AddressSpace(DEVICES, page_bytes=P, logical_bytes=LOGICAL_PAGES * P)


def snapshot(space: AddressSpace) -> list[np.ndarray]:
    out = []
    for d in range(N):
        dev, frame = space.page_table(d)
        out += [dev.copy(), frame.copy()]
    return out


def placements(draw: Any, pages: int) -> Any:
    if draw(st.booleans()):
        return draw(st.sampled_from([0, 1, 2, "HBM", "LPDDR", "CXL"]))
    return np.array(draw(st.lists(st.integers(0, N - 1), min_size=pages, max_size=pages)))


def as_devices(placement: Any, pages: int) -> list[int]:
    if isinstance(placement, str):
        return [[d.name for d in DEVICES].index(placement)] * pages
    if isinstance(placement, int):
        return [placement] * pages
    return [int(x) for x in placement]


class MemoryMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.space = new_space()
        self.twin = new_space()
        self.model: dict[str, ModelTensor] = {}
        self.serial = 0

    # ----------------------------------------------------------------------- helpers
    def used(self) -> list[int]:
        used = [0] * N
        for t in self.model.values():
            for c in t.copies:
                for d in c:
                    used[d] += 1
        return used

    def fits(self, need: list[int], extra_free: list[int] | None = None) -> bool:
        used = self.used()
        extra = extra_free or [0] * N
        return all(need[d] <= FRAMES[d] - used[d] + extra[d] for d in range(N))

    def run(self, method: str, *args: Any, **kwargs: Any) -> tuple[Any, BaseException | None]:
        """Run on the space and its twin; a raising call must leave the space untouched."""
        before = snapshot(self.space)
        results = []
        for s in (self.space, self.twin):
            try:
                results.append((getattr(s, method)(*args, **kwargs), None))
            except ValueError as e:  # includes CapacityError
                results.append((None, e))
        (r, e), (_, e2) = results
        assert type(e) is type(e2)
        if e is not None:
            for a, b in zip(before, snapshot(self.space), strict=True):
                np.testing.assert_array_equal(a, b)
        return r, e

    def pick(self, data: Any) -> str:
        return data.draw(st.sampled_from(sorted(self.model)))

    # ------------------------------------------------------------------------- rules
    @initialize(data=st.data(), size=st.integers(0, 3 * P))
    def first_tensor(self, data: Any, size: int) -> None:
        self.allocate(data, size, 0)

    @rule(data=st.data(), size=st.integers(0, 4 * P), extra=st.integers(0, 3 * P))
    def allocate(self, data: Any, size: int, extra: int) -> None:
        pages = -(-size // P)
        placement = placements(data.draw, pages)
        devs = as_devices(placement, pages)
        name = f"t{self.serial}"
        self.serial += 1
        r, e = self.run("allocate", name, size, placement, reserve_bytes=size + extra)
        need = [devs.count(d) for d in range(N)]
        if not self.fits(need):
            assert isinstance(e, CapacityError)
            event("allocate: capacity error")
            return
        if e is not None:  # the only other failure: logical space exhausted
            assert "no free logical range" in str(e)
            event("allocate: logical space exhausted")
            return
        assert r.base_bytes % P == 0 and r.pages == pages
        self.model[name] = ModelTensor(size, devs, [{d} for d in devs])

    @rule(data=st.data(), add=st.integers(0, 3 * P))
    def grow(self, data: Any, add: int) -> None:
        if not self.model:
            return
        name = self.pick(data)
        t = self.model[name]
        new_size = t.size + add
        new = -(-new_size // P) - len(t.primary)
        placement = placements(data.draw, new)
        devs = as_devices(placement, new)
        r, e = self.run("grow", name, new_size, placement)
        if not self.fits([devs.count(d) for d in range(N)]):
            assert isinstance(e, CapacityError)
            event("grow: capacity error")
            return
        if e is not None:  # the logical pages after the reservation are taken
            assert "reserve_bytes >= its maximum size" in str(e)
            event("grow: reservation full")
            return
        assert r.pages == len(t.primary) + new
        t.size = new_size
        t.primary += devs
        t.copies += [{d} for d in devs]

    @rule(data=st.data())
    def free(self, data: Any) -> None:
        if not self.model:
            return
        name = self.pick(data)
        pages, e = self.run("free", name)
        assert e is None
        assert len(pages) == len(self.model.pop(name).primary)

    @rule(data=st.data(), device=st.integers(0, N - 1))
    def duplicate(self, data: Any, device: int) -> None:
        if self.model:
            self.duplicate_one(self.pick(data), device)

    @rule(data=st.data(), device=st.integers(0, N - 1))
    def duplicate_then_promote(self, data: Any, device: int) -> None:
        if self.model:
            name = self.pick(data)
            self.duplicate_one(name, device)
            self.migrate_to({name: device}, reuse=False)

    def duplicate_one(self, name: str, device: int) -> None:
        t = self.model[name]
        missing = [i for i, c in enumerate(t.copies) if device not in c]
        need = [len(missing) if d == device else 0 for d in range(N)]
        pages, e = self.run("duplicate", name, device)
        if not self.fits(need):
            assert isinstance(e, CapacityError)
            event("duplicate: capacity error")
            return
        assert e is None
        event(f"duplicate: {'some' if missing else 'no'} pages copied")
        base = self.space.tensor(name).first_page
        assert pages.tolist() == [base + i for i in missing]
        for i in missing:
            t.copies[i].add(device)

    @rule(data=st.data(), device=st.integers(0, N - 1))
    def drop_duplicate(self, data: Any, device: int) -> None:
        if not self.model:
            return
        name = self.pick(data)
        t = self.model[name]
        pages, e = self.run("drop_duplicate", name, device)
        assert e is None
        dropped = [i for i, c in enumerate(t.copies) if device in c and t.primary[i] != device]
        base = self.space.tensor(name).first_page
        assert pages.tolist() == [base + i for i in dropped]
        for i in dropped:
            t.copies[i].discard(device)

    @rule(data=st.data(), reuse=st.booleans())
    def migrate(self, data: Any, reuse: bool) -> None:
        if not self.model:
            return
        names = data.draw(st.lists(st.sampled_from(sorted(self.model)), unique=True, max_size=3))
        target: dict[str, Any] = {}
        for n in names:
            t = self.model[n]
            if data.draw(st.booleans()):  # towards a device holding a copy: promotes duplicates
                target[n] = np.array([max(c) for c in t.copies], dtype=np.int64)
            else:
                target[n] = placements(data.draw, len(t.primary))
        self.migrate_to(target, reuse=reuse)

    def migrate_to(self, target: dict[str, Any], *, reuse: bool) -> None:
        names = list(target)
        # Expected rows from the model.
        rows = []  # (logical page, tensor, index, src, dst, copied)
        for n in names:
            t, base = self.model[n], self.space.tensor(n).first_page
            for i, dst in enumerate(as_devices(target[n], len(t.primary))):
                if dst != t.primary[i]:
                    rows.append((base + i, n, i, t.primary[i], dst, dst not in t.copies[i]))
        rows.sort()
        need = [sum(1 for r in rows if r[4] == d and r[5]) for d in range(N)]
        freed = [sum(1 for r in rows if r[3] == d) for d in range(N)] if reuse else None
        plan, e = self.run("plan_migration", target, reuse_freed_frames=reuse)
        if not self.fits(need, freed):
            assert isinstance(e, CapacityError)
            event("migrate: capacity error")
            return
        assert e is None
        event(f"migrate: {'empty' if not rows else 'non-empty'} plan")
        if any(not r[5] for r in rows):
            event("migrate: duplicate promoted")
        if reuse and rows:
            event("migrate: reuse_freed_frames")
        assert plan.logical_page.tolist() == [r[0] for r in rows]
        assert plan.tensor.tolist() == [r[1] for r in rows]
        assert plan.src_device.tolist() == [r[3] for r in rows]
        assert plan.dst_device.tolist() == [r[4] for r in rows]
        assert plan.copied.tolist() == [r[5] for r in rows]
        copied = sum(r[5] for r in rows)
        assert plan.total_bytes == copied * P
        assert sum(plan.bytes_by_direction.values()) == copied * P
        for (src, dst), nbytes in plan.bytes_by_direction.items():
            s, d = self.space.device_index(src), self.space.device_index(dst)
            assert nbytes == P * sum(1 for r in rows if (r[3], r[4], r[5]) == (s, d, True))
        # Source frames are what the source chips' own tables say.
        for r, frame in zip(rows, plan.src_frame.tolist(), strict=True):
            assert int(self.space.page_table(r[3])[1][r[0]]) == frame
        changed = self.space.apply(plan)
        self.twin.apply(self.twin.plan_migration(target, reuse_freed_frames=reuse))
        assert changed.tolist() == [r[0] for r in rows]
        for _, n, i, src, dst, _ in rows:
            t = self.model[n]
            t.primary[i] = dst
            t.copies[i].discard(src)
            t.copies[i].add(dst)

    # -------------------------------------------------------------------- invariants
    @invariant()
    def consistent(self) -> None:
        self.space.check_invariants()
        usage = self.space.usage()
        for d, (dev, used) in enumerate(zip(DEVICES, self.used(), strict=True)):
            u = usage[dev.name]
            assert u.used_pages == used <= FRAMES[d]
            assert u.used_pages + u.free_pages == FRAMES[d]
        tables = [self.space.page_table(d) for d in range(N)]
        owned = np.zeros(LOGICAL_PAGES, dtype=bool)
        for name, t in self.model.items():
            tensor = self.space.tensor(name)
            assert tensor.size_bytes == t.size and tensor.pages == len(t.primary)
            assert self.space.placement(name).tolist() == t.primary
            first = tensor.first_page
            owned[first : first + tensor.pages] = True
            for i, (prim, copies) in enumerate(zip(t.primary, t.copies, strict=True)):
                p = first + i
                for d in range(N):
                    dev, frame = tables[d]
                    holder = d if d in copies else prim
                    assert int(dev[p]) == holder
                    assert int(frame[p]) == int(tables[holder][1][p]) >= 0
        for dev, frame in tables:
            assert (dev[~owned] == -1).all() and (frame[~owned] == -1).all()
        for a, b in zip(snapshot(self.space), snapshot(self.twin), strict=True):
            np.testing.assert_array_equal(a, b)


MemoryMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_memory_state_machine = MemoryMachine.TestCase
