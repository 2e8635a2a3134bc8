"""One demo window's five stages through papermill vs the same stage functions in one process.

Builds a throw-away workspace (the repository's params/ and notebooks/, demo data with a covariate shift from
the second window so that every stage works), runs the first window's cycle once as the seed (a champion), then
times the second window ``--rounds`` times each way, interleaved, each round on a fresh copy of the seed:

- ``papermill``: :func:`millpond.runs.runner.run_cycle` (a fresh kernel and a recorded run per stage);
- ``in-process``: ``millpond.runs.stages.RUNNERS[stage](ctx)`` in this process (no kernel, no record).

Row ``compare`` is the drift run's sweetviz comparison: in the cycle, the time the cycle still waits for the
comparison step's child after promote (it draws while train and promote run); in-process, drawing it in turn.

Then promote once more each way (its candidate is decided by then, so it only skips): the cost of a skip.

Prints per stage the median wall seconds of each, the ratio, and the stage status, plus the load average.
    PYTHONPATH=src .venv/bin/python scripts/bench/bench_stages.py [--rounds 3] [--rows 20000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PARAMS = "params/churn.yaml"
SEED_WINDOW, WINDOW = "2025-01", "2025-02"
STAGES = ("ingest", "score", "drift", "train", "promote", "compare")  # compare: the drift run's sweetviz step
SKIP_ROW = "promote again (a skip)"  # outside the total


def _seed(root: Path, rows: int) -> Path:
    """A workspace with two demo windows (shift from the second) and the first window's cycle run."""
    from millpond.demo.data import generate_churn
    from millpond.runs.runner import run_cycle
    from millpond.workspace import Workspace

    seed = root / "seed"
    seed.mkdir()
    shutil.copy(REPO / "pyproject.toml", seed / "pyproject.toml")
    for folder in ("params", "notebooks"):
        shutil.copytree(REPO / folder, seed / folder)
    ws = Workspace.find(seed)
    generate_churn(
        ws.raw / "churn", windows=2, rows_per_window=rows, covariate_shift_from=WINDOW, concept_drift_from=WINDOW
    )
    result = run_cycle(ws, PARAMS, SEED_WINDOW)
    if not result.ok:
        raise SystemExit(f"seed cycle failed: {result.error}")
    return seed


def timed_cycle(ws_root: Path, what: str = "papermill cycle") -> tuple[dict[str, float], Any]:
    """One notebook cycle of WINDOW: wall seconds per stage (from its start to the next stage's) and the result."""
    from millpond.runs.runner import run_cycle
    from millpond.workspace import Workspace

    marks: list[tuple[str, float]] = []
    result = run_cycle(
        Workspace.find(ws_root), PARAMS, WINDOW, on_stage=lambda s, *_: marks.append((s, time.perf_counter()))
    )
    end = time.perf_counter()
    if not result.ok:
        raise SystemExit(f"{what} failed: {result.error}")
    return {s: (marks[i + 1][1] if i + 1 < len(marks) else end) - t for i, (s, t) in enumerate(marks)}, result


def _papermill(ws_root: Path) -> tuple[dict[str, float], dict[str, str]]:
    from millpond.runs.runner import execute_stage
    from millpond.workspace import Workspace

    walls, result = timed_cycle(ws_root)
    status = {r.stage: r.status for r in result.records}
    started = time.perf_counter()  # promote again: its candidate is decided, so the stage only says "skipped"
    status[SKIP_ROW] = execute_stage(Workspace.find(ws_root), PARAMS, "promote", WINDOW).status
    walls[SKIP_ROW] = time.perf_counter() - started
    return walls, status


