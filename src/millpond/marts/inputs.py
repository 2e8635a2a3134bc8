"""The rows of a streamed mart build, in DuckDB: sources staged, the transform run, windows split, all spilling to disk.

Used when a mart has a transform, a database source or a full load and its input
is large (or ``batch_rows`` is asked for). Parquet files are read in place; CSV
files and query results are copied chunk by chunk into Parquet parts (pandas'
parser and types, as the one-shot path reads them). Each source becomes a DuckDB
view filtered to the window, the transform (or ``SELECT * FROM source``) is
written once to ``rows.parquet``, and a full load sorts that by window so each
window is read back on its own. DuckDB runs single-threaded under a memory limit
with a spill folder, so memory does not grow with the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from millpond.config.params import SourceSpec, UseCase
from millpond.errors import MartError, SchemaError
from millpond.marts import duck, sources
from millpond.marts.transforms import read_transform, run_transform_to_parquet, transform_path
from millpond.workspace import Workspace

MEMORY_LIMIT = "512MB"
_WINDOW = "__millpond_window"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def connect(work: Path) -> Any:
    """A fresh single-threaded in-memory DuckDB that spills into ``work/spill`` beyond ``MEMORY_LIMIT``."""
    spill = work / "spill"
    spill.mkdir(parents=True, exist_ok=True)
    return duck.connect(threads=1, memory_limit=MEMORY_LIMIT, spill=spill)


def _write_parts(frames: Iterable[pd.DataFrame], folder: Path) -> list[Path]:
    """Each frame as one Parquet part; all-null columns become text so DuckDB unifies them with the other parts."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for number, frame in enumerate(frames):
        table = pa.Table.from_pandas(frame, preserve_index=False)
        for i, field in enumerate(table.schema):
            if pa.types.is_null(field.type):
                table = table.set_column(i, field.name, table.column(i).cast(pa.string()))
        path = folder / f"part-{number:05d}.parquet"
        pq.write_table(table, path)
        parts.append(path)
    return parts


def stage_source(
    ws: Workspace,
    con: Any,
    spec: SourceSpec,
    name: str,
    window: str | None,
    work: Path,
    *,
    columns: dict[str, str] | None,
    batch_rows: int,
) -> tuple[dict[str, Any], str]:
    """Register source ``name`` as a DuckDB view of the rows of ``window`` (``None``: every window).

    Returns its provenance (as the one-shot path records it) and how to name it in messages.
    """
    if spec.url:
        chunks, provenance = sources.database_chunks(ws, spec, window, name=name)
        label = f"source {name!r}" if name != "source" else "the source"
        origin = f"the query of {label}"
        parts = _write_parts(chunks, work / "inputs" / name)
        relation = f"read_parquet([{', '.join(duck.literal(str(p)) for p in parts)}], union_by_name = true)"
        where = f"the query of {provenance['url']}"
    else:
        path = sources.source_file(ws, spec, window, name=name)
        provenance = sources.file_provenance(ws, spec, path)
        origin = where = ws.relative(path)
        if provenance["format"] == "parquet":
            sources.open_parquet(ws, path)
            relation = f"read_parquet({duck.literal(str(path))})"
        else:
            frames = sources.csv_chunks(ws, path, spec, columns=columns, chunk_rows=batch_rows)
            parts = _write_parts(frames, work / "inputs" / name)
            if not parts:  # header only: pandas yields no chunk
                header = sources.csv_chunks(ws, path, spec, columns=columns)
                parts = _write_parts([header], work / "inputs" / name)
            relation = f"read_parquet([{', '.join(duck.literal(str(p)) for p in parts)}], union_by_name = true)"
    filtered = f"SELECT * FROM {relation}"
    if spec.window_column:
        present = con.sql(f"SELECT * FROM {relation} LIMIT 0").columns
        if spec.window_column not in present:
            raise MartError(f"Window column {spec.window_column!r} is missing from {origin}.")
        if window is not None:
            filtered += f" WHERE CAST({_ident(spec.window_column)} AS VARCHAR) = {duck.literal(window)}"
    con.execute(f"CREATE VIEW {_ident(name)} AS {filtered}")
    return provenance, where


