"""DRAM standards as data: organisation, timing parameters and inter-command constraint rows.

A standard is plain data (one file per standard under ``h2m2/dram/standards/``). Nothing in the C++
engine is written per standard: :meth:`DeviceSpec.compile` turns the rows into flat per-scope tables
that the controller reads, and the independent checker (:mod:`h2m2.dram.checker`) reads the rows
themselves through :meth:`DeviceSpec.constraint_rows`.

Vocabulary
----------
* A *channel* is one independently scheduled interface with its own controller (for HBM3 that is a
  pseudo-channel; for LPDDR5 one x16 channel; for DDR5 one 32-bit sub-channel).
* Levels inside a channel: rank (HBM stack ID) > bank group > bank > row > column.
* Scopes of a constraint: ``channel``, ``rank``, ``bankgroup``, ``bank``. A row applies between two
  commands on the same node of its scope; with ``sibling=True`` it applies between two commands on
  *different* nodes of that scope that share the parent (e.g. tCCD_R between different stack IDs).
* Timing names follow JEDEC with an ``n`` prefix for clock cycles (``nRCD``); they are given as
  cycles of the command clock CK, as nanoseconds, or as "max(k CK, x ns)".
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np

__all__ = [
    "COMMAND_NAMES",
    "SCOPE_NAMES",
    "Command",
    "Constraint",
    "ConstraintRow",
    "DeviceSpec",
    "Energy",
    "Organization",
    "Scope",
    "Timing",
    "ck",
    "ck_ns",
    "interval_ns",
    "ns",
]


class Command(IntEnum):
    """DRAM commands understood by the engine (order shared with ``cpp/dram/command.hpp``)."""

    ACT = 0
    PRE = 1
    PREA = 2
    RD = 3
    WR = 4
    RDA = 5
    WRA = 6
    REFab = 7
    REFpb = 8


COMMAND_NAMES: tuple[str, ...] = tuple(c.name for c in Command)


class Scope(IntEnum):
    """Levels a constraint can be scoped to (shared with ``cpp/dram/command.hpp``)."""

    channel = 0
    rank = 1
    bankgroup = 2
    bank = 3


SCOPE_NAMES: tuple[str, ...] = tuple(s.name for s in Scope)


@dataclass(frozen=True)
class Timing:
    """A timing parameter: at least ``ck`` clock cycles and at least ``ns`` nanoseconds.

    A minimum delay rounds up to whole cycles (a command may not issue early). A maximum
    interval (``at_most=True``, e.g. tREFI) rounds down (a refresh may not come late).
    """

    ck: int = 0
    ns: float = 0.0
    at_most: bool = False

    def cycles(self, tck_ns: float) -> int:
        """Cycles of a clock with period ``tck_ns``: ``max(ck, ceil(ns / tck_ns))`` (floor for
        ``at_most`` intervals)."""
        if self.ns <= 0:
            return self.ck
        if self.at_most:
            return max(self.ck, math.floor(self.ns / tck_ns + 1e-9))
        return max(self.ck, math.ceil(self.ns / tck_ns - 1e-9))


def ck(n: int) -> Timing:
    """A timing given in clock cycles."""
    return Timing(ck=n)


def ns(x: float) -> Timing:
    """A timing given in nanoseconds (rounded up to whole cycles)."""
    return Timing(ns=x)


def ck_ns(n: int, x: float) -> Timing:
    """A timing of ``max(n CK, x ns)``."""
    return Timing(ck=n, ns=x)


def interval_ns(x: float) -> Timing:
    """A maximum interval in nanoseconds (tREFI): rounded down to whole cycles."""
    return Timing(ns=x, at_most=True)


@dataclass(frozen=True)
class Constraint:
    """One inter-command timing rule.

    Parameters
    ----------
    name
        JEDEC parameter the row implements (``"tCCD_L"``), used in checker reports.
    scope
        ``"channel"``, ``"rank"``, ``"bankgroup"`` or ``"bank"``.
    preceding, following
        Command names. The rule: a following command may issue no earlier than ``latency`` cycles
        after a preceding one on the same node of ``scope``.
    latency
        Python expression over timing names in cycles, e.g. ``"nCWL + nBL + nWTR_L"``.
    window
        With ``window > 1``: at most ``window`` preceding commands in any ``latency``-cycle span
        (tFAW is ``window=4``); the following command counts as the next one.
    sibling
        Apply between *different* nodes of ``scope`` under the same parent instead of the same node.
    """

    name: str
    scope: str
    preceding: tuple[str, ...]
    following: tuple[str, ...]
    latency: str
    window: int = 1
    sibling: bool = False


@dataclass(frozen=True)
class ConstraintRow:
    """A constraint with its latency evaluated in cycles (what the checker consumes)."""

    name: str
    scope: Scope
    preceding: tuple[Command, ...]
    following: tuple[Command, ...]
    latency_cycles: int
    window: int
    sibling: bool


@dataclass(frozen=True)
class Organization:
    """Structure of one device (an HBM stack, an LPDDR package channel, a DDR5 DIMM).

    Parameters
    ----------
    channels
        JEDEC channels per device.
    pseudo_channels
        Pseudo-channels per channel (HBM: 2); each is scheduled independently.
    ranks
        Ranks (HBM stack IDs) per pseudo-channel.
    bank_groups, banks_per_group
        Bank groups per rank and banks per bank group.
    rows
        Rows per bank.
    columns
        Column addresses per row (a row holds ``columns * dq_bits / 8`` bytes).
    dq_bits
        Data bus width of one (pseudo-)channel in bits.
    burst_length
        Beats per column command.
    """

    channels: int
    pseudo_channels: int
    ranks: int
    bank_groups: int
    banks_per_group: int
    rows: int
    columns: int
    dq_bits: int
    burst_length: int

    @property
    def banks_per_rank(self) -> int:
        return self.bank_groups * self.banks_per_group

    @property
    def transaction_bytes(self) -> int:
        """Bytes moved by one column command: ``dq_bits * burst_length / 8``."""
        return self.dq_bits * self.burst_length // 8

    @property
    def bursts_per_row(self) -> int:
        """Column commands per row: ``columns / burst_length``."""
        return self.columns // self.burst_length

    @property
    def row_bytes(self) -> int:
        """Row (page) size of one (pseudo-)channel: ``columns * dq_bits / 8``."""
        return self.columns * self.dq_bits // 8

    @property
    def bytes_per_channel(self) -> int:
        """Capacity behind one independently scheduled (pseudo-)channel."""
        return self.ranks * self.banks_per_rank * self.rows * self.row_bytes

    @property
    def scheduled_channels(self) -> int:
        """Independently scheduled channels per device: ``channels * pseudo_channels``."""
        return self.channels * self.pseudo_channels


@dataclass(frozen=True)
class Energy:
    """Energy constants of one (pseudo-)channel; see each standard file for the source.

    Parameters
    ----------
    act_pre_pJ
        One activate plus its precharge.
    rd_pJ, wr_pJ
        One read / write burst (array and I/O).
    refab_pJ, refpb_pJ
        One all-bank / per-bank refresh.
    background_mW
        Average standby power of one (pseudo-)channel while the memory system runs.
    """

    act_pre_pJ: float
    rd_pJ: float
    wr_pJ: float
    refab_pJ: float
    refpb_pJ: float
    background_mW: float


# Timing names the controller itself reads (besides the constraint rows).
_CONTROLLER_TIMINGS = ("nCL", "nCWL", "nBL", "nREFI", "nREFIpb")


@dataclass(frozen=True)
class DeviceSpec:
    """A device preset: one standard at one speed bin and density.

    Parameters
    ----------
    name
        Preset name, ``<STD>_<MT/s>_<org>``.
    standard
        Standard family (``"HBM3"``, ``"LPDDR5X"``, ...).
    data_rate_mts
        Data rate per pin in MT/s.
    ck_ratio
        Data rate divided by the command clock frequency (HBM3: 4, LPDDR5: 8, DDR5: 2).
    organization
        Device structure.
    timings
        Timing parameters by name (``nCL``, ``nRCD_RD``, ...).
    constraints
        Inter-command rules.
    energy
        Energy constants.
    dual_command_bus
        A row command and a column command may issue in the same cycle (HBM).
    source
        Where the numbers come from, and when they were checked.
    """

    name: str
    standard: str
    data_rate_mts: float
    ck_ratio: int
    organization: Organization
    timings: dict[str, Timing]
    constraints: tuple[Constraint, ...]
    energy: Energy
    dual_command_bus: bool = False
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    # ----------------------------------------------------------------- derived values
    @property
    def tck_ns(self) -> float:
        """Command clock period: ``1000 * ck_ratio / data_rate_mts`` ns."""
        return 1000.0 * self.ck_ratio / self.data_rate_mts

    @property
    def tck_ps(self) -> int:
        """Command clock period rounded to whole picoseconds (the engine's time unit)."""
        return round(self.tck_ns * 1000.0)

    def cycles(self) -> dict[str, int]:
        """Every timing parameter in CK cycles at this preset's clock."""
        return {k: t.cycles(self.tck_ns) for k, t in self.timings.items()}

    @property
    def channel_peak_GBps(self) -> float:
        """Peak bandwidth of one (pseudo-)channel: ``dq_bits * data_rate_mts / 8 / 1000``."""
        return self.organization.dq_bits * self.data_rate_mts / 8.0 / 1000.0

    # ----------------------------------------------------------------- variants
    def override(self, name: str | None = None, **changes: Any) -> DeviceSpec:
        """Return a copy with some values changed.

        Keyword arguments may name a timing in cycles (``nCL=24``), a timing in nanoseconds
        (``tRCD_RD_ns=20.0``), an organisation field (``rows=32768``) or a spec field
        (``data_rate_mts=4000``).

        Raises
        ------
        ValueError
            If a keyword names nothing known.
        """
        timings = dict(self.timings)
        org_changes: dict[str, Any] = {}
        spec_changes: dict[str, Any] = {}
        org_fields = {f.name for f in dataclasses.fields(Organization)}
        spec_fields = {f.name for f in dataclasses.fields(DeviceSpec)}
        for key, value in changes.items():
            if key.startswith("n") and key in timings:
                timings[key] = ck(int(value))
            elif key.startswith("t") and key.endswith("_ns") and ("n" + key[1:-3]) in timings:
                timings["n" + key[1:-3]] = ns(float(value))
            elif key in org_fields:
                org_changes[key] = value
            elif key in spec_fields and key not in ("organization", "timings"):
                spec_changes[key] = value
            else:
                raise ValueError(
                    f"{self.name}: cannot override {key!r}: it is not a timing of this standard "
                    f"({', '.join(sorted(timings))}), an organisation field or a spec field"
                )
        org = dataclasses.replace(self.organization, **org_changes)
        return dataclasses.replace(
            self,
            name=name or self.name,
            organization=org,
            timings=timings,
            **spec_changes,
        )

    # ----------------------------------------------------------------- validation
    def validate(self) -> None:
        """Check the preset; raise ``ValueError`` naming the field, value and rule."""
        o = self.organization
        if not (self.data_rate_mts > 0):
            raise ValueError(f"{self.name}: data_rate_mts={self.data_rate_mts} must be positive")
        if self.ck_ratio <= 0:
            raise ValueError(f"{self.name}: ck_ratio={self.ck_ratio} must be positive")
        for fname in (
            "channels",
            "pseudo_channels",
            "ranks",
            "bank_groups",
            "banks_per_group",
            "rows",
            "columns",
            "dq_bits",
            "burst_length",
        ):
            v = getattr(o, fname)
            if not isinstance(v, int) or v <= 0:
                raise ValueError(
                    f"{self.name}: organization.{fname}={v!r} must be a positive integer"
                )
        for fname in ("ranks", "bank_groups", "banks_per_group", "rows", "columns", "burst_length"):
            v = getattr(o, fname)
            if v & (v - 1):
                raise ValueError(
                    f"{self.name}: organization.{fname}={v} must be a power of two "
                    "(address bits are sliced from the physical address)"
                )
        if o.columns % o.burst_length:
            raise ValueError(
                f"{self.name}: organization.columns={o.columns} must be a multiple of "
                f"burst_length={o.burst_length}"
            )
        if o.transaction_bytes & (o.transaction_bytes - 1):
            raise ValueError(
                f"{self.name}: transaction size dq_bits*burst_length/8={o.transaction_bytes} "
                "must be a power of two"
            )
        for key, t in self.timings.items():
            if not isinstance(t, Timing):
                raise ValueError(
                    f"{self.name}: timing {key}={t!r} must be a Timing (use ck(), ns() or ck_ns())"
                )
            if t.ck < 0 or t.ns < 0:
                raise ValueError(f"{self.name}: timing {key}={t} must not be negative")
        cyc = self.cycles()
        for key in _CONTROLLER_TIMINGS:
            if key not in cyc:
                raise ValueError(f"{self.name}: timing {key} is required by the controller")
        for key in ("nBL", "nREFI", "nREFIpb"):
            if cyc[key] <= 0:
                raise ValueError(f"{self.name}: {key}={cyc[key]} cycles must be positive")
        if cyc["nBL"] * self.ck_ratio < o.burst_length:
            raise ValueError(
                f"{self.name}: nBL={cyc['nBL']} CK is shorter than the burst: burst_length="
                f"{o.burst_length} beats at ck_ratio={self.ck_ratio} beats per CK needs "
                f"{-(-o.burst_length // self.ck_ratio)} CK"
            )
        if "nRFC" in cyc and cyc["nREFI"] <= cyc["nRFC"]:
            raise ValueError(
                f"{self.name}: tREFI={cyc['nREFI']} CK must exceed tRFC={cyc['nRFC']} CK"
            )
        # A rule longer than the time between refreshes could never be met: every refresh closes
        # the rows, so the request behind it would wait forever (livelock, not an error). Each
        # refresh also takes the precharge before it (tRP): with tRP and tRCD both just under
        # tREFI - tRFC no row stayed open long enough to be read (found by the fuzz test).
        refresh_gap = cyc["nREFI"] - cyc.get("nRFC", 0) - cyc.get("nRP", 0)
        for c in self.constraints:
            if c.scope in SCOPE_NAMES and not {"REFab", "REFpb"} & set(c.preceding):
                try:
                    lat = self._evaluate(c, cyc)
                except ValueError:
                    lat = 0  # reported with its own message below
                if lat >= refresh_gap:
                    raise ValueError(
                        f"{self.name}: constraint {c.name} latency {c.latency}={lat} CK must be "
                        f"below tREFI - tRFC - tRP = {refresh_gap} CK "
                        "(a refresh would interrupt it forever)"
                    )
        for c in self.constraints:
            if c.scope not in SCOPE_NAMES:
                raise ValueError(f"{self.name}: constraint {c.name}: unknown scope {c.scope!r}")
            for cmd in (*c.preceding, *c.following):
                if cmd not in COMMAND_NAMES:
                    raise ValueError(f"{self.name}: constraint {c.name}: unknown command {cmd!r}")
            if c.window < 1:
                raise ValueError(
                    f"{self.name}: constraint {c.name}: window={c.window} must be >= 1"
                )
            if c.scope in ("bankgroup", "bank") and {"PREA", "REFab"} & {
                *c.preceding,
                *c.following,
            }:
                raise ValueError(
                    f"{self.name}: constraint {c.name}: rank-wide commands PREA/REFab may only "
                    f"appear in channel- or rank-scoped rows, not {c.scope!r}"
                )
            if c.sibling and c.scope == "channel":
                raise ValueError(
                    f"{self.name}: constraint {c.name}: sibling needs a scope below channel"
                )
            self._evaluate(c, cyc)

    def _evaluate(self, c: Constraint, cyc: dict[str, int]) -> int:
        try:
            value = eval(c.latency, {"__builtins__": {"max": max, "min": min}}, dict(cyc))
        except NameError as exc:
            raise ValueError(
                f"{self.name}: constraint {c.name}: latency {c.latency!r} uses an unknown "
                f"timing ({exc})"
            ) from None
        except (SyntaxError, TypeError, ArithmeticError) as exc:
            raise ValueError(
                f"{self.name}: constraint {c.name}: latency {c.latency!r} is not a valid "
                f"expression over timing names ({exc})"
            ) from None
        value = int(value)
        if value < 0:
            raise ValueError(
                f"{self.name}: constraint {c.name}: latency {c.latency!r}={value} is negative"
            )
        return value

    # ----------------------------------------------------------------- compiled forms
    def constraint_rows(self) -> list[ConstraintRow]:
        """The constraints with latencies in cycles (the checker's input)."""
        self.validate()
        cyc = self.cycles()
        return [
            ConstraintRow(
                name=c.name,
                scope=Scope[c.scope],
                preceding=tuple(Command[p] for p in c.preceding),
                following=tuple(Command[f] for f in c.following),
                latency_cycles=self._evaluate(c, cyc),
                window=c.window,
                sibling=c.sibling,
            )
            for c in self.constraints
        ]

    def compile(self) -> dict[str, Any]:
        """Flatten the rows into the tables the C++ controller reads.

        Returns a dict with
        ``same``: int64 ``[scope, prev, next]`` minimum distance, -1 where no rule;
        ``sibling``: the same for sibling rows;
        ``windows``: int64 ``[k, 5]`` rows of (scope, prev mask, next mask, window, latency);
        plus the controller's own timings and the organisation.
        """
        rows = self.constraint_rows()
        n_cmd, n_scope = len(Command), len(Scope)
        same = np.full((n_scope, n_cmd, n_cmd), -1, dtype=np.int64)
        sibling = np.full((n_scope, n_cmd, n_cmd), -1, dtype=np.int64)
        windows: list[list[int]] = []
        for r in rows:
            if r.window > 1:
                pmask = sum(1 << int(p) for p in r.preceding)
                fmask = sum(1 << int(f) for f in r.following)
                windows.append([int(r.scope), pmask, fmask, r.window, r.latency_cycles])
                continue
            table = sibling if r.sibling else same
            for p in r.preceding:
                for f in r.following:
                    table[r.scope, p, f] = max(table[r.scope, p, f], r.latency_cycles)
        cyc = self.cycles()
        o = self.organization
        return {
            "name": self.name,
            "same": same,
            "sibling": sibling,
            "windows": np.array(windows, dtype=np.int64).reshape(-1, 5),
            "nCL": cyc["nCL"],
            "nCWL": cyc["nCWL"],
            "nBL": cyc["nBL"],
            "nREFI": cyc["nREFI"],
            "nREFIpb": cyc["nREFIpb"],
            "tck_ps": self.tck_ps,
            "ranks": o.ranks,
            "bank_groups": o.bank_groups,
            "banks_per_group": o.banks_per_group,
            "rows": o.rows,
            "bursts_per_row": o.bursts_per_row,
            "transaction_bytes": o.transaction_bytes,
            "dual_command_bus": self.dual_command_bus,
        }
