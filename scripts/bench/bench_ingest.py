"""Ingest benchmark: rows/s and peak RSS of `millpond.marts.ingest` from a CSV and a Parquet source.

Generates N churn-like rows (default 5,000,000) in a throw-away workspace, then
ingests them once per format, each in a fresh process so peak RSS is its own.

    PYTHONPATH=src OMP_NUM_THREADS=1 python scripts/bench/bench_ingest.py [--rows 5000000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

COLUMNS = {
    "customer_id": "str", "tenure_months": "int", "contract": "str", "internet_service": "str",
    "payment_method": "str", "region": "str", "senior_citizen": "int", "monthly_charges": "float",
    "total_charges": "float", "support_calls": "int", "churned": "int",
}


def generate(folder: Path, rows: int, fmt: str) -> Path:
    """Write ``rows`` synthetic rows for window 2025-01, in chunks so generation itself stays small."""
    rng = np.random.default_rng(7)
    path = folder / f"big_2025-01.{fmt}"
    chunk = 1_000_000
    writer = None
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        frame = pd.DataFrame({
            "customer_id": [f"C{i:09d}" for i in range(start, start + n)],
            "tenure_months": rng.integers(0, 72, n),
            "contract": rng.choice(["month-to-month", "one-year", "two-year"], n),
            "internet_service": rng.choice(["dsl", "fiber", "none"], n),
            "payment_method": rng.choice(["credit-card", "bank-transfer", "mailed-check"], n),
            "region": rng.choice(["north", "south", "east", "west"], n),
            "senior_citizen": rng.integers(0, 2, n),
            "monthly_charges": rng.uniform(20, 120, n).round(2),
            "total_charges": rng.uniform(20, 8000, n).round(2),
            "support_calls": rng.poisson(1.5, n),
            "churned": rng.integers(0, 2, n),
        })
        if fmt == "csv":
            frame.to_csv(path, index=False, header=start == 0, mode="w" if start == 0 else "a")
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    if writer is not None:
        writer.close()
    return path


def measure(root: Path, fmt: str) -> dict[str, float]:
    """Run one ingest in this process (called in a child) and report time and peak RSS."""
    from millpond.marts import ingest
    from millpond.params import load_use_case
    from millpond.workspace import Workspace

    ws = Workspace.find(root)
    uc = load_use_case(root / "params" / f"big_{fmt}.yaml")
    clock = time.perf_counter()
    result = ingest(ws, uc, "2025-01")
    seconds = time.perf_counter() - clock
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rows": result.version.rows, "seconds": seconds, "peak_rss_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--child", nargs=2, metavar=("ROOT", "FORMAT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.child[0]), args.child[1])))
        return
    with tempfile.TemporaryDirectory(prefix="millpond-bench-") as tmp:
        root = Path(tmp)
        (root / "pyproject.toml").write_text("[tool.millpond]\n")
        raw = root / "feature_marts" / "raw"
        raw.mkdir(parents=True)
        (root / "params").mkdir()
        results = []
        for fmt in ("csv", "parquet"):
            started = time.perf_counter()
            path = generate(raw, args.rows, fmt)
            gen_seconds = time.perf_counter() - started
            params = {"use_case": f"big{fmt}", "source": {"path": f"feature_marts/raw/{path.name}"}, "key": "customer_id",
                      "target": "churned", "columns": COLUMNS}
            (root / "params" / f"big_{fmt}.yaml").write_text(yaml.safe_dump(params))
            done = subprocess.run([sys.executable, __file__, "--child", str(root), fmt], capture_output=True, text=True, check=True)
            numbers = json.loads(done.stdout.strip().splitlines()[-1])
            results.append({"format": fmt, "rows": numbers["rows"], "file_mb": path.stat().st_size / 2**20,
                            "generate_s": gen_seconds, "ingest_s": numbers["seconds"],
                            "rows_per_s": numbers["rows"] / numbers["seconds"], "peak_rss_mb": numbers["peak_rss_mb"]})
            path.unlink()
    print(f"{'format':<8} {'rows':>10} {'file MB':>8} {'ingest s':>9} {'rows/s':>12} {'peak RSS MB':>12}")
    for r in results:
        print(f"{r['format']:<8} {r['rows']:>10,} {r['file_mb']:>8.0f} {r['ingest_s']:>9.1f} {r['rows_per_s']:>12,.0f} {r['peak_rss_mb']:>12.0f}")


if __name__ == "__main__":
    main()
