"""Benchmark how fast the command line answers: a bare interpreter against --help, --version, the read commands
and a cycle refused by the lock, each in a fresh process, rounds interleaved so machine load hits all alike.

The workspace is a copy of tests/fixtures/workspace-v1 (two churn cycles, one model); the refused cycle runs
while this process holds the use case's lock. ``--baseline SRC`` adds a column for another source tree (e.g. the
main checkout's ``src``), measured in the same rounds. Prints the median wall time per command, its ratio to the
bare interpreter, and the load average before and after.

Usage: PYTHONPATH=src python scripts/bench/bench_cli_startup.py [--rounds 7] [--baseline /work/main/src]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "workspace-v1"

COMMANDS: list[tuple[str, list[str], int]] = [
    ("bare interpreter", [], 0),
    ("millpond --help", ["--help"], 0),
    ("millpond --version", ["--version"], 0),
    ("millpond runs list", ["runs", "list"], 0),
    ("millpond status", ["status"], 0),
    ("millpond models list churn", ["models", "list", "churn"], 0),
    ("millpond cycle --next (locked)", ["cycle", "--params", "params/churn.yaml", "--next"], 5),
]


def run_once(src: Path, argv: list[str], workspace: Path, expected: int) -> float | None:
    """Wall seconds of one fresh process: ``python -c pass`` for the bare row, else ``python -m millpond ARGV``.

    None when a baseline tree does not have the command (another exit code); this tree must answer as expected.
    """
    command = [sys.executable, "-c", "pass"] if not argv else [sys.executable, "-m", "millpond", *argv]
    env = {**os.environ, "PYTHONPATH": str(src), "MILLPOND_WORKSPACE": str(workspace)}
    start = time.perf_counter()
    done = subprocess.run(command, cwd=workspace, env=env, capture_output=True, timeout=600)
    elapsed = time.perf_counter() - start
    if done.returncode != expected and src != REPO / "src":
        return None
    if done.returncode != expected:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}, not {expected}: {done.stderr.decode()[-500:]}")
    return elapsed


def measure(trees: dict[str, Path], workspace: Path, rounds: int) -> dict[tuple[str, str], list[float | None]]:
    """Every (tree, command) ``rounds`` times, interleaved; the lock is held by this process meanwhile."""
    sys.path.insert(0, str(next(iter(trees.values()))))
    from millpond.store.lock import CycleLock
    from millpond.workspace import Workspace

    times: dict[tuple[str, str], list[float | None]] = {}
    with CycleLock(Workspace.find(workspace), "churn", command="bench_cli_startup (holds the lock)"):
        for _ in range(rounds):
            for label, src in trees.items():
                for name, argv, expected in COMMANDS:
                    times.setdefault((label, name), []).append(run_once(src, argv, workspace, expected))
    return times


def table(times: dict[tuple[str, str], list[float | None]], trees: list[str]) -> str:
    header = f"{'command':<32}" + "".join(f"{t + ' s':>14}{'x bare':>9}" for t in trees)
    lines = [header, "-" * len(header)]
    for name, _, _ in COMMANDS:
        cells = ""
        for tree in trees:
            runs = [t for t in times[(tree, name)] if t is not None]
            bare = statistics.median(t for t in times[(tree, "bare interpreter")] if t is not None)
            if not runs:
                cells += f"{'n/a':>14}{'':>9}"
                continue
            median = statistics.median(runs)
            cells += f"{median:>14.3f}{median / bare:>9.1f}"
        lines.append(f"{name:<32}{cells}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds per command (median reported)")
    parser.add_argument("--baseline", type=Path, help="another source tree to measure alongside (its src folder)")
    args = parser.parse_args()
    trees = {"this": REPO / "src"}
    if args.baseline:
        trees = {"baseline": args.baseline.resolve(), **trees}
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp) / "ws"
        shutil.copytree(FIXTURE, workspace)
        load_before = os.getloadavg()
        times = measure(trees, workspace, args.rounds)
        load_after = os.getloadavg()
    print(table(times, list(trees)))
    print(f"\n{args.rounds} rounds; load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
