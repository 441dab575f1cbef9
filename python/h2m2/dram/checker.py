"""Independent timing checker for DRAM command logs.

What it models: the JEDEC inter-command timing rules of a standard (its constraint rows) and the
per-bank open/closed state machine, applied after the fact to a command log
(:mod:`h2m2.dram.command_log`). It shares no code with the controller: it does not import
``h2m2._core`` and does not use :meth:`DeviceSpec.compile`; it reads only
:meth:`DeviceSpec.constraint_rows`, :attr:`DeviceSpec.organization`,
:attr:`DeviceSpec.dual_command_bus` and the log. Not on the simulation hot path; vectorised with
numpy so that a log of 10^6 commands checks in about a second.

Semantics
---------
Time and order
    Rows of the log are in issue order. "Earlier" means earlier in the log: on HBM's dual command
    bus a row and a column command may share a cycle, and the one logged first counts as earlier.
    Time is in command-clock (CK) cycles. A command whose time is smaller than that of the command
    logged just before it on the same channel is reported as ``"time order"``.
Nodes
    The node of a command at each scope is: channel -> ``(channel)``; rank -> ``(channel, rank)``;
    bankgroup -> ``(channel, rank, bankgroup)``; bank -> ``(channel, rank, bankgroup, bank)``.
    Rank-wide commands (PREA, REFab; logged with bankgroup = bank = -1) belong to their channel and
    rank nodes only: they are not members of any bank-group or bank node, so they meet bank timing
    only through channel- and rank-scoped rows, which is how the standards encode them.
Rows with ``window == 1``
    For every following command F, take the latest command P logged before F that is in the row's
    preceding set and on the same node of the row's scope (``sibling=True``: on a *different* node
    of that scope with the same parent node, e.g. another rank of the same channel). F violates the
    row if ``time(F) - time(P) < latency``. The latest P suffices because the latency is constant
    per row and times do not decrease along the log. Rows with latency 0 cannot be violated and
    are skipped.
Rows with ``window == W > 1`` (tFAW)
    On each node, F violates the row if, among the preceding-set commands logged before F, the
    W-th most recent one, P, has ``time(F) - time(P) < latency``: with F there would be W + 1
    commands within ``latency`` cycles. For following = preceding = {ACT} this is
    ``t[i] - t[i - W] < latency`` over the node's ACT sequence. The violation names that P.
Command bus (``"command bus"``)
    One command per channel per cycle; with ``spec.dual_command_bus`` one row command (ACT, PRE,
    PREA, REFab, REFpb) plus one column command (RD, WR, RDA, WRA) per cycle.
Bank state (checked per bank, independently of the rows)
    Every bank starts closed. Each command is judged against the state left by all earlier
    commands taken at face value (a violating command still changes the state, e.g. an ACT to an
    open bank leaves its own row open), so one fault is reported once, not at every later command.

    * ACT needs a closed bank (``"ACT to an open bank"``) and opens its row.
    * RD, WR, RDA, WRA need an open bank (``"column command to a closed bank"``) whose open row is
      the command's row (``"column command to a row that is not open"``); RDA and WRA then close
      the bank.
    * PRE needs an open bank (``"PRE to a closed bank"``): the JEDEC device ignores a precharge of
      a closed bank, but the controller should never issue one, so the checker flags it. PRE
      closes the bank.
    * PREA closes every bank of its rank (closed banks are allowed).
    * REFab needs every bank of its rank closed (``"REFab with an open bank"``; one report per
      REFab, naming the ACT that opened the lowest-numbered open bank).
    * REFpb needs its bank closed (``"REFpb to an open bank"``).
Malformed entries (``"malformed entry"``)
    Unknown command codes, a negative channel, a rank, bank group or bank outside the
    organisation, rank-wide commands with bankgroup or bank other than -1, and ACT or column
    commands whose row (or, for column commands, column index) is outside the row.

Each :class:`Violation` names the rule and the log indices of both commands (``first = -1`` where a
state rule has no earlier command, e.g. a read of a bank that was never opened). Violations are
returned ordered by the later command's index, then the earlier one's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from h2m2.dram.standard import Command, ConstraintRow, DeviceSpec, Organization, Scope

__all__ = [
    "ACT_TO_OPEN_BANK",
    "COLUMN_TO_CLOSED_BANK",
    "COLUMN_TO_WRONG_ROW",
    "COMMAND_BUS",
    "MALFORMED_ENTRY",
    "PRE_TO_CLOSED_BANK",
    "REFAB_WITH_OPEN_BANK",
    "REFPB_TO_OPEN_BANK",
    "STATE_RULES",
    "TIME_ORDER",
    "Violation",
    "check",
]

ACT_TO_OPEN_BANK = "ACT to an open bank"
COLUMN_TO_CLOSED_BANK = "column command to a closed bank"
COLUMN_TO_WRONG_ROW = "column command to a row that is not open"
PRE_TO_CLOSED_BANK = "PRE to a closed bank"
REFAB_WITH_OPEN_BANK = "REFab with an open bank"
REFPB_TO_OPEN_BANK = "REFpb to an open bank"
TIME_ORDER = "time order"
COMMAND_BUS = "command bus"
MALFORMED_ENTRY = "malformed entry"

STATE_RULES: tuple[str, ...] = (
    ACT_TO_OPEN_BANK,
    COLUMN_TO_CLOSED_BANK,
    COLUMN_TO_WRONG_ROW,
    PRE_TO_CLOSED_BANK,
    REFAB_WITH_OPEN_BANK,
    REFPB_TO_OPEN_BANK,
    TIME_ORDER,
    MALFORMED_ENTRY,
)
"""Names of the rules that do not come from constraint rows (``required_cycles == 0``)."""

_FIELDS = ("time", "channel", "rank", "bankgroup", "bank", "row", "column", "command")
_ROW_COMMANDS = (Command.ACT, Command.PRE, Command.PREA, Command.REFab, Command.REFpb)
_COLUMN_COMMANDS = (Command.RD, Command.WR, Command.RDA, Command.WRA)
_RANK_WIDE = (Command.PREA, Command.REFab)
_BANK_COMMANDS = tuple(c for c in Command if c not in _RANK_WIDE)
_CLOSING = (Command.PRE, Command.RDA, Command.WRA, Command.PREA)
_INT64_SAFE = 1 << 62


@dataclass(frozen=True)
class Violation:
    """One broken rule in a command log.

    Parameters
    ----------
    rule
        Constraint name (``"tCCD_L"``) or a state rule from :data:`STATE_RULES`.
    first
        Log index of the earlier command, or -1 for a state rule without one.
    second
        Log index of the later (offending) command.
    required_cycles
        Distance the rule requires in CK cycles (0 for state rules).
    actual_cycles
        Distance found in CK cycles (0 for state rules without an earlier command).
    """

    rule: str
    first: int
    second: int
    required_cycles: int
    actual_cycles: int

    def describe(self, log: np.ndarray) -> str:
        """Describe the violation with both commands' fields.

        Parameters
        ----------
        log
            The command log :func:`check` was given.

        Returns
        -------
        str
            One line: rule, both commands (name, index, time, address) and the distances.

        Example
        -------
        >>> for v in check(log, spec, max_reports=10):
        ...     print(v.describe(log))
        tCCD_L: RD #3 at t=40 (...) -> RD #4 at t=42 (...): 2 cycles apart, needs >= 4
        """
        second = _command_text(log, self.second)
        if self.first < 0:
            return f"{self.rule}: {second} (no earlier command)"
        first = _command_text(log, self.first)
        if self.required_cycles > 0:
            return (
                f"{self.rule}: {first} -> {second}: {self.actual_cycles} cycles apart, "
                f"needs >= {self.required_cycles}"
            )
        return f"{self.rule}: {second}, after {first} ({self.actual_cycles} cycles earlier)"


def _command_text(log: np.ndarray, index: int) -> str:
    entry = log[index]
    code = int(entry["command"])
    name = Command(code).name if 0 <= code < len(Command) else f"command code {code}"
    return (
        f"{name} #{index} at t={int(entry['time'])} (channel {int(entry['channel'])}, "
        f"rank {int(entry['rank'])}, bankgroup {int(entry['bankgroup'])}, "
        f"bank {int(entry['bank'])}, row {int(entry['row'])}, column {int(entry['column'])})"
    )


# ------------------------------------------------------------------------------------- helpers
def _lut(commands: Sequence[int]) -> np.ndarray:
    """Boolean table indexed by the command code viewed as uint8 (unknown codes map to False)."""
    table = np.zeros(256, dtype=bool)
    table[[int(c) for c in commands]] = True
    return table


def _node_key(columns: Sequence[np.ndarray], n: int) -> np.ndarray:
    """An int64 key equal for two entries exactly when all ``columns`` are equal."""
    key = np.zeros(n, dtype=np.int64)
    if n == 0:
        return key
    for column in columns:
        col = column.astype(np.int64)
        lo = int(col.min())
        span = int(col.max()) - lo + 1
        if (int(key.max()) + 1) * span >= _INT64_SAFE:
            key = np.unique(key, return_inverse=True)[1].astype(np.int64).reshape(-1)
        key = key * span + (col - lo)
    return key


@dataclass(frozen=True)
class _Grouped:
    """Log entries sorted by (node key, log index): the layout every pass works on."""

    index: np.ndarray  # log index of each element
    group: np.ndarray  # node key, non-decreasing
    time: np.ndarray
    command: np.ndarray  # uint8 view of the command code
    child: np.ndarray  # level below the grouping level (for sibling rows), or empty


def _latest_pairs(
    g: _Grouped, is_p: np.ndarray, is_f: np.ndarray, latency: int
) -> tuple[np.ndarray, np.ndarray]:
    """Positions (P, F): F in ``is_f`` whose latest earlier ``is_p`` in its group is too close."""
    n = len(g.index)
    last = np.maximum.accumulate(np.where(is_p, np.arange(n), -1))
    prev = np.empty(n, dtype=np.int64)
    if n:
        prev[0] = -1
        prev[1:] = last[:-1]
    f = np.flatnonzero(is_f & (prev >= 0))
    p = prev[f]
    keep = (g.group[p] == g.group[f]) & (g.time[f] - g.time[p] < latency)
    return p[keep], f[keep]


def _window_pairs(
    g: _Grouped, is_p: np.ndarray, is_f: np.ndarray, latency: int, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Positions (P, F): F whose ``window``-th most recent earlier ``is_p`` is too close."""
    p_positions = np.flatnonzero(is_p)
    before = np.cumsum(is_p) - is_p  # preceding-set commands strictly before each element
    f = np.flatnonzero(is_f & (before >= window))
    p = p_positions[before[f] - window]
    keep = (g.group[p] == g.group[f]) & (g.time[f] - g.time[p] < latency)
    return p[keep], f[keep]


