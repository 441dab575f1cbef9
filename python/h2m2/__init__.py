"""h2m2: cycle-level simulation of LLM inference on accelerators with heterogeneous memory."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
