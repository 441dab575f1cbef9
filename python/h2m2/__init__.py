"""h2m2: cycle-level simulation of LLM inference on accelerators with heterogeneous memory."""

from __future__ import annotations

__version__ = "0.1.0"  # before the submodules: memo_store keys its cache by it

from h2m2 import engine, hardware, memory, models, policies, presets, requests, result, workload
from h2m2.policies import EpochState, Mapping, MappingError, Policy
from h2m2.requests import RequestStream
from h2m2.result import Result
from h2m2.simulate import SimulationError, simulate

__all__ = [
    "EpochState",
    "Mapping",
    "MappingError",
    "Policy",
    "RequestStream",
    "Result",
    "SimulationError",
    "__version__",
    "engine",
    "hardware",
    "memory",
    "models",
    "policies",
    "presets",
    "requests",
    "result",
    "simulate",
    "workload",
]
