"""Time and peak memory of ingest, score (with capture) and drift as a window grows: 1, 5 and 20 million rows.

Builds a throw-away workspace (the repository's params/ and notebooks/) whose first window (``--train-rows`` demo
rows) is ingested, trained and promoted, then, for each size, writes the second window's raw CSV (demo rows with a
covariate shift and a concept drift, generated in chunks of one million with unique keys, so the generator's memory
stays flat too) and runs that window's ingest, score and drift, each in its own fresh Python process calling the
stage function (``millpond.runs.stages.RUNNERS``; no kernel, no notebook, so the figures are the work's). Per stage
and size: wall seconds, seconds per million rows, peak resident memory of the stage's process (``VmHWM``) and an
upper bound of its largest child's (drift's sweetviz process, which holds only its samples; ``ru_maxrss`` of the
children, which on Linux starts from the stage's own RSS when it forked), and the stage's status. A stage that fails (out of memory, an error) is reported as such, with its exit code.

    PYTHONPATH=src .venv/bin/python scripts/bench/scale.py                       # 1M, 5M, 20M rows
    PYTHONPATH=src .venv/bin/python scripts/bench/scale.py --sizes 200000 1000000 --stages ingest score
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PARAMS = "params/churn.yaml"
SEED_WINDOW, WINDOW = "2025-01", "2025-02"
STAGES = ("ingest", "score", "drift")
CHUNK = 1_000_000

# Runs one stage in a fresh process and prints what it measured as one JSON line.
_CHILD = f"""
import json, resource, sys, time
from pathlib import Path
from millpond.config.params import load_use_case
from millpond.runs.context import StageContext
from millpond.runs.stages import RUNNERS
from millpond.workspace import Workspace
root, stage, window = sys.argv[1:4]
ws = Workspace.find(Path(root))
use_case = load_use_case(ws.resolve("{PARAMS}"))
run_dir = Path(root) / "bench-runs" / f"{{stage}}-{{time.time_ns()}}"
run_dir.mkdir(parents=True)
started = time.perf_counter()
result = RUNNERS[stage](StageContext(ws, use_case, window, run_id=f"bench/{{stage}}-{{time.time_ns()}}", run_dir=run_dir))
wall = time.perf_counter() - started
# VmHWM, not ru_maxrss: Linux carries the forking process's RSS into a child's ru_maxrss across exec, so
# ru_maxrss would report at least the RSS of this script's parent when it started the stage.
peak = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:')) * 1024
child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # drift's sweetviz process: an upper bound (see above)
print(json.dumps({{"wall": wall, "peak": peak, "child": child, "status": result.status}}))
"""


def _run_stage(root: Path, stage: str, window: str) -> dict[str, object]:
    """One stage in a fresh interpreter: its wall seconds, peak RSS in bytes and status (or how it failed)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(root), stage, window], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {
            "wall": float("nan"),
            "peak": float("nan"),
            "child": float("nan"),
            "status": f"failed (exit {done.returncode}): {last[:80]}",
        }
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _write_window(path: Path, rows: int) -> None:
    """``rows`` demo rows of WINDOW (shifted) as one CSV, a million at a time, keys unique across chunks."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from millpond.demo.data import generate_window

    writer = None
    try:
        for start in range(0, rows, CHUNK):
            n = min(CHUNK, rows - start)
            frame = generate_window(WINDOW, n, covariate_shift_from=WINDOW, concept_drift_from=WINDOW, seed=start + 7)
            frame["customer_id"] = np.char.add("C", np.char.zfill(np.arange(start, start + n).astype(str), 9))
            table = pa.Table.from_pandas(frame, preserve_index=False)
            writer = writer or pacsv.CSVWriter(str(path), table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def _seed(root: Path, train_rows: int) -> None:
    """The workspace with its first window ingested, trained and promoted (the champion the sizes are scored with)."""
    from millpond.demo.data import generate_churn
    from millpond.workspace import Workspace

    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    for folder in ("params", "notebooks"):
        shutil.copytree(REPO / folder, root / folder)
    ws = Workspace.find(root)
    generate_churn(ws.raw / "churn", windows=1, rows_per_window=train_rows)
    for stage in ("ingest", "train", "promote"):
        outcome = _run_stage(root, stage, SEED_WINDOW)
        if outcome["status"] != "succeeded":
            raise SystemExit(f"seed {stage} of {SEED_WINDOW}: {outcome['status']}")


def _row(size: int, stage: str, outcome: dict[str, object]) -> dict[str, str]:
    wall, peak = float(outcome["wall"]), float(outcome["peak"])  # type: ignore[arg-type]
    child = float(outcome["child"])  # type: ignore[arg-type]
    return {
        "rows": f"{size:,}",
        "stage": stage,
        "wall s": f"{wall:.1f}",
        "s / M rows": f"{wall / (size / 1e6):.2f}",
        "peak RSS MB": f"{peak / 2**20:,.0f}",
        "child RSS MB": f"{child / 2**20:,.0f}" if child else "-",
        "status": str(outcome["status"]),
    }


def main() -> int:
    from millpond.views.console import print_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000, 20_000_000])
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--train-rows", type=int, default=200_000)
    parser.add_argument("--keep", type=Path, help="build the workspace in this new folder and keep it")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="millpond-scale-") as tmp:
        root = Path(tmp)
        if args.keep:
            args.keep.mkdir(parents=True)
            root = args.keep
        _seed(root, args.train_rows)
        raw = root / "feature_marts" / "raw" / "churn" / f"churn_{WINDOW}.csv"
        for size in args.sizes:
            started = time.perf_counter()
            _write_window(raw, size)
            print(
                f"{size:,} rows: raw CSV {raw.stat().st_size / 2**20:,.0f} MB in {time.perf_counter() - started:.0f} s"
            )
            for stage in args.stages:
                rows.append(_row(size, stage, _run_stage(root, stage, WINDOW)))
                print("  ", rows[-1], flush=True)
    print()
    print_table(rows, list(rows[0]))
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; cpus: {os.cpu_count()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
