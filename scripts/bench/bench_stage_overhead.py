"""Where a stage's time goes: papermill import, kernel start, the notebook's imports, the work.

Runs in a throw-away copy of the workspace's notebooks; prints a table.
    .venv/bin/python scripts/bench/bench_stage_overhead.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SKIP = "from millpond.runs.kernel_imports import skip_unused_format_checkers; skip_unused_format_checkers()\n"


def _seconds(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - started


def _execute(cells: list[str], kernel: str) -> tuple[float, list[float]]:
    import nbformat
    import papermill as pm

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.ipynb", Path(tmp) / "out.ipynb"
        nbformat.write(nb, src)
        from millpond.runs.runner import kernel_manager_logging_to

        started = time.perf_counter()
        pm.execute_notebook(
            str(src),
            str(out),
            kernel_name=kernel,
            progress_bar=False,
            log_output=False,
            kernel_manager_class=kernel_manager_logging_to(Path(tmp) / "kernel.log"),
        )
        wall = time.perf_counter() - started
        done = nbformat.read(out, as_version=4)
    return wall, [float(c.metadata.papermill.duration or 0) for c in done.cells]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from millpond.runs.runner import kernel_name

    kernel = kernel_name()
    rows: dict[str, list[float]] = {
        k: []
        for k in (
            "python start (bare interpreter)",
            "import papermill (CLI process)",
            "import papermill, iri grammar skipped (as the CLI does)",
            "import millpond.cli.app (CLI process)",
            "papermill: empty notebook (kernel start + shutdown)",
            "in kernel: import scrapbook",
            "in kernel: import scrapbook, iri grammar skipped (as glue does)",
            "in kernel: import millpond.runs.stages (pandas, sklearn, skops…)",
        )
    }
    for _ in range(args.repeat):
        base = _seconds("pass")
        rows["python start (bare interpreter)"].append(base)
        rows["import papermill (CLI process)"].append(_seconds("import papermill") - base)
        rows["import papermill, iri grammar skipped (as the CLI does)"].append(
            _seconds(SKIP + "import papermill") - base
        )
        rows["import millpond.cli.app (CLI process)"].append(_seconds("import millpond.cli.app") - base)
        wall, _ = _execute(["pass"], kernel)
        rows["papermill: empty notebook (kernel start + shutdown)"].append(wall)
        _, cells = _execute(["import scrapbook", "from millpond import plots, stages"], kernel)
        rows["in kernel: import scrapbook"].append(cells[0])
        rows["in kernel: import millpond.runs.stages (pandas, sklearn, skops…)"].append(cells[1])
        _, cells = _execute([SKIP + "import scrapbook"], kernel)
        rows["in kernel: import scrapbook, iri grammar skipped (as glue does)"].append(cells[0])
    width = max(len(k) for k in rows)
    print(f"{'step'.ljust(width)}  median s  min s   (kernel: {kernel}, {args.repeat} repeats)")
    for name, values in rows.items():
        print(f"{name.ljust(width)}  {statistics.median(values):8.2f}  {min(values):5.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
