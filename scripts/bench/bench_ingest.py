"""Ingest benchmark: rows/s and peak RSS of `millpond.marts.store.ingest` for every kind of mart source.

Generates N churn-like rows (default 5,000,000) in a throw-away workspace, then
ingests them once per case, each in a fresh process so peak RSS is its own:

    csv, parquet        one file per window
    window-column       one Parquet file holding two windows, the window column picks one
    transform           a Parquet source joined by a DuckDB transform with a second Parquet source (N/2 rows)
    full-load           one Parquet file of two windows, `load: full` rebuilds both
    sqlite              a SQLite table, one query per window (SQLAlchemy, server-side cursor)

Rows/s counts the source rows read (a two-window file counts both windows).

    PYTHONPATH=src OMP_NUM_THREADS=1 python scripts/bench/bench_ingest.py [--rows 5000000 [10000000 ...]] [--cases csv parquet ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

COLUMNS = {
    "customer_id": "str",
    "tenure_months": "int",
    "contract": "str",
    "internet_service": "str",
    "payment_method": "str",
    "region": "str",
    "senior_citizen": "int",
    "monthly_charges": "float",
    "total_charges": "float",
    "support_calls": "int",
    "churned": "int",
}


CASES = ("csv", "parquet", "window-column", "transform", "full-load", "sqlite")
JOIN = """SELECT s.* REPLACE (coalesce(t.calls, 0) AS support_calls)
FROM source AS s LEFT JOIN (SELECT customer_id, count(*) AS calls FROM tickets GROUP BY customer_id) AS t USING (customer_id)
"""


def _frames(rows: int, chunk: int = 1_000_000, windows: tuple[str, ...] = ()):
    """Synthetic rows in chunks (generation itself stays small); with ``windows`` a ``month`` column splits them evenly."""
    rng = np.random.default_rng(7)
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        frame = pd.DataFrame(
            {
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
            }
        )
        if windows:
            frame["month"] = [windows[i * len(windows) // rows] for i in range(start, start + n)]
        yield start, frame


def _parquet(path: Path, frames) -> Path:  # type: ignore[no-untyped-def]
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    for _, frame in frames:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()
    return path


def generate_case(root: Path, case: str, rows: int) -> tuple[dict, list[Path]]:
    """Write the raw data and the params of one case; return the params and the files made."""
    raw = root / "feature_marts" / "raw"
    params: dict = {
        "use_case": f"big_{case.replace('-', '_')}",
        "key": "customer_id",
        "target": "churned",
        "columns": dict(COLUMNS),
    }
    windows = ("2025-01", "2025-02")
    if case in ("csv", "parquet"):
        path = generate(raw, rows, case)
        params["source"] = {"path": f"feature_marts/raw/{path.name}"}
        return params, [path]
    if case in ("window-column", "full-load"):
        path = _parquet(raw / f"all_{case}.parquet", _frames(rows, windows=windows))
        params["source"] = {"path": f"feature_marts/raw/{path.name}", "window_column": "month"}
        params["columns"]["month"] = "str"
        if case == "full-load":
            params["mart"] = {"load": "full"}
        return params, [path]
    if case == "transform":
        path = generate(raw, rows, "parquet")
        tickets = _parquet(
            raw / "tickets_2025-01.parquet", ((s, f[["customer_id"]].iloc[::2]) for s, f in _frames(rows))
        )
        sql = root / "feature_marts" / params["use_case"] / "features.sql"
        sql.parent.mkdir(parents=True, exist_ok=True)
        sql.write_text(JOIN)
        params["source"] = {"path": f"feature_marts/raw/{path.name}"}
        params["mart"] = {
            "sources": {"tickets": {"path": f"feature_marts/raw/{tickets.name}"}},
            "transform": "features.sql",
        }
        return params, [path, tickets]
    import sqlite3

    db = raw / "big.db"
    with sqlite3.connect(db) as connection:
        for _, frame in _frames(rows, windows=("2025-01",)):
            frame.to_sql("churn", connection, if_exists="append", index=False)
    params["source"] = {
        "url": "sqlite:///feature_marts/raw/big.db",
        "query": f"SELECT {', '.join(COLUMNS)} FROM churn WHERE month = {{window}}",
    }
    return params, [db]


def generate(folder: Path, rows: int, fmt: str) -> Path:
    """Write ``rows`` synthetic rows for window 2025-01, in chunks so generation itself stays small."""
    path = folder / f"big_2025-01.{fmt}"
    writer = None
    for start, frame in _frames(rows):
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


def measure(root: Path, case: str) -> dict[str, float]:
    """Run one ingest in this process (called in a child) and report time and peak RSS."""
    from millpond.config.params import load_use_case
    from millpond.marts.store import MartStore, ingest
    from millpond.workspace import Workspace

    ws = Workspace.find(root)
    uc = load_use_case(root / "params" / f"{case}.yaml")
    window = "2025-02" if case == "full-load" else "2025-01"
    clock = time.perf_counter()
    result = ingest(ws, uc, window)
    seconds = time.perf_counter() - clock
    # VmHWM, the peak of this process's own memory: ru_maxrss would also count the parent's RSS at fork time
    # (Linux keeps it across execve), i.e. the generator's frames.
    with open("/proc/self/status") as status:
        peak_mb = next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024
    stored = sum(MartStore(ws.feature_marts).latest(uc.use_case, w).rows for w in (result.windows or [window]))
    return {"rows": stored, "seconds": seconds, "peak_rss_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[5_000_000], help="one or more sizes: peak RSS should not grow with them"
    )
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--child", nargs=2, metavar=("ROOT", "CASE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(Path(args.child[0]), args.child[1])))
        return
    results = []
    for rows, case in [(r, c) for c in args.cases for r in args.rows]:
        with tempfile.TemporaryDirectory(prefix="millpond-bench-") as tmp:
            root = Path(tmp)
            (root / "pyproject.toml").write_text("[tool.millpond]\n")
            (root / "feature_marts" / "raw").mkdir(parents=True)
            (root / "params").mkdir()
            started = time.perf_counter()
            params, files = generate_case(root, case, rows)
            gen_seconds = time.perf_counter() - started
            (root / "params" / f"{case}.yaml").write_text(yaml.safe_dump(params))
            done = subprocess.run(
                [sys.executable, __file__, "--child", str(root), case], capture_output=True, text=True
            )
            if done.returncode:
                sys.exit(f"{case} failed:\n{done.stderr[-3000:]}")
            numbers = json.loads(done.stdout.strip().splitlines()[-1])
            results.append(
                {
                    "case": case,
                    "rows": rows,
                    "stored": numbers["rows"],
                    "file_mb": sum(f.stat().st_size for f in files) / 2**20,
                    "generate_s": gen_seconds,
                    "ingest_s": numbers["seconds"],
                    "rows_per_s": rows / numbers["seconds"],
                    "peak_rss_mb": numbers["peak_rss_mb"],
                }
            )
    print(
        f"{'case':<14} {'source rows':>11} {'stored':>10} {'input MB':>9} {'ingest s':>9} {'rows/s':>12} {'peak RSS MB':>12}"
    )
    for r in results:
        print(
            f"{r['case']:<14} {r['rows']:>11,} {r['stored']:>10,} {r['file_mb']:>9.0f} {r['ingest_s']:>9.1f} "
            f"{r['rows_per_s']:>12,.0f} {r['peak_rss_mb']:>12.0f}"
        )


if __name__ == "__main__":
    main()
