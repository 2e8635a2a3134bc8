"""Huge windows must not flag trivial effects: the data-drift verdict (millpond.drift.stats) on windows of up to 10
million rows, stationary and with a trivially small shift, with the default thresholds.

Each window: a reference of ``--ref-windows`` windows and a current window of the same size, six features (normal,
log-normal, a Poisson count, a uniform, a 5-level and a 3-level category; the model's importance 0.3 on 'normal',
0.14 on each other). Stationary: both sides from one distribution. Trivial: 'normal' moved by 0.02 sd and the
5-level category's top share by one point (0.40 -> 0.41); on millions of rows the tests find both (p-values far
below 0.05), and the effect floors (PSI 0.25, Jensen-Shannon 0.1, Wasserstein 0.1 sd, median 0.5 IQR) must keep
them from being a verdict. Categories are drawn as codes (pandas Categorical), so 10M rows fit in about 2 GB.

    PYTHONPATH=src python scripts/bench/drift_huge_windows.py                      # 100,000 .. 10,000,000 rows
    PYTHONPATH=src python scripts/bench/drift_huge_windows.py --max-rows 1000000 --reps 3
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

from millpond.config.params import DriftThresholds
from millpond.drift.stats import dataset_verdict, drift_table

NUMERIC = ["normal", "lognormal", "count", "uniform"]
CATEGORICAL = ["plan", "region"]
IMPORTANCE = {"normal": 0.3, **{name: 0.14 for name in ["lognormal", "count", "uniform", *CATEGORICAL]}}
SIZES = (100_000, 1_000_000, 3_000_000, 10_000_000)
PLAN = np.array([0.40, 0.25, 0.15, 0.12, 0.08])
TRIVIAL_PLAN = np.array([0.41, 0.245, 0.145, 0.12, 0.08])


def _categorical(rng: np.random.Generator, n: int, labels: list[str], shares: np.ndarray) -> pd.Categorical:
    codes = np.searchsorted(np.cumsum(shares), rng.uniform(size=n), side="right").clip(0, len(labels) - 1)
    return pd.Categorical.from_codes(codes.astype(np.int8), categories=labels)


def draw(rng: np.random.Generator, n: int, trivial: bool = False) -> pd.DataFrame:
    """``n`` rows of the six features; ``trivial`` moves 'normal' by 0.02 sd and 'plan' a by one point."""
    return pd.DataFrame(
        {
            "normal": rng.normal(0.02 if trivial else 0.0, 1.0, n),
            "lognormal": rng.lognormal(0.0, 0.8, n),
            "count": rng.poisson(3.0, n).astype("float64"),
            "uniform": rng.uniform(0.0, 10.0, n),
            "plan": _categorical(rng, n, list("abcde"), TRIVIAL_PLAN if trivial else PLAN),
            "region": _categorical(rng, n, list("nsw"), np.array([0.5, 0.3, 0.2])),
        }
    )


def run(n: int, reps: int, ref_windows: int, trivial: bool, seed: int) -> dict[str, float]:
    """Shares of windows that say drift / have a significant feature, and the largest effect ratio seen."""
    thresholds = DriftThresholds()
    rng = np.random.default_rng(seed)
    alarms = significant = 0
    strongest = 0.0
    for _ in range(reps):
        reference = draw(rng, n * ref_windows)
        table = drift_table(
            reference, draw(rng, n, trivial), numeric=NUMERIC, categorical=CATEGORICAL, importance=IMPORTANCE
        )
        del reference
        alarms += bool(dataset_verdict(table, thresholds)["drift_detected"])
        significant += bool(table["significant"].any())
        strongest = max(strongest, float(table["drift_score"].max()))
    return {"alarms": alarms / reps, "significant": significant / reps, "strongest": strongest}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-rows", type=int, default=10_000_000, help="largest current window (default 10M)")
    parser.add_argument("--reps", type=int, default=5, help="windows per size and kind (default 5)")
    parser.add_argument("--ref-windows", type=int, default=1, help="reference = this many windows (default 1)")
    args = parser.parse_args()
    print(f"default thresholds, 6 features, reference = {args.ref_windows} window(s) of the same size")
    print(
        f"{'rows':>11} {'reps':>5} {'stationary: drift':>18} {'any significant':>16} {'trivial: drift':>15} "
        f"{'any significant':>16} {'max effect/floor':>17} {'s':>6} {'peak RSS GB':>12}"
    )
    for n in SIZES:
        if n > args.max_rows:
            continue
        started = time.perf_counter()
        null = run(n, args.reps, args.ref_windows, trivial=False, seed=n)
        trivial = run(n, args.reps, args.ref_windows, trivial=True, seed=n + 1)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        print(
            f"{n:>11,} {args.reps:>5} {null['alarms']:>18.0%} {null['significant']:>16.0%} {trivial['alarms']:>15.0%} "
            f"{trivial['significant']:>16.0%} {max(null['strongest'], trivial['strongest']):>17.3f} "
            f"{time.perf_counter() - started:>6.0f} {peak:>12.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
