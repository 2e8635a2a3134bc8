"""Benchmark what the model store adds to a training run: profile + save + metadata, against the bare fit.

Generates ``--rows`` rows of the demo churn data (seeded), then for ``--repeat`` rounds:

* bare fit: ``build_pipeline(use_case).fit(X, y)`` with the demo's model params;
* store cost: the same fit under ``profile_call`` (its extra time over the bare fit),
  prediction latency, and ``ModelStore.save`` with the run's metadata (canonical skops
  dump, allow-list check, sha256, fsync'd write, read-only publish) into a temporary store.

Metrics and permutation importance are part of training either way and not counted.
Prints one table; the target is store cost < 5% of the bare fit.

Usage: PYTHONPATH=src OMP_NUM_THREADS=1 python scripts/bench/bench_model_store.py [--rows 200000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml
from threadpoolctl import threadpool_limits

from millpond.config.params import validate_use_case
from millpond.demo.data import generate_churn
from millpond.models.footprint import prediction_latency, profile_call
from millpond.models.store import ModelStore
from millpond.models.training import build_pipeline, input_schema, predict_scores

ROOT = Path(__file__).resolve().parents[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    use_case = validate_use_case(yaml.safe_load((ROOT / "params" / "churn.yaml").read_text()))
    with tempfile.TemporaryDirectory() as tmp:
        generate_churn(Path(tmp) / "raw", windows=1, rows_per_window=args.rows)
        frame = pd.read_csv(next((Path(tmp) / "raw").glob("*.csv")), dtype={"customer_id": "str"})
        features, y = frame[use_case.feature_columns], frame[use_case.target]
        holdout = features.head(5000)
        rows = []
        for round_ in range(1, args.repeat + 1):
            with threadpool_limits(limits=use_case.model.threads):
                model = build_pipeline(use_case)
                started = time.perf_counter()
                model.fit(features, y)
                bare = time.perf_counter() - started

                model = build_pipeline(use_case)
                started = time.perf_counter()
                _, profile = profile_call(lambda: model.fit(features, y))  # noqa: B023 - called at once
                profiled = time.perf_counter() - started
                started = time.perf_counter()
                profile.update(prediction_latency(lambda rows_: predict_scores(model, rows_, use_case), holdout))  # noqa: B023
                latency = time.perf_counter() - started
            metadata = {
                "use_case": use_case.use_case,
                "profile": profile,
                "input_schema": input_schema(use_case),
                "input_example": features.head(5).to_dict(orient="records"),
                "params": use_case.model_dump(mode="json"),
            }
            store = ModelStore(Path(tmp) / f"store{round_}")
            started = time.perf_counter()
            saved = store.save("churn", model, metadata)
            save = time.perf_counter() - started
            added = max(0.0, profiled - bare) + latency + save
            rows.append(
                {
                    "round": round_,
                    "bare_fit_s": bare,
                    "profiled_fit_s": profiled,
                    "latency_s": latency,
                    "save_s": save,
                    "added_s": added,
                    "added_pct": 100 * added / bare,
                    "size_kb": (saved.metadata.size_bytes or 0) / 1024,
                }
            )
    table = pd.DataFrame(rows)
    median = {"round": "median", **{c: statistics.median(table[c]) for c in table.columns if c != "round"}}
    table = pd.concat([table, pd.DataFrame([median])], ignore_index=True)
    print(
        f"model store cost vs bare fit: {args.rows:,} rows, {use_case.model.family} {use_case.model.params}, "
        f"{use_case.model.threads} thread(s)"
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    verdict = "meets" if median["added_pct"] < 5 else "misses"
    print(f"\nstore adds {median['added_pct']:.2f}% to the bare fit (median): {verdict} the < 5% target")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
