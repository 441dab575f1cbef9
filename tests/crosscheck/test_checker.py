"""Tests of the independent timing checker, :mod:`h2m2.dram.checker`, on synthetic logs.

Every case is generated from the presets' own data: for each constraint row of each preset a
violation is planted one cycle inside the row's latency (it must be reported, naming both
commands) and the same log at exactly the latency must not report the row (the gate is tight).
The logs are built here with a small test-side scheduler that knows nothing of the checker's
implementation: it places each command at the earliest time every row allows, and inserts the
ACT / PRE commands the bank state machine needs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pytest

from h2m2.dram.checker import (
    ACT_TO_OPEN_BANK,
    COLUMN_TO_CLOSED_BANK,
    COLUMN_TO_WRONG_ROW,
    COMMAND_BUS,
    MALFORMED_ENTRY,
    PRE_TO_CLOSED_BANK,
    REFAB_WITH_OPEN_BANK,
    REFPB_TO_OPEN_BANK,
    STATE_RULES,
    TIME_ORDER,
    Violation,
    check,
)
from h2m2.dram.command_log import COMMAND_LOG_DTYPE, empty_log
from h2m2.dram.standard import Command, Constraint, ConstraintRow, DeviceSpec, Organization
from h2m2.dram.standards import _PRESETS

ACT, PRE, PREA, RD, WR, RDA, WRA, REFab, REFpb = tuple(Command)
RANK_WIDE = (PREA, REFab)
COLUMN = (RD, WR, RDA, WRA)

PRESETS: dict[str, DeviceSpec] = dict(_PRESETS)
ROWS: dict[str, list[ConstraintRow]] = {name: s.constraint_rows() for name, s in PRESETS.items()}

Node = tuple[int, int, int, int]  # (channel, rank, bankgroup, bank); rank-wide: bg = bank = -1


class Item(NamedTuple):
    """One command of a synthetic log, before it has a time."""

    command: Command
    node: Node
    row: int = -1


# --------------------------------------------------------------------------- test-side model
def _node(command: Command, node: Node) -> Node:
    """Rank-wide commands carry bankgroup = bank = -1."""
    return (node[0], node[1], -1, -1) if command in RANK_WIDE else node


def _related(row: ConstraintRow, a: Node, b: Node) -> bool:
    """Whether ``row`` applies between a command on node ``a`` and one on node ``b``."""
    s = int(row.scope)
    if min(a[: s + 1]) < 0 or min(b[: s + 1]) < 0:
        return False  # rank-wide commands are not members of bank-group or bank nodes
    if row.sibling:
        return a[:s] == b[:s] and a[s] != b[s]
    return a[: s + 1] == b[: s + 1]


def _pair_latency(rows: Sequence[ConstraintRow], a: Item, b: Item) -> int:
    """Largest non-window latency from ``a`` to a later ``b`` (0 if no row applies)."""
    return max(
        (
            r.latency_cycles
            for r in rows
            if r.window == 1
            and a.command in r.preceding
            and b.command in r.following
            and _related(r, a.node, b.node)
        ),
        default=0,
    )


def _fixes(open_rows: dict[Node, int], item: Item) -> list[Item]:
    """ACT / PRE commands that must come before ``item`` for the bank state machine."""
    cmd, node, row = item
    if cmd in (ACT, REFpb):
        return [Item(PRE, node)] if node in open_rows else []
    if cmd in COLUMN:
        if node not in open_rows:
            return [Item(ACT, node, row)]
        return [] if open_rows[node] == row else [Item(PRE, node), Item(ACT, node, row)]
    if cmd == PRE:
        return [] if node in open_rows else [Item(ACT, node, 1)]
    if cmd == REFab:
        return [Item(PRE, b) for b in sorted(open_rows) if b[:2] == node[:2]]
    return []  # PREA may close closed banks


def _apply(open_rows: dict[Node, int], item: Item) -> None:
    cmd, node, row = item
    if cmd == ACT:
        open_rows[node] = row
    elif cmd in (PRE, RDA, WRA):
        open_rows.pop(node, None)
    elif cmd == PREA:
        for b in [b for b in open_rows if b[:2] == node[:2]]:
            del open_rows[b]


def _legalise(items: Sequence[Item]) -> list[Item]:
    """Insert the ACT / PRE commands the bank state machine needs before each item."""
    open_rows: dict[Node, int] = {}
    out: list[Item] = []
    for item in items:
        for fix in _fixes(open_rows, item):
            out.append(fix)
            _apply(open_rows, fix)
        out.append(item)
        _apply(open_rows, item)
    return out


def _schedule(
    spec: DeviceSpec, items: Sequence[Item], start: int = 0
) -> tuple[list[int], list[bool]]:
    """Earliest time of each item that obeys every row and the command bus, in list order.

    Returns the times and, per item, whether its time is set by a constraint row (so that one
    cycle earlier breaks that row).
    """
    rows = ROWS[spec.name]
    times: list[int] = []
    bound: list[bool] = []
    for i, item in enumerate(items):
        floor = times[-1] if times else start
        need = floor
        for r in rows:
            if item.command not in r.following:
                continue
            earlier = [
                j
                for j in range(i)
                if items[j].command in r.preceding and _related(r, items[j].node, item.node)
            ]
            if r.window == 1 and earlier:
                need = max(need, max(times[j] for j in earlier) + r.latency_cycles)
            elif r.window > 1 and len(earlier) >= r.window:
                need = max(need, times[earlier[-r.window]] + r.latency_cycles)
        t = need
        while any(
            times[j] == t
            and items[j].node[0] == item.node[0]
            and (
                not spec.dual_command_bus
                or (items[j].command in COLUMN) == (item.command in COLUMN)
            )
            for j in range(i)
        ):
            t += 1
        times.append(t)
        bound.append(t == need > floor)
    return times, bound


def _log(items: Sequence[Item], times: Sequence[int]) -> np.ndarray:
    log = empty_log(len(items))
    for i, (item, t) in enumerate(zip(items, times, strict=True)):
        node = _node(item.command, item.node)
        column = 0 if item.command in COLUMN else -1
        row = item.row if item.command in (ACT, *COLUMN) else -1
        log[i] = (t, *node, row, column, int(item.command))
    return log


def _planted(spec: DeviceSpec, events: Sequence[tuple[int, Item]]) -> tuple[np.ndarray, list[int]]:
    """A log containing ``events`` (cycle offset, command) at exactly those relative times.

    Bank-state prerequisites of a bank no earlier event uses go into a prefix spaced further apart
    than any latency; the others are placed between the events, as early as the rows allow.
    Returns the log and the log index of each event.
    """
    rows = ROWS[spec.name]
    gap = 1 + max(r.latency_cycles for r in rows)
    open_rows: dict[Node, int] = {}
    used: set[tuple[int, ...]] = set()
    prefix: list[Item] = []
    body: list[tuple[int, Item]] = []
    positions: list[int] = []
    for offset, item in events:
        for fix in _fixes(open_rows, item):
            if fix.node not in used and fix.node[:2] not in used:
                prefix.append(fix)
            else:
                prev_offset, prev = body[-1]
                body.append((min(prev_offset + _pair_latency(rows, prev, fix), offset), fix))
            _apply(open_rows, fix)
        positions.append(len(body))
        body.append((offset, item))
        _apply(open_rows, item)
        used.add(item.node[:2] if item.command in RANK_WIDE else item.node)
    start = gap * (len(prefix) + 1)
    items = [*prefix, *(it for _, it in body)]
    times = [gap * i for i in range(len(prefix))] + [start + off for off, _ in body]
    return _log(items, times), [len(prefix) + p for p in positions]


# --------------------------------------------------------------------------- node choice
def _level_sizes(org: Organization) -> tuple[int, int, int, int]:
    return (2, org.ranks, org.bank_groups, org.banks_per_group)


def _pair_nodes(org: Organization, row: ConstraintRow) -> tuple[Node, Node] | None:
    """Two nodes the row relates; below the row's scope they differ as high up as possible so
    that narrower rows (e.g. tCCD_L under a rank-scoped tCCD_S) do not apply. None if the
    organisation has no sibling for a sibling row."""
    sizes = _level_sizes(org)
    s = int(row.scope)
    b = [0, 0, 0, 0]
    if row.sibling:
        if sizes[s] < 2:
            return None
        b[s] = 1
    else:
        for level in range(s + 1, 4):
            if sizes[level] > 1:
                b[level] = 1
                break
    return (0, 0, 0, 0), (b[0], b[1], b[2], b[3])


def _window_nodes(org: Organization, row: ConstraintRow, count: int) -> list[Node]:
    """``count`` nodes on one node of the row's scope, on distinct lower-level nodes (the highest
    lower level varying fastest, e.g. ACTs spread over bank groups first)."""
    sizes = _level_sizes(org)
    s = int(row.scope)
    nodes: list[Node] = []
    for i in range(count):
        node = [0, 0, 0, 0]
        rest = i
        for level in range(s + 1, 4):
            node[level] = rest % sizes[level]
            rest //= sizes[level]
        nodes.append((node[0], node[1], node[2], node[3]))
    return nodes


# --------------------------------------------------------------------------- cases
class RowCase(NamedTuple):
    preset: str
    row: ConstraintRow
    prev: Command
    next: Command


def _row_cases() -> list[object]:
    cases: list[object] = []
    for name, rows in ROWS.items():
        org = PRESETS[name].organization
        for row in rows:
            for p in row.preceding:
                for f in row.following:
                    case = RowCase(name, row, p, f)
                    case_id = f"{name}-{row.name}-{p.name}->{f.name}"
                    marks: list[pytest.MarkDecorator] = []
                    # A row of latency 0 cannot be violated: there is nothing to plant.
                    if row.latency_cycles <= 0:
                        marks.append(pytest.mark.skip(reason="latency 0: nothing to violate"))
                    elif row.sibling and _pair_nodes(org, row) is None:
                        marks.append(
                            pytest.mark.skip(reason=f"{name} has one {row.scope.name} per parent")
                        )
                    cases.append(pytest.param(case, id=case_id, marks=marks))
    return cases


def _required(case: RowCase, a: Node, b: Node) -> int:
    """The latency the checker must enforce between the pair under the row's name: the row's
    own, or larger if another row of the same name applies to the same pair."""
    return max(
        r.latency_cycles
        for r in ROWS[case.preset]
        if r.name == case.row.name
        and r.window == 1
        and case.prev in r.preceding
        and case.next in r.following
        and _related(r, a, b)
    )


def _planted_row(case: RowCase, distance: int) -> tuple[np.ndarray, int, int]:
    """A log with the row's preceding command and its following command ``distance`` apart."""
    spec = PRESETS[case.preset]
    row = case.row
    if row.window > 1:
        # W preceding commands, spread evenly, then the following one: W + 1 in the span.
        nodes = _window_nodes(spec.organization, row, row.window + 1)
        events = [
            (i * distance // row.window, Item(case.prev, _node(case.prev, nodes[i]), 1))
            for i in range(row.window)
        ] + [(distance, Item(case.next, _node(case.next, nodes[-1]), 1))]
    else:
        pair = _pair_nodes(spec.organization, row)
        assert pair is not None
        a, b = pair
        events = [
            (0, Item(case.prev, _node(case.prev, a), 1)),
            (distance, Item(case.next, _node(case.next, b), 1)),
        ]
    log, positions = _planted(spec, events)
    return log, positions[0], positions[-1]


def _latency(case: RowCase) -> int:
    if case.row.window > 1:
        return case.row.latency_cycles
    pair = _pair_nodes(PRESETS[case.preset].organization, case.row)
    assert pair is not None
    return _required(case, _node(case.prev, pair[0]), _node(case.next, pair[1]))


@pytest.fixture(params=sorted(PRESETS))
def spec(request: pytest.FixtureRequest) -> DeviceSpec:
    """Every preset of the registry."""
    return PRESETS[request.param]


def _bank(org: Organization, rank: int = 0, bankgroup: int = 0, bank: int = 0) -> Node:
    return (0, rank % org.ranks, bankgroup % org.bank_groups, bank % org.banks_per_group)


def _legal_items(org: Organization) -> list[Item]:
    """A mixed command sequence touching banks, bank groups and ranks (state-legal once
    :func:`_legalise` has added the ACT / PRE commands it needs)."""
    a = _bank(org)
    b = _bank(org, bankgroup=1)
    c = _bank(org, bank=1)
    d = _bank(org, rank=1)
    r0 = (0, 0, -1, -1)
    r1 = (0, 1 % org.ranks, -1, -1)
    spread = [_bank(org, bankgroup=i, bank=i // org.bank_groups) for i in range(6)]
    return [
        Item(ACT, a, 1),
        Item(RD, a, 1),
        Item(RD, a, 1),
        Item(ACT, b, 3),
        Item(RD, b, 3),
        Item(WR, a, 1),
        Item(WR, b, 3),
        Item(RD, a, 1),
        Item(ACT, c, 5),
        Item(WR, c, 5),
        Item(RD, c, 5),
        Item(RD, a, 2),  # row miss: PRE + ACT inserted
        Item(RDA, a, 2),
        Item(ACT, d, 7),
        Item(RD, d, 7),
        Item(RD, b, 3),
        Item(WRA, b, 3),
        Item(REFpb, a),
        Item(REFpb, b),
        Item(PREA, r0),
        Item(REFab, r0),
        *(Item(ACT, n, 9) for n in spread),  # an activation burst: tRRD and tFAW
        *(Item(RD, n, 9) for n in spread),
        Item(WRA, spread[0], 9),
        Item(PRE, spread[1]),
        Item(REFab, r1),
        Item(ACT, _bank(org, rank=1, bankgroup=2), 4),
        Item(WR, _bank(org, rank=1, bankgroup=2), 4),
        Item(RD, a, 6),
        Item(PREA, r0),
        Item(PREA, r1),
        Item(REFab, r0),
        Item(ACT, a, 8),
        Item(RD, a, 8),
    ]


# --------------------------------------------------------------------------- 1. legal logs
def test_legal_sequence_has_no_violations(spec: DeviceSpec) -> None:
    items = _legalise(_legal_items(spec.organization))
    times, _ = _schedule(spec, items, start=10)
    assert check(_log(items, times), spec) == []


def test_legal_sequence_is_tight(spec: DeviceSpec) -> None:
    """Each command placed by a row, moved one cycle earlier, is reported."""
    items = _legalise(_legal_items(spec.organization))
    times, bound = _schedule(spec, items, start=10)
    moved = 0
    for i in range(1, len(items)):
        if not bound[i] or times[i] - 1 < times[i - 1]:
            continue
        early = list(times)
        early[i] -= 1
        found = check(_log(items, early), spec)
        assert any(v.second == i and v.required_cycles > 0 for v in found), (i, items[i])
        moved += 1
    assert moved > 10


def test_empty_log(spec: DeviceSpec) -> None:
    assert check(empty_log(), spec) == []


# --------------------------------------------------------------------------- 2. every row
@pytest.mark.parametrize("case", _row_cases())
def test_row_violation_is_reported(case: RowCase) -> None:
    spec = PRESETS[case.preset]
    latency = _latency(case)
    log, first, second = _planted_row(case, latency - 1)
    found = check(log, spec)
    named = [v for v in found if v.rule == case.row.name]
    assert any(v.first == first and v.second == second for v in named), [
        v.describe(log) for v in found
    ]
    hit = next(v for v in named if v.first == first and v.second == second)
    assert hit.required_cycles == latency
    assert hit.actual_cycles == latency - 1


@pytest.mark.parametrize("case", _row_cases())
def test_row_gate_is_tight(case: RowCase) -> None:
    spec = PRESETS[case.preset]
    log, _, _ = _planted_row(case, _latency(case))
    found = check(log, spec)
    assert not [v for v in found if v.rule == case.row.name], [v.describe(log) for v in found]


def test_every_row_name_is_covered() -> None:
    """Each preset has at least one planted case per distinct row name (none silently lost)."""
    for name, rows in ROWS.items():
        covered = {c.values[0].row.name for c in _row_cases() if c.values[0].preset == name}
        assert covered == {r.name for r in rows}


@pytest.mark.parametrize("scope", ["bankgroup", "bank"])
def test_sibling_rows_below_rank(scope: str) -> None:
    """No shipped standard has bank-group or bank sibling rows; a user-defined one works."""
    base = PRESETS["HBM3_6400_16Gb_8hi"]
    sibling = Constraint("tSIB", scope, ("RD",), ("RD",), "nRTW", sibling=True)
    spec = dataclasses.replace(base, name="SIB", constraints=(sibling,))
    latency = next(r.latency_cycles for r in spec.constraint_rows())
    first = (0, 0, 0, 0)
    # (node of the second RD, whether tSIB applies): a sibling differs at `scope` under one parent.
    seconds = {
        "bankgroup": [((0, 0, 1, 0), True), ((0, 0, 1, 1), True), ((0, 0, 0, 1), False)],
        "bank": [((0, 0, 0, 1), True), ((0, 0, 1, 0), False), ((0, 0, 1, 1), False)],
    }[scope] + [((0, 1, 0, 0), False), ((1, 0, 0, 1), False)]
    for node, applies in seconds:
        log = np.array(
            [
                (10, *first, 1, -1, int(ACT)),
                (20, *node, 1, -1, int(ACT)),
                (1000, *first, 1, 0, int(RD)),
                (1000 + latency - 1, *node, 1, 0, int(RD)),
            ],
            dtype=COMMAND_LOG_DTYPE,
        )
        found = [(v.rule, v.first, v.second) for v in check(log, spec)]
        assert (("tSIB", 2, 3) in found) == applies, (node, found)
        log["time"][3] += 1
        assert "tSIB" not in {v.rule for v in check(log, spec)}


# --------------------------------------------------------------------------- 3. bank state
STATE_CASES: dict[str, tuple[list[tuple[Command, str, int]], tuple[str, int, int]]] = {
    # name: (commands as (command, bank or "rank", row), expected (rule, first, second))
    "ACT to open bank": ([(ACT, "a", 1), (ACT, "a", 2)], (ACT_TO_OPEN_BANK, 0, 1)),
    "RD to closed bank": ([(RD, "a", 1)], (COLUMN_TO_CLOSED_BANK, -1, 0)),
    "WR to closed bank": ([(WR, "a", 1)], (COLUMN_TO_CLOSED_BANK, -1, 0)),
    "RD to wrong row": ([(ACT, "a", 1), (RD, "a", 2)], (COLUMN_TO_WRONG_ROW, 0, 1)),
    "WRA to wrong row": ([(ACT, "a", 1), (WRA, "a", 2)], (COLUMN_TO_WRONG_ROW, 0, 1)),
    "RD after RDA": ([(ACT, "a", 1), (RDA, "a", 1), (RD, "a", 1)], (COLUMN_TO_CLOSED_BANK, 1, 2)),
    "RD after PREA": (
        [(ACT, "a", 1), (PREA, "rank", -1), (RD, "a", 1)],
        (COLUMN_TO_CLOSED_BANK, 1, 2),
    ),
    "REFab with open banks": (
        [(ACT, "a", 1), (ACT, "b", 1), (REFab, "rank", -1)],
        (REFAB_WITH_OPEN_BANK, 0, 2),
    ),
    "PRE to closed bank": ([(PRE, "a", -1)], (PRE_TO_CLOSED_BANK, -1, 0)),
    "PRE after PRE": ([(ACT, "a", 1), (PRE, "a", -1), (PRE, "a", -1)], (PRE_TO_CLOSED_BANK, 1, 2)),
    "REFpb to open bank": ([(ACT, "a", 1), (REFpb, "a", -1)], (REFPB_TO_OPEN_BANK, 0, 1)),
}


@pytest.mark.parametrize("case", sorted(STATE_CASES))
def test_state_violation_is_reported(spec: DeviceSpec, case: str) -> None:
    commands, expected = STATE_CASES[case]
    org = spec.organization
    nodes = {"a": _bank(org), "b": _bank(org, bankgroup=1, bank=1), "rank": (0, 0, -1, -1)}
    items = [Item(cmd, nodes[where], row) for cmd, where, row in commands]
    times, _ = _schedule(spec, items, start=10)  # every row obeyed: only the state rule fires
    log = _log(items, times)
    found = [(v.rule, v.first, v.second) for v in check(log, spec)]
    assert found == [expected]


def test_legal_state_transitions(spec: DeviceSpec) -> None:
    """PREA closes open and closed banks alike; REFab after it and ACT after RDA are legal."""
    org = spec.organization
    a, b = _bank(org), _bank(org, bankgroup=1)
    rank = (0, 0, -1, -1)
    items = [
        Item(ACT, a, 1),
        Item(PREA, rank),
        Item(REFab, rank),
        Item(ACT, a, 2),
        Item(RDA, a, 2),
        Item(ACT, a, 3),
        Item(WRA, a, 3),
        Item(REFpb, a),
        Item(ACT, b, 4),
        Item(PRE, b),
        Item(REFab, rank),
    ]
    times, _ = _schedule(spec, items, start=10)
    assert check(_log(items, times), spec) == []


def test_command_bus(spec: DeviceSpec) -> None:
    """Two row commands in one cycle never share a channel; a row and a column command may
    only on a dual command bus (HBM)."""
    org = spec.organization
    a, b = _bank(org), _bank(org, bankgroup=1)
    rows = [(0, *a, 1, -1, int(ACT)), (1000, *a, 1, 0, int(RD)), (1000, *b, 1, -1, int(ACT))]
    log = np.array(rows, dtype=COMMAND_LOG_DTYPE)
    found = [(v.rule, v.first, v.second) for v in check(log, spec)]
    assert ((COMMAND_BUS, 1, 2) in found) == (not spec.dual_command_bus)
    c = _bank(org, bankgroup=2, bank=1)
    two_acts = np.array(
        [(0, *a, 1, -1, int(ACT)), (1000, *b, 1, -1, int(ACT)), (1000, *c, 1, -1, int(ACT))],
        dtype=COMMAND_LOG_DTYPE,
    )
    assert (COMMAND_BUS, 1, 2) in [(v.rule, v.first, v.second) for v in check(two_acts, spec)]
    other_channel = two_acts.copy()
    other_channel["channel"][2] = 1
    assert COMMAND_BUS not in {v.rule for v in check(other_channel, spec)}


def test_time_order_and_malformed_entries(spec: DeviceSpec) -> None:
    org = spec.organization
    log = empty_log(6)
    log[0] = (100, 0, 0, 0, 0, 1, -1, int(ACT))
    log[1] = (50, 0, 0, 1, 0, 1, -1, int(ACT))  # time goes back on channel 0
    log[2] = (5000, 0, org.ranks, 0, 0, 1, -1, int(ACT))  # rank out of range
    log[3] = (6000, 0, 0, 0, 0, -1, -1, int(PREA))  # rank-wide with a bank group
    log[4] = (7000, 0, 0, -1, -1, -1, -1, 42)  # unknown command code
    log[5] = (8000, 0, 0, 2, 0, org.rows, -1, int(ACT))  # row out of range
    found = check(log, spec)
    assert (TIME_ORDER, 0, 1) in [(v.rule, v.first, v.second) for v in found]
    malformed = [v.second for v in found if v.rule == MALFORMED_ENTRY]
    assert malformed == [2, 3, 4, 5]
    assert "command code 42" in next(v for v in found if v.second == 4).describe(log)


def test_state_rule_names_are_listed() -> None:
    assert len(set(STATE_RULES)) == len(STATE_RULES)
    assert COMMAND_BUS not in STATE_RULES  # it is a timing rule with latency 1


# --------------------------------------------------------------------------- 4. reports
def test_describe_names_both_commands() -> None:
    spec = PRESETS["HBM3_6400_16Gb_8hi"]
    ccd_l = next(r for r in ROWS[spec.name] if r.name == "tCCD_L")
    log, first, second = _planted_row(RowCase(spec.name, ccd_l, RD, RD), ccd_l.latency_cycles - 1)
    v = next(v for v in check(log, spec) if v.rule == "tCCD_L")
    text = v.describe(log)
    t1, t2 = int(log["time"][first]), int(log["time"][second])
    assert text.startswith("tCCD_L: RD ")
    assert f"RD #{first} at t={t1}" in text
    assert f"RD #{second} at t={t2}" in text
    assert f"{t2 - t1} cycles apart, needs >= {ccd_l.latency_cycles}" in text


def test_describe_state_rule() -> None:
    spec = PRESETS["HBM3_6400_16Gb_8hi"]
    log = np.array(
        [(10, 0, 0, 0, 0, 1, -1, int(ACT)), (200, 0, 0, 0, 0, 2, 0, int(RD))],
        dtype=COMMAND_LOG_DTYPE,
    )
    (v,) = check(log, spec)
    assert v == Violation(COLUMN_TO_WRONG_ROW, 0, 1, 0, 190)
    text = v.describe(log)
    assert "ACT #0 at t=10" in text and "RD #1 at t=200" in text and "row 2" in text
    closed = check(log[1:], spec)[0]
    assert closed.describe(log[1:]).endswith("(no earlier command)")


def test_max_reports_keeps_the_earliest(spec: DeviceSpec) -> None:
    log = np.array(
        [(10 * i, 0, 0, 0, 0, 1, 0, int(RD)) for i in range(1, 8)], dtype=COMMAND_LOG_DTYPE
    )
    every = check(log, spec)
    assert len(every) >= 7
    assert check(log, spec, max_reports=3) == every[:3]
    assert [v.second for v in every] == sorted(v.second for v in every)


def test_log_without_fields_is_rejected() -> None:
    spec = PRESETS["HBM3_6400_16Gb_8hi"]
    with pytest.raises(ValueError, match="lacks field"):
        check(np.zeros(3, dtype=[("time", np.int64)]), spec)
