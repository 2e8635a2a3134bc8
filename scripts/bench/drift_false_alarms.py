"""Measured false-alarm and detection rates of the data-drift verdict (millpond.drift.stats), by window size.

Stationary windows: reference (``--ref-windows`` windows of the same size, like a champion trained on them) and
current drawn from one distribution, six features of different kinds (normal, log-normal, a Poisson count, a
uniform, a 5-level and a 3-level category); the model's importance is 0.3 on 'normal', 0.14 on each other feature.
A false alarm is a window whose verdict says drift; 'any significant' counts windows where at least one feature's
test rejected after Benjamini-Hochberg (the significance half of the verdict alone, which should be about 5 %).
Then the same windows with one feature shifted by 0.3 sd (a material shift: detection rate) and by 0.02 sd (a
trivial shift: huge windows find it significant, the effect floors must keep it from being a verdict).

    PYTHONPATH=src python scripts/bench/drift_false_alarms.py            # sizes 500 .. 1,000,000
    PYTHONPATH=src python scripts/bench/drift_false_alarms.py --quick    # fewer repetitions
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from millpond.config.params import DriftThresholds
from millpond.drift.stats import dataset_verdict, drift_table

NUMERIC = ["normal", "lognormal", "count", "uniform"]
CATEGORICAL = ["plan", "region"]
IMPORTANCE = {"normal": 0.3, **{name: 0.14 for name in ["lognormal", "count", "uniform", *CATEGORICAL]}}
SIZES = {500: 200, 1_000: 200, 5_000: 200, 20_000: 100, 100_000: 40, 1_000_000: 10}


def draw(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    """``n`` rows of the six features; ``shift`` moves 'normal' by that many sds."""
    return pd.DataFrame(
        {
            "normal": rng.normal(shift, 1.0, n),
            "lognormal": rng.lognormal(0.0, 0.8, n),
            "count": rng.poisson(3.0, n).astype("float64"),
            "uniform": rng.uniform(0.0, 10.0, n),
            "plan": rng.choice(["a", "b", "c", "d", "e"], n, p=[0.4, 0.25, 0.15, 0.12, 0.08]),
            "region": rng.choice(["n", "s", "w"], n, p=[0.5, 0.3, 0.2]),
        }
    )


def rate(
    n: int, reps: int, shift: float, ref_windows: int, thresholds: DriftThresholds, seed: int
) -> tuple[float, float]:
    """Share of windows whose verdict says drift, and share with any significant feature."""
    rng = np.random.default_rng(seed)
    alarms = significant = 0
    for _ in range(reps):
        table = drift_table(
            draw(rng, n * ref_windows), draw(rng, n, shift), numeric=NUMERIC, categorical=CATEGORICAL,
            thresholds=thresholds, importance=IMPORTANCE,
        )  # fmt: skip
        alarms += bool(dataset_verdict(table, thresholds)["drift_detected"])
        significant += bool(table["significant"].any())
    return alarms / reps, significant / reps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a quarter of the repetitions (at least 5)")
    parser.add_argument("--ref-windows", type=int, default=2, help="reference = this many windows (default 2)")
    parser.add_argument("--max-rows", type=int, default=1_000_000, help="largest window size to run")
    args = parser.parse_args()
    thresholds = DriftThresholds()
    print(f"thresholds: significance {thresholds.significance}, {thresholds.multiple_testing}; 6 features")
    print(
        f"{'rows':>10} {'reps':>5} {'false alarms':>13} {'any significant':>16} {'detected 0.3sd':>15} "
        f"{'flagged 0.02sd':>15} {'s':>6}"
    )
    for n, reps in SIZES.items():
        if n > args.max_rows:
            continue
        reps = max(5, reps // 4) if args.quick else reps
        started = time.perf_counter()
        null, any_significant = rate(n, reps, 0.0, args.ref_windows, thresholds, seed=n)
        shifted = rate(n, max(5, reps // 4), 0.3, args.ref_windows, thresholds, seed=n + 1)[0]
        trivial = rate(n, max(5, reps // 4), 0.02, args.ref_windows, thresholds, seed=n + 2)[0]
        print(
            f"{n:>10,} {reps:>5} {null:>13.1%} {any_significant:>16.1%} {shifted:>15.1%} {trivial:>15.1%} "
            f"{time.perf_counter() - started:>6.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
