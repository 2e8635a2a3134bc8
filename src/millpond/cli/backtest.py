"""``millpond backtest``: replay a policy over the windows a use case already has, in a scratch workspace."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from millpond.cli.common import Subparsers, dump
from millpond.errors import EXIT_OK
from millpond.workspace import Workspace

WINDOW_COLUMNS = ["policy", "window", "kpi", "data_drift", "model_drift", "retrained", "promoted", "rule", "champion"]
TOTAL_COLUMNS = [
    "policy", "windows", "mean_kpi", "worst_kpi", "data_drift", "model_drift", "retrains", "swaps",
    "before_change", "false_data_drift", "false_model_drift", "false_swaps", "detected_at",
]  # fmt: skip


def add_parsers(sub: Subparsers) -> None:
    p = sub.add_parser(
        "backtest",
        help="replay the cycle over the windows the data already has, in a scratch copy (the real stores are never "
        "touched): per window drift verdicts, retrain, promotion and its rule; totals per policy",
    )
    p.add_argument("--params", required=True, help="use-case YAML, e.g. params/churn.yaml")
    p.add_argument("--windows", help="A..B: only these windows (either end may be left out); default: all")
    p.add_argument(
        "--policy",
        action="append",
        choices=["usecase", "evidence", "point", "static", "always"],
        help="policy to replay (repeatable): usecase (the YAML's, default), evidence, point, or the baselines static "
        "(never retrain) and always (retrain and promote every window)",
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


def total_row(result: Any) -> dict[str, Any]:
    t = result.totals
    return {
        "policy": result.policy,
        "windows": t.windows,
        "mean_kpi": f"{t.mean_kpi:.4f}" if t.mean_kpi is not None else None,
        "worst_kpi": f"{t.worst_kpi:.4f}" if t.worst_kpi is not None else None,
        "data_drift": t.data_drift,
        "model_drift": t.model_drift,
        "retrains": t.retrains,
        "swaps": t.swaps,
        "before_change": t.windows_before,
        "false_data_drift": t.data_drift_before,
        "false_model_drift": t.model_drift_before,
        "false_swaps": t.swaps_before,
        "detected_at": t.detected_at,
    }


def cmd_backtest(args: argparse.Namespace, ws: Workspace) -> int:
    from millpond.ops.backtest import run_backtest
    from millpond.ops.scheduler import load_params
    from millpond.views.console import print_table

    use_case = load_params(ws, args.params)

    def progress(policy: str, outcome: Any) -> None:
        if not args.json:
            row = window_row(policy, outcome)
            print(
                f"[{policy}] {row['window']}: kpi {row['kpi']}, data drift {row['data_drift']}, model drift "
                f"{row['model_drift']}, retrained {row['retrained']}, promoted {row['promoted']}"
                + (f" ({row['rule']})" if row["rule"] else ""),
                flush=True,
            )

    results = run_backtest(
        ws,
        use_case,
        windows=args.windows,
        policies=args.policy,
        change_point=args.change_point,
        keep=Path(args.keep).resolve() if args.keep else None,
        on_window=progress,
    )
    if args.json:
        dump([r.as_dict() for r in results])
        return EXIT_OK
    print()
    print_table([window_row(r.policy, w) for r in results for w in r.windows], WINDOW_COLUMNS)
    print()
    print_table([total_row(r) for r in results], TOTAL_COLUMNS)
    point = results[0].change_point if results else None
    if point is not None:
        print(
            f"\nchange point {point}: false_* count alarms and swaps in the windows before it (the first model is "
            "no swap); detected_at is the first alarm from it on."
        )
    return EXIT_OK
