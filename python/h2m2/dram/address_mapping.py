"""Physical address -> (channel, rank, bank group, bank, row, column) mapping.

The address is split, above the offset inside one column command, into fields listed from the most
significant to the least significant. Every field but ``channel`` has a power-of-two size and takes
bits; ``channel`` may have any size (mixed radix: ``x % channels`` then ``x // channels``), so that
e.g. 6 HBM stacks (96 channels) map without holes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FIELDS", "AddressMapping"]

# Field ids shared with cpp/dram/address_mapping.hpp.
FIELDS: tuple[str, ...] = ("channel", "rank", "bankgroup", "bank", "row", "column")


@dataclass(frozen=True)
class AddressMapping:
    """How physical addresses spread over the memory system.

    Parameters
    ----------
    order
        Field names from most to least significant (default
        ``row-rank-bank-column-bankgroup-channel``:
        consecutive column commands go to different channels, then bank groups, so a stream is never
        held to tCCD_L).
    xor_bank
        XOR the bank and bank-group indices with the low row bits (spreads row conflicts of
        power-of-two strides over banks).

    Example
    -------
    >>> m = AddressMapping.parse("row-rank-bank-column-bankgroup-channel")
    >>> m.order[0]
    'row'
    """

    order: tuple[str, ...] = ("row", "rank", "bank", "column", "bankgroup", "channel")
    xor_bank: bool = False

    def __post_init__(self) -> None:
        if sorted(self.order) != sorted(FIELDS):
            raise ValueError(
                f"AddressMapping: order={'-'.join(self.order)} must name each of "
                f"{', '.join(FIELDS)} exactly once"
            )

    @classmethod
    def parse(cls, text: str, xor_bank: bool = False) -> AddressMapping:
        """Build from ``"row-rank-bank-column-bankgroup-channel"`` (most significant first)."""
        return cls(
            order=tuple(p.strip().lower() for p in text.replace(",", "-").split("-")),
            xor_bank=xor_bank,
        )

    def field_ids_lsb_first(self) -> np.ndarray:
        """Field ids (indices into :data:`FIELDS`) from least to most significant."""
        return np.array([FIELDS.index(f) for f in reversed(self.order)], dtype=np.int64)

    def __str__(self) -> str:
        return "-".join(self.order) + (" (xor)" if self.xor_bank else "")
