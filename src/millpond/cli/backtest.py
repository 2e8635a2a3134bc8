"""``millpond backtest``: replay a policy over the windows a use case already has, in a scratch workspace."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from millpond.cli.common import Subparsers, dump
from millpond.errors import EXIT_OK, ParamsError
from millpond.views.console import print_table
from millpond.workspace import Workspace

WINDOW_COLUMNS = ["policy", "window", "kpi", "data_drift", "model_drift", "retrained", "promoted", "rule", "champion"]
SUMMARY_COLUMNS = [
    "policy", "windows", "mean_kpi", "worst_kpi", "regret_best", "regret_always", "retrains", "promotions", "swaps",
    "data_drift", "model_drift", "quiet_alarms", "false_alarms", "false_swaps", "detected_at",
]  # fmt: skip


def add_parsers(sub: Subparsers) -> None:
    p = sub.add_parser(
        "backtest",
        help="replay the cycle over the windows the data already has, in a scratch copy (the real stores are never "
        "touched): per window drift verdicts, retrain, promotion and its rule; totals per policy",
    )
    p.add_argument("--params", required=True, help="use-case YAML, e.g. params/churn.yaml")
    p.add_argument("--windows", help="A..B: only these windows (either end may be left out); default: all")
    p.add_argument("--from", dest="from_window", metavar="W", help="first window to replay (same as --windows W..)")
    p.add_argument("--to", dest="to_window", metavar="W", help="last window to replay (same as --windows ..W)")
    p.add_argument(
        "--policy",
        action="append",
        choices=["usecase", "evidence", "point", "static", "always"],
        help="policy to replay (repeatable): usecase (the YAML's, default), evidence or point; the baselines static "
        "(never retrain) and always (retrain and promote every window) are replayed beside them",
    )
    p.add_argument("--no-baselines", action="store_true", help="do not replay the static and always baselines")
    p.add_argument(
        "--report", help="write the HTML report here (default: <workspace>/backtests/<use case>-<UTC time>.html)"
    )
    p.add_argument("--change-point", help="first window after a known change (default: drift.change_point)")
    p.add_argument("--keep", help="keep the scratch workspaces in this folder (default: a temporary folder, removed)")
    p.add_argument("--json", action="store_true", help="the results as JSON")


def _yes(flag: bool) -> str:
    return "yes" if flag else "-"


def window_row(policy: str, outcome: Any) -> dict[str, Any]:
    return {
        "policy": policy,
        "window": outcome.window,
        "kpi": f"{outcome.kpi:.4f}" if outcome.kpi is not None else None,
        "data_drift": _yes(outcome.data_drift),
        "model_drift": _yes(outcome.model_drift),
        "retrained": _yes(outcome.retrained),
        "promoted": _yes(outcome.promoted),
        "rule": outcome.rule or None,
        "champion": outcome.champion,
    }


def summary_row(summary: Any) -> dict[str, Any]:
    row = {column: getattr(summary, column) for column in SUMMARY_COLUMNS}
    for column, spec in (("mean_kpi", ".4f"), ("worst_kpi", ".4f"), ("regret_best", "+.4f"), ("regret_always", "+.4f")):
        row[column] = None if row[column] is None else format(row[column], spec)
    return row


def _window_spec(args: argparse.Namespace) -> str | None:
    if args.from_window is None and args.to_window is None:
        return args.windows
    if args.windows:
        raise ParamsError("Give --windows A..B or --from/--to, not both.")
    return f"{args.from_window or ''}..{args.to_window or ''}"


def _report_path(args: argparse.Namespace, ws: Workspace, use_case: str) -> Path:
    if args.report:
        return Path(args.report).resolve()
    return ws.root / "backtests" / f"{use_case}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.html"


def _progress(args: argparse.Namespace) -> Callable[[str, Any], None]:
    def progress(policy: str, outcome: Any) -> None:
        if not args.json:
            row = window_row(policy, outcome)
            print(
                f"[{policy}] {row['window']}: kpi {row['kpi']}, data drift {row['data_drift']}, model drift "
                f"{row['model_drift']}, retrained {row['retrained']}, promoted {row['promoted']}"
                + (f" ({row['rule']})" if row["rule"] else ""),
                flush=True,
            )

    return progress


def print_report(report: Any, path: Path, ws: Workspace) -> None:
    """The per-window table, the policy-vs-baselines summary and what its columns mean."""
    print()
    print_table([window_row(r.policy, w) for r in report.results for w in r.windows], WINDOW_COLUMNS)
    print()
    print_table([summary_row(s) for s in report.summaries], SUMMARY_COLUMNS)
    print(
        f"\n{report.metric}: {'higher' if report.higher_is_better else 'lower'} is better; regret_* is the mean "
        "shortfall against the best policy at each window / against always (positive: worse). Quiet windows (the "
        f"baselines show nothing changed, KPI tolerance {report.tolerance:.4g}): {len(report.quiet)}; quiet_alarms "
        "counts alarms raised in them."
    )
    if report.change_point is not None:
        print(
            f"change point {report.change_point}: false_* count alarms and swaps in the windows before it (the first "
            "model is no swap); detected_at is the first alarm from it on."
        )
    print(f"report: {ws.relative(path)}")


def cmd_backtest(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.ops.backtest import run_backtest
    from millpond.ops.scheduler import load_params
    from millpond.views.backtest_report import write_backtest_report

    use_case = load_params(ws, args.params)
    report = run_backtest(
        ws,
        use_case,
        windows=_window_spec(args),
        policies=args.policy,
        change_point=args.change_point,
        keep=Path(args.keep).resolve() if args.keep else None,
        on_window=_progress(args),
        baselines=not args.no_baselines,
    )
    path = write_backtest_report(report, _report_path(args, ws, use_case.use_case))
    if args.json:
        dump({**report.as_dict(), "report": str(path)})
        return EXIT_OK
    print_report(report, path, ws)
    return EXIT_OK