def _in_process(ws_root: Path) -> tuple[dict[str, float], dict[str, str]]:
    from millpond.config.params import load_use_case
    from millpond.runs.context import StageContext
    from millpond.runs.stages import RUNNERS
    from millpond.workspace import Workspace

    ws = Workspace.find(ws_root)
    use_case = load_use_case(ws.resolve(PARAMS))
    walls, status = {}, {}
    for stage in STAGES[:-1]:  # the five stages; compare follows drift
        run_dir = ws_root / "bench-runs" / stage  # outputs (drift table, comparison) are written as in a run
        run_dir.mkdir(parents=True)
        started = time.perf_counter()
        result = RUNNERS[stage](StageContext(ws, use_case, WINDOW, run_id=f"bench/{stage}", run_dir=run_dir))
        walls[stage], status[stage] = time.perf_counter() - started, result.status
        if stage == "drift":  # the same sweetviz comparison the cycle's comparison step draws, here in turn
            started = time.perf_counter()
            status["compare"] = _compare(ws, use_case, result.summary.get("comparison_sides"), run_dir)
            walls["compare"] = time.perf_counter() - started
    started = time.perf_counter()
    status[SKIP_ROW] = RUNNERS["promote"](StageContext(ws, use_case, WINDOW, run_id="bench/again")).status
    walls[SKIP_ROW] = time.perf_counter() - started
    return walls, status


def _compare(ws: Any, use_case: Any, sides: dict[str, Any] | None, run_dir: Path) -> str:
    """Draw the drift run's comparison in this process, as the comparison step's child does."""
    from millpond.drift.comparison_report import mart_samples, write_comparison

    if not sides:
        return "skipped"
    options = {
        "features": use_case.feature_columns,
        "target": use_case.target,
        "max_rows": use_case.drift.comparison_rows,
    }
    left, right = mart_samples(ws.feature_marts, use_case.use_case, sides["reference"], sides["current"], **options)
    write_comparison(left, right, run_dir / "comparison.html", **options)
    return "succeeded"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    times: dict[str, dict[str, list[float]]] = {"papermill": {}, "in-process": {}}
    statuses: dict[str, dict[str, str]] = {}
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="bench-stages-") as tmp:
        seed = _seed(Path(tmp), args.rows)
        for index in range(args.rounds):
            for how, call in (("papermill", _papermill), ("in-process", _in_process)):
                copy = Path(tmp) / f"{how}-{index}"
                shutil.copytree(seed, copy)
                walls, statuses[how] = call(copy)
                for stage, wall in walls.items():
                    times[how].setdefault(stage, []).append(wall)
                shutil.rmtree(copy)
                loads.append(os.getloadavg()[0])
    _print(times, statuses, args, loads)
    return 0


def _print(
    times: dict[str, dict[str, list[float]]], statuses: dict[str, dict[str, str]], args: argparse.Namespace, loads: list
) -> None:
    print(f"window {WINDOW}, {args.rows} rows per window, {args.rounds} interleaved rounds, median wall seconds")
    print(f"{'stage':<8} {'papermill':>10} {'in-process':>11} {'ratio':>7}  status (papermill / in-process)")
    totals = {"papermill": 0.0, "in-process": 0.0}
    for stage in STAGES:
        pm, ip = (statistics.median(times[h].get(stage, [0.0])) for h in ("papermill", "in-process"))
        totals["papermill"] += pm
        totals["in-process"] += ip
        ratio = pm / ip if ip else float("inf")
        st = f"{statuses['papermill'].get(stage, '-')} / {statuses['in-process'].get(stage, '-')}"
        print(f"{stage:<8} {pm:>10.2f} {ip:>11.2f} {ratio:>6.1f}x  {st}")
    pm, ip = totals["papermill"], totals["in-process"]
    print(f"{'total':<8} {pm:>10.2f} {ip:>11.2f} {pm / ip if ip else float('inf'):>6.1f}x")
    pm, ip = (statistics.median(times[h].get(SKIP_ROW, [0.0])) for h in ("papermill", "in-process"))
    st = f"{statuses['papermill'].get(SKIP_ROW, '-')} / {statuses['in-process'].get(SKIP_ROW, '-')}"
    print(f"{SKIP_ROW}: papermill {pm:.2f} s, in-process {ip:.2f} s ({pm / ip if ip else float('inf'):.1f}x)  {st}")
    print(f"load average (1 min) during the run: min {min(loads):.2f}, max {max(loads):.2f}; {os.cpu_count()} cores")


if __name__ == "__main__":
    raise SystemExit(main())
