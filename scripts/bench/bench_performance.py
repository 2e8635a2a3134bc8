"""Time the bootstrap interval, the paired bootstrap difference and the CBPE estimate (200 resamples) and print a table."""

from __future__ import annotations

import time

import numpy as np

from millpond.performance import Calibrator, bootstrap_metric, estimate_interval, paired_difference


def main() -> None:
    rng = np.random.default_rng(0)
    print(f"{'what':<26} {'rows':>8} {'resamples':>9} {'seconds':>8}")
    for rows in (20_000, 100_000):
        y = rng.integers(0, 2, rows)
        s = np.clip(0.3 * y + rng.random(rows) * 0.7, 0, 1)
        s2 = np.clip(s + rng.normal(0, 0.1, rows), 0, 1)
        calibrator = Calibrator.fit(y[:5000], s[:5000])
        cases = {
            "bootstrap roc_auc": lambda: bootstrap_metric("roc_auc", y, s, resamples=200),
            "paired difference roc_auc": lambda: paired_difference("roc_auc", y, s, s2, resamples=200),
            "CBPE estimate + interval": lambda: estimate_interval(s, calibrator, resamples=200),
        }
        for name, run in cases.items():
            started = time.perf_counter()
            run()
            print(f"{name:<26} {rows:>8} {200:>9} {time.perf_counter() - started:>8.2f}")


if __name__ == "__main__":
    main()
