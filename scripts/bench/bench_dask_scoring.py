"""Benchmark batch scoring with capture in-process against the same scoring on a loopback Dask LocalCluster.

Writes a churn-shaped Parquet mart of ``--rows`` rows (the generator of
bench_scoring.py), trains the demo's pipeline on 30,000 rows, then scores the
mart with capture twice: in this process, and with ``scoring.dask_scheduler``
pointing at a LocalCluster on 127.0.0.1 (``--workers`` worker processes, one
thread each, no dashboard). Both runs must give identical predictions (checked
here on the capture parts). Peak RSS is the client process's high-water mark
during each run (reset before it through /proc/self/clear_refs); the workers'
memory is separate processes and reported from the cluster at the end.

Usage: OMP_NUM_THREADS=1 PYTHONPATH=src python scripts/bench/bench_dask_scoring.py [--rows 1000000] [--workers 2]
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from millpond.config.params import load_use_case
from millpond.models.store import ModelStore
from millpond.models.training import fit
from millpond.scoring.batch import Scorer, score_file
from millpond.scoring.capture import CaptureStore
from millpond.scoring.input_contract import InputContract

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_scoring", Path(__file__).with_name("bench_scoring.py"))
bench = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(bench)  # type: ignore[union-attr]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    from distributed import LocalCluster

    tmp = Path(tempfile.mkdtemp(prefix="bench-dask-scoring-"))
    cluster = LocalCluster(
        n_workers=args.workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    try:
        uc = load_use_case(ROOT / "params" / "churn.yaml")
        uc = uc.model_copy(update={"scoring": uc.scoring.model_copy(update={"batch_rows": args.batch_rows})})
        train = bench.make_rows(30_000, 10**9, np.random.default_rng(1))
        result = fit(train.iloc[:24_000], train.iloc[24_000:], uc)
        store = ModelStore(tmp / "model_store")
        meta = {
            "params": uc.model_dump(mode="json"),
            "input_contract": InputContract.from_training(train, uc).as_dict(),
        }
        saved = store.save("churn", result.model, meta)
        mart = tmp / "mart.parquet"
        bench.write_mart(mart, args.rows)
        print(
            f"mart: {args.rows:,} rows, {mart.stat().st_size / 2**20:.0f} MiB; cluster {cluster.scheduler_address}, "
            f"{args.workers} worker processes x 1 thread; batch_rows {args.batch_rows:,}"
        )
        captures = CaptureStore(tmp / "model_store", "churn")
        on_dask = uc.model_copy(
            update={"scoring": uc.scoring.model_copy(update={"dask_scheduler": cluster.scheduler_address})}
        )
        rows_out = []
        parts = {}
        for label, use_case in (("in-process", uc), (f"Dask, {args.workers} workers", on_dask)):
            scorer = Scorer.load(store, "churn", saved.version, use_case=use_case)
            tag = label.split(",")[0]
            res, seconds, peak, delta = bench.measured(
                lambda: score_file(mart, scorer, captures=captures, window=f"bench-{tag}", run_id=f"bench-{tag}")  # noqa: B023
            )
            parts[label] = res.captures[scorer.version]
            rows_out.append((label, res.rows, seconds, peak, delta))
        first, second = (pq.read_table(p, columns=["customer_id", "probability", "prediction"]) for p in parts.values())
        identical = first.equals(second)
        print(
            f"\n{'method':<22} {'rows':>11} {'seconds':>8} {'rows/s':>11} {'client peak RSS MB':>19} {'above start MB':>15}"
        )
        for label, rows, seconds, peak, delta in rows_out:
            print(f"{label:<22} {rows:>11,} {seconds:>8.1f} {rows / seconds:>11,.0f} {peak:>19.0f} {delta:>15.0f}")
        from distributed import Client

        with Client(cluster, set_as_default=False) as client:
            memory = client.run(
                lambda: next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM")) / 1024
            )
        print(
            f"\npredictions identical: {identical}; worker peak RSS (MB): {', '.join(f'{m:.0f}' for m in memory.values())}"
        )
        print(f"Dask / in-process throughput: {rows_out[0][2] / rows_out[1][2]:.2f}")
    finally:
        cluster.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
