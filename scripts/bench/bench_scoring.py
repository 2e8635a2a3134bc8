"""Benchmark batch scoring with capture against a bare ``model.predict_proba`` on the same rows in memory.

Writes a churn-shaped Parquet mart of ``--rows`` rows (generated chunk by chunk),
trains the demo's pipeline (hist gradient boosting, params/churn.yaml) on 30,000
rows, then measures

* ``score_file``: the mart read in Arrow record batches (``scoring.batch_rows``),
  each batch checked against the input contract, scored, and its inputs +
  predictions appended to a staged capture part published at the end;
  with ``--labels`` the mart keeps the target and KPIs are computed as well;
* bare predict: ``model.predict_proba`` on the whole mart already loaded in memory.

Peak RSS is the process's high-water mark during the run (reset to the current
RSS before it through ``/proc/self/clear_refs`` on Linux), reported absolute and
above the RSS before the run. Targets: throughput >= 0.75 of bare predict, peak
RSS < 1.5 GB at 5 million rows.

Usage: OMP_NUM_THREADS=1 PYTHONPATH=src python scripts/bench/bench_scoring.py [--rows 5000000] [--batch-rows 100000]
"""

from __future__ import annotations

import argparse
import gc
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from millpond.config.params import load_use_case
from millpond.models.store import ModelStore
from millpond.models.training import fit
from millpond.scoring.batch import Scorer, score_file
from millpond.scoring.capture import CaptureStore

ROOT = Path(__file__).resolve().parents[2]
CLEAR_REFS = Path("/proc/self/clear_refs")
CHUNK = 500_000


def make_rows(n: int, start: int, rng: np.random.Generator) -> pd.DataFrame:
    """Churn-shaped rows with the demo's columns and a label that depends on them."""
    tenure = rng.integers(0, 72, n)
    contract = np.array(["month-to-month", "one-year", "two-year"])[rng.choice(3, n, p=[0.5, 0.3, 0.2])]
    internet = np.array(["dsl", "fiber", "none"])[rng.choice(3, n, p=[0.4, 0.4, 0.2])]
    monthly = np.round(rng.normal(65, 20, n).clip(15, 130), 2)
    support = rng.poisson(1.5, n)
    logit = -1.5 + 1.2 * (contract == "month-to-month") + 0.02 * (monthly - 65) - 0.03 * tenure + 0.3 * support
    return pd.DataFrame(
        {
            "customer_id": np.char.add("C", (np.arange(start, start + n)).astype(str)),
            "tenure_months": tenure,
            "contract": contract,
            "internet_service": internet,
            "payment_method": np.array(["card", "bank", "check", "wallet"])[rng.choice(4, n)],
            "region": np.array(["north", "south", "east", "west", "central"])[rng.choice(5, n)],
            "senior_citizen": rng.integers(0, 2, n),
            "monthly_charges": monthly,
            "total_charges": np.round(monthly * np.maximum(tenure, 1), 2),
            "support_calls": support,
            "churned": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype("int64"),
        }
    )


def write_mart(path: Path, rows: int, *, labels: bool = False) -> None:
    rng = np.random.default_rng(7)
    writer = None
    for start in range(0, rows, CHUNK):
        frame = make_rows(min(CHUNK, rows - start), start, rng)
        table = pa.Table.from_pandas(frame if labels else frame.drop(columns="churned"), preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def measured(run):  # type: ignore[no-untyped-def]
    gc.collect()
    before = rss_mb()
    if CLEAR_REFS.exists():
        CLEAR_REFS.write_text("5")  # reset the peak-RSS high-water mark to the current RSS
    start = time.perf_counter()
    out = run()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out, seconds, peak, peak - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--labels", action="store_true", help="keep the target in the mart, so KPIs are computed too")
    args = parser.parse_args()
    if not CLEAR_REFS.exists():
        print("warning: /proc/self/clear_refs missing; peak RSS includes data generation")
    tmp = Path(tempfile.mkdtemp(prefix="bench-scoring-"))
    try:
        uc = load_use_case(ROOT / "params" / "churn.yaml")
        uc = uc.model_copy(update={"scoring": uc.scoring.model_copy(update={"batch_rows": args.batch_rows})})
        train = make_rows(30_000, 10**9, np.random.default_rng(1))
        result = fit(train.iloc[:24_000], train.iloc[24_000:], uc)
        from millpond.scoring.input_contract import InputContract

        store = ModelStore(tmp / "model_store")
        meta = {
            "params": uc.model_dump(mode="json"),
            "input_contract": InputContract.from_training(train, uc).as_dict(),
        }
        saved = store.save("churn", result.model, meta)
        mart = tmp / "mart.parquet"
        started = time.perf_counter()
        write_mart(mart, args.rows, labels=args.labels)
        print(
            f"mart: {args.rows:,} rows{' with labels' if args.labels else ''}, {mart.stat().st_size / 2**20:.0f} MiB, written in {time.perf_counter() - started:.1f} s"
        )
        scorer = Scorer.load(store, "churn", saved.version, use_case=uc)
        del train, result
        captures = CaptureStore(tmp / "model_store", "churn")
        res, t_stream, peak_stream, delta_stream = measured(
            lambda: score_file(mart, scorer, captures=captures, window="bench", run_id="bench")
        )
        capture_mib = res.captures[scorer.version].stat().st_size / 2**20
        frame = pd.read_parquet(mart, columns=uc.feature_columns)
        _, t_bare, peak_bare, delta_bare = measured(lambda: scorer.model.predict_proba(frame))
        rows = res.rows
        print(f"\n{'method':<34} {'seconds':>8} {'rows/s':>11} {'peak RSS MB':>12} {'above start MB':>15}")
        print(
            f"{'score_file + capture (batches)':<34} {t_stream:>8.1f} {rows / t_stream:>11,.0f} {peak_stream:>12.0f} {delta_stream:>15.0f}"
        )
        print(
            f"{'bare predict_proba (in memory)':<34} {t_bare:>8.1f} {rows / t_bare:>11,.0f} {peak_bare:>12.0f} {delta_bare:>15.0f}"
        )
        ratio = t_bare / t_stream
        print(f"\nthroughput ratio (batch scoring / bare predict): {ratio:.2f}  (target >= 0.75)")
        print(
            f"peak RSS while batch scoring: {peak_stream:.0f} MB  (target < 1536 MB); capture part {capture_mib:.0f} MiB"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
