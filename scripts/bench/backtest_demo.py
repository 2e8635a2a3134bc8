"""The demo's policy-vs-baselines table: ``millpond backtest`` on the synthetic churn data, in a throw-away workspace.

The demo data (millpond.demo.data) has a covariate shift from 2025-07 and a concept drift from 2025-09, so 2025-07 is
the declared change point: alarms and swaps before it are false. Policies: the use case's own (evidence), the old
point rule, and the baselines static and always. Prints the per-window table of the use case's policy, the summary
and where the HTML report is.

    PYTHONPATH=src python scripts/bench/backtest_demo.py                 # 12 windows x 20,000 rows (the demo)
    PYTHONPATH=src python scripts/bench/backtest_demo.py --rows 5000 --windows 8
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from millpond.cli.backtest import SUMMARY_COLUMNS, WINDOW_COLUMNS, summary_row, window_row
from millpond.demo.data import generate_churn
from millpond.ops.backtest import run_backtest
from millpond.ops.scheduler import load_params
from millpond.views.backtest_report import write_backtest_report
from millpond.views.console import print_table
from millpond.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]


def demo_workspace(folder: Path, windows: int, rows: int) -> Workspace:
    """A workspace in ``folder`` with the repo's notebooks and params and freshly generated demo data."""
    (folder / "pyproject.toml").write_text("[tool.millpond]\n", encoding="utf-8")
    shutil.copytree(REPO / "notebooks", folder / "notebooks")
    shutil.copytree(REPO / "params", folder / "params")
    ws = Workspace.find(folder)
    generate_churn(ws.raw / "churn", windows=windows, rows_per_window=rows)
    return ws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows per window (default 20,000, the demo's)")
    parser.add_argument("--windows", type=int, default=12, help="monthly windows from 2025-01 (default 12)")
    parser.add_argument("--policy", action="append", help="policies besides the baselines (default usecase, point)")
    parser.add_argument("--report", default=str(REPO / "test-artifacts" / "backtest-demo.html"), help="HTML report")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="millpond-backtest-demo-") as tmp:
        ws = demo_workspace(Path(tmp), args.windows, args.rows)
        use_case = load_params(ws, "params/churn.yaml")
        started = time.perf_counter()
        report = run_backtest(ws, use_case, policies=args.policy or ["usecase", "point"], change_point="2025-07")
        seconds = time.perf_counter() - started
    own = report.results[0]
    print(f"demo: {args.windows} windows x {args.rows:,} rows, metric {report.metric}, change point 2025-07")
    print_table([window_row(own.policy, w) for w in own.windows], WINDOW_COLUMNS)
    print()
    print_table([summary_row(s) for s in report.summaries], SUMMARY_COLUMNS)
    print(f"\nquiet windows ({len(report.quiet)}, KPI tolerance {report.tolerance:.4g}): {', '.join(report.quiet)}")
    print(f"{len(report.results)} policies replayed in {seconds:.0f} s")
    print(f"report: {write_backtest_report(report, Path(args.report))}")


if __name__ == "__main__":
    main()
