"""``cycle``, ``run`` and ``demo``: run the stages, for one window, the due windows or the whole demo."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from millpond.cli.common import Subparsers, add_params_window
from millpond.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_LOCKED, EXIT_NOTHING_DUE, EXIT_OK
from millpond.views.console import print_table
from millpond.workspace import Workspace

if TYPE_CHECKING:
    from millpond.runs.runner import CycleResult


def add_parsers(sub: Subparsers) -> None:
    p = sub.add_parser("cycle", help="run ingest, score, drift, train and promote for one window (or the due ones)")
    p.add_argument("--params", required=True, help="use-case YAML, e.g. params/churn.yaml")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--window", help="window label, e.g. 2025-03")
    which.add_argument(
        "--next", action="store_true", help="run the due windows (what cron runs); exit 4 when none is due"
    )
    p.add_argument(
        "--catch-up",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --next: run missed windows oldest first (default: schedule.catch_up, on)",
    )
    p.add_argument(
        "--max-windows", type=int, help="with --next: at most this many windows (default: schedule.max_windows)"
    )

    p = sub.add_parser("run", help="run one stage for one window")
    p.add_argument("stage", help="ingest, score, drift, train or promote (another name is refused, exit 2)")
    add_params_window(p)

    p = sub.add_parser("demo", help="generate the demo data and run the cycle over every window")
    p.add_argument("--windows", type=int, default=12)
    p.add_argument("--rows", type=int, default=20_000, help="rows per window")
    p.add_argument("--seed", type=int, default=7)


def cmd_run(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.errors import CycleLockedError
    from millpond.ops.scheduler import run_stage_locked

    try:  # under the use case's lock, like `cycle`: a stage never races a cron cycle on the stores
        record = run_stage_locked(ws, args.params, args.stage, args.window, progress=sys.stderr.isatty())
    except CycleLockedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    reason = (
        f" ({record.skip_reason or record.manifest.get('extra', {}).get('reason', '')})"
        if record.status == "skipped"
        else ""
    )
    print(f"{record.stage} {record.window}: {record.status}{reason} -> run {record.run_id}")
    return EXIT_OK


def _print_cycle(result: CycleResult) -> None:
    """Each stage's status line, then the cycle's summary row."""
    from millpond.runs.runner import CYCLE_COLUMNS, cycle_row

    for record in result.records:
        note = record.manifest.get("extra", {}).get("reason") or record.error or ""
        print(f"  {record.stage:<8} {record.status:<9} {note}")
    print_table([cycle_row(result)], CYCLE_COLUMNS)


def _stopped(result: CycleResult) -> int:
    print(f"\ncycle {result.cycle_id} stopped: {result.error}", file=sys.stderr)
    return EXIT_BAD_INPUT if result.bad_input else EXIT_FAILED


def cmd_cycle(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.runs.runner import check_inputs, run_cycle

    # A params path that does not exist or a malformed window: refused (exit 2) before anything is recorded.
    use_case = check_inputs(ws, args.params, None if args.next else args.window)
    if args.next or use_case is not None:
        return cmd_cycle_locked(args, ws)
    # The params file exists but does not validate: the plain cycle records its failed run, then exits 2.
    result = run_cycle(ws, args.params, args.window, progress=sys.stderr.isatty())
    _print_cycle(result)
    print(f"reports: {ws.relative(ws.runs / 'index.html')} (millpond report index --open)")
    return EXIT_OK if result.ok else _stopped(result)


def cmd_cycle_locked(args: argparse.Namespace, ws: Workspace) -> int:
    """``cycle --next`` (what cron runs) and ``cycle --window`` under the use case's lock, with retries."""
    from millpond.errors import CycleLockedError
    from millpond.ops.scheduler import run_next

    def show(result: CycleResult) -> None:
        _print_cycle(result)
        sys.stdout.flush()

    try:
        outcome = run_next(
            ws,
            args.params,
            catch_up=args.catch_up,
            max_windows=args.max_windows,
            window=None if args.next else args.window,
            on_result=show,
            progress=sys.stderr.isatty(),
        )
    except CycleLockedError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    if not outcome.results:
        print("nothing due: every window with data has completed")
        return EXIT_NOTHING_DUE
    for result in outcome.results:
        if not result.ok:
            return _stopped(result)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.demo.cycle import run_demo

    return EXIT_OK if run_demo(ws, windows=args.windows, rows=args.rows, seed=args.seed) else EXIT_FAILED