def count_rows(con: Any, name: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {_ident(name)}").fetchone()
    return int(row[0]) if row else 0


def build_rows(
    ws: Workspace, con: Any, use_case: UseCase, work: Path, tables: list[str]
) -> tuple[Path, dict[str, Any] | None]:
    """Write the mart's rows (the transform's output, or the main source) to ``work/rows.parquet``."""
    target = work / "rows.parquet"
    spec = use_case.mart
    if spec is not None and spec.transform:
        path = transform_path(ws.feature_marts, use_case.use_case, spec.transform)
        shown = ws.relative(path)
        sql, sql_sha = read_transform(path, shown=shown)
        run_transform_to_parquet(con, sql, target, shown=shown, tables=tables)
        return target, {"path": shown, "sha256": sql_sha}
    con.execute(f"COPY (SELECT * FROM source) TO {duck.literal(str(target))} (FORMAT parquet)")
    return target, None


def split_windows(
    con: Any,
    rows: Path,
    column: str,
    up_to: str,
    work: Path,
    *,
    origin: str,
    batch_rows: int,
) -> tuple[list[str], Iterator[tuple[str, Iterator[pa.RecordBatch]]]]:
    """The windows of ``rows`` up to ``up_to`` and, window by window, their record batches (source order kept).

    Rows already in ascending runs of their (text) window column, as appended data usually is,
    are split in one pass; otherwise DuckDB sorts them by window first (spilling to disk).
    Consume each window's batches before asking for the next window.
    """
    present = pq.ParquetFile(rows, pre_buffer=False).schema_arrow.names
    if column not in present:
        raise SchemaError(
            f"{origin} has no window column {column!r}, which 'load: full' needs to split the mart into windows."
        )
    windows = _windows_in_runs(rows, column, up_to)
    if windows is not None:
        splitter = _RunSplitter(pq.ParquetFile(rows, pre_buffer=False).iter_batches(batch_size=batch_rows), column)
        return windows, ((w, splitter.window(w)) for w in windows)
    target = work / "by_window.parquet"
    label = f"CAST({_ident(column)} AS VARCHAR)"
    con.execute(
        f"COPY (SELECT * EXCLUDE (file_row_number), {label} AS {_WINDOW} FROM read_parquet({duck.literal(str(rows))}, file_row_number = true) "
        f"WHERE {label} <= {duck.literal(up_to)} ORDER BY {_WINDOW}, file_row_number) TO {duck.literal(str(target))} (FORMAT parquet)"
    )
    found = [
        str(w[0])
        for w in con.execute(
            f"SELECT DISTINCT {_WINDOW} FROM read_parquet({duck.literal(str(target))}) ORDER BY 1"
        ).fetchall()
    ]
    return found, ((w, _window_batches(con, target, w, batch_rows=batch_rows)) for w in found)


def _windows_in_runs(rows: Path, column: str, up_to: str) -> list[str] | None:
    """The windows up to ``up_to`` when a text window column holds ascending runs without nulls; else ``None``."""
    import pyarrow.compute as pc

    parquet = pq.ParquetFile(rows, pre_buffer=False)
    kind = parquet.schema_arrow.field(column).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        return None
    runs: list[str] = []
    for batch in parquet.iter_batches(columns=[column], batch_size=1 << 20):
        labels = batch.column(0)
        if labels.null_count:
            return None
        for value in pc.run_end_encode(labels).values.to_pylist():
            if runs and value == runs[-1]:
                continue
            if runs and value < runs[-1]:
                return None
            runs.append(value)
    return [w for w in runs if w <= up_to]


class _RunSplitter:
    """Hands out one pass over record batches as consecutive windows (the column holds ascending runs)."""

    def __init__(self, batches: Iterator[pa.RecordBatch], column: str) -> None:
        self._batches = batches
        self._column = column
        self._held: pa.RecordBatch | None = None

    def _next(self) -> pa.RecordBatch | None:
        if self._held is not None:
            piece, self._held = self._held, None
            return piece
        return next(self._batches, None)

    def window(self, window: str) -> Iterator[pa.RecordBatch]:
        """The batches of ``window``: the rows from here to where the column's value changes."""
        import pyarrow.compute as pc

        while (piece := self._next()) is not None:
            if piece.num_rows == 0:
                continue
            labels = piece.column(piece.schema.get_field_index(self._column))
            if labels[0].as_py() != window:
                self._held = piece
                return
            end = pc.run_end_encode(labels).run_ends[0].as_py()
            if end < piece.num_rows:
                self._held = piece.slice(end)
                yield piece.slice(0, end)
                return
            yield piece


def _window_batches(con: Any, by_window: Path, window: str, *, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Record batches of one window of the sorted file (row groups of other windows are skipped)."""
    relation = con.sql(
        f"SELECT * EXCLUDE ({_WINDOW}) FROM read_parquet({duck.literal(str(by_window))}) WHERE {_WINDOW} = {duck.literal(window)}"
    )
    yield from relation.to_arrow_reader(batch_rows)


def file_rows(path: Path, *, batch_rows: int) -> tuple[Iterator[pa.RecordBatch], list[str], int]:
    """Record batches of a Parquet file, its column names (also when it has no rows) and its row count."""
    parquet = pq.ParquetFile(path, pre_buffer=False)  # pre-buffering keeps every column chunk read so far alive
    return parquet.iter_batches(batch_size=batch_rows), list(parquet.schema_arrow.names), parquet.metadata.num_rows
