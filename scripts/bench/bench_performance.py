"""Time the bootstrap interval and the paired bootstrap difference of every metric, and the CBPE estimate
(200 resamples), and print a table. ``--rows`` picks the sizes (default 20,000 and 100,000)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from millpond.config.params import CLASSIFICATION_METRICS, REGRESSION_METRICS
from millpond.drift.kpis import Calibrator, bootstrap_metric, estimate_interval, paired_difference

RESAMPLES = 200


def _cases(rows: int, rng: np.random.Generator) -> dict[str, Callable[[], object]]:
    y = rng.integers(0, 2, rows)
    s = np.clip(0.3 * y + rng.random(rows) * 0.7, 0.001, 0.999)
    s2 = np.clip(s + rng.normal(0, 0.1, rows), 0.001, 0.999)
    yr = rng.normal(3.0, 2.0, rows)
    p, p2 = yr + rng.normal(0, 1.0, rows), yr + rng.normal(0, 1.2, rows)
    calibrator = Calibrator.fit(y[:5000], s[:5000])
    cases: dict[str, Callable[[], object]] = {}
    for metric in CLASSIFICATION_METRICS + REGRESSION_METRICS:
        a, b, truth = (s, s2, y) if metric in CLASSIFICATION_METRICS else (p, p2, yr)
        cases[f"bootstrap {metric}"] = lambda m=metric, t=truth, a=a: bootstrap_metric(m, t, a, resamples=RESAMPLES)
        cases[f"paired difference {metric}"] = lambda m=metric, t=truth, a=a, b=b: paired_difference(
            m, t, a, b, resamples=RESAMPLES
        )
    cases["CBPE estimate + interval"] = lambda: estimate_interval(s, calibrator, resamples=RESAMPLES)
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the table shows the best")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'what':<30} {'rows':>8} {'resamples':>9} {'seconds':>8}")
    for rows in args.rows:
        for name, run in _cases(rows, rng).items():
            best = float("inf")
            for _ in range(args.repeat):
                started = time.perf_counter()
                run()
                best = min(best, time.perf_counter() - started)
            print(f"{name:<30} {rows:>8} {RESAMPLES:>9} {best:>8.3f}")


if __name__ == "__main__":
    main()
