"""Bootstrap intervals at window sizes from 20,000 to millions of rows: the full bootstrap against the subsampled one.

Prints, per size, the ROC AUC interval of the full bootstrap over every row (batches of
``kpis.RESAMPLE_CELLS`` counts, so its memory is flat but its time grows with rows) and of the
default (:func:`millpond.drift.kpis.bootstrap_samples`: above ``BOOTSTRAP_ROWS`` rows, a seeded
subsample's spread rescaled to the window), with seconds and the width ratio.

    PYTHONPATH=src OMP_NUM_THREADS=1 python scripts/bench/bench_bootstrap.py --rows 20000 200000 1000000
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from millpond.drift import kpis


def _timed(y: np.ndarray, s: np.ndarray, resamples: int) -> tuple[kpis.Interval, float]:
    started = time.perf_counter()
    interval = kpis.bootstrap_metric("roc_auc", y, s, resamples=resamples)
    return interval, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 200_000, 1_000_000])
    parser.add_argument("--resamples", type=int, default=300)
    parser.add_argument("--full-up-to", type=int, default=2_000_000, help="skip the full bootstrap above this size")
    args = parser.parse_args()
    default_rows = kpis.BOOTSTRAP_ROWS
    print(f"{'rows':>10} {'full interval':>24} {'s':>7} {'subsampled interval':>24} {'s':>7} {'width ratio':>11}")
    for rows in args.rows:
        rng = np.random.default_rng(rows)
        y = (rng.random(rows) < 0.3).astype(int)
        s = rng.normal(y, 1.0)
        kpis.BOOTSTRAP_ROWS = default_rows
        sub, sub_s = _timed(y, s, args.resamples)
        if rows <= args.full_up_to:
            kpis.BOOTSTRAP_ROWS = rows
            full, full_s = _timed(y, s, args.resamples)
            ratio = f"{(sub.high - sub.low) / (full.high - full.low):.3f}"
            full_text, full_time = f"[{full.low:.5f}, {full.high:.5f}]", f"{full_s:.1f}"
        else:
            full_text, full_time, ratio = "(skipped)", "-", "-"
        print(
            f"{rows:>10,} {full_text:>24} {full_time:>7} {f'[{sub.low:.5f}, {sub.high:.5f}]':>24} {sub_s:>7.1f} {ratio:>11}"
        )


if __name__ == "__main__":
    main()
