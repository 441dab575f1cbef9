"""Unified logical address space over heterogeneous device memories (the H2M2 memory abstraction).

Models: spec section 5. One logical address space of fixed-size pages (default 2 MiB, 1 TiB of
logical space) holds every tensor (weights, activations, KV cache). Each logical page of a tensor
is backed by a *primary* physical frame on one device and optionally by duplicate copies on other
devices (shared weights). A tensor is logically contiguous whatever its physical placement, so a
mapping change costs page copies plus page-table/TLB updates, never a re-layout.

Owns: per device a free-frame allocator and one flat page table (the arrays the C++ MMU of that
device's chip reads, see ``cpp/npu/tlb.hpp``): for each logical page an int32 device index
(-1 = unmapped) and an int64 frame on that device (-1 = unmapped); the physical byte address is
``frame * page_bytes``. Chip d's table points at the copy on d when d holds one, else at the
primary copy. The tables are allocated once, for the whole logical space, and are only ever
updated in place, so an engine may keep zero-copy views of them across epochs.

Time: none (this layer has no notion of time; the engine charges copies and TLB shootdowns).
Hot path: no. The host calls it at epoch boundaries; O(pages) work is vectorised with numpy,
per-tensor bookkeeping is O(1) Python.

Contract: every mutating operation validates everything (names, sizes, devices, capacity,
logical space) before it changes anything, so a call that raises leaves the space untouched.
A :class:`MigrationPlan` is bound to the exact state it was planned on; :meth:`AddressSpace.apply`
rejects a plan made by another space or before any later change.

Decisions (also in docs/assumptions.md):

- Frames are numbered from physical address 0; ``reserved_bytes`` sit at the top of the device,
  and usable frames = (capacity_bytes - reserved_bytes) // page_bytes.
- Frame allocation is lowest-numbered free frame first (a min-heap of recycled frames below a
  bump pointer), and pages of one request receive frames in ascending logical-page order, so the
  same operations always give identical page tables.
- Logical space is first-fit, lowest address first, page-aligned. A tensor reserves
  ``max(size_bytes, reserve_bytes)`` of logical space (at least one page) at allocation; only
  ``size_bytes`` is backed. ``grow`` backs pages inside the reservation and extends it in place
  when the logical pages that follow are free; otherwise it raises (reserve the maximum length
  of a KV cache up front: logical space is 1 TiB, physical frames are only taken on growth).
- Duplicates are per page: ``grow`` does not duplicate the new pages of a duplicated tensor.
- Migration moves the primary copy of the pages whose target device differs from their current
  primary device. If the target already holds a duplicate of the page, the duplicate is promoted
  to primary and nothing is copied. Either way the source frame is freed.
- A plan needs its destination frames free before any source frame is released (copies can run
  concurrently, no staging buffer); ``reuse_freed_frames=True`` lets destinations reuse frames the
  same plan frees (an exchange between full memories; a real system stages such pages).
- Internal fragmentation of a tensor = the unused tail of its last page,
  ``(page_bytes - size_bytes % page_bytes) % page_bytes``, counted on every device holding a copy
  of that page. The paper's estimate "(tensor size mod page size) x tensor count" has the same
  order of magnitude; ours is the exact figure.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "AddressSpace",
    "CapacityError",
    "DeviceMemory",
    "DeviceUsage",
    "FragmentationReport",
    "InvariantError",
    "MigrationPlan",
    "Tensor",
]

MiB = 1 << 20
TiB = 1 << 40

DeviceRef: TypeAlias = "int | str"
"""A device, by index in the address space's device list or by name."""

Placement: TypeAlias = "int | str | npt.ArrayLike"
"""One device for every page, or an integer array with one device index per page."""

IntArray: TypeAlias = "npt.NDArray[np.int64]"


# --------------------------------------------------------------------------------- errors
class CapacityError(ValueError):
    """An allocation, growth, duplication or migration does not fit in device memory.

    Parameters
    ----------
    operation
        What was attempted, e.g. ``"allocate 'kv.0'"``.
    needed_bytes
        Bytes of new frames the operation needs on each device (by device name).
    free_bytes
        Bytes of free frames on each device when it was attempted (by device name).
    page_bytes
        Page size, bytes.

    Example
    -------
    >>> e = CapacityError("allocate 'w'", needed_bytes={"HBM": 4}, free_bytes={"HBM": 2},
    ...                   page_bytes=2)
    >>> e.short_bytes
    {'HBM': 2}
    """

    def __init__(
        self,
        operation: str,
        *,
        needed_bytes: Mapping[str, int],
        free_bytes: Mapping[str, int],
        page_bytes: int,
    ) -> None:
        self.operation = operation
        self.needed_bytes = dict(needed_bytes)
        self.free_bytes = dict(free_bytes)
        self.page_bytes = page_bytes

        def fmt(values: Mapping[str, int]) -> str:
            return ", ".join(f"{k} {v} B ({v // page_bytes} pages)" for k, v in values.items())

        short = ", ".join(f"{k} by {v} B" for k, v in self.short_bytes.items())
        super().__init__(
            f"{operation}: does not fit in device memory (short on {short}): "
            f"needs {fmt(self.needed_bytes)}; free {fmt(self.free_bytes)} "
            f"(page_bytes={page_bytes})"
        )

    @property
    def short_bytes(self) -> dict[str, int]:
        """Bytes missing on each device that is short (needed - free > 0)."""
        return {
            k: v - self.free_bytes.get(k, 0)
            for k, v in self.needed_bytes.items()
            if v > self.free_bytes.get(k, 0)
        }


class InvariantError(RuntimeError):
    """An internal consistency check failed (a bug in h2m2, not a user error).

    Example
    -------
    >>> str(InvariantError("frame 3 of HBM used twice"))
    'h2m2 internal error: frame 3 of HBM used twice; please report'
    """

    def __init__(self, what: str) -> None:
        super().__init__(f"h2m2 internal error: {what}; please report")


