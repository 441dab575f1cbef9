"""The ``h2m2`` command line.

Each subcommand is a pair of functions beside the others: ``_add_<name>(subparsers)`` declares its
arguments and ``_run_<name>(args) -> int`` runs it. To add a subcommand (``reproduce``, ``sweep``,
``simulate``), write the pair and list the adder in :data:`_SUBCOMMANDS`.

Errors in the user's input (unknown standard, missing file, malformed trace, bad option) print one
line ``h2m2: error: ...`` to stderr and exit with status 2, without a traceback.

Example
-------
>>> from h2m2.cli import main
>>> main(["dram", "--standard", "HBM3", "--pattern", "stream", "--requests", "1000", "--json"])
0
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn

import numpy as np
import numpy.typing as npt

from h2m2 import __version__

if TYPE_CHECKING:
    from h2m2.dram import DramStats

__all__ = ["build_parser", "main", "synthetic_trace"]

Rows = list[tuple[str, str]]


class _UsageError(Exception):
    """A command-line usage error (reported as one line, exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(f"{message} (see '{self.prog} --help')")


# ------------------------------------------------------------------------------ argument types
def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be positive")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} must not be negative")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} must be between 0 and 1")
    return value


# ------------------------------------------------------------------------------ output helpers
def _rich_available() -> bool:
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def _print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print a table with rich when installed, else as plain aligned text.

    The first column is left-aligned, the others right-aligned unless a cell is not numeric.
    """
    if _rich_available():
        from rich import box
        from rich.console import Console
        from rich.table import Table

        table = Table(
            title=title,
            title_justify="left",
            show_header=bool(header),
            box=box.SIMPLE_HEAD,
            pad_edge=False,
        )
        for i, name in enumerate(header or [""] * len(rows[0])):
            if i == 0:  # names are never truncated
                width = max(len(name), *(len(r[0]) for r in rows))
                table.add_column(name, justify="left", no_wrap=True, min_width=width)
            else:
                table.add_column(name, justify=_justify(rows, i))
        for row in rows:
            table.add_row(*row)
        console = Console(highlight=False)
        if not console.is_terminal:  # a file or a pipe: never wrap or truncate cells
            natural = console.measure(table, options=console.options.update_width(10_000))
            console = Console(highlight=False, width=max(console.width, natural.maximum))
        console.print(table)
        return
    ncols = len(header or rows[0])
    widths = [
        max(len(str(r[i])) for r in [*([header] if header else []), *rows]) for i in range(ncols)
    ]
    just = ["left"] + [_justify(rows, i) for i in range(1, ncols)]

    def fmt(row: Sequence[str]) -> str:
        cells = [
            c.ljust(w) if j == "left" else c.rjust(w)
            for c, w, j in zip(row, widths, just, strict=True)
        ]
        return "  ".join(cells).rstrip()

    print(title)
    if header:
        print(fmt(header))
        print("  ".join("-" * w for w in widths))
    for row in rows:
        print(fmt(row))


def _justify(rows: Sequence[Sequence[str]], col: int) -> Literal["left", "right"]:
    def numeric(cell: str) -> bool:
        return cell.replace(",", "").replace(".", "").replace("-", "").strip().isdigit()

    return "right" if all(numeric(r[col]) or not r[col] for r in rows) else "left"


def _si(value: float, unit: str) -> str:
    """``1.23 MB``-style formatting with decimal prefixes."""
    if value == 0:
        return f"0 {unit}"
    for factor, prefix in (
        (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"),
        (1e-9, "n"),
    ):  # fmt: skip
        if abs(value) >= factor:
            return f"{value / factor:.2f} {prefix}{unit}"
    return f"{value / 1e-12:.2f} p{unit}"


def _pct(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"


# ------------------------------------------------------------------------------ h2m2 dram
def _add_dram(sub: Any) -> None:
    p = sub.add_parser(
        "dram",
        help="simulate a DRAM memory system on a trace or a synthetic pattern",
        description=(
            "Simulate a DRAM memory system cycle by cycle on a trace file or a synthetic access "
            "pattern and print its statistics."
        ),
    )
    p.add_argument(
        "--standard",
        default="HBM3",
        metavar="NAME",
        help="standard or preset name (default HBM3; 'h2m2 standards' lists them)",
    )
    p.add_argument(
        "--channels",
        type=_positive_int,
        default=None,
        metavar="N",
        help="JEDEC channels in the system (default: one device's, e.g. 16 for an HBM3 stack); "
        "each has the standard's pseudo-channels",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--trace",
        type=Path,
        metavar="FILE",
        help="trace file, one 'R|W <hex address> [<arrival cycle>]' per line",
    )
    src.add_argument(
        "--pattern",
        choices=("stream", "random"),
        help="synthetic trace: consecutive transactions, or uniform over capacity",
    )
    p.add_argument(
        "--requests",
        type=_positive_int,
        default=None,
        metavar="N",
        help="requests of the synthetic pattern (default 1000000)",
    )
    p.add_argument(
        "--write-fraction",
        type=_fraction,
        default=None,
        metavar="F",
        help="fraction of writes in the synthetic pattern, 0..1 (default 0)",
    )
    p.add_argument(
        "--seed",
        type=_non_negative_int,
        default=None,
        metavar="S",
        help="random seed of the synthetic pattern (default 0)",
    )
    p.add_argument(
        "--mapping",
        default=None,
        metavar="ORDER",
        help="address fields, most significant first "
        "(default row-rank-bank-column-bankgroup-channel)",
    )
    p.add_argument(
        "--xor-bank", action="store_true", help="XOR bank and bank-group bits with the low row bits"
    )
    p.add_argument(
        "--page-policy",
        choices=("open", "closed"),
        default="open",
        help="row-buffer policy (default open)",
    )
    p.add_argument(
        "--refresh",
        choices=("all_bank", "per_bank", "none"),
        default="all_bank",
        help="refresh mode (default all_bank)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument(
        "--command-log",
        type=Path,
        default=None,
        metavar="FILE.npy",
        help="save every issued command as a numpy structured array",
    )
    p.set_defaults(run=_run_dram)


def synthetic_trace(
    pattern: str,
    requests: int,
    capacity_bytes: int,
    transaction_bytes: int,
    *,
    write_fraction: float = 0.0,
    seed: int = 0,
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.bool_]]:
    """Addresses and write flags of a synthetic access pattern.

    The same arguments always give the same trace.

    Parameters
    ----------
    pattern
        ``"stream"``: consecutive transactions from address 0, wrapping at capacity;
        ``"random"``: transaction-aligned addresses drawn uniformly over the capacity.
    requests
        Number of requests.
    capacity_bytes
        Capacity of the memory system in bytes.
    transaction_bytes
        Bytes per request (addresses are multiples of it).
    write_fraction
        Probability that a request is a write, drawn independently per request (default 0).
    seed
        Seed of the random generator (default 0).

    Returns
    -------
    addresses : numpy.ndarray of uint64
    is_write : numpy.ndarray of bool

    Raises
    ------
    ValueError
        For an unknown pattern.

    Example
    -------
    >>> synthetic_trace("stream", 3, 1 << 20, 32)[0]
    array([ 0, 32, 64], dtype=uint64)
    """
    rng = np.random.default_rng(seed)
    slots = capacity_bytes // transaction_bytes
    if pattern == "stream":
        index = np.arange(requests, dtype=np.uint64) % np.uint64(slots)
    elif pattern == "random":
        index = rng.integers(0, slots, size=requests, dtype=np.uint64)
    else:
        raise ValueError(f"unknown pattern {pattern!r}; known: stream, random")
    is_write = (
        rng.random(requests) < write_fraction
        if write_fraction > 0
        else np.zeros(requests, dtype=np.bool_)
    )
    return index * np.uint64(transaction_bytes), is_write


def _run_dram(args: argparse.Namespace) -> int:
    from h2m2.dram import AddressMapping, ControllerSpec, MemorySpec, MemorySystem
    from h2m2.dram.trace import read_trace

    if args.trace is not None:
        given = [
            f
            for f, v in (
                ("--requests", args.requests),
                ("--write-fraction", args.write_fraction),
                ("--seed", args.seed),
            )
            if v is not None
        ]
        if given:
            verb = "applies" if len(given) == 1 else "apply"
            raise _UsageError(f"{', '.join(given)} {verb} only to --pattern, not to --trace")
    mapping = (
        AddressMapping.parse(args.mapping, xor_bank=args.xor_bank)
        if args.mapping
        else AddressMapping(xor_bank=args.xor_bank)
    )
    spec = MemorySpec(
        args.standard,
        channels=args.channels,
        mapping=mapping,
        controller=ControllerSpec(page_policy=args.page_policy, refresh=args.refresh),
    )
    memory = MemorySystem(spec, record_commands=args.command_log is not None)

    arrival = None
    if args.trace is not None:
        addresses, is_write, arrival = read_trace(args.trace)
        source = str(args.trace)
    else:
        addresses, is_write = synthetic_trace(
            args.pattern,
            args.requests or 1_000_000,
            memory.capacity_bytes,
            memory.transaction_bytes,
            write_fraction=args.write_fraction or 0.0,
            seed=args.seed or 0,
        )
        source = f"pattern {args.pattern}"
    stats = memory.run(addresses, is_write, arrival)

    log_rows = None
    if args.command_log is not None:
        log = memory.command_log()
        np.save(args.command_log, log)
        log_rows = len(log)

    if args.json:
        out = stats.to_dict()
        out.update(
            source=source,
            transaction_bytes=memory.transaction_bytes,
            capacity_bytes=memory.capacity_bytes,
            mapping=str(spec.mapping),
            page_policy=args.page_policy,
            refresh=args.refresh,
            requests_per_s=stats.requests / stats.wall_s if stats.wall_s > 0 else 0.0,
        )
        if log_rows is not None:
            out.update(command_log=str(args.command_log), command_log_rows=log_rows)
        print(json.dumps(out))
        return 0

    _print_table(
        f"h2m2 dram: {stats.standard}, {stats.channels} scheduled "
        f"channel{'s' if stats.channels != 1 else ''}, {source}",
        ("quantity", "value"),
        _dram_rows(stats, memory.transaction_bytes),
    )
    if log_rows is not None:
        print(f"command log: {log_rows:,} commands written to {args.command_log}")
    return 0


def _dram_rows(s: DramStats, transaction_bytes: int) -> Rows:
    """The rows of the human-readable statistics table."""
    rows: Rows = [
        ("requests", f"{s.requests:,} ({s.reads:,} reads, {s.writes:,} writes)"),
        ("data moved", f"{_si(s.bytes, 'B')} ({transaction_bytes} B per request)"),
        (
            "simulated time",
            f"{_si(s.cycles * s.tck_ns * 1e-9, 's')} ({s.cycles:,} cycles of {s.tck_ns:g} ns)",
        ),
        (
            "bandwidth",
            f"{s.bandwidth_GBps:.2f} GB/s of {s.peak_GBps:.2f} GB/s peak "
            f"({100 * s.utilization:.1f}%)",
        ),
        (
            "read latency",
            f"mean {s.avg_read_latency_ns:.1f} ns, p50 {s.p50_read_latency_ns:.1f}, "
            f"p95 {s.p95_read_latency_ns:.1f}, p99 {s.p99_read_latency_ns:.1f}, "
            f"max {s.max_read_latency_ns:.1f} ns",
        ),
        ("write latency", f"mean {s.avg_write_latency_ns:.1f} ns"),
        ("row hits", f"{s.row_hits:,} ({_pct(s.row_hits, s.requests)})"),
        ("row misses", f"{s.row_misses:,} ({_pct(s.row_misses, s.requests)})"),
        ("row conflicts", f"{s.row_conflicts:,} ({_pct(s.row_conflicts, s.requests)})"),
        ("commands", "  ".join(f"{k} {v:,}" for k, v in s.commands.items() if v) or "none"),
        ("refresh", f"{s.refresh_cycles:,} rank/bank-busy cycles"),
        (
            "energy",
            f"{_si(s.energy_pJ * 1e-12, 'J')}"
            + (f" ({s.energy_pJ / (8 * s.bytes):.2f} pJ/bit)" if s.bytes else ""),
        ),
        (
            "wall time",
            _si(s.wall_s, "s")
            + (f" ({s.requests / s.wall_s / 1e6:.2f} M requests/s)" if s.wall_s > 0 else ""),
        ),
    ]
    return rows


# ------------------------------------------------------------------------------ h2m2 standards
def _add_standards(sub: Any) -> None:
    p = sub.add_parser(
        "standards",
        help="list the DRAM standards and presets",
        description="List the DRAM presets: data rate, clock, organisation, capacity and peak "
        "bandwidth of one device (an HBM stack, an LPDDR package channel, a DDR5 DIMM).",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    p.set_defaults(run=_run_standards)


def _run_standards(args: argparse.Namespace) -> int:
    from h2m2.dram import MemorySpec, standards

    aliases: dict[str, list[str]] = {}
    for family, preset in standards.DEFAULTS.items():
        aliases.setdefault(preset, []).append(family)
    presets = [n for n in standards.names() if n not in standards.DEFAULTS]
    records: list[dict[str, Any]] = []
    for name in presets:
        dev = standards.get(name)
        spec = MemorySpec(dev)
        org = dev.organization
        records.append(
            {
                "preset": dev.name,
                "standard": dev.standard,
                "default_for": aliases.get(dev.name, []),
                "data_rate_mts": dev.data_rate_mts,
                "tck_ns": dev.tck_ns,
                "channels": org.channels,
                "pseudo_channels": org.pseudo_channels,
                "capacity_bytes": spec.capacity_bytes,
                "peak_GBps": spec.peak_GBps,
            }
        )
    if args.json:
        print(json.dumps(records))
        return 0
    rows = [
        (
            r["preset"],
            ", ".join(r["default_for"]),
            f"{r['data_rate_mts']:g}",
            f"{r['tck_ns']:.4g}",
            f"{r['channels']}" + (f"x{r['pseudo_channels']}" if r["pseudo_channels"] > 1 else ""),
            f"{r['capacity_bytes'] / 2**30:g} GiB",
            f"{r['peak_GBps']:.1f}",
        )
        for r in records
    ]
    _print_table(
        "DRAM presets, one device each (alias: the standard name that means the preset; "
        "channels: JEDEC channels x pseudo-channels)",
        (
            "preset",
            "alias",
            "MT/s",
            "tCK ns",
            "channels",
            "capacity",
            "peak GB/s",
        ),
        rows,
    )
    return 0


# ------------------------------------------------------------------------------ h2m2 sweep
def _add_sweep(sub: Any) -> None:
    p = sub.add_parser(
        "sweep",
        help="run a design-space sweep (grid, zip, random axes) into a Parquet dataset",
        description=(
            "Run every point of a sweep specification (YAML, TOML or JSON; see the docstring of "
            "h2m2.sweep) in a local process pool or on a Dask cluster, saving one Parquet row per "
            "point in --out as it finishes. Re-running resumes: saved points are skipped. Exit "
            "status 1 when a point failed (its error is in the status and error columns)."
        ),
    )
    p.add_argument("spec", type=Path, metavar="SPEC", help="sweep specification file")
    p.add_argument(
        "--out", type=Path, default=None, metavar="DIR", help="Parquet dataset directory"
    )
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        metavar="N",
        help="local worker processes (default: one per core; 1 runs in this process)",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDR",
        help="run on an existing Dask cluster, e.g. tcp://HOST:8786 (needs h2m2[dask])",
    )
    p.add_argument(
        "--memo-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="shared on-disk kernel memo (default DIR/_memo of --out)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="check the spec and print the number of points and a sample of them; run nothing",
    )
    p.add_argument(
        "--sample",
        type=_positive_int,
        default=10,
        metavar="N",
        help="points shown by --dry-run, spread over the sweep (default 10)",
    )
    p.add_argument("--json", action="store_true", help="--dry-run: print one JSON object")
    p.set_defaults(run=_run_sweep)


def _run_sweep(args: argparse.Namespace) -> int:
    from h2m2.sweep import SweepSpec, sweep

    if args.workers is not None and args.scheduler is not None:
        raise _UsageError("--workers applies only to the local pool, not to --scheduler")
    spec = SweepSpec.load(args.spec)
    if args.dry_run:
        points = spec.points()
        n = len(points)
        k = min(args.sample, n)
        picks = sorted({round(i * (n - 1) / (k - 1)) for i in range(k)} if k > 1 else {0})
        swept = spec.swept_paths()
        sample = [
            {"index": i, "id": points[i].id, **{c: points[i].values.get(c) for c in swept}}
            for i in picks
        ]
        if args.json:
            print(json.dumps({"points": n, "shape": spec.shape(), "sample": sample}))
            return 0

        def cell(value: Any) -> str:
            return json.dumps(value) if isinstance(value, (list, dict)) else str(value)

        base = ", ".join(f"{c}={cell(v)}" for c, v in points[0].values.items() if c not in swept)
        print(f"{n} point{'s' if n != 1 else ''} ({spec.shape()}); base: {base}")
        rows = [(str(r["index"]), r["id"][:12], *(cell(r[c]) for c in swept)) for r in sample]
        _print_table(f"sample of {len(sample)}", ("#", "id", *swept), rows)
        return 0
    if args.out is None:
        raise _UsageError("--out DIR is required (or --dry-run)")
    try:
        frame = sweep(
            spec,
            out=args.out,
            workers=args.workers,
            scheduler=args.scheduler,
            memo_dir=args.memo_dir,
        )
    except ImportError as exc:
        raise _UsageError(str(exc)) from None
    info = frame.attrs["sweep"]
    print(
        f"{info['points']} points: {info['ran'] - info['failed']} done, {info['failed']} failed, "
        f"{info['cached']} cached, in {info['wall_s']:.1f} s; results in {args.out}"
    )
    if info["failed"]:
        print(
            f"h2m2: {info['failed']} point{'s' if info['failed'] != 1 else ''} failed; see the "
            f"status and error columns (h2m2.sweep.read_results('{args.out}'))",
            file=sys.stderr,
        )
        return 1
    return 0


# ------------------------------------------------------------------------------ h2m2 reproduce
def _add_reproduce(sub: Any) -> None:
    p = sub.add_parser(
        "reproduce",
        help="reproduce the paper's experiments: CSV tables, PNG figures and report.md",
        description=(
            "Run the H2M2 paper's experiments on the simulator (main results, mapping study, "
            "overheads, dynamic lengths, energy, sensitivity) and write their CSV tables, PNG "
            "figures and a report comparing them with the paper to --out. Points run in "
            "parallel and are cached in OUT/.points, so an interrupted run resumes. See "
            "docs/reproduction.md."
        ),
    )
    p.add_argument("--quick", action="store_true", help="reduced set (2 S points per model)")
    p.add_argument(
        "--only",
        default=None,
        metavar="NAME[,NAME]",
        help="only these experiments: main, mapping_study, overheads, dynamic, energy, sensitivity",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("results"),
        metavar="DIR",
        help="output directory (default ./results)",
    )
    p.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        metavar="N",
        help="worker processes (default: one per core; 1 runs in this process)",
    )
    p.add_argument(
        "--fidelity",
        choices=("sampled", "analytic", "cycle"),
        default=None,
        help="simulation fidelity (default: analytic; sampled is the cycle-calibrated run, slower)",
    )
    p.add_argument("--no-progress", action="store_true", help="do not show the progress bar")
    p.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # tests only
    p.set_defaults(run=_run_reproduce)


def _run_reproduce(args: argparse.Namespace) -> int:
    from h2m2.experiments import EXPERIMENTS, reproduce

    only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    unknown = [n for n in only or [] if n not in EXPERIMENTS]
    if unknown:
        raise _UsageError(
            f"--only: unknown experiment(s) {', '.join(unknown)}; known: {', '.join(EXPERIMENTS)}"
        )
    fidelity = args.fidelity or _DEFAULT_FIDELITY
    res = reproduce(
        args.out,
        quick=args.quick,
        only=only,
        workers=args.workers,
        fidelity=fidelity,
        progress=not args.no_progress,
        tiny=args.tiny,
    )
    st = res["stats"]
    print(
        f"{st['points']} points ({st['ran']} simulated, {st['cached']} cached, {st['failed']} "
        f"failed) in {st['total_wall_s']:.1f} s; wrote {len(res['files'])} files to {args.out} "
        f"(see {Path(args.out) / 'report.md'})"
    )
    return 1 if st["failed"] else 0


#: Fidelity of ``h2m2 reproduce`` without ``--fidelity``: on the 2-core development machine a
#: sampled quick run takes ~7 min and a sampled full run 10-20 min, against issue 5's 2 and 10
#: minutes; analytic takes ~10 s / 40-100 s (docs/reproduction.md).
_DEFAULT_FIDELITY = "analytic"


# ------------------------------------------------------------------------------ parser and main
_SUBCOMMANDS: tuple[Callable[[Any], None], ...] = (
    _add_dram,
    _add_standards,
    _add_sweep,
    _add_reproduce,
)


def build_parser() -> argparse.ArgumentParser:
    """The ``h2m2`` argument parser with every subcommand."""
    parser = _Parser(
        prog="h2m2",
        description="Cycle-level simulator of LLM inference on accelerators with heterogeneous "
        "memory (today: the DRAM engine).",
    )
    parser.add_argument("--version", action="version", version=f"h2m2 {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _SUBCOMMANDS:
        add(sub)
    parser.set_defaults(run=None, commands=tuple(sub.choices))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``h2m2`` command line.

    Parameters
    ----------
    argv
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success, 2 on bad input (after printing ``h2m2: error: ...`` to
        stderr), 130 when interrupted.

    Example
    -------
    >>> main(["standards"])
    0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.run is None:
            names = ", ".join(args.commands)
            raise _UsageError(f"choose a command: {names} (see 'h2m2 --help')")
        status: int = args.run(args)
        return status
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    except _UsageError as exc:
        return _fail(str(exc))
    except OSError as exc:
        if exc.filename is not None and exc.strerror:
            return _fail(f"{exc.filename}: {exc.strerror}")
        return _fail(str(exc))
    except ValueError as exc:  # includes TraceError and C++ std::invalid_argument
        return _fail(str(exc))
    except KeyboardInterrupt:
        print("h2m2: interrupted", file=sys.stderr)
        return 130


def _fail(message: str) -> int:
    print(f"h2m2: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":  # python -m h2m2.cli (python -m h2m2 is the documented entry)
    sys.exit(main())
