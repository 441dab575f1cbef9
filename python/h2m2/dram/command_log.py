"""The command log: every DRAM command the controllers issued, as a numpy structured array.

Columns: ``time`` (command clock cycles since the start of the run), ``channel`` (scheduled
channel index in the memory system), ``rank``, ``bankgroup``, ``bank`` (bank inside its bank
group), ``row``, ``column`` (column-command index inside the row) and ``command``
(:class:`h2m2.dram.Command`).
Rank-wide commands (PREA, REFab) carry bankgroup = bank = -1; commands without a row or column
carry -1 there. Rows appear in issue order (by time, then channel).
"""

from __future__ import annotations

import numpy as np

__all__ = ["COMMAND_LOG_DTYPE", "empty_log"]

COMMAND_LOG_DTYPE = np.dtype(
    [
        ("time", np.int64),
        ("channel", np.int32),
        ("rank", np.int16),
        ("bankgroup", np.int16),
        ("bank", np.int16),
        ("row", np.int32),
        ("column", np.int32),
        ("command", np.int8),
    ]
)


def empty_log(n: int = 0) -> np.ndarray:
    """A zeroed log of ``n`` rows."""
    return np.zeros(n, dtype=COMMAND_LOG_DTYPE)