# ------------------------------------------------------------------------ small records
def _check_int(owner: str, name: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{owner}: {name}={value!r} must be an integer")
    if value < minimum:
        rule = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{owner}: {name}={value!r} must be {rule}")
    return int(value)


@dataclass(frozen=True)
class DeviceMemory:
    """One device memory (the memory of one accelerator chip) in an :class:`AddressSpace`.

    Parameters
    ----------
    name
        Unique name within the address space (e.g. ``"HBM"``).
    capacity_bytes
        Physical capacity, bytes (positive).
    reserved_bytes
        Bytes kept out of the page allocator for activations, firmware and runtime buffers,
        bytes (keyword-only, default 0, at most ``capacity_bytes``). They sit at the top of the
        device's physical range; frames are numbered from physical address 0.

    Raises
    ------
    TypeError, ValueError
        A field of the wrong type or out of range (the message names field and value).

    Example
    -------
    >>> hbm = DeviceMemory("HBM", 96 << 30, reserved_bytes=2 << 30)
    >>> hbm.usable_frames(2 << 20)
    48128
    """

    name: str
    capacity_bytes: int
    reserved_bytes: int = field(default=0, kw_only=True)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"DeviceMemory: name={self.name!r} must be a non-empty string")
        owner = f"DeviceMemory {self.name!r}"
        _check_int(owner, "capacity_bytes", self.capacity_bytes, minimum=1)
        _check_int(owner, "reserved_bytes", self.reserved_bytes, minimum=0)
        if self.reserved_bytes > self.capacity_bytes:
            raise ValueError(
                f"{owner}: reserved_bytes={self.reserved_bytes} must not exceed "
                f"capacity_bytes={self.capacity_bytes}"
            )

    def usable_frames(self, page_bytes: int) -> int:
        """Frames available to the page allocator: ``(capacity - reserved) // page_bytes``."""
        return (self.capacity_bytes - self.reserved_bytes) // page_bytes


