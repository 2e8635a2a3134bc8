"""Benchmark the report writers: HTML rendering of a notebook, the runs index, the sweetviz comparison.

Generates the demo churn data (``--rows`` rows per window) in a temporary folder, then times
(best of ``--repeat``): ``render_report`` on a notebook holding a 12-row table and a plot, the
runs-index page for ``--runs`` rows, and ``write_comparison`` of two windows with the default
5,000-row sample and with every row.

Usage: python scripts/bench/bench_reports.py [--rows 20000] [--runs 600] [--repeat 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
import pandas as pd


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    from millpond.demo.data import generate_churn
    from millpond.drift.comparison_report import write_comparison
    from millpond.runs.report import render_report, render_runs_index

    tmp = Path(tempfile.mkdtemp(prefix="bench-reports-"))
    paths = generate_churn(tmp / "raw", windows=2, rows_per_window=args.rows, seed=1, covariate_shift_from="2025-02")
    reference, current = (pd.read_csv(p) for p in paths)
    features = [c for c in reference.columns if c not in ("customer_id", "churned", "window")]

    nb = nbformat.v4.new_notebook()
    table = reference.describe().T.round(3).to_html()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# bench"),
        nbformat.v4.new_code_cell(
            "table", outputs=[nbformat.v4.new_output("execute_result", {"text/html": table}, execution_count=1)]
        ),
    ]
    run_dir = tmp / "run"
    run_dir.mkdir()
    nbformat.write(nb, run_dir / "notebook.ipynb")
    rows = [
        {
            "run_id": f"c{i}/03-drift",
            "use_case": "churn",
            "window": "2025-02",
            "stage": "drift",
            "status": "succeeded",
            "started": "2025-03-01 10:00:00",
            "duration_s": 1.0 * i,
            "metrics": "impact 0.4",
            "champion": "abc",
            "drift": "data drift",
            "note": "",
        }
        for i in range(args.runs)
    ]

    results = [
        (
            "render_report (nbconvert lab template)",
            best(lambda: render_report(run_dir, title="t", status="succeeded"), args.repeat),
        ),
        (f"render_runs_index ({args.runs} runs)", best(lambda: render_runs_index(rows, {}), args.repeat)),
        (
            f"write_comparison (sample 5000 of {args.rows})",
            best(
                lambda: write_comparison(reference, current, tmp / "c.html", features=features, target="churned"),
                args.repeat,
            ),
        ),
        (
            f"write_comparison (all {args.rows} rows)",
            best(
                lambda: write_comparison(
                    reference, current, tmp / "c.html", features=features, target="churned", max_rows=args.rows
                ),
                args.repeat,
            ),
        ),
    ]
    width = max(len(name) for name, _ in results)
    print(f"{'what':<{width}}  seconds")
    print(f"{'-' * width}  -------")
    for name, seconds in results:
        print(f"{name:<{width}}  {seconds:7.2f}")


if __name__ == "__main__":
    main()
