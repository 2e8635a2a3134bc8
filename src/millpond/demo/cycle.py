"""The demo: generate the embedded churn data and run the cycle over every window."""

from __future__ import annotations

import sys
import time

from millpond.config.params import load_use_case
from millpond.runs.progress import StatusLine
from millpond.runs.runner import CYCLE_COLUMNS, CycleResult, completed_cycle, cycle_row, refresh_runs_index, run_cycle
from millpond.site import refresh_site
from millpond.views.console import print_run_summary, print_table
from millpond.workspace import Workspace

DEMO_PARAMS = "params/churn.yaml"


def demo_windows(count: int, start: str = "2025-01") -> list[str]:
    """``count`` monthly window labels from ``start``."""
    year, month = (int(part) for part in start.split("-"))
    labels = []
    for offset in range(count):
        y, m = divmod(month - 1 + offset, 12)
        labels.append(f"{year + y:04d}-{m + 1:02d}")
    return labels


def run_demo(ws: Workspace, *, windows: int = 12, rows: int = 20_000, seed: int = 7) -> bool:
    """Generate missing demo data, run (or reuse) each window's cycle and print the summary table."""
    from millpond.demo.data import generate_churn

    use_case = load_use_case(ws.resolve(DEMO_PARAMS))
    labels = demo_windows(windows)
    raw = ws.raw / "churn"
    if not all((raw / f"churn_{w}.csv").exists() for w in labels):
        paths = generate_churn(raw, windows=windows, rows_per_window=rows, seed=seed)
        print(f"demo data: {len(paths)} windows x {rows} rows in {ws.relative(raw)}")
    results: list[CycleResult] = []
    ok = True
    status = StatusLine()
    demo_started = time.perf_counter()
    for index, window in enumerate(labels, start=1):
        started = time.perf_counter()
        done = completed_cycle(ws, use_case.use_case, window)
        on_stage = status.stage_callback(f"[{index:>2}/{len(labels)}] {window}")
        result = done if done is not None else run_cycle(ws, DEMO_PARAMS, window, on_stage=on_stage)
        status.clear()
        results.append(result)
        row = cycle_row(result)
        note = "already completed, reused" if done is not None else f"{time.perf_counter() - started:.0f} s"
        print(
            f"[{index:>2}/{len(labels)}] {window}: {row['status']}, drift {row['data_drift']}, "
            f"retrained {row['retrained']}, promoted {row['promoted']} ({note})",
            flush=True,
        )
        if not result.ok:
            print(f"  {result.error}", file=sys.stderr)
            ok = False
            break
    print()
    print_table([cycle_row(r) for r in results], CYCLE_COLUMNS)
    refresh_runs_index(ws)
    refresh_site(ws)  # the control room, rebuilt from the records the demo just wrote
    print_run_summary(ws, results, time.perf_counter() - demo_started)
    return ok
