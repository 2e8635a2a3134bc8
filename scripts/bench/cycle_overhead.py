"""What a cycle's notebooks cost beyond their work: one demo window through papermill (kernel pool on and off) vs the
same stage functions in one plain process, plus the empty-notebook floor, in one run.

Builds a throw-away workspace (the repository's params/ and notebooks/, demo data with a covariate shift and concept
drift from the second window so that every stage works), runs the first window's cycle once as the seed, then
``--rounds`` interleaved rounds, each way on a fresh copy of the seed:

- ``pool on``: :func:`millpond.runs.runner.run_cycle` with ``MILLPOND_PRESTART=1`` (runs/kernels.py: kernels
  forked from the cycle's zygote, runs/zygote.py);
- ``pool off``: the same with ``MILLPOND_PRESTART=0`` (papermill starts each stage's kernel itself);
- ``in-process``: ``millpond.runs.stages.RUNNERS[stage](ctx)`` in this process (no kernel, no record);
- ``floor``: papermill executing a one-cell ``pass`` notebook (kernel start + shutdown, nothing imported).

Row ``compare``: the drift run's sweetviz comparison (the cycle waits for what is left of the comparison step's
child after promote; in-process draws it in turn). Per stage: median wall seconds each way, overhead (notebook minus in-process) and ratio; whether pool on and off
gave the same results (status, glued summary without run ids, output hashes); the load average.
    PYTHONPATH=src .venv/bin/python scripts/bench/cycle_overhead.py [--rounds 3] [--rows 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_stage_overhead import _execute  # the empty-notebook floor, as that bench measures it
from bench_stages import STAGES, WINDOW, _in_process, _seed, timed_cycle

WAYS = ("pool on", "pool off", "in-process")


def _cycle(ws_root: Path, prestart: str) -> tuple[dict[str, float], dict[str, Any]]:
    """Wall seconds per stage (from one stage's start to the next's) and what each stage gave."""
    os.environ["MILLPOND_PRESTART"] = prestart
    walls, result = timed_cycle(ws_root, f"cycle (MILLPOND_PRESTART={prestart})")
    return walls, {r.stage: _outcome(r) for r in result.records}


VARYING = ("profile", "captures", "run_id", "timings")  # summary keys that differ run to run by nature (time, run ids)


def _stable(value: Any, cycle_id: str) -> Any:
    """``value`` without what differs between any two runs (timings, run ids, paths naming the cycle)."""
    if isinstance(value, dict):
        return {
            k: _stable(v, cycle_id) for k, v in value.items() if k not in VARYING and not str(k).endswith("_seconds")
        }
    if isinstance(value, list):
        return [_stable(v, cycle_id) for v in value]
    return value.replace(cycle_id, "<cycle>") if isinstance(value, str) else value


def _outcome(record: Any) -> dict[str, Any]:
    """What must not depend on how the kernel was started: status, the glued summary (model ids, mart versions, KPIs,
    verdicts, decisions) and the content hashes of the marts and models written (log lines carry times and run ids)."""
    summary = _stable((record.scraps or {}).get("summary") or {}, record.cycle_id)
    outputs = {
        k: v.get("sha256")
        for k, v in (record.manifest.get("outputs") or {}).items()
        if v.get("kind") not in ("log_entry", "capture_part", "report")  # a sweetviz page embeds random element ids
    }
    return {"status": record.status, "summary": json.dumps(summary, sort_keys=True, default=str), "outputs": outputs}


def _round(tmp: Path, seed: Path, index: int, times: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    outcomes: dict[str, Any] = {}
    for way in WAYS:
        copy = tmp / f"{way.replace(' ', '-')}-{index}"
        shutil.copytree(seed, copy)
        if way == "in-process":
            walls, _ = _in_process(copy)
        else:
            walls, outcomes[way] = _cycle(copy, "1" if way == "pool on" else "0")
        for stage, wall in walls.items():
            times[way].setdefault(stage, []).append(wall)
        shutil.rmtree(copy)
    from millpond.runs.runner import kernel_name

    times["floor"].setdefault("empty notebook", []).append(_execute(["pass"], kernel_name())[0])
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=20_000)
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    times: dict[str, dict[str, list[float]]] = {way: {} for way in (*WAYS, "floor")}
    same: list[bool] = []
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="cycle-overhead-") as tmp:
        os.environ["MILLPOND_PRESTART"] = "0"
        seed = _seed(Path(tmp), args.rows)
        for index in range(args.rounds):
            outcomes = _round(Path(tmp), seed, index, times)
            same.append(outcomes["pool on"] == outcomes["pool off"])
            for stage in sorted(set(outcomes["pool on"]) | set(outcomes["pool off"])):
                on, off = outcomes["pool on"].get(stage), outcomes["pool off"].get(stage)
                if on != off:
                    print(f"round {index + 1}: {stage} differs with the pool on and off:\n  {on}\n  {off}")
            loads.append(os.getloadavg()[0])
    _print(times, same, args, loads)
    return 0


def _print(times: dict[str, dict[str, list[float]]], same: list[bool], args: argparse.Namespace, loads: list) -> None:
    def med(way: str, stage: str) -> float:
        return statistics.median(times[way].get(stage, [0.0]))

    floor = med("floor", "empty notebook")
    print(f"window {WINDOW}, {args.rows} rows per window, {args.rounds} interleaved rounds, median wall seconds")
    print(f"{'stage':<8} {'pool on':>8} {'pool off':>9} {'in-proc':>8} {'overhead on/off':>16} {'ratio on/off':>13}")
    totals = dict.fromkeys(WAYS, 0.0)
    for stage in STAGES:
        on, off, ip = (med(way, stage) for way in WAYS)
        for way, value in zip(WAYS, (on, off, ip), strict=True):
            totals[way] += value
        ratio = f"{on / ip:.1f}x/{off / ip:.1f}x" if ip else "-"
        print(f"{stage:<8} {on:>8.2f} {off:>9.2f} {ip:>8.2f} {on - ip:>7.2f}/{off - ip:<8.2f} {ratio:>13}")
    on, off, ip = (totals[way] for way in WAYS)
    print(
        f"{'total':<8} {on:>8.2f} {off:>9.2f} {ip:>8.2f} {on - ip:>7.2f}/{off - ip:<8.2f} {on / ip:.1f}x/{off / ip:.1f}x"
    )
    print(f"empty-notebook floor (papermill, kernel start + shutdown): {floor:.2f} s")
    budget = 1.3 * ip + floor
    print(
        f"target: notebook cycle <= 1.3 x in-process + floor = {budget:.2f} s; pool on {on:.2f} s, pool off {off:.2f} s"
    )
    print(
        f"pool on and off gave the same results (status, summaries, output hashes): {all(same)} in {len(same)} rounds"
    )
    print(f"load average (1 min) during the run: min {min(loads):.2f}, max {max(loads):.2f}; {os.cpu_count()} cores")


if __name__ == "__main__":
    raise SystemExit(main())