@dataclass(frozen=True)
class Tensor:
    """A snapshot of one tensor of an :class:`AddressSpace` (taken when it is returned).

    Parameters
    ----------
    name
        Tensor name (unique in its space).
    base_bytes
        Logical byte address of its first byte (a multiple of ``page_bytes``).
    size_bytes
        Current size, bytes; ``ceil(size_bytes / page_bytes)`` pages are backed by frames.
    reserved_bytes
        Logical space reserved for it, bytes (a multiple of ``page_bytes``, >= its pages).
    page_bytes
        Page size of the space, bytes.

    Example
    -------
    >>> t = Tensor("kv", base_bytes=8192, size_bytes=5000, reserved_bytes=16384, page_bytes=4096)
    >>> (t.first_page, t.pages, t.reserved_pages, t.internal_fragmentation_bytes)
    (2, 2, 4, 3192)
    """

    name: str
    base_bytes: int
    size_bytes: int
    reserved_bytes: int
    page_bytes: int

    @property
    def first_page(self) -> int:
        """Logical page number of the first page."""
        return self.base_bytes // self.page_bytes

    @property
    def pages(self) -> int:
        """Pages backed by frames: ``ceil(size_bytes / page_bytes)``."""
        return -(-self.size_bytes // self.page_bytes)

    @property
    def reserved_pages(self) -> int:
        """Logical pages reserved (backed or not)."""
        return self.reserved_bytes // self.page_bytes

    @property
    def internal_fragmentation_bytes(self) -> int:
        """Unused tail of the last page: ``(page_bytes - size_bytes % page_bytes) % page_bytes``."""
        return -self.size_bytes % self.page_bytes

    def logical_pages(self) -> IntArray:
        """Logical page numbers of the backed pages (int64, ascending)."""
        return np.arange(self.first_page, self.first_page + self.pages, dtype=np.int64)


@dataclass(frozen=True)
class DeviceUsage:
    """Occupancy of one device of an :class:`AddressSpace`.

    ``capacity_bytes = used_bytes + free_bytes + reserved_bytes + stranded_bytes``.

    Parameters
    ----------
    name
        Device name.
    capacity_bytes
        Physical capacity, bytes.
    reserved_bytes
        Bytes kept out of the allocator (:class:`DeviceMemory`), bytes.
    used_bytes
        Bytes of frames in use (primary copies and duplicates), bytes.
    free_bytes
        Bytes of free frames, bytes.
    stranded_bytes
        ``(capacity - reserved) % page_bytes``: too small for a page, bytes.
    used_pages, free_pages
        The same as frame counts.
    duplicate_pages
        Used frames that hold a duplicate (not the primary copy) of a page.

    Example
    -------
    >>> u = AddressSpace([DeviceMemory("HBM", 8 << 20)], logical_bytes=1 << 30).usage()["HBM"]
    >>> (u.free_pages, u.used_bytes)
    (4, 0)
    """

    name: str
    capacity_bytes: int
    reserved_bytes: int
    used_bytes: int
    free_bytes: int
    stranded_bytes: int
    used_pages: int
    free_pages: int
    duplicate_pages: int


@dataclass(frozen=True)
class FragmentationReport:
    """Internal fragmentation of an :class:`AddressSpace`.

    Definition: a tensor wastes the unused tail of its last page,
    ``(page_bytes - size_bytes % page_bytes)`` when ``size_bytes % page_bytes != 0`` (else 0),
    on every device that holds a copy of that page. Reserved but unbacked logical pages take no
    physical memory and are not counted.

    Parameters
    ----------
    page_bytes
        Page size, bytes.
    tensors
        Number of tensors.
    partial_tensors
        Tensors whose size is not a multiple of the page size.
    wasted_bytes
        Wasted bytes per device (by name).
    fraction_of_capacity
        ``wasted_bytes / capacity_bytes`` per device (by name).

    Example
    -------
    >>> r = FragmentationReport(4096, 2, 1, {"HBM": 1024}, {"HBM": 1024 / 65536})
    >>> (r.total_wasted_bytes, r.fraction_of_capacity["HBM"])
    (1024, 0.015625)
    """

    page_bytes: int
    tensors: int
    partial_tensors: int
    wasted_bytes: dict[str, int]
    fraction_of_capacity: dict[str, float]

    @property
    def total_wasted_bytes(self) -> int:
        """Wasted bytes over all devices."""
        return sum(self.wasted_bytes.values())


def _readonly(a: npt.NDArray[Any]) -> npt.NDArray[Any]:
    v: npt.NDArray[Any] = a.view()
    v.flags.writeable = False
    return v


@dataclass(frozen=True, eq=False)
class MigrationPlan:
    """The page moves that take an :class:`AddressSpace` to a target placement.

    One row per logical page whose primary device changes (rows sorted by logical page); pages
    that stay are not listed. Made by :meth:`AddressSpace.plan_migration`, executed by
    :meth:`AddressSpace.apply`; valid only for the exact state it was planned on.

    Parameters
    ----------
    tensor
        Tensor name of each row (object array).
    logical_page
        Logical page number (int64).
    src_device, src_frame
        Current primary copy: device index (int32) and frame (int64); the frame is freed.
    dst_device, dst_frame
        New primary copy: device index (int32) and frame (int64).
    copied
        True if the page is copied; False if ``dst_device`` already held a duplicate of it,
        which is promoted to primary (nothing copied).
    page_bytes
        Page size, bytes.
    device_names
        Names of the devices, by index.
    bytes_by_direction
        Copied bytes per ``(src name, dst name)`` pair (pairs with no copy are absent).
    reuse_freed_frames
        Whether destinations may reuse frames the plan frees.

    Example
    -------
    >>> space = AddressSpace([DeviceMemory("HBM", 1 << 24), DeviceMemory("LPDDR", 1 << 24)],
    ...                      page_bytes=1 << 20, logical_bytes=1 << 30)
    >>> _ = space.allocate("w", 3 << 20, "HBM"); space.plan_migration({"w": [0, 1, 1]}).pages
    2
    """

    tensor: npt.NDArray[np.object_]
    logical_page: IntArray
    src_device: npt.NDArray[np.int32]
    src_frame: IntArray
    dst_device: npt.NDArray[np.int32]
    dst_frame: IntArray
    copied: npt.NDArray[np.bool_]
    page_bytes: int
    device_names: tuple[str, ...]
    bytes_by_direction: dict[tuple[str, str], int]
    reuse_freed_frames: bool = False
    _token: object = field(default=None, repr=False)
    _version: int = field(default=-1, repr=False)

    def __len__(self) -> int:
        return int(self.logical_page.size)

    @property
    def pages(self) -> int:
        """Number of pages whose primary device changes."""
        return len(self)

    @property
    def copied_pages(self) -> int:
        """Number of pages copied (excludes promoted duplicates)."""
        return int(np.count_nonzero(self.copied))

    @property
    def total_bytes(self) -> int:
        """Bytes copied in total: ``copied_pages * page_bytes``."""
        return self.copied_pages * self.page_bytes

    def to_frame(self) -> pd.DataFrame:
        """The rows as a pandas DataFrame (device columns by name).

        Returns
        -------
        pandas.DataFrame
            Columns tensor, logical_page, src_device, src_frame, dst_device, dst_frame, copied.

        Example
        -------
        >>> space = AddressSpace([DeviceMemory("A", 1 << 22), DeviceMemory("B", 1 << 22)],
        ...                      page_bytes=1 << 20, logical_bytes=1 << 24)
        >>> _ = space.allocate("w", 1 << 20, "A")
        >>> space.plan_migration({"w": "B"}).to_frame()["dst_device"].tolist()
        ['B']
        """
        import pandas as pd

        names = np.array(self.device_names, dtype=object)
        return pd.DataFrame(
            {
                "tensor": self.tensor,
                "logical_page": self.logical_page,
                "src_device": names[self.src_device],
                "src_frame": self.src_frame,
                "dst_device": names[self.dst_device],
                "dst_frame": self.dst_frame,
                "copied": self.copied,
            }
        )


# --------------------------------------------------------------------- internal allocators
class _FramePool:
    """Free frames of one device: lowest-numbered first.

    Frames >= ``top`` have never been handed out (or were all returned); the min-heap holds the
    free frames below ``top``. Every heap frame is lower than every frame >= top, so popping the
    heap then bumping ``top`` yields the lowest free frames.
    """

    __slots__ = ("_heap", "_top", "total")

    def __init__(self, total: int) -> None:
        self.total = total
        self._heap: list[int] = []
        self._top = 0

    @property
    def free(self) -> int:
        return len(self._heap) + self.total - self._top

    def peek(self, k: int, extra: IntArray | None = None) -> IntArray:
        """The k frames take(k) would return (after give(extra), if extra is given)."""
        cand = self._heap if extra is None else self._heap + extra.tolist()
        low = heapq.nsmallest(k, cand)
        rest = k - len(low)
        if rest > self.total - self._top:
            raise InvariantError(f"frame pool asked for {k} frames, has {self.free}")
        return np.concatenate(
            [
                np.asarray(low, dtype=np.int64),
                np.arange(self._top, self._top + rest, dtype=np.int64),
            ]
        )

    def take(self, k: int) -> IntArray:
        heap = self._heap
        if k >= len(heap):
            low = sorted(heap)
            heap.clear()
        else:
            low = [heapq.heappop(heap) for _ in range(k)]
        rest = k - len(low)
        if rest > self.total - self._top:
            raise InvariantError(f"frame pool asked for {k} frames, has {len(low) + self.free}")
        out = np.concatenate(
            [
                np.asarray(low, dtype=np.int64),
                np.arange(self._top, self._top + rest, dtype=np.int64),
            ]
        )
        self._top += rest
        return out

    def give(self, frames: IntArray) -> None:
        values = frames.tolist()
        heap = self._heap
        if len(values) > len(heap):
            heap.extend(values)
            heapq.heapify(heap)
        else:
            for f in values:
                heapq.heappush(heap, f)
        if len(heap) == self._top:  # everything handed out came back: reset the bump pointer
            heap.clear()
            self._top = 0

    def free_frames(self) -> IntArray:
        return np.concatenate(
            [
                np.asarray(self._heap, dtype=np.int64),
                np.arange(self._top, self.total, dtype=np.int64),
            ]
        )


class _Extents:
    """Free logical page ranges, sorted by start and coalesced; first fit."""

    __slots__ = ("_len", "_start")

    def __init__(self, total: int) -> None:
        self._start: list[int] = [0]
        self._len: list[int] = [total]

    def find(self, n: int) -> int | None:
        for s, length in zip(self._start, self._len, strict=True):
            if length >= n:
                return s
        return None

    def largest(self) -> int:
        return max(self._len, default=0)

    def _containing(self, start: int) -> int:
        i = bisect_right(self._start, start) - 1
        return i if i >= 0 and start < self._start[i] + self._len[i] else -1

    def can_take(self, start: int, n: int) -> bool:
        i = self._containing(start)
        return i >= 0 and start + n <= self._start[i] + self._len[i]

    def take(self, start: int, n: int) -> None:
        if not self.can_take(start, n):
            raise InvariantError(f"logical pages [{start}, {start + n}) are not free")
        i = self._containing(start)
        s, length = self._start[i], self._len[i]
        parts = [(s, start - s), (start + n, s + length - start - n)]
        parts = [p for p in parts if p[1] > 0]
        self._start[i : i + 1] = [p[0] for p in parts]
        self._len[i : i + 1] = [p[1] for p in parts]

    def release(self, start: int, n: int) -> None:
        i = bisect_right(self._start, start)
        end = start + n
        if i > 0 and self._start[i - 1] + self._len[i - 1] == start:  # merge with the previous
            i -= 1
            start = self._start[i]
            del self._start[i], self._len[i]
        if i < len(self._start) and self._start[i] == end:  # merge with the next
            end += self._len[i]
            del self._start[i], self._len[i]
        self._start.insert(i, start)
        self._len.insert(i, end - start)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(zip(self._start, self._len, strict=True))


@dataclass
class _Record:
    name: str
    base: int  # first logical page
    size_bytes: int
    reserved: int  # logical pages reserved
    pages: int  # logical pages backed


# --------------------------------------------------------------------------- address space
class AddressSpace:
    """One logical address space of fixed-size pages over several device memories.

    Parameters
    ----------
    devices
        The device memories, one per accelerator chip; a device's index in this sequence is the
        device id used in page tables and placements. Names must be unique.
    page_bytes
        Page size, bytes (keyword-only, default 2 MiB, a power of two).
    logical_bytes
        Size of the logical address space, bytes (keyword-only, default 1 TiB, a multiple of
        ``page_bytes``). Each device's page table has ``logical_bytes // page_bytes`` entries.

    Raises
    ------
    TypeError, ValueError
        Invalid parameters (the message names field and value).

    Example
    -------
    >>> space = AddressSpace([DeviceMemory("HBM", 96 << 30), DeviceMemory("LPDDR", 512 << 30)])
    >>> t = space.allocate("w.0", 5 << 20, "HBM")
    >>> (t.base_bytes, t.pages, int(space.page_table("LPDDR")[0][0]))
    (0, 3, 0)
    """

    def __init__(
        self,
        devices: Sequence[DeviceMemory],
        *,
        page_bytes: int = 2 * MiB,
        logical_bytes: int = TiB,
    ) -> None:
        devices = tuple(devices)
        if not devices:
            raise ValueError("AddressSpace: devices=() must name at least one DeviceMemory")
        for i, d in enumerate(devices):
            if not isinstance(d, DeviceMemory):
                raise TypeError(f"AddressSpace: devices[{i}]={d!r} must be a DeviceMemory")
        names = [d.name for d in devices]
        if len(set(names)) != len(names):
            raise ValueError(f"AddressSpace: device names {names} must be unique")
        page_bytes = _check_int("AddressSpace", "page_bytes", page_bytes, minimum=1)
        if page_bytes & (page_bytes - 1):
            raise ValueError(f"AddressSpace: page_bytes={page_bytes} must be a power of two")
        logical_bytes = _check_int("AddressSpace", "logical_bytes", logical_bytes, minimum=1)
        if logical_bytes % page_bytes:
            raise ValueError(
                f"AddressSpace: logical_bytes={logical_bytes} must be a multiple of "
                f"page_bytes={page_bytes}"
            )
        self._devices = devices
        self._index = {name: i for i, name in enumerate(names)}
        self._page_bytes = page_bytes
        n, pages = len(devices), logical_bytes // page_bytes
        self._logical_pages = pages
        # Per logical page: the device of the primary copy (-1 = unmapped), and per device the
        # frame holding a copy there (-1 = none). The page tables are derived from these two.
        self._primary = np.full(pages, -1, dtype=np.int32)
        self._local = np.full((n, pages), -1, dtype=np.int64)
        self._pt_device = np.full((n, pages), -1, dtype=np.int32)
        self._pt_frame = np.full((n, pages), -1, dtype=np.int64)
        self._pools = [_FramePool(d.usable_frames(page_bytes)) for d in devices]
        self._extents = _Extents(pages)
        self._tensors: dict[str, _Record] = {}
        self._version = 0
        self._token = object()

    # ------------------------------------------------------------------ properties, lookups
    @property
    def devices(self) -> tuple[DeviceMemory, ...]:
        """The device memories, in device-id order."""
        return self._devices

    @property
    def page_bytes(self) -> int:
        """Page size, bytes."""
        return self._page_bytes

    @property
    def logical_pages(self) -> int:
        """Entries per page table (logical pages in the space)."""
        return self._logical_pages

    @property
    def logical_bytes(self) -> int:
        """Size of the logical space, bytes."""
        return self._logical_pages * self._page_bytes

    def __contains__(self, name: object) -> bool:
        return name in self._tensors

    def __len__(self) -> int:
        return len(self._tensors)

    def device_index(self, device: DeviceRef) -> int:
        """The index of a device given by index or name.

        Parameters
        ----------
        device
            Device index or name.

        Returns
        -------
        int
            Its index in :attr:`devices`.

        Raises
        ------
        ValueError
            Unknown name or index out of range.

        Example
        -------
        >>> space = AddressSpace([DeviceMemory("HBM", 1 << 30), DeviceMemory("LPDDR", 1 << 30)])
        >>> space.device_index("LPDDR")
        1
        """
        return self._device("device_index", device)

    def tensor(self, name: str) -> Tensor:
        """A snapshot of tensor ``name``.

        Raises
        ------
        ValueError
            No tensor of that name.

        Example
        -------
        >>> space = AddressSpace([DeviceMemory("HBM", 1 << 30)])
        >>> _ = space.allocate("w", 100, 0); space.tensor("w").pages
        1
        """
        return self._snapshot(self._record("tensor", name))

    @property
    def tensors(self) -> tuple[Tensor, ...]:
        """Snapshots of all tensors, in allocation order."""
        return tuple(self._snapshot(r) for r in self._tensors.values())

    def placement(self, name: str) -> npt.NDArray[np.int32]:
        """The primary device of each page of tensor ``name`` (a copy, int32).

        Example
        -------
        >>> space = AddressSpace([DeviceMemory("A", 1 << 30), DeviceMemory("B", 1 << 30)])
        >>> _ = space.allocate("w", 4 << 20, [0, 1]); space.placement("w").tolist()
        [0, 1]
        """
        r = self._record("placement", name)
        out: npt.NDArray[np.int32] = self._primary[r.base : r.base + r.pages].copy()
        return out

    def residency(self, name: str) -> npt.NDArray[np.bool_]:
        """Which devices hold a copy (primary or duplicate) of each page: bool[devices, pages].

        Example
        -------
        >>> space = AddressSpace([DeviceMemory("A", 1 << 30), DeviceMemory("B", 1 << 30)])
        >>> _ = space.allocate("w", 1, "A"); _ = space.duplicate("w", "B")
        >>> space.residency("w").tolist()
        [[True], [True]]
        """
        r = self._record("residency", name)
        return self._local[:, r.base : r.base + r.pages] >= 0

    def page_table(self, device: DeviceRef) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int64]]:
        """The flat page table the MMU of ``device``'s chip reads.

        Parameters
        ----------
        device
            Device (chip) index or name.

        Returns
        -------
        (device_ids, frames)
            Read-only views (int32 and int64, one entry per logical page) of arrays that this
            space updates in place: the device holding the copy the chip uses (its own copy if
            it has one, else the primary; -1 = unmapped) and the frame on that device (-1 =
            unmapped). Physical byte address = ``frame * page_bytes``.

        Example
        -------
        >>> space = AddressSpace([DeviceMemory("HBM", 1 << 30)])
        >>> _ = space.allocate("w", 1, "HBM"); dev, frame = space.page_table("HBM")
        >>> (int(dev[0]), int(frame[0]), int(dev[1]))
        (0, 0, -1)
        """
        d = self._device("page_table", device)
        return _readonly(self._pt_device[d]), _readonly(self._pt_frame[d])

    # ------------------------------------------------------------------------- mutations
    def allocate(
        self,
        name: str,
        size_bytes: int,
        device: Placement,
        *,
        reserve_bytes: int | None = None,
    ) -> Tensor:
        """Reserve a page-aligned logical range for a new tensor and back its pages.

        Parameters
        ----------
        name
            New, unique tensor name.
        size_bytes
            Size, bytes (>= 0); ``ceil(size_bytes / page_bytes)`` pages are backed.
        device
            Device (index or name) of every page, or an integer array with the device of each
            page (one tensor may span devices).
        reserve_bytes
            Logical space to reserve, bytes (keyword-only, default ``size_bytes``, >=
            ``size_bytes``), so that :meth:`grow` can extend the tensor in place. At least one
            page is always reserved.

        Returns
        -------
        Tensor
            The new tensor.

        Raises
        ------
        CapacityError
            Not enough free frames on some device (nothing is changed).
        ValueError, TypeError
            Duplicate name, bad size or placement, or no free logical range large enough.

        Example
        -------
        >>> space = AddressSpace([DeviceMemory("HBM", 1 << 30)])
        >>> kv = space.allocate("kv", 0, "HBM", reserve_bytes=64 << 20)
        >>> (kv.pages, kv.reserved_pages)
        (0, 32)
        """
        what = f"allocate {name!r}"
        if not isinstance(name, str) or not name:
            raise ValueError(f"allocate: name={name!r} must be a non-empty string")
        if name in self._tensors:
            raise ValueError(f"{what}: a tensor named {name!r} already exists")
        size = _check_int(what, "size_bytes", size_bytes, minimum=0)
        pages = self._pages(size)
        reserve = size
        if reserve_bytes is not None:
            reserve = _check_int(what, "reserve_bytes", reserve_bytes, minimum=0)
            if reserve < size:
                raise ValueError(f"{what}: reserve_bytes={reserve} must be >= size_bytes={size}")
        reserved = max(1, self._pages(reserve))
        placement = self._placement(what, device, pages)
        self._check_capacity(what, np.bincount(placement, minlength=len(self._devices)))
        base = self._extents.find(reserved)
        if base is None:
            raise ValueError(
                f"{what}: no free logical range of {reserved} pages "
                f"({reserved * self._page_bytes} B) in the {self.logical_bytes} B logical space "
                f"(largest free range: {self._extents.largest()} pages)"
            )
        self._extents.take(base, reserved)
        self._back(base, placement)
        rec = _Record(name, base, size, reserved, pages)
        self._tensors[name] = rec
        self._version += 1
        return self._snapshot(rec)

    def grow(self, name: str, new_size_bytes: int, device: Placement) -> Tensor:
        """Grow a tensor (a KV cache as tokens are appended), backing its new pages.

        Parameters
        ----------
        name
            Tensor to grow.
        new_size_bytes
            New size, bytes (>= the current size; equal is a no-op).
        device
            Device (index or name) of every new page, or an integer array with the device of
            each new page.

        Returns
        -------
        Tensor
            The grown tensor.

        Raises
        ------
        CapacityError
            Not enough free frames (nothing is changed).
        ValueError, TypeError
            Unknown tensor, shrinking, bad placement, or growth past the logical reservation
            when the logical pages after it are taken.

        Example
        -------
        >>> space = AddressSpace([DeviceMemory("HBM", 1 << 30)])
        >>> _ = space.allocate("kv", 0, "HBM", reserve_bytes=8 << 20)
        >>> space.grow("kv", 3 << 20, "HBM").pages
        2
        """
        what = f"grow {name!r}"
        rec = self._record(what, name)
        new_size = _check_int(what, "new_size_bytes", new_size_bytes, minimum=0)
        if new_size < rec.size_bytes:
            raise ValueError(
                f"{what}: new_size_bytes={new_size} must be >= the current size "
                f"{rec.size_bytes} (tensors do not shrink; free and reallocate)"
            )
        new_pages = self._pages(new_size)
        add = new_pages - rec.pages
        placement = self._placement(what, device, add)
        self._check_capacity(what, np.bincount(placement, minlength=len(self._devices)))
        extra = new_pages - rec.reserved
        if extra > 0 and not self._extents.can_take(rec.base + rec.reserved, extra):
            raise ValueError(
                f"{what}: new_size_bytes={new_size} needs {new_pages} pages, more than the "
                f"{rec.reserved} reserved, and the logical pages after the reservation are "
                f"taken; allocate it with reserve_bytes >= its maximum size"
            )
        if extra > 0:
            self._extents.take(rec.base + rec.reserved, extra)
            rec.reserved = new_pages
        self._back(rec.base + rec.pages, placement)
        rec.pages = new_pages
        rec.size_bytes = new_size
        self._version += 1
        return self._snapshot(rec)

    def free(self, name: str) -> IntArray:
        """Free a tensor: its frames on every device and its logical reservation.

        Returns
        -------
        numpy.ndarray
            The logical pages that were mapped (int64): invalidate them in every TLB before the
            logical range is reused.

        Raises
        ------
        ValueError
            Unknown tensor.

        Example
        -------
        >>> space = AddressSpace([DeviceMemory("HBM", 1 << 30)])
        >>> _ = space.allocate("w", 4 << 20, "HBM"); space.free("w").tolist()
        [0, 1]
        """
        rec = self._record(f"free {name!r}", name)
        pages = np.arange(rec.base, rec.base + rec.pages, dtype=np.int64)
        for d, pool in enumerate(self._pools):
            loc = self._local[d, pages]
            pool.give(loc[loc >= 0])
        self._local[:, pages] = -1
        self._primary[pages] = -1
        self._refresh(pages)
        self._extents.release(rec.base, rec.reserved)
        del self._tensors[name]
        self._version += 1
        return pages

    def duplicate(self, name: str, device: DeviceRef) -> IntArray:
        """Back the pages of a tensor on ``device`` too (e.g. weights both chips read).

        Pages already on ``device`` (primary or duplicate) are skipped. Afterwards the chip of
        ``device`` translates these pages to its own copy; other chips are unaffected.

        Returns
        -------
        numpy.ndarray
            The logical pages newly copied to ``device`` (int64): the pages to copy, and to
            invalidate in that chip's TLB.

        Raises
        ------
        CapacityError
            Not enough free frames on ``device`` (nothing is changed).
        ValueError
            Unknown tensor or device.

        Example
        -------
        >>> space = AddressSpace([DeviceMemory("A", 1 << 30), DeviceMemory("B", 1 << 30)])
        >>> _ = space.allocate("w", 4 << 20, [0, 1]); space.duplicate("w", "B").tolist()
        [0]
        """
        what = f"duplicate {name!r}"
        rec = self._record(what, name)
        d = self._device(what, device)
        pages = rec.base + np.flatnonzero(self._local[d, rec.base : rec.base + rec.pages] < 0)
        need = np.zeros(len(self._devices), dtype=np.int64)
        need[d] = pages.size
        self._check_capacity(what, need)
        self._local[d, pages] = self._pools[d].take(pages.size)
        self._refresh(pages)
        self._version += 1
        return pages.astype(np.int64)

    def drop_duplicate(self, name: str, device: DeviceRef) -> IntArray:
        """Free the duplicate copies of a tensor's pages on ``device`` (primaries stay).

        Returns
        -------
        numpy.ndarray
            The logical pages whose copy on ``device`` was freed (int64): that chip now
            translates them to the primary copy.

        Raises
        ------
        ValueError
            Unknown tensor or device.

        Example
        -------
        >>> space = AddressSpace([DeviceMemory("A", 1 << 30), DeviceMemory("B", 1 << 30)])
        >>> _ = space.allocate("w", 1, "A"); _ = space.duplicate("w", "B")
        >>> space.drop_duplicate("w", "B").tolist()
        [0]
        """
        what = f"drop_duplicate {name!r}"
        rec = self._record(what, name)
        d = self._device(what, device)
        sl = slice(rec.base, rec.base + rec.pages)
        pages = rec.base + np.flatnonzero((self._local[d, sl] >= 0) & (self._primary[sl] != d))
        self._pools[d].give(self._local[d, pages])
        self._local[d, pages] = -1
        self._refresh(pages)
        self._version += 1
        return pages.astype(np.int64)

    # ------------------------------------------------------------------------- migration
    def plan_migration(
        self,
        target: Mapping[str, Placement],
        *,
        reuse_freed_frames: bool = False,
    ) -> MigrationPlan:
        """Plan the page moves that give tensors a new placement (changes nothing).

        Parameters
        ----------
        target
            Per tensor, the desired primary device of each of its pages (an integer array of
            length ``pages``) or one device (index or name) for all of them. Tensors not named
            keep their placement.
        reuse_freed_frames
            Keyword-only, default False: destination frames must be free before the plan
            starts. True lets them reuse frames the plan itself frees (lowest first among free
            and freed frames), which an exchange between full memories needs.

        Returns
        -------
        MigrationPlan
            Exactly the pages whose primary device changes, with their destination frames
            (lowest free frames first, in logical-page order). A target equal to the current
            placement gives an empty plan.

        Raises
        ------
        CapacityError
            The destinations do not fit (needed and free bytes per device in the message).
        ValueError, TypeError
            Unknown tensor or device, or a placement array of the wrong length or dtype.

        Example
        -------
        >>> space = AddressSpace([DeviceMemory("HBM", 1 << 30), DeviceMemory("LPDDR", 1 << 30)])
        >>> _ = space.allocate("w", 8 << 20, "HBM")
        >>> space.plan_migration({"w": [0, 0, 1, 1]}).logical_page.tolist()
        [2, 3]
        """
        what = "plan_migration"
        if not isinstance(target, Mapping):
            raise TypeError(
                f"{what}: target={target!r} must be a Mapping of tensor name -> placement"
            )
        n = len(self._devices)
        page_parts: list[IntArray] = []
        dst_parts: list[npt.NDArray[np.int32]] = []
        name_parts: list[npt.NDArray[np.object_]] = []
        for name, tgt in target.items():
            rec = self._record(what, name)
            want = self._placement(f"{what}: tensor {name!r}", tgt, rec.pages)
            changed = np.flatnonzero(want != self._primary[rec.base : rec.base + rec.pages])
            page_parts.append(rec.base + changed.astype(np.int64))
            dst_parts.append(want[changed])
            name_parts.append(np.full(changed.size, name, dtype=object))
        if page_parts:
            order = np.argsort(np.concatenate(page_parts), kind="stable")
            pages = np.concatenate(page_parts)[order]
            dst = np.concatenate(dst_parts)[order].astype(np.int32)
            names = np.concatenate(name_parts)[order]
        else:
            pages = np.zeros(0, dtype=np.int64)
            dst = np.zeros(0, dtype=np.int32)
            names = np.zeros(0, dtype=object)
        src = self._primary[pages]
        src_frame = self._local[src, pages]
        dst_frame = self._local[dst, pages]  # a duplicate already there is promoted
        copied = dst_frame < 0
        need = np.bincount(dst[copied], minlength=n)
        freed = np.bincount(src, minlength=n) if reuse_freed_frames else None
        self._check_capacity(what, need, extra_free=freed)
        for d in np.flatnonzero(need):
            rows = np.flatnonzero(copied & (dst == d))
            extra = src_frame[src == d] if reuse_freed_frames else None
            dst_frame[rows] = self._pools[d].peek(rows.size, extra)
        pair = src[copied].astype(np.int64) * n + dst[copied]
        keys, counts = np.unique(pair, return_counts=True)
        dev_names = tuple(dv.name for dv in self._devices)
        by_dir = {
            (dev_names[k // n], dev_names[k % n]): int(c) * self._page_bytes
            for k, c in zip(keys.tolist(), counts.tolist(), strict=True)
        }
        for c in (names, pages, src, src_frame, dst, dst_frame, copied):
            c.flags.writeable = False
        return MigrationPlan(
            tensor=names,
            logical_page=pages,
            src_device=src,
            src_frame=src_frame,
            dst_device=dst,
            dst_frame=dst_frame,
            copied=copied,
            page_bytes=self._page_bytes,
            device_names=dev_names,
            bytes_by_direction=by_dir,
            reuse_freed_frames=reuse_freed_frames,
            _token=self._token,
            _version=self._version,
        )

    def apply(self, plan: MigrationPlan) -> IntArray:
        """Execute a plan: take destination frames, free source frames, update page tables.

        Parameters
        ----------
        plan
            A plan from :meth:`plan_migration` of this space, with no change to the space since.

        Returns
        -------
        numpy.ndarray
            The logical pages whose translation changed on at least one chip (int64, sorted,
            unique): the TLB shootdown set. Each is the source chip's entry at least.

        Raises
        ------
        ValueError
            The plan comes from another space or is stale (nothing is changed).

        Example
        -------
        >>> space = AddressSpace([DeviceMemory("HBM", 1 << 30), DeviceMemory("LPDDR", 1 << 30)])
        >>> _ = space.allocate("w", 8 << 20, "HBM")
        >>> space.apply(space.plan_migration({"w": [0, 1, 0, 1]})).tolist()
        [1, 3]
        """
        if not isinstance(plan, MigrationPlan):
            raise TypeError(f"apply: plan={plan!r} must be a MigrationPlan")
        if plan._token is not self._token:
            raise ValueError("apply: the plan was made by another AddressSpace")
        if plan._version != self._version:
            raise ValueError(
                f"apply: the plan is stale (planned at state {plan._version}, the space is at "
                f"state {self._version}); plan again after the last change"
            )
        pages, src, dst = plan.logical_page, plan.src_device, plan.dst_device
        if pages.size == 0:
            return np.zeros(0, dtype=np.int64)
        # Re-check before changing anything (cannot fail for a fresh plan of this space).
        n = len(self._devices)
        need = np.bincount(dst[plan.copied], minlength=n)
        freed = np.bincount(src, minlength=n) if plan.reuse_freed_frames else None
        self._check_capacity("apply", need, extra_free=freed)

        def release() -> None:
            for d in np.unique(src).tolist():
                self._pools[d].give(plan.src_frame[src == d])

        if plan.reuse_freed_frames:
            release()
        for d in np.flatnonzero(need).tolist():
            rows = np.flatnonzero(plan.copied & (dst == d))
            got = self._pools[d].take(rows.size)
            if not np.array_equal(got, plan.dst_frame[rows]):
                raise InvariantError(f"apply: frames taken on device {d} differ from the plan")
        if not plan.reuse_freed_frames:
            release()
        self._local[src, pages] = -1
        self._local[dst, pages] = plan.dst_frame
        self._primary[pages] = dst
        self._refresh(pages)
        self._version += 1
        return np.unique(pages)

    # --------------------------------------------------------------------------- reports
    def usage(self) -> dict[str, DeviceUsage]:
        """Occupancy of every device, by name (in device order).

        Example
        -------
        >>> space = AddressSpace([DeviceMemory("HBM", 10 << 20, reserved_bytes=3 << 20)])
        >>> _ = space.allocate("w", 1, "HBM"); u = space.usage()["HBM"]
        >>> (u.used_bytes, u.free_bytes, u.reserved_bytes, u.stranded_bytes)
        (2097152, 4194304, 3145728, 1048576)
        """
        P = self._page_bytes
        out: dict[str, DeviceUsage] = {}
        for d, (dev, pool) in enumerate(zip(self._devices, self._pools, strict=True)):
            used = pool.total - pool.free
            dup = int(np.count_nonzero((self._local[d] >= 0) & (self._primary != d)))
            out[dev.name] = DeviceUsage(
                name=dev.name,
                capacity_bytes=dev.capacity_bytes,
                reserved_bytes=dev.reserved_bytes,
                used_bytes=used * P,
                free_bytes=pool.free * P,
                stranded_bytes=(dev.capacity_bytes - dev.reserved_bytes) % P,
                used_pages=used,
                free_pages=pool.free,
                duplicate_pages=dup,
            )
        return out

    def fragmentation(self) -> FragmentationReport:
        """Internal fragmentation: the unused tail of each tensor's last page, per device.

        Returns
        -------
        FragmentationReport
            Wasted bytes and fraction of capacity per device (see its definition).

        Example
        -------
        >>> space = AddressSpace([DeviceMemory("HBM", 1 << 30)], page_bytes=1 << 20)
        >>> _ = space.allocate("a", (1 << 20) + 1, "HBM")
        >>> space.fragmentation().wasted_bytes
        {'HBM': 1048575}
        """
        wasted = np.zeros(len(self._devices), dtype=np.int64)
        partial = 0
        for r in self._tensors.values():
            tail = -r.size_bytes % self._page_bytes
            if tail:
                partial += 1
                wasted[self._local[:, r.base + r.pages - 1] >= 0] += tail
        names = [d.name for d in self._devices]
        return FragmentationReport(
            page_bytes=self._page_bytes,
            tensors=len(self._tensors),
            partial_tensors=partial,
            wasted_bytes={k: int(w) for k, w in zip(names, wasted, strict=True)},
            fraction_of_capacity={
                d.name: int(w) / d.capacity_bytes
                for d, w in zip(self._devices, wasted, strict=True)
            },
        )

    def to_frame(self) -> pd.DataFrame:
        """The tensors as a pandas DataFrame, one row each, in allocation order.

        Returns
        -------
        pandas.DataFrame
            Columns name, base_bytes, size_bytes, reserved_bytes, pages,
            internal_fragmentation_bytes, and per device ``pages_<name>`` (primary copies there)
            and ``duplicates_<name>`` (duplicate copies there).

        Example
        -------
        >>> space = AddressSpace([DeviceMemory("A", 1 << 30), DeviceMemory("B", 1 << 30)])
        >>> _ = space.allocate("w", 6 << 20, [0, 1, 1]); int(space.to_frame().at[0, "pages_B"])
        2
        """
        import pandas as pd

        rows: list[dict[str, object]] = []
        for r in self._tensors.values():
            t = self._snapshot(r)
            row: dict[str, object] = {
                "name": t.name,
                "base_bytes": t.base_bytes,
                "size_bytes": t.size_bytes,
                "reserved_bytes": t.reserved_bytes,
                "pages": t.pages,
                "internal_fragmentation_bytes": t.internal_fragmentation_bytes,
            }
            sl = slice(r.base, r.base + r.pages)
            prim = self._primary[sl]
            for d, dev in enumerate(self._devices):
                row[f"pages_{dev.name}"] = int(np.count_nonzero(prim == d))
                row[f"duplicates_{dev.name}"] = int(
                    np.count_nonzero((self._local[d, sl] >= 0) & (prim != d))
                )
            rows.append(row)
        columns = ["name", "base_bytes", "size_bytes", "reserved_bytes", "pages"]
        columns += ["internal_fragmentation_bytes"]
        for dev in self._devices:
            columns += [f"pages_{dev.name}", f"duplicates_{dev.name}"]
        return pd.DataFrame(rows, columns=columns)

    def check_invariants(self) -> None:
        """Check the internal consistency of the space (O(logical pages + frames)).

        Checks: every backed page of every tensor has exactly one primary copy, and nothing
        else is mapped; no frame holds two pages; on every device, free + used frames = total;
        tensor reservations and free logical ranges tile the logical space; each chip's page
        table points at its own copy if it has one, else at the primary.

        Raises
        ------
        InvariantError
            A check failed (a bug in h2m2).

        Example
        -------
        >>> space = AddressSpace([DeviceMemory("HBM", 1 << 30)])
        >>> _ = space.allocate("w", 1 << 20, "HBM"); space.check_invariants()
        """
        n, L = len(self._devices), self._logical_pages
        # Logical space: reservations and free ranges tile [0, L) exactly once.
        cover = np.zeros(L, dtype=np.int64)
        backed = np.zeros(L, dtype=bool)
        for r in self._tensors.values():
            if not 0 <= r.pages <= r.reserved or r.reserved < 1:
                raise InvariantError(f"tensor {r.name!r}: {r.pages} pages, {r.reserved} reserved")
            if r.pages != -(-r.size_bytes // self._page_bytes):
                raise InvariantError(f"tensor {r.name!r}: pages do not match size_bytes")
            cover[r.base : r.base + r.reserved] += 1
            backed[r.base : r.base + r.pages] = True
        for s, length in self._extents:
            if length <= 0:
                raise InvariantError(f"empty free logical range at page {s}")
            cover[s : s + length] += 1
        if np.any(cover != 1):
            raise InvariantError(
                f"logical page {int(np.flatnonzero(cover != 1)[0])} is "
                "covered by zero or several reservations/free ranges"
            )
        # Exactly one primary copy per backed page; nothing mapped elsewhere.
        prim = self._primary
        if np.any((prim >= 0) != backed) or np.any(prim >= n):
            bad = int(np.flatnonzero(((prim >= 0) != backed) | (prim >= n))[0])
            raise InvariantError(
                f"logical page {bad}: primary device {int(prim[bad])} "
                f"but backed={bool(backed[bad])}"
            )
        held = self._local >= 0
        if np.any(held[:, ~backed]):
            raise InvariantError("an unbacked logical page holds a frame")
        bp = np.flatnonzero(backed)
        if np.any(self._local[prim[bp], bp] < 0):
            raise InvariantError("a backed logical page has no frame on its primary device")
        # Frames: used and free frames partition [0, total) on every device.
        for d, pool in enumerate(self._pools):
            used = self._local[d][held[d]]
            allf = np.concatenate([used, pool.free_frames()])
            if allf.size != pool.total or (
                allf.size
                and (allf.min() < 0 or allf.max() >= pool.total or np.bincount(allf).max() != 1)
            ):
                raise InvariantError(
                    f"device {self._devices[d].name!r}: {used.size} used + {pool.free} free "
                    f"frames are not a partition of its {pool.total} frames"
                )
        # Page tables: own copy if any, else the primary copy.
        prim_frame = np.full(L, -1, dtype=np.int64)
        prim_frame[bp] = self._local[prim[bp], bp]
        for d in range(n):
            want_dev = prim.copy()
            want_dev[held[d]] = d
            want_frame = prim_frame.copy()
            want_frame[held[d]] = self._local[d][held[d]]
            if not (
                np.array_equal(self._pt_device[d], want_dev)
                and np.array_equal(self._pt_frame[d], want_frame)
            ):
                raise InvariantError(f"page table of {self._devices[d].name!r} is out of date")

    # --------------------------------------------------------------------------- helpers
    def _pages(self, size_bytes: int) -> int:
        return -(-size_bytes // self._page_bytes)

    def _snapshot(self, r: _Record) -> Tensor:
        P = self._page_bytes
        return Tensor(r.name, r.base * P, r.size_bytes, r.reserved * P, P)

    def _record(self, what: str, name: object) -> _Record:
        rec = self._tensors.get(name) if isinstance(name, str) else None
        if rec is None:
            raise ValueError(f"{what}: unknown tensor {name!r} ({len(self._tensors)} tensors)")
        return rec

    def _device(self, what: str, device: object) -> int:
        if isinstance(device, str):
            if device not in self._index:
                raise ValueError(
                    f"{what}: unknown device {device!r} (devices: {', '.join(self._index)})"
                )
            return self._index[device]
        if isinstance(device, bool) or not isinstance(device, int | np.integer):
            raise TypeError(f"{what}: device={device!r} must be a device index or name")
        if not 0 <= device < len(self._devices):
            raise ValueError(
                f"{what}: device={int(device)} out of range (0..{len(self._devices) - 1})"
            )
        return int(device)

    def _placement(self, what: str, device: object, pages: int) -> npt.NDArray[np.int32]:
        if isinstance(device, str | int | np.integer):
            return np.full(pages, self._device(what, device), dtype=np.int32)
        arr = np.asarray(device)
        if arr.ndim != 1 or arr.size != pages:
            raise ValueError(
                f"{what}: placement has shape {arr.shape}, expected ({pages},): one device per page"
            )
        if arr.size and arr.dtype.kind not in "iu":
            raise TypeError(f"{what}: placement dtype {arr.dtype} must hold integer device indices")
        n = len(self._devices)
        bad = (arr < 0) | (arr >= n)
        if np.any(bad):
            raise ValueError(f"{what}: placement holds device {int(arr[bad][0])}, valid 0..{n - 1}")
        return arr.astype(np.int32)

    def _check_capacity(
        self, what: str, need: npt.NDArray[np.int64], *, extra_free: IntArray | None = None
    ) -> None:
        free = np.array([p.free for p in self._pools], dtype=np.int64)
        if extra_free is not None:
            free = free + extra_free
        if np.any(need > free):
            P = self._page_bytes
            names = [d.name for d in self._devices]
            raise CapacityError(
                what,
                needed_bytes={k: int(v) * P for k, v in zip(names, need, strict=True)},
                free_bytes={k: int(v) * P for k, v in zip(names, free, strict=True)},
                page_bytes=P,
            )

    def _back(self, first: int, placement: npt.NDArray[np.int32]) -> None:
        """Give logical pages first.. (one per placement entry) primary frames."""
        pages = np.arange(first, first + placement.size, dtype=np.int64)
        for d in np.unique(placement).tolist():
            sel = pages[placement == d]
            self._local[d, sel] = self._pools[d].take(sel.size)
        self._primary[pages] = placement
        self._refresh(pages)

    def _refresh(self, pages: IntArray) -> None:
        """Recompute every chip's page-table entries of ``pages`` (in place)."""
        prim = self._primary[pages]
        mapped = prim >= 0
        prim_frame = np.full(pages.shape, -1, dtype=np.int64)
        prim_frame[mapped] = self._local[prim[mapped], pages[mapped]]
        for d in range(len(self._devices)):
            loc = self._local[d, pages]
            has = loc >= 0
            self._pt_device[d, pages] = np.where(has, np.int32(d), prim)
            self._pt_frame[d, pages] = np.where(has, loc, prim_frame)
