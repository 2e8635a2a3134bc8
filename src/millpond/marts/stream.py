"""Streaming ingest: Arrow record batches in, one Parquet file out.

A big mart version is never held in memory whole: its rows arrive in record
batches (``file_batches`` for one file, ``mart_inputs`` for DuckDB-built rows),
each batch is typed (``mart_typing`` rules, problems added up over the window)
and checked against the row-local contract rules, then appended to the staging
``data.parquet`` with a ``pyarrow.parquet.ParquetWriter``. Whole-window rules
(minimum rows, no all-null column) use running counts; key uniqueness runs as
one DuckDB ``GROUP BY`` over the staged file (DuckDB spills to disk, so memory
stays bounded). Only offending rows are kept in memory, for the error message
and the quarantine file. Nothing is published unless every batch passed.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from millpond.config.params import ColumnRule, ContractSpec, SourceSpec, UseCase
from millpond.errors import MartError
from millpond.marts import duck, sources
from millpond.marts.coercion import TypeProblems, column_problems, schema_error, type_columns
from millpond.marts.contracts import ContractReport, Violation, _examples, _rule_violations
from millpond.workspace import Workspace

BATCH_ROWS = 262_144  # rows per record batch: ~tens of MB for a typical mart row
KEY_CHECK_MEMORY = "256MB"  # DuckDB's limit for the key-uniqueness GROUP BY; it spills to disk beyond
CSV_BLOCK_BYTES = 1 << 20  # bytes per block the CSV reader parses (it reads dozens ahead)
STREAM_MIN_BYTES = 64 * 2**20  # CSV files at least this big stream (Parquet: by row count); smaller ones are read whole

_ARROW_FAST = {"int": (pa.int64(),), "float": (pa.float64(),), "str": (pa.string(), pa.large_string())}


def is_large(path: Path, fmt: str) -> bool:
    """Whether a file should stream: CSV of ``STREAM_MIN_BYTES`` or more, Parquet of more than one batch of rows."""
    if fmt == "parquet":
        try:
            return pq.ParquetFile(path).metadata.num_rows > BATCH_ROWS
        except (pa.ArrowException, OSError):
            return False  # unreadable: the in-memory path reports it
    return path.stat().st_size >= STREAM_MIN_BYTES


def record_batches(
    path: Path, fmt: str, columns: dict[str, str], *, delimiter: str, batch_rows: int, typed_csv: bool = True
) -> Iterator[pa.RecordBatch]:
    """Record batches of a CSV or Parquet file; CSV columns get their declared Arrow types when ``typed_csv``."""
    if fmt == "parquet":
        yield from pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=batch_rows)
        return
    import pyarrow.csv as pacsv

    if typed_csv:
        types = {c: (_ARROW_FAST[t][0] if t in _ARROW_FAST else pa.string()) for c, t in columns.items()}
    else:
        types = {c: pa.string() for c in columns}
    reader = pacsv.open_csv(
        path,
        # The reader parses dozens of blocks ahead: small blocks keep that read-ahead small (1 MiB blocks: ~40 MB).
        read_options=pacsv.ReadOptions(block_size=min(CSV_BLOCK_BYTES, max(batch_rows * 64, 1 << 16))),
        parse_options=pacsv.ParseOptions(delimiter=delimiter),
        convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True),
    )
    pending: list[pa.RecordBatch] = []
    count = 0
    for block in reader:  # blocks are sized in bytes: regroup them into batches of exactly ``batch_rows`` rows
        pending.append(block)
        count += block.num_rows
        while count >= batch_rows:
            table = pa.Table.from_batches(pending).combine_chunks()
            yield table.slice(0, batch_rows).to_batches()[0]
            rest = table.slice(batch_rows)
            pending, count = (rest.to_batches() if rest.num_rows else []), rest.num_rows
    if count:
        yield pa.Table.from_batches(pending).combine_chunks().to_batches()[0]


def _suspects(frame: pd.DataFrame, contract: ContractSpec, columns: dict[str, str]) -> pd.Series:
    """Rows that break (or warn on) a row-local contract rule."""
    mask = pd.Series(False, index=frame.index)
    for name, rule in contract.columns.items():
        if name not in frame.columns:
            continue
        column = frame[name]
        mask |= _rule_mask(column, rule, columns[name])
    return mask


def _rule_mask(column: pd.Series, rule: ColumnRule, dtype: str) -> pd.Series:
    mask = pd.Series(False, index=column.index)
    if not rule.nullable:
        mask |= column.isna()
    present = column.notna()
    if rule.min is not None:
        mask |= present & (column < rule.min).fillna(False).astype(bool)
    if rule.max is not None:
        mask |= present & (column > rule.max).fillna(False).astype(bool)
    if rule.allowed is not None:
        allowed = [str(a) for a in rule.allowed] if dtype == "str" else list(rule.allowed)
        mask |= present & ~column.isin(allowed)
    return mask


@dataclass
class StreamOutcome:
    """What a streamed ingest found: rows written, typed pandas dtypes, the contract report and quarantine rows."""

    rows: int = 0
    dtypes: dict[str, str] = field(default_factory=dict)
    report: ContractReport = field(default_factory=ContractReport)
    offending: pd.DataFrame | None = None
    rows_sha256: str | None = None  # ``sources.frame_sha256`` of the typed rows, when asked for


class _CsvTypesDoNotFit(Exception):
    """An Arrow-typed CSV read hit a value of another type: read again as text (pandas coercion finds the rows)."""


ProgressCallback = Callable[[int, "int | None"], None]


def stream_to_parquet(
    batches: Iterable[pa.RecordBatch],
    target: Path,
    use_case: UseCase,
    *,
    origin: str,
    quarantine: Path | None,
    empty_message: str | None = None,
    names_if_empty: list[str] | None = None,
    hash_rows: bool = False,
    on_progress: ProgressCallback | None = None,
    total_rows: int | None = None,
    arrow_errors_mean_retry: bool = False,
) -> StreamOutcome:
    """Type, check and write every batch to ``target``.

    Problems are counted over the whole window, so the ``SchemaError`` or contract
    report says what the one-shot path would; ``empty_message`` is the error for a
    window without rows (else that is a ``min_rows`` violation).
    """
    declared = list(use_case.columns)
    contract = use_case.mart.contract if use_case.mart and use_case.mart.contract else ContractSpec()
    outcome = StreamOutcome()
    nulls = dict.fromkeys(declared, 0)
    schema: pa.Schema | None = None
    structural: list[str] | None = None
    type_problems = TypeProblems()
    suspects: list[pd.DataFrame] = []
    writer: pq.ParquetWriter | None = None
    digest = hashlib.sha256() if hash_rows else None
    iterator = iter(batches)
    try:
        while True:
            try:
                batch = next(iterator)
            except StopIteration:
                break
            except (pa.ArrowException, OSError) as exc:
                if arrow_errors_mean_retry and isinstance(exc, pa.ArrowInvalid):
                    raise _CsvTypesDoNotFit(str(exc)) from exc
                raise MartError(
                    f"Cannot read {origin}: {exc}. Check that the file is complete, UTF-8 text (CSV) and uses the declared delimiter."
                ) from exc
            names = [str(n) for n in batch.schema.names]
            if structural is None:
                structural = column_problems(names, use_case)
            if batch.num_rows == 0:
                continue
            start = outcome.rows
            outcome.rows += batch.num_rows
            index = pd.RangeIndex(start, start + batch.num_rows)
            failing = bool(structural) or bool(type_problems)
            present = [n for n in declared if n in names]
            fast = (
                {}
                if failing or hash_rows or schema is None
                else {
                    n: batch.column(names.index(n))
                    for n in present
                    if batch.schema.field(n).type in _ARROW_FAST.get(use_case.columns[n], ())
                    and batch.column(names.index(n)).null_count == 0
                }
            )
            slow = [n for n in present if n not in fast]
            raw = batch.select(slow).to_pandas() if slow else pd.DataFrame(index=range(batch.num_rows))
            raw.index = index
            typed, problems = type_columns(raw, use_case, slow)
            if problems:
                whole = batch.to_pandas()
                whole.index = index
                type_problems.add(problems, whole)
            if structural or type_problems:
                continue
            typed_part = pd.DataFrame(typed, index=index)
            if schema is None:
                typed_part = typed_part[declared]
                schema = pa.Schema.from_pandas(typed_part, preserve_index=False)
                outcome.dtypes = {c: str(t) for c, t in typed_part.dtypes.items()}
                writer = pq.ParquetWriter(target, schema)
                if digest is not None:
                    digest.update(repr([(str(c), str(t)) for c, t in typed_part.dtypes.items()]).encode())
            if digest is not None:
                digest.update(pd.util.hash_pandas_object(typed_part[declared], index=False).to_numpy().tobytes())
            arrays = []
            for f in schema:
                if f.name in fast:
                    column = fast[f.name]
                    if pa.types.is_floating(column.type) and pc.any(pc.is_nan(column)).as_py():
                        column = pc.if_else(pc.is_nan(column), pa.scalar(None, column.type), column)
                    arrays.append(column.cast(f.type))
                else:
                    arrays.append(pa.Array.from_pandas(typed_part[f.name], type=f.type))
            table = pa.Table.from_arrays(arrays, schema=schema)
            assert writer is not None
            writer.write_table(table)
            for f in schema:
                nulls[f.name] += table.column(f.name).null_count
            if contract.columns:
                ruled = [c for c in contract.columns if c in schema.names]
                checked = table.select(ruled).to_pandas()
                checked.index = index
                mask = _suspects(checked, contract, dict(use_case.columns))
                if mask.any():
                    rows = table.take(pa.array(mask.to_numpy().nonzero()[0])).to_pandas()
                    rows.index = index[mask.to_numpy()]
                    suspects.append(rows)
            if on_progress is not None:
                on_progress(outcome.rows, total_rows)
    finally:
        if writer is not None:
            writer.close()
    if outcome.rows == 0 and empty_message:
        raise MartError(empty_message)
    if structural is None:
        structural = column_problems(names_if_empty, use_case) if names_if_empty is not None else []
    if structural or type_problems:
        error = schema_error(
            origin,
            structural,
            type_problems.merged(outcome.rows),
            quarantine=quarantine,
            offending=type_problems.offending_rows(),
        )
        if type_problems.rows_dropped:
            error = type(error)(
                f"{error}\n({type_problems.rows_dropped} more offending row(s) not written: the quarantine keeps "
                f"the first {type_problems.max_rows}.)"
            )
        raise error
    report = outcome.report
    if outcome.rows < max(contract.min_rows, 1):
        report.violations.append(
            Violation("", f"min_rows {max(contract.min_rows, 1)}", outcome.rows, detail="in the window")
        )
        return outcome
    if digest is not None:
        outcome.rows_sha256 = digest.hexdigest()
    for name in declared:
        if nulls[name] == outcome.rows:
            report.violations.append(
                Violation(name, "not all null", outcome.rows, [], None, "are all null: the column is empty")
            )
    found = (
        pd.concat(suspects) if suspects else pd.DataFrame({c: pd.Series(dtype=t) for c, t in outcome.dtypes.items()})
    )
    for name, rule in contract.columns.items():
        if name in found.columns:
            _rule_violations(name, found[name], rule, use_case.columns[name], report)
    unique = contract.unique if contract.unique is not None else [use_case.key]
    duplicated = _duplicated_keys(target, [u for u in unique if u]) if unique else None
    if duplicated is not None and len(duplicated):
        values = duplicated[unique[0]] if len(unique) == 1 else duplicated[unique].apply(tuple, axis=1)
        report.violations.append(
            Violation(
                ",".join(unique),
                "unique key",
                len(duplicated),
                _examples(values.drop_duplicates()),
                duplicated.index,
                f"share a key ({values.nunique()} duplicated value(s))",
            )
        )
        found = pd.concat([found, duplicated])
    if report.violations:
        offending = found[~found.index.duplicated()].sort_index()
        outcome.offending = offending
    return outcome


def _duplicated_keys(path: Path, unique: list[str]) -> pd.DataFrame:
    """Every row of the staged Parquet file whose ``unique`` columns repeat, indexed by row number (DuckDB, spills to disk)."""
    spill = tempfile.mkdtemp(prefix="millpond-duckdb-")
    try:
        con = duck.connect(threads=None, memory_limit=KEY_CHECK_MEMORY, spill=Path(spill), preserve_order=False)
        try:
            keys = ", ".join(f'"{c}"' for c in unique)
            # Equal keys have equal 64-bit hashes, so no repeated hash means no repeated key: the common case groups
            # 8-byte hashes of the key columns only; a repeat (or a hash collision) is then confirmed exactly below.
            repeated = con.execute(
                f"SELECT count(*) FROM (SELECT hash({keys}) AS h FROM read_parquet(?) GROUP BY h HAVING count(*) > 1)",
                [str(path)],
            ).fetchone()
            if not repeated or not repeated[0]:
                return pd.DataFrame(index=pd.Index([], dtype="int64"))
            match = " AND ".join(f'rows."{c}" IS NOT DISTINCT FROM dup."{c}"' for c in unique)
            frame = con.execute(
                f"WITH rows AS (SELECT * FROM read_parquet(?, file_row_number = true)), "
                f"dup AS (SELECT {keys} FROM rows GROUP BY ALL HAVING count(*) > 1) "
                f"SELECT rows.* FROM rows JOIN dup ON {match} ORDER BY rows.file_row_number",
                [str(path)],
            ).df()
        finally:
            con.close()
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    frame = frame.sort_values("file_row_number")
    frame.index = pd.Index(frame.pop("file_row_number").astype("int64"))
    return frame


def file_batches(
    ws: Workspace,
    spec: SourceSpec,
    path: Path,
    window: str | None,
    columns: dict[str, str],
    *,
    batch_rows: int,
    typed_csv: bool = True,
) -> Iterator[pa.RecordBatch]:
    """Record batches of a file source, filtered to ``window`` by its window column; unreadable files said plainly."""
    fmt = sources.file_format(spec, path)
    delimiter = spec.delimiter or ","
    if fmt == "parquet":
        parquet = sources.open_parquet(ws, path)
        batches: Iterator[pa.RecordBatch] = parquet.iter_batches(batch_size=batch_rows)
    else:
        if path.stat().st_size == 0:
            raise sources.empty_file_error(ws, path)
        batches = record_batches(path, fmt, columns, delimiter=delimiter, batch_rows=batch_rows, typed_csv=typed_csv)
    first = True
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            if fmt == "csv" and ("UTF8" in str(exc) or "UTF-8" in str(exc)):
                raise MartError(sources._not_utf8_message(ws, path)) from exc
            if fmt == "parquet":
                raise sources.parquet_error(ws, path, exc) from exc
            raise
        except OSError as exc:
            if fmt == "parquet":
                raise sources.parquet_error(ws, path, exc) from exc
            raise
        if first:
            first = False
            if fmt == "csv":
                sources._check_delimiter(ws, path, list(batch.schema.names), len(columns), delimiter)
            if spec.window_column and spec.window_column not in batch.schema.names:
                raise MartError(f"Window column {spec.window_column!r} is missing from {ws.relative(path)}.")
        if spec.window_column and window is not None:
            labels = batch.column(spec.window_column)
            keep = pc.equal(labels if pa.types.is_string(labels.type) else pc.cast(labels, pa.string()), window)
            batch = batch.filter(pc.fill_null(keep, False))
        yield batch


def stream_file(
    ws: Workspace,
    spec: SourceSpec,
    path: Path,
    window: str,
    target: Path,
    use_case: UseCase,
    *,
    batch_rows: int,
    origin: str,
    quarantine: Path | None,
    on_progress: ProgressCallback | None = None,
) -> StreamOutcome:
    """Stream one file source into ``target``; a CSV whose values do not fit the declared Arrow types is re-read as text."""
    columns = dict(use_case.columns)
    empty = f"Window {window!r} has no rows in {ws.relative(path)}: nothing to ingest."
    fmt = sources.file_format(spec, path)
    total = sources.open_parquet(ws, path).metadata.num_rows if fmt == "parquet" and not spec.window_column else None
    common: dict[str, Any] = {
        "origin": origin,
        "quarantine": quarantine,
        "empty_message": empty,
        "on_progress": on_progress,
        "total_rows": total,
    }
    if fmt == "csv":
        try:
            return stream_to_parquet(
                file_batches(ws, spec, path, window, columns, batch_rows=batch_rows),
                target,
                use_case,
                arrow_errors_mean_retry=True,
                **common,
            )
        except _CsvTypesDoNotFit:
            target.unlink(missing_ok=True)
        return stream_to_parquet(
            file_batches(ws, spec, path, window, columns, batch_rows=batch_rows, typed_csv=False),
            target,
            use_case,
            **common,
        )
    return stream_to_parquet(
        file_batches(ws, spec, path, window, columns, batch_rows=batch_rows), target, use_case, **common
    )
