"""``cycle``, ``run`` and ``demo``: run the stages, for one window, the due windows or the whole demo."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from millpond.cli.common import Subparsers, add_params_window, dump
from millpond.errors import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_NOTHING_DUE, EXIT_OK, CycleLockedError, MillpondError
from millpond.views.console import print_table
from millpond.workspace import Workspace

if TYPE_CHECKING:
    from millpond.runs.runner import CycleResult
    from millpond.runs.store import RunRecord


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
    p.add_argument(
        "--windows", type=int, default=12, help="how many monthly windows to generate and cycle (default 12)"
    )
    p.add_argument("--rows", type=int, default=20_000, help="rows per window (default 20000)")
    p.add_argument("--seed", type=int, default=7, help="random seed of the generated data (default 7)")


def refuse_if_locked(ws: Workspace, params: str) -> None:
    """Refuse at once (exit 5, naming the holder) when a cycle or stage run of the use case holds its lock.

    Runs before the stage machinery is imported (pandas, scikit-learn, papermill: seconds on a loaded machine),
    so a second cron cycle says so in well under a second. It only reads the holder note (never takes the lock,
    which could make a cycle starting at that instant see it taken); a params file that does not load is left to
    the full path, which records or refuses it as usual, and the full path still takes the lock itself.
    """
    from millpond.config.params import params_file, read_yaml, validate_use_case
    from millpond.store.lock import describe_holder, lock_path, read_holder

    try:
        name = validate_use_case(read_yaml(params_file(ws, params)), source=params).use_case
    except MillpondError:
        return
    holder = read_holder(ws, name)
    if holder is not None:
        raise CycleLockedError(
            f"Use case {name!r} in {ws.root} is locked by {describe_holder(holder)}: another cycle or stage run of "
            f"this use case is running, this one exits without doing anything. Wait for it to finish and start this "
            f"one again (lock file {ws.relative(lock_path(ws, name))}; `millpond status` shows it)."
        )


def _record_json(record: RunRecord) -> dict[str, object]:
    return {
        "run_id": record.run_id,
        "stage": record.stage,
        "window": record.window,
        "status": record.status,
        "error": record.error,
        "skip_reason": record.skip_reason or record.run_manifest.reason,
    }


def cmd_run(args: argparse.Namespace, ws: Workspace) -> int:
    refuse_if_locked(ws, args.params)
    from millpond.ops.scheduler import run_stage_locked

    # under the use case's lock, like `cycle`: a stage never races a cron cycle on the stores (exit 5 when held)
    record = run_stage_locked(
        ws,
        args.params,
        args.stage,
        args.window,
        echo=(lambda line: print(line, file=sys.stderr)) if args.json else print,  # under --json stdout is JSON only
        progress=sys.stderr.isatty(),
    )
    if args.json:
        dump(_record_json(record))
        return EXIT_OK
    reason = f" ({record.skip_reason or record.run_manifest.reason})" if record.status == "skipped" else ""
    print(f"{record.stage} {record.window}: {record.status}{reason} -> run {record.run_id}")
    return EXIT_OK


def _print_cycle(result: CycleResult) -> None:
    """Each stage's status line, then the cycle's summary row."""
    from millpond.runs.runner import CYCLE_COLUMNS, cycle_row

    for record in result.records:
        note = record.run_manifest.reason or record.error or ""
        print(f"  {record.stage:<8} {record.status:<9} {note}")
    print_table([cycle_row(result)], CYCLE_COLUMNS)


def _exit_code(result: CycleResult) -> int:
    return EXIT_OK if result.ok else EXIT_BAD_INPUT if result.bad_input else EXIT_FAILED


def _cycle_json(results: list[CycleResult]) -> dict[str, object]:
    """``cycle --json``: each cycle's summary row and runs; a failure adds error, exit_code and hint."""
    from millpond.runs.runner import cycle_row

    code = next((_exit_code(r) for r in results if not r.ok), EXIT_OK)
    data: dict[str, object] = {
        "cycles": [
            {"cycle_id": r.cycle_id, **cycle_row(r), "error": r.error, "runs": [_record_json(x) for x in r.records]}
            for r in results
        ],
        "exit_code": code,
    }
    failed = next((r for r in results if not r.ok), None)
    if failed is not None:
        data["error"] = f"cycle {failed.cycle_id} stopped: {failed.error}"
        data["hint"] = _HINT_BY_CODE[code]
    return data


_HINT_BY_CODE = {
    EXIT_FAILED: "the failed stage's run is recorded: `millpond runs show RUN` (its notebook has the traceback)",
    EXIT_BAD_INPUT: "fix the params file the message names, then run the cycle again",
}


def _stopped(result: CycleResult) -> int:
    print(f"\ncycle {result.cycle_id} stopped: {result.error}", file=sys.stderr)
    return _exit_code(result)


def _refresh_site(ws: Workspace) -> None:
    """Rebuild the control room (site/) from the records the cycle wrote; a failure is a warning, never exit 1."""
    from millpond.site import refresh_site

    refresh_site(ws)


def cmd_cycle(args: argparse.Namespace, ws: Workspace) -> int:
    refuse_if_locked(ws, args.params)  # before anything heavy is imported
    from millpond.runs.runner import check_inputs, run_cycle

    # A params path that does not exist or a malformed window: refused (exit 2) before anything is recorded.
    use_case = check_inputs(ws, args.params, None if args.next else args.window)
    if args.next or use_case is not None:
        return cmd_cycle_locked(args, ws)
    # The params file exists but does not validate: the plain cycle records its failed run, then exits 2.
    result = run_cycle(ws, args.params, args.window, progress=sys.stderr.isatty())
    _refresh_site(ws)
    if args.json:
        dump(_cycle_json([result]))
        return _exit_code(result)
    _print_cycle(result)
    print(f"reports: {ws.relative(ws.runs / 'index.html')} (millpond report index --open)")
    return EXIT_OK if result.ok else _stopped(result)


def cmd_cycle_locked(args: argparse.Namespace, ws: Workspace) -> int:
    """``cycle --next`` (what cron runs) and ``cycle --window`` under the use case's lock, with retries."""
    from millpond.ops.scheduler import Hooks, run_next

    def show(result: CycleResult) -> None:
        if not args.json:
            _print_cycle(result)
            sys.stdout.flush()

    outcome = run_next(  # raises CycleLockedError (exit 5, naming the holder) when the lock is held
        ws,
        args.params,
        catch_up=args.catch_up,
        max_windows=args.max_windows,
        window=None if args.next else args.window,
        on_result=show,
        progress=sys.stderr.isatty(),
        hooks=Hooks(echo=lambda line: print(line, file=sys.stderr)) if args.json else Hooks(),  # stdout: JSON only
    )
    if outcome.results:
        _refresh_site(ws)
    if not outcome.results:
        message = "nothing due: every window with data has completed"
        dump({"cycles": [], "exit_code": EXIT_NOTHING_DUE, "error": message, "hint": message}) if args.json else print(
            message
        )
        return EXIT_NOTHING_DUE
    if args.json:
        dump(_cycle_json(outcome.results))
        return next((_exit_code(r) for r in outcome.results if not r.ok), EXIT_OK)
    for result in outcome.results:
        if not result.ok:
            return _stopped(result)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.demo.cycle import run_demo

    return EXIT_OK if run_demo(ws, windows=args.windows, rows=args.rows, seed=args.seed) else EXIT_FAILED
