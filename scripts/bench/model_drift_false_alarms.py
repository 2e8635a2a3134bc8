"""Measured false-alarm and detection rates of the model-drift rule (millpond.drift.kpis.compare_kpi), by window size.

Stationary windows: one fixed model scored on fresh labelled rows from one distribution; the KPI of each window
(with its 200-resample bootstrap interval) is compared with the mean of the two windows before, as the drift stage
does. A false alarm is a stationary window the rule calls model drift. Detection: the same rule on a window where
P(y | x) changed. Classification (ROC AUC, absolute tolerance 0.02) and regression (RMSE, relative tolerance 5 %).

    PYTHONPATH=src python scripts/bench/model_drift_false_alarms.py [--windows 300]
"""

from __future__ import annotations

import argparse

import numpy as np

from millpond.config.params import DriftPolicy
from millpond.drift.kpis import bootstrap_metric, compare_kpi


def classification(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(1.2 * x + rng.normal(0, noise, n))))).astype(int)
    return y, 1 / (1 + np.exp(-1.2 * x))


def regression(rng: np.random.Generator, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=n)
    y = 3 * x + rng.standard_t(4, n) * noise  # heavy-tailed errors, like earnings
    return y, 3 * x


def rates(metric: str, n: int, windows: int, seed: int) -> tuple[float, float]:
    policy = DriftPolicy()
    make, higher, relative = (classification, True, False) if metric == "roc_auc" else (regression, False, True)
    tolerance = policy.kpi_tolerance_relative if relative else policy.kpi_tolerance
    rng = np.random.default_rng(seed)
    history: list[tuple[str, float]] = []
    alarms = detected = checked = 0
    for index in range(windows):
        interval = bootstrap_metric(metric, *make(rng, n, 1.0), resamples=policy.bootstrap_resamples, seed=index)
        if len(history) == 2:
            checked += 1
            kw = {"tolerance": tolerance, "higher_is_better": higher, "relative": relative}
            alarms += compare_kpi(interval, history, None, **kw)["model_drift"]
            changed = bootstrap_metric(metric, *make(rng, n, 2.0), resamples=policy.bootstrap_resamples, seed=index)
            detected += compare_kpi(changed, history, None, **kw)["model_drift"]
        history = [*history, (f"w{index:04d}", interval.value)][-2:]
    return alarms / checked, detected / checked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=300, help="stationary windows per size (default 300)")
    args = parser.parse_args()
    print(f"{'metric':>8} {'rows':>8} {'windows':>8} {'false alarms':>13} {'detected':>9}")
    for metric in ("roc_auc", "rmse"):
        for n in (500, 1_000, 5_000, 20_000):
            windows = args.windows if n <= 5_000 else max(30, args.windows // 5)
            false_alarms, detected = rates(metric, n, windows, seed=n)
            print(f"{metric:>8} {n:>8,} {windows:>8} {false_alarms:>13.1%} {detected:>9.1%}", flush=True)


if __name__ == "__main__":
    main()
