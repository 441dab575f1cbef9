"""Cycle-level DRAM: standards as data, memory systems, traces and an independent timing checker.

Example
-------
>>> from h2m2.dram import MemorySystem
>>> stats = MemorySystem("HBM3").run(np.arange(0, 1 << 20, 32, dtype=np.uint64))
"""

from __future__ import annotations

from h2m2.dram import standards
from h2m2.dram.address_mapping import AddressMapping
from h2m2.dram.command_log import COMMAND_LOG_DTYPE
from h2m2.dram.memory_system import ControllerSpec, DramStats, MemorySpec, MemorySystem
from h2m2.dram.standard import Command, Constraint, DeviceSpec, Energy, Organization, Scope

__all__ = [
    "COMMAND_LOG_DTYPE",
    "AddressMapping",
    "Command",
    "Constraint",
    "ControllerSpec",
    "DeviceSpec",
    "DramStats",
    "Energy",
    "MemorySpec",
    "MemorySystem",
    "Organization",
    "Scope",
    "standards",
]
