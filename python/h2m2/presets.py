"""System presets: the paper's H2M2 system and its baselines, as documented functions.

Every number cites ``../shared/spec/h2m2.md`` (Table 1/2, section 6) or ``docs/assumptions.md``.
"""

from __future__ import annotations

from h2m2.dram.memory_system import MemorySpec
from h2m2.hardware import AcceleratorSpec, LinkSpec, NpuSpec, SystemSpec

__all__ = ["h2m2", "hbm_device", "hbm_tp", "lpddr_device", "lpddr_only"]


def hbm_device(
    capacity_gb: int = 96, *, name: str = "hbm", npu: NpuSpec | None = None
) -> AcceleratorSpec:
    """The bandwidth-centric device: HBM3 at 4.0 Gb/s per pin, 16 GiB per stack.

    ``capacity_gb / 16`` stacks of 16 channels (96 GB: 6 stacks, 3.07 TB/s; docs/assumptions.md).
    """
    if capacity_gb <= 0 or capacity_gb % 16:
        raise ValueError(f"hbm_device: capacity_gb={capacity_gb} must be a positive multiple of 16")
    stacks = capacity_gb // 16
    mem = MemorySpec("HBM3_4000_16Gb_8hi", channels=16 * stacks)
    return AcceleratorSpec(name, mem, npu=npu or NpuSpec())


def lpddr_device(
    channels: int = 32, *, name: str = "lpddr", npu: NpuSpec | None = None
) -> AcceleratorSpec:
    """The capacity-centric device: LPDDR5X-8533, 16 GiB behind each x16 channel.

    32 channels give 512 GiB and 546 GB/s (H2M2: 512 GB, 544 GB/s).
    """
    mem = MemorySpec("LPDDR5X_8533_16GB_x16", channels=channels)
    return AcceleratorSpec(name, mem, npu=npu or NpuSpec())


def h2m2(
    hbm_capacity_gb: int = 96, lpddr_channels: int = 32, link: LinkSpec | None = None
) -> SystemSpec:
    """The H2M2 system: an HBM device and an LPDDR device, each with its own accelerator, joined
    by a 960 GB/s link (480 GB/s per direction; docs/assumptions.md)."""
    return SystemSpec(
        devices=(hbm_device(hbm_capacity_gb), lpddr_device(lpddr_channels)),
        link=link or LinkSpec(),
    )


def lpddr_only(lpddr_channels: int = 32) -> SystemSpec:
    """The homogeneous capacity-centric baseline (LPDDR-only, CXL-PNM-like): one LPDDR device with
    the same accelerator (544 GB/s; docs/assumptions.md)."""
    return SystemSpec(devices=(lpddr_device(lpddr_channels),))


def hbm_tp(k: int = 8, hbm_capacity_gb: int = 96, tp_link: LinkSpec | None = None) -> SystemSpec:
    """The HBM-only baseline (8-HBM): ``k`` identical HBM devices running the model
    tensor-parallel (spec section 6; the paper profiled 8 x A100).

    Each device is :func:`hbm_device` (96 GB, 3.07 TB/s); ``k x 96 GB`` in total (768 GB for
    k = 8). The copies talk over ``tp_link`` (OPEN; default 300 GB/s per direction and 500 ns
    per ring step: A100 NVLink3, 12 links x 25 GB/s per direction; docs/assumptions.md). The
    simulator models one device with 1/k of the units plus ring all-reduces.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"hbm_tp: k={k!r} must be an integer >= 1")
    return SystemSpec(
        devices=(hbm_device(hbm_capacity_gb),),
        tensor_parallel=k,
        tp_link=tp_link or LinkSpec(bandwidth_GBps=300.0, latency_ns=500.0),
    )