class _Report:
    """Accumulates violations as arrays (rule code, first, second, required, actual)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._codes: dict[str, int] = {}
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(
        self,
        rule: str,
        first: np.ndarray,
        second: np.ndarray,
        required: int | np.ndarray,
        actual: np.ndarray | int,
    ) -> None:
        if len(second) == 0:
            return
        code = self._codes.setdefault(rule, len(self.names))
        if code == len(self.names):
            self.names.append(rule)
        k = len(second)
        self.parts.append(
            (
                np.full(k, code, dtype=np.int64),
                np.asarray(first, dtype=np.int64),
                np.asarray(second, dtype=np.int64),
                np.broadcast_to(np.asarray(required, dtype=np.int64), (k,)),
                np.broadcast_to(np.asarray(actual, dtype=np.int64), (k,)),
            )
        )

    def violations(self, max_reports: int | None) -> list[Violation]:
        if not self.parts:
            return []
        code, first, second, required, actual = (
            np.concatenate([p[i] for p in self.parts]) for i in range(5)
        )
        # Order by later command, earlier command, rule; for duplicates (overlapping rows with the
        # same name) keep the largest requirement.
        order = np.lexsort((-required, code, first, second))
        code, first, second, required, actual = (
            a[order] for a in (code, first, second, required, actual)
        )
        keep = np.ones(len(code), dtype=bool)
        keep[1:] = (code[1:] != code[:-1]) | (first[1:] != first[:-1]) | (second[1:] != second[:-1])
        rows = np.flatnonzero(keep)
        if max_reports is not None:
            rows = rows[: max(max_reports, 0)]
        return [
            Violation(self.names[c], f, s, r, a)
            for c, f, s, r, a in zip(
                code[rows].tolist(),
                first[rows].tolist(),
                second[rows].tolist(),
                required[rows].tolist(),
                actual[rows].tolist(),
                strict=True,
            )
        ]


# ------------------------------------------------------------------------------------- checker
def check(log: np.ndarray, spec: DeviceSpec, *, max_reports: int | None = None) -> list[Violation]:
    """Check a command log against a standard's timing rows and the bank state machine.

    Parameters
    ----------
    log
        Structured array with the fields of :data:`h2m2.dram.command_log.COMMAND_LOG_DTYPE`, in
        issue order; times in CK cycles of ``spec``.
    spec
        Device preset whose constraint rows and organisation the log must obey.
    max_reports
        Return at most this many violations (the first ones in log order); default: all.

    Returns
    -------
    list of Violation
        Ordered by the later command's log index, then the earlier one's; empty if the log obeys
        every rule (the semantics are in the module docstring).

    Raises
    ------
    ValueError
        If ``log`` lacks one of the command-log fields, or ``spec`` is invalid.

    Example
    -------
    >>> from h2m2.dram import standards
    >>> log = memory_system.command_log()  # or any array of COMMAND_LOG_DTYPE
    >>> assert check(log, standards.get("HBM3")) == []
    """
    names = log.dtype.names or ()
    missing = [f for f in _FIELDS if f not in names]
    if missing:
        raise ValueError(
            f"check: the log lacks field(s) {', '.join(missing)}; expected the fields of "
            f"COMMAND_LOG_DTYPE ({', '.join(_FIELDS)})"
        )
    rows = spec.constraint_rows()  # validates the spec
    org = spec.organization
    log = np.ascontiguousarray(log)
    n = len(log)
    if n == 0:
        return []
    report = _Report()

    time = log["time"].astype(np.int64)
    channel = log["channel"].astype(np.int64)
    rank = log["rank"].astype(np.int64)
    bankgroup = log["bankgroup"].astype(np.int64)
    bank = log["bank"].astype(np.int64)
    command = log["command"].astype(np.int8).view(np.uint8)
    index = np.arange(n, dtype=np.int64)

    _check_entries(log, command, org, report)

    # ---- one sort per (grouping level, member level); rows only filter these layouts
    levels = (channel, rank, bankgroup, bank)
    is_rank_wide = _lut(_RANK_WIDE)[command]
    members_at = {
        Scope.channel: np.ones(n, dtype=bool),
        Scope.rank: np.ones(n, dtype=bool),
        Scope.bankgroup: ~is_rank_wide & (bankgroup >= 0),
        Scope.bank: ~is_rank_wide & (bankgroup >= 0) & (bank >= 0),
    }
    layouts: dict[tuple[Scope, Scope], _Grouped] = {}

    def layout(group_level: Scope, member_level: Scope) -> _Grouped:
        if (group_level, member_level) not in layouts:
            sel = np.flatnonzero(members_at[member_level])
            key = _node_key([lv[sel] for lv in levels[: group_level + 1]], len(sel))
            order = np.argsort(key, kind="stable")
            sel = sel[order]
            child = levels[member_level][sel] if member_level > group_level else sel[:0]
            layouts[group_level, member_level] = _Grouped(
                index=index[sel],
                group=key[order],
                time=time[sel],
                command=command[sel],
                child=child,
            )
        return layouts[group_level, member_level]

    # ---- time order within each channel
    g = layout(Scope.channel, Scope.channel)
    back = np.flatnonzero((g.group[1:] == g.group[:-1]) & (g.time[1:] < g.time[:-1]))
    report.add(TIME_ORDER, g.index[back], g.index[back + 1], 0, g.time[back + 1] - g.time[back])

    # ---- constraint rows, plus the command bus as rows of latency 1 on the channel
    if spec.dual_command_bus:
        bus = [(_ROW_COMMANDS, _ROW_COMMANDS), (_COLUMN_COMMANDS, _COLUMN_COMMANDS)]
    else:
        bus = [(tuple(Command), tuple(Command))]
    all_rows = [*rows] + [
        ConstraintRow(COMMAND_BUS, Scope.channel, p, f, 1, 1, False) for p, f in bus
    ]
    for r in all_rows:
        if r.latency_cycles <= 0:
            continue  # nothing can be closer than 0 cycles once time order holds
        # Sibling rows compare nodes under one parent: group by the parent, split by the child.
        g = layout(Scope(r.scope - 1) if r.sibling else r.scope, r.scope)
        is_p = _lut(r.preceding)[g.command]
        is_f = _lut(r.following)[g.command]
        if not (is_p.any() and is_f.any()):
            continue
        cases = [(is_p, is_f)]
        if r.sibling:
            cases = [(is_p & (g.child != v), is_f & (g.child == v)) for v in np.unique(g.child)]
        for p_mask, f_mask in cases:
            if r.window > 1:
                p, f = _window_pairs(g, p_mask, f_mask, r.latency_cycles, r.window)
            else:
                p, f = _latest_pairs(g, p_mask, f_mask, r.latency_cycles)
            report.add(r.name, g.index[p], g.index[f], r.latency_cycles, g.time[f] - g.time[p])

    _check_bank_states(log, command, org.bank_groups, org.banks_per_group, report)
    return report.violations(max_reports)


def _check_entries(
    log: np.ndarray, command: np.ndarray, org: Organization, report: _Report
) -> None:
    """Flag entries whose command code or address cannot belong to this organisation."""
    bankgroup = log["bankgroup"]
    bank = log["bank"]
    row = log["row"]
    column = log["column"]
    known = command < len(Command)
    rank_wide = _lut(_RANK_WIDE)[command]
    bank_cmd = known & ~rank_wide
    has_row = _lut((Command.ACT, *_COLUMN_COMMANDS))[command]
    is_column = _lut(_COLUMN_COMMANDS)[command]
    bad = (
        ~known
        | (log["channel"] < 0)
        | (log["rank"] < 0)
        | (log["rank"] >= org.ranks)
        | (rank_wide & ((bankgroup != -1) | (bank != -1)))
        | (bank_cmd & ((bankgroup < 0) | (bankgroup >= org.bank_groups)))
        | (bank_cmd & ((bank < 0) | (bank >= org.banks_per_group)))
        | (has_row & ((row < 0) | (row >= org.rows)))
        | (is_column & ((column < 0) | (column >= org.bursts_per_row)))
    )
    where = np.flatnonzero(bad)
    report.add(MALFORMED_ENTRY, np.full(len(where), -1), where, 0, 0)


def _check_bank_states(
    log: np.ndarray,
    command: np.ndarray,
    bank_groups: int,
    banks_per_group: int,
    report: _Report,
) -> None:
    """The per-bank open/closed state machine (see the module docstring)."""
    n = len(log)
    index = np.arange(n, dtype=np.int64)
    is_bank = _lut(_BANK_COMMANDS)[command]
    is_wide = _lut(_RANK_WIDE)[command]
    # Rank-wide commands act on every bank of their rank: expand each into one entry per bank.
    banks = bank_groups * banks_per_group
    wide = np.flatnonzero(is_wide)
    bank_sel = np.flatnonzero(is_bank)
    sel = np.concatenate([bank_sel, np.repeat(wide, banks)])
    k = len(wide)
    bg = np.concatenate(
        [
            log["bankgroup"][bank_sel].astype(np.int64),
            np.tile(np.arange(banks) // banks_per_group, k),
        ]
    )
    bk = np.concatenate(
        [log["bank"][bank_sel].astype(np.int64), np.tile(np.arange(banks) % banks_per_group, k)]
    )
    key = _node_key(
        [log["channel"][sel], log["rank"][sel], bg, bk],
        len(sel),
    )
    order = np.lexsort((index[sel], key))
    sel, key = sel[order], key[order]
    idx = index[sel]
    cmd = command[sel]
    row = log["row"][sel].astype(np.int64)
    time = log["time"][sel].astype(np.int64)
    m = len(sel)
    if m == 0:
        return

    # Latest state-changing entry strictly before each entry, in the same bank.
    is_event = _lut((Command.ACT, *_CLOSING))[cmd]
    last = np.maximum.accumulate(np.where(is_event, np.arange(m), -1))
    prev = np.empty(m, dtype=np.int64)
    prev[0] = -1
    prev[1:] = last[:-1]
    has_prev = prev >= 0
    prev_safe = np.where(has_prev, prev, 0)
    has_prev &= key[prev_safe] == key
    is_open = has_prev & (cmd[prev_safe] == Command.ACT)
    before = np.where(has_prev, idx[prev_safe], -1)
    gap = np.where(has_prev, time - time[prev_safe], 0)

    def add(rule: str, mask: np.ndarray) -> None:
        where = np.flatnonzero(mask)
        report.add(rule, before[where], idx[where], 0, gap[where])

    is_column = _lut(_COLUMN_COMMANDS)[cmd]
    add(ACT_TO_OPEN_BANK, (cmd == Command.ACT) & is_open)
    add(COLUMN_TO_CLOSED_BANK, is_column & ~is_open)
    add(COLUMN_TO_WRONG_ROW, is_column & is_open & (row != row[prev_safe]))
    add(PRE_TO_CLOSED_BANK, (cmd == Command.PRE) & ~is_open)
    add(REFPB_TO_OPEN_BANK, (cmd == Command.REFpb) & is_open)
    # One report per REFab: the open bank with the lowest (bankgroup, bank).
    refab = np.flatnonzero((cmd == Command.REFab) & is_open)
    _, first_of_each = np.unique(idx[refab], return_index=True)
    refab = refab[first_of_each]
    report.add(REFAB_WITH_OPEN_BANK, before[refab], idx[refab], 0, gap[refab])
