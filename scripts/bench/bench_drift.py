"""Benchmark millpond.drift.stats.drift_table against plain scipy loops.

Generates a seeded reference and a shifted current frame (``--rows`` rows x 20
numeric + 10 categorical columns, ~1% missing; a third of the columns shifted
strongly, a third slightly, as real windows differ, a third not at all), then
times each method (first run and best of ``--repeat``) and measures its peak
memory above the data:

* peak RSS: the kernel's high-water mark is reset to the current RSS before
  each run (``/proc/self/clear_refs``, Linux), so ``ru_maxrss`` after the run
  minus the RSS before it is the method's own peak;
* tracemalloc: peak of Python/numpy allocations during one extra run.

Wall seconds depend on what else the machine runs; CPU seconds (all threads of
the process, best run) show the work done.

Usage: python scripts/bench/bench_drift.py [--rows 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import gc
import resource
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon

from millpond.drift.stats import drift_table

N_NUMERIC, N_CATEGORICAL = 20, 10
CLEAR_REFS = Path("/proc/self/clear_refs")


def make_frames(rows: int, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame, list[str], list[str]]:
    """Reference and current frames: in current, column i shifts strongly if i % 3 == 0, slightly if i % 3 == 1."""
    rng = np.random.default_rng(seed)
    numeric = [f"num_{i:02d}" for i in range(N_NUMERIC)]
    categorical = [f"cat_{i:02d}" for i in range(N_CATEGORICAL)]
    frames = []
    for side in ("reference", "current"):
        data: dict[str, object] = {}
        for i, name in enumerate(numeric):
            shift = 0.0 if side == "reference" else (0.3, 0.005, 0.0)[i % 3]
            if i % 4 == 0:  # integer-valued: heavy ties
                values = rng.poisson(3.0 + shift * 3, rows).astype(np.float64)
            elif i % 4 == 1:
                values = rng.lognormal(shift, 1.0, rows)
            else:
                values = rng.normal(shift, 1.0, rows)
            values[rng.random(rows) < 0.01] = np.nan
            data[name] = values
        for i, name in enumerate(categorical):
            k = 5 + 5 * i  # 5 to 50 categories; current sees two more when shifted
            shifted = side == "current" and i % 3 == 0
            levels = np.array([f"{name}_v{j}" for j in range(k + (2 if shifted else 0))], dtype=object)
            tilt = 2.0 if shifted else (1.02 if side == "current" and i % 3 == 1 else 1.0)
            weights = np.linspace(1.0, tilt, levels.size)
            values = rng.choice(levels, rows, p=weights / weights.sum())
            values[rng.random(rows) < 0.01] = None
            data[name] = pd.array(values, dtype="str")
        frames.append(pd.DataFrame(data))
    return frames[0], frames[1], numeric, categorical


def scipy_tests(ref: pd.DataFrame, cur: pd.DataFrame, numeric: list[str], categorical: list[str]) -> None:
    """The plain loop: ks_2samp per numeric column, chi2_contingency per categorical column."""
    for name in numeric:
        stats.ks_2samp(ref[name].dropna().to_numpy(), cur[name].dropna().to_numpy())
    for name in categorical:
        table = pd.concat([ref[name].value_counts(), cur[name].value_counts()], axis=1).fillna(0)
        stats.chi2_contingency(table.to_numpy().T)


def scipy_all_six(ref: pd.DataFrame, cur: pd.DataFrame, numeric: list[str], categorical: list[str]) -> None:
    """The same six statistics as drift_table, each from scipy/numpy on unsorted data."""
    for name in numeric:
        x, y = ref[name].dropna().to_numpy(), cur[name].dropna().to_numpy()
        stats.ks_2samp(x, y)
        stats.wasserstein_distance(x, y) / np.std(x)
        edges = np.unique(np.quantile(x, np.linspace(0, 1, 11)))
        edges[0], edges[-1] = -np.inf, np.inf
        p = np.histogram(x, edges)[0] / x.size
        q = np.histogram(y, edges)[0] / y.size
        np.sum((q - p) * np.log(np.clip(q, 1e-4, None) / np.clip(p, 1e-4, None)))
        jensenshannon(p, q, base=2)
        q25, q75 = np.percentile(x, [25, 75])
        abs(np.median(y) - np.median(x)) / (q75 - q25)
    for name in categorical:
        table = pd.concat([ref[name].value_counts(), cur[name].value_counts()], axis=1).fillna(0).to_numpy().T
        stats.chi2_contingency(table)
        jensenshannon(table[0], table[1], base=2)


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def release_freed_memory() -> None:
    """Return freed heap pages to the OS (glibc), so the RSS before a run is the live data only."""
    libc = ctypes.util.find_library("c")
    if libc and hasattr(ctypes.CDLL(libc), "malloc_trim"):
        ctypes.CDLL(libc).malloc_trim(0)


def measure(run: Callable[[], object], repeat: int) -> dict[str, float]:
    gc.collect()
    release_freed_memory()
    before = rss_mb()
    if CLEAR_REFS.exists():
        CLEAR_REFS.write_text("5")  # reset the peak-RSS high-water mark to the current RSS
    start, cpu_start = time.perf_counter(), time.process_time()
    run()
    first, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    times, cpus = [first], [cpu]
    for _ in range(repeat - 1):
        start, cpu_start = time.perf_counter(), time.process_time()
        run()
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu_start)
    tracemalloc.start()
    run()
    traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return {
        "first_s": first,
        "best_s": min(times),
        "cpu_s": min(cpus),
        "peak_rss_mb": peak_rss,
        "tracemalloc_mb": traced_peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per method; the best is reported")
    args = parser.parse_args()

    ref, cur, numeric, categorical = make_frames(args.rows)
    data_mb = (ref.memory_usage(deep=True).sum() + cur.memory_usage(deep=True).sum()) / 2**20
    print(
        f"{args.rows:,} rows x ({N_NUMERIC} numeric + {N_CATEGORICAL} categorical), reference and current: "
        f"{data_mb:,.0f} MB of data, RSS {rss_mb():,.0f} MB"
    )
    if not CLEAR_REFS.exists():
        print("warning: /proc/self/clear_refs missing; peak RSS includes data generation")

    methods = {
        "drift_table (all six, exact)": lambda: drift_table(ref, cur, numeric=numeric, categorical=categorical),
        "scipy loop: ks_2samp + chi2_contingency": lambda: scipy_tests(ref, cur, numeric, categorical),
        "scipy/numpy loop: all six statistics": lambda: scipy_all_six(ref, cur, numeric, categorical),
    }
    print(f"\n{'method':42s} {'first s':>8s} {'best s':>8s} {'cpu s':>8s} {'peak RSS MB':>12s} {'tracemalloc MB':>15s}")
    for label, run in methods.items():
        m = measure(run, args.repeat)
        print(
            f"{label:42s} {m['first_s']:8.2f} {m['best_s']:8.2f} {m['cpu_s']:8.2f} {m['peak_rss_mb']:12.0f} "
            f"{m['tracemalloc_mb']:15.0f}"
        )
    table = drift_table(ref, cur, numeric=numeric, categorical=categorical)
    strong = sorted(c for c in numeric + categorical if int(c[-2:]) % 3 == 0)
    print(f"\ndrifted features: {sorted(table.loc[table['drifted'], 'feature'])}")
    print(f"shifted strongly by construction: {strong}")


if __name__ == "__main__":
    main()
