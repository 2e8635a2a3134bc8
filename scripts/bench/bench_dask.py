"""Benchmark drift statistics and the training search in-process against a 2-worker loopback Dask LocalCluster.

Drift: a reference and a current frame of ``--rows`` rows each (four numeric features, two of them continuous and
two with few distinct values, and two categorical ones), ``drift_table`` in this process against
``drift_table_partitioned`` on the cluster, the ``--partitions`` Parquet parts of each side either sent from this
process or read by the workers (a dask DataFrame); reading is timed in every variant. Search: the demo churn
pipeline (hist_gradient_boosting) on ``--train-rows`` rows, a grid of ``--candidates`` candidates x 3 folds,
``tune`` with ``n_jobs=1`` against ``tune(client=...)`` (joblib's Dask backend). Results must be identical: drift
tables to 1e-9, best parameters and fold scores exactly (checked here). The LocalCluster has ``--workers`` worker
processes of one thread each, on 127.0.0.1, no dashboard; it is started once, outside the timings. Peak RSS is the
client's (this process's) high-water mark during each run, reset before it through /proc/self/clear_refs; the
workers are separate processes.

Usage: OMP_NUM_THREADS=1 PYTHONPATH=src python scripts/bench/bench_dask.py [--rows 2000000] [--train-rows 60000]
"""

from __future__ import annotations

import argparse
import gc
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from millpond.config.params import SearchSpec, load_use_case
from millpond.drift.distributed import drift_table_partitioned, split
from millpond.drift.stats import drift_table
from millpond.models.training import build_pipeline
from millpond.models.tuning import tune

ROOT = Path(__file__).resolve().parents[2]
CLEAR_REFS = Path("/proc/self/clear_refs")
NUMERIC, CATEGORICAL = ["amount", "score", "calls", "tenure"], ["plan", "region"]


def status_mb(field: str) -> float:
    return next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith(field)) / 1024


def measured(run: Callable[[], Any]) -> tuple[Any, float, float, float]:
    """(result, seconds, client peak RSS in MB, peak RSS above the RSS before the run) of one run."""
    gc.collect()
    if CLEAR_REFS.exists():
        CLEAR_REFS.write_text("5")  # reset the peak-RSS high-water mark to the current RSS
    before = status_mb("VmRSS")
    start = time.perf_counter()
    result = run()
    seconds, peak = time.perf_counter() - start, status_mb("VmHWM")
    return result, seconds, peak, peak - before


def drift_frame(rows: int, shift: float, rng: np.random.Generator) -> pd.DataFrame:
    amount = rng.lognormal(3 + shift, 1.0, rows)
    amount[rng.random(rows) < 0.02] = np.nan
    return pd.DataFrame(
        {
            "amount": amount,
            "score": rng.normal(shift, 1.0, rows),
            "calls": rng.poisson(1.5 + shift, rows).astype(float),
            "tenure": rng.integers(0, 72, rows).astype(float),
            "plan": rng.choice(["basic", "plus", "pro"], rows, p=[0.5, 0.3, 0.2]),
            "region": rng.choice([f"r{i}" for i in range(20)], rows),
        }
    )


def search_inputs(rows: int, candidates: int) -> tuple[Any, pd.DataFrame, pd.Series]:
    from millpond.demo.data import generate_churn

    uc = load_use_case(ROOT / "params" / "churn.yaml")
    rates = [round(0.02 * (i + 1), 2) for i in range(candidates)]
    search = SearchSpec(method="grid", space={"learning_rate": rates}, cv_folds=3)
    uc = uc.model_copy(update={"model": uc.model.model_copy(update={"search": search, "params": {"max_iter": 100}})})
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-dask-churn-{rows}"
    generate_churn(out, windows=1, rows_per_window=rows)
    frame = pd.read_csv(next(out.glob("*.csv")), dtype={"customer_id": "str"})
    return uc, frame[uc.feature_columns], frame[uc.target]


def row(task: str, where: str, measure: tuple[Any, float, float, float], identical: str) -> None:
    _, seconds, peak, above = measure
    print(f"| {task:<6} | {where:<22} | {seconds:8.2f} | {peak:8.0f} | {above:8.0f} | {identical:<9} |")


def bench_drift(client: Any, rows: int, partitions: int, folder: Path) -> None:
    """In-process: read both sides and ``drift_table``. Dask: the same table from the partitions, either sent from
    this process (``split``) or read by the workers from Parquet (a dask DataFrame), so this process never holds
    the raw rows."""
    import dask.dataframe as dd

    rng = np.random.default_rng(0)
    for side, shift in (("reference", 0.0), ("current", 0.05)):
        (folder / side).mkdir(parents=True, exist_ok=True)
        for i, part in enumerate(split(drift_frame(rows, shift, rng), partitions)):
            part.to_parquet(folder / side / f"part-{i:03d}.parquet")
    kw: dict[str, Any] = {"numeric": NUMERIC, "categorical": CATEGORICAL}

    def read(side: str) -> pd.DataFrame:
        return pd.read_parquet(folder / side)

    run = measured(lambda: drift_table(read("reference"), read("current"), **kw))
    local = run[0]
    row("drift", "in-process", run, "-")
    run = measured(
        lambda: drift_table_partitioned(
            split(read("reference"), partitions), split(read("current"), partitions), client=client, **kw
        )
    )
    pd.testing.assert_frame_equal(run[0], local, check_exact=False, rtol=0, atol=1e-9)
    row("drift", f"dask, sent, {partitions} parts", run, "yes")
    ref, cur = dd.read_parquet(folder / "reference"), dd.read_parquet(folder / "current")
    run = measured(lambda: drift_table_partitioned(ref, cur, client=client, **kw))
    pd.testing.assert_frame_equal(run[0], local, check_exact=False, rtol=0, atol=1e-9)
    row("drift", "dask, read by workers", run, "yes")


def bench_search(client: Any, rows: int, candidates: int) -> None:
    uc, features, y = search_inputs(rows, candidates)
    run = measured(lambda: tune(build_pipeline(uc), features, y, None, uc))
    local = run[0]
    row("search", "in-process (n_jobs=1)", run, "-")
    run = measured(lambda: tune(build_pipeline(uc), features, y, None, uc, client=client))
    remote = run[0]
    timings = ["fit_seconds", "score_seconds"]
    pd.testing.assert_frame_equal(remote.iterations.drop(columns=timings), local.iterations.drop(columns=timings))
    assert remote.best_params == local.best_params
    row("search", "dask (joblib backend)", run, "yes")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="drift rows per side")
    parser.add_argument("--partitions", type=int, default=8, help="drift partitions per side")
    parser.add_argument("--train-rows", type=int, default=60_000, help="search training rows")
    parser.add_argument("--candidates", type=int, default=4, help="search candidates (x 3 folds)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; cores: {os.cpu_count()}")
    with (
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        Client(cluster, set_as_default=False) as client,
    ):
        print("| task   | where                  | seconds  | peak MB  | +MB      | identical |")
        print("|--------|------------------------|----------|----------|----------|-----------|")
        with tempfile.TemporaryDirectory(prefix="bench-dask-") as folder:
            bench_drift(client, args.rows, args.partitions, Path(folder))
        bench_search(client, args.train_rows, args.candidates)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
