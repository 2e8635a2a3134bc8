"""Benchmark what a scheduled run does before any notebook starts.

Times, in a throw-away workspace: deriving the windows from ``--files`` raw files,
finding the completed windows among ``--cycles`` recorded cycles (5 runs each),
the lock round trip, and ``millpond status`` — the overhead cron pays every night.

Usage: python scripts/bench/bench_scheduler.py [--files 1000] [--cycles 100] [--repeat 5]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from millpond.config.params import STAGES, validate_use_case
from millpond.ops.scheduler import available_windows, completed_windows
from millpond.ops.status import workspace_status
from millpond.runs.store import RunStore, _row
from millpond.store.lock import CycleLock
from millpond.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]


def _best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "pyproject.toml").write_text("[tool.millpond]\n")
        (root / "params").mkdir()
        (root / "params" / "churn.yaml").write_text((ROOT / "params" / "churn.yaml").read_text())
        ws = Workspace.find(root)
        raw = ws.raw / "churn"
        raw.mkdir(parents=True)
        for i in range(args.files):
            (raw / f"churn_{2000 + i // 12:04d}-{i % 12 + 1:02d}.csv").write_text("x\n")
        use_case = validate_use_case(yaml.safe_load((ws.params / "churn.yaml").read_text()))
        runs = RunStore(ws.runs)
        runs.list()  # creates the index
        rows = []
        for c in range(args.cycles):
            window = f"{2000 + c // 12:04d}-{c % 12 + 1:02d}"
            for order, stage in enumerate(STAGES, start=1):
                run_id = f"20250101T{c:06d}Z-churn-{window}-abcd/{order:02d}-{stage}"
                manifest = {
                    "run_id": run_id,
                    "cycle_id": run_id.split("/")[0],
                    "stage": stage,
                    "use_case": "churn",
                    "window": window,
                    "status": "succeeded",
                    "error": None,
                    "skip_reason": None,
                    "scraps": {},
                    "timings": {
                        "started_at": "2025-01-01T00:00:00+00:00",
                        "finished_at": "2025-01-01T00:00:01+00:00",
                        "duration_s": 1.0,
                    },
                }
                rows.append(_row(run_id, manifest, "0" * 64))
        with sqlite3.connect(runs.index_path) as con:
            names = ", ".join(f'"{k}"' for k in rows[0])
            con.executemany(
                f"INSERT INTO runs ({names}) VALUES ({', '.join('?' * len(rows[0]))})", [list(r.values()) for r in rows]
            )

        def lock_round_trip() -> None:
            with CycleLock(ws, "churn"):
                pass

        table = [
            (f"available_windows ({args.files} files)", _best(lambda: available_windows(ws, use_case), args.repeat)),
            (f"completed_windows ({args.cycles} cycles)", _best(lambda: completed_windows(runs, "churn"), args.repeat)),
            ("lock acquire + release", _best(lock_round_trip, args.repeat)),
            ("status (1 use case)", _best(lambda: workspace_status(ws), args.repeat)),
        ]
    print(f"{'step':<36} {'best of ' + str(args.repeat):>12}")
    for name, seconds in table:
        print(f"{name:<36} {seconds * 1000:>9.2f} ms")


if __name__ == "__main__":
    main()
