"""Write the synthetic churn demo data (see millpond.demo.data) into the workspace.

    python scripts/make_demo_data.py                      # 12 windows x 20,000 rows into feature_marts/raw/churn
    python scripts/make_demo_data.py --concept-drift-from none --force

Skips the work when the files and a ``_settings.json`` with the same settings
are already there, unless ``--force``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from millpond.demo.data import LAYOUTS, generate_churn, month_index, window_labels

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "feature_marts" / "raw" / "churn"
SETTINGS_FILE = "_settings.json"
GENERATOR_VERSION = 1  # bump when millpond.demo.data changes what it writes


def _month(value: str) -> str:
    try:
        month_index(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return value


def _month_or_none(value: str) -> str | None:
    return None if value.strip().lower() == "none" else _month(value)


def _expected(out: Path, layout: str, labels: list[str]) -> list[Path]:
    if layout == "single_parquet":
        return [out / "churn.parquet"]
    suffix = "csv" if layout == "per_window_csv" else "parquet"
    return [out / f"churn_{w}.{suffix}" for w in labels]


def _churn_rates(paths: list[Path], labels: list[str]) -> tuple[int, dict[str, float]]:
    if len(paths) == 1 and paths[0].name == "churn.parquet":
        df = pd.read_parquet(paths[0], columns=["month", "churned"])
        return len(df), df.groupby("month")["churned"].mean().to_dict()
    frames = [
        pd.read_csv(p, usecols=["churned"]) if p.suffix == ".csv" else pd.read_parquet(p, columns=["churned"])
        for p in paths
    ]
    return sum(len(f) for f in frames), {w: float(f["churned"].mean()) for w, f in zip(labels, frames)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: %(default)s)")
    parser.add_argument("--windows", type=int, default=12, help="number of monthly windows")
    parser.add_argument("--rows", type=int, default=20_000, help="rows per window")
    parser.add_argument("--start", type=_month, default="2025-01", help="first window, YYYY-MM")
    parser.add_argument("--covariate-shift-from", type=_month_or_none, default="2025-07", help="YYYY-MM or none")
    parser.add_argument("--concept-drift-from", type=_month_or_none, default="2025-09", help="YYYY-MM or none")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--layout", choices=LAYOUTS, default="per_window_csv")
    parser.add_argument("--force", action="store_true", help="regenerate even when up to date")
    args = parser.parse_args(argv)

    out: Path = args.out.resolve()
    settings: dict[str, object] = {
        "generator_version": GENERATOR_VERSION,
        "start": args.start,
        "windows": args.windows,
        "rows": args.rows,
        "covariate_shift_from": args.covariate_shift_from,
        "concept_drift_from": args.concept_drift_from,
        "seed": args.seed,
        "layout": args.layout,
    }
    if args.windows < 1 or args.rows < 1:
        parser.error(f"--windows and --rows must be >= 1. Got {args.windows} and {args.rows}.")
    labels = window_labels(args.start, args.windows)
    settings_path = out / SETTINGS_FILE
    if not args.force and settings_path.exists() and all(p.exists() for p in _expected(out, args.layout, labels)):
        if json.loads(settings_path.read_text(encoding="utf-8")) == settings:
            print(f"up to date: {out} (same settings; --force to regenerate)")
            return 0
    settings_path.unlink(missing_ok=True)  # an interrupted run must not look up to date
    paths = generate_churn(
        out,
        start=args.start,
        windows=args.windows,
        rows_per_window=args.rows,
        covariate_shift_from=args.covariate_shift_from,
        concept_drift_from=args.concept_drift_from,
        seed=args.seed,
        layout=args.layout,
    )
    settings_path.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    for path in paths:
        print(f"wrote {path}")
    total, rates = _churn_rates(paths, labels)
    table = " ".join(f"{w}:{rate:.1%}" for w, rate in rates.items())
    print(f"{total:,} rows in {len(labels)} windows; churn rate {table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
