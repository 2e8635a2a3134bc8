"""Benchmark the read commands on a workspace with many run records (default 10,000).

Copies tests/fixtures/workspace-v1, records ``--runs`` more small runs through ``RunStore.record`` (each a real
sealed folder: a notebook, one output, a manifest with hashes), then times, each in a fresh process and with
rounds interleaved so machine load hits all alike: a bare interpreter, a plain ``sqlite3`` select of every index
row, ``millpond runs list --json`` (the index rows whose ``row_key`` still matches their manifest's file: a stat
per record), ``runs list --limit 20``, ``status`` and ``runs show`` of one run. Prints the median wall time, its
ratio to the bare interpreter, and the load average before and after. Target (issue #16): under 1 s each with 10,000 records.

Usage: PYTHONPATH=src python scripts/bench/bench_many_runs.py [--runs 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "workspace-v1"
NOTEBOOK = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def populate(root: Path, runs: int) -> str:
    """Record ``runs`` small runs (five stages per cycle) under ``root/runs``; return one run id."""
    from millpond.runs.entities import RunManifest, RunTimings
    from millpond.runs.store import RunStore, new_cycle_id

    store = RunStore(root / "runs")
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    run_id = ""
    for n in range(runs):
        cycle, order = divmod(n, 5)
        stage = ("ingest", "score", "drift", "train", "promote")[order]
        started = t0 + timedelta(minutes=cycle)
        window = f"{2000 + cycle // 12:04d}-{cycle % 12 + 1:02d}"
        cycle_id = new_cycle_id("churn", window, now=started)
        cycle_id = cycle_id[:-4] + f"{cycle % 65536:04x}"
        run_dir = store.prepare(cycle_id, order, stage)
        (run_dir / "notebook.ipynb").write_text(json.dumps(NOTEBOOK), encoding="utf-8")
        timings = RunTimings.between(started, started + timedelta(seconds=2))
        manifest = RunManifest(
            use_case="churn",
            window=window,
            stage=stage,
            status="succeeded",
            timings=timings,
            params={"use_case": "churn"},
        )
        run_id = store.record(run_dir, manifest).run_id
    return run_id


def commands(run_id: str) -> list[tuple[str, list[str]]]:
    cli = [sys.executable, "-m", "millpond.cli.app"]
    select = "import sqlite3; print(len(sqlite3.connect('runs/index.sqlite').execute('SELECT * FROM runs').fetchall()))"
    return [
        ("bare interpreter", [sys.executable, "-c", "pass"]),
        ("sqlite3 select of the index", [sys.executable, "-c", select]),
        ("millpond runs list --json", [*cli, "runs", "list", "--json"]),
        ("millpond runs list --limit 20", [*cli, "runs", "list", "--limit", "20"]),
        ("millpond status", [*cli, "status"]),
        ("millpond runs show <id>", [*cli, "runs", "show", run_id]),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="millpond-bench-runs-") as tmp:
        root = Path(tmp) / "ws"
        shutil.copytree(FIXTURE, root)
        started = time.perf_counter()
        run_id = populate(root, args.runs)
        print(f"recorded {args.runs:,} runs in {time.perf_counter() - started:.0f} s")
        env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
        todo = commands(run_id)
        walls: dict[str, list[float]] = {name: [] for name, _ in todo}
        load_before = os.getloadavg()
        for _ in range(args.rounds):
            for name, argv in todo:
                clock = time.perf_counter()
                done = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True)
                walls[name].append(time.perf_counter() - clock)
                if done.returncode != 0:
                    sys.exit(f"{name} failed ({done.returncode}): {done.stderr[-800:]}")
        bare = statistics.median(walls["bare interpreter"])
        print(f"\n{'command':<32} {'median s':>9} {'× bare':>7}")
        for name, values in walls.items():
            print(f"{name:<32} {statistics.median(values):>9.3f} {statistics.median(values) / bare:>7.1f}")
        print(f"\nload average before {load_before}, after {os.getloadavg()}")


if __name__ == "__main__":
    main()
