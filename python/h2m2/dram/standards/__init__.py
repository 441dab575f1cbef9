"""Registry of DRAM device presets, one module per standard.

``get("HBM3")`` returns the family's default preset; ``get("HBM3_6400_16Gb_8hi")`` a named one.
``register(spec)`` adds a user-defined preset (see :meth:`h2m2.dram.DeviceSpec.override`).
"""

from __future__ import annotations

from h2m2.dram.standard import DeviceSpec
from h2m2.dram.standards import ddr5, hbm3, hbm3e, lpddr5, lpddr5x

__all__ = ["DEFAULTS", "get", "names", "register"]

_PRESETS: dict[str, DeviceSpec] = {}
for _module in (hbm3, hbm3e, lpddr5, lpddr5x, ddr5):
    _PRESETS.update(_module.PRESETS)

# The preset a bare standard name stands for.
DEFAULTS: dict[str, str] = {
    "HBM3": "HBM3_6400_16Gb_8hi",
    "HBM3E": hbm3e.DEFAULT,
    "LPDDR5": lpddr5.DEFAULT,
    "LPDDR5X": lpddr5x.DEFAULT,
    "DDR5": ddr5.DEFAULT,
}


def names() -> list[str]:
    """All preset names and standard family names."""
    return sorted(_PRESETS) + sorted(DEFAULTS)


def get(name: str) -> DeviceSpec:
    """Look a preset up by preset name or standard family name (case-insensitive).

    Raises
    ------
    ValueError
        For an unknown name; the message lists the known ones.
    """
    key = name.strip()
    lookup = {k.upper(): k for k in _PRESETS}
    families = {k.upper(): v for k, v in DEFAULTS.items()}
    if key.upper() in families:
        return _PRESETS[families[key.upper()]]
    if key.upper() in lookup:
        return _PRESETS[lookup[key.upper()]]
    raise ValueError(f"unknown DRAM standard {name!r}; known: {', '.join(names())}")


def register(spec: DeviceSpec) -> DeviceSpec:
    """Validate ``spec`` and make it available to :func:`get` under ``spec.name``."""
    spec.validate()
    _PRESETS[spec.name] = spec
    return spec
