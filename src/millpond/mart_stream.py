"""Streaming ingest of large file sources: Arrow record batches in, one Parquet file out.

A mart version of a big CSV or Parquet file is never held in memory whole: the
file is read in record batches, each batch is typed (``marts.conform`` rules)
and checked against the row-local contract rules, then appended to the staging
``data.parquet`` with a ``pyarrow.parquet.ParquetWriter``. Whole-window rules
(minimum rows, no all-null column) use running counts; key uniqueness runs as
one DuckDB ``GROUP BY`` over the staged file (DuckDB spills to disk, so memory
stays bounded). Only offending rows are kept in memory, for the error message
and the quarantine file. Nothing is published unless every batch passed.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from millpond.contracts import ContractReport, Violation, _examples, _rule_violations
from millpond.errors import MartError
from millpond.params import ColumnRule, ContractSpec, UseCase

BATCH_ROWS = 262_144  # rows per record batch: ~tens of MB for a typical mart row
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


def record_batches(path: Path, fmt: str, columns: dict[str, str], *, delimiter: str, batch_rows: int,
                   typed_csv: bool = True) -> Iterator[pa.RecordBatch]:
    """Record batches of a CSV or Parquet file; CSV columns get their declared Arrow types when ``typed_csv``."""
    if fmt == "parquet":
        yield from pq.ParquetFile(path).iter_batches(batch_size=batch_rows)
        return
    import pyarrow.csv as pacsv

    if typed_csv:
        types = {c: (_ARROW_FAST[t][0] if t in _ARROW_FAST else pa.string()) for c, t in columns.items()}
    else:
        types = {c: pa.string() for c in columns}
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=max(batch_rows * 64, 1 << 16)),
        parse_options=pacsv.ParseOptions(delimiter=delimiter),
        convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True),
    )
    for batch in reader:
        # CSV blocks are sized in bytes; split them so a batch never exceeds ``batch_rows``.
        for start in range(0, batch.num_rows, batch_rows):
            yield batch.slice(start, batch_rows)


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


class _CsvTypesDoNotFit(Exception):
    """An Arrow-typed CSV read hit a value of another type: read again as text (pandas coercion finds the rows)."""


def stream_to_parquet(
    batches: Iterator[pa.RecordBatch], target: Path, use_case: UseCase, *, origin: str,
    quarantine: Path | None, arrow_errors_mean_retry: bool = False,
) -> StreamOutcome:
    """Type, check and write every batch to ``target``; raise ``SchemaError`` on the first batch with bad types."""
    from millpond.marts import conform

    declared = list(use_case.columns)
    contract = use_case.mart.contract if use_case.mart and use_case.mart.contract else ContractSpec()
    outcome = StreamOutcome()
    nulls = dict.fromkeys(declared, 0)
    schema: pa.Schema | None = None
    suspects: list[pd.DataFrame] = []
    writer: pq.ParquetWriter | None = None
    try:
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                break
            except (pa.ArrowException, OSError) as exc:
                if arrow_errors_mean_retry and isinstance(exc, pa.ArrowInvalid):
                    raise _CsvTypesDoNotFit(str(exc)) from exc
                raise MartError(
                    f"Cannot read {origin}: {exc}. Check that the file is complete, UTF-8 text (CSV) and uses the declared delimiter."
                ) from exc
            if batch.num_rows == 0:
                continue
            start = outcome.rows
            index = pd.RangeIndex(start, start + batch.num_rows)
            names = list(batch.schema.names)
            fast = {
                n: batch.column(names.index(n)) for n in declared
                if schema is not None and n in names and batch.schema.field(n).type in _ARROW_FAST.get(use_case.columns[n], ())
                and batch.column(names.index(n)).null_count == 0
            }
            if set(names) != set(declared):
                fast = {}
            slow = [n for n in names if n not in fast]
            raw = batch.select(slow).to_pandas() if slow else pd.DataFrame(index=range(batch.num_rows))
            raw.index = index
            where = f"{origin} (rows {start + 1}-{start + batch.num_rows})"
            if fast:
                typed_part = conform_subset(raw, use_case, [n for n in declared if n not in fast], origin=where, quarantine=quarantine)
            else:
                typed_part = conform(raw, use_case, origin=where, quarantine=quarantine)
            if schema is None:
                schema = pa.Schema.from_pandas(typed_part, preserve_index=False)
                outcome.dtypes = {c: str(t) for c, t in typed_part.dtypes.items()}
                writer = pq.ParquetWriter(target, schema)
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
            outcome.rows += batch.num_rows
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
    finally:
        if writer is not None:
            writer.close()
    if schema is None:
        raise MartError(f"{origin} has no rows: nothing to ingest.")
    report = outcome.report
    if outcome.rows < max(contract.min_rows, 1):
        report.violations.append(Violation("", f"min_rows {max(contract.min_rows, 1)}", outcome.rows, detail="in the window"))
        return outcome
    for name in declared:
        if nulls[name] == outcome.rows:
            report.violations.append(Violation(name, "not all null", outcome.rows, [], None, "are all null: the column is empty"))
    found = pd.concat(suspects) if suspects else pd.DataFrame({c: pd.Series(dtype=t) for c, t in outcome.dtypes.items()})
    for name, rule in contract.columns.items():
        if name in found.columns:
            _rule_violations(name, found[name], rule, use_case.columns[name], report)
    unique = contract.unique if contract.unique is not None else [use_case.key]
    duplicated = _duplicated_keys(target, [u for u in unique if u]) if unique else None
    if duplicated is not None and len(duplicated):
        values = duplicated[unique[0]] if len(unique) == 1 else duplicated[unique].apply(tuple, axis=1)
        report.violations.append(Violation(
            ",".join(unique), "unique key", len(duplicated), _examples(values.drop_duplicates()), duplicated.index,
            f"share a key ({values.nunique()} duplicated value(s))",
        ))
        found = pd.concat([found, duplicated])
    if report.violations:
        offending = found[~found.index.duplicated()].sort_index()
        outcome.offending = offending
    return outcome


def conform_subset(raw: pd.DataFrame, use_case: UseCase, names: list[str], *, origin: str, quarantine: Path | None) -> pd.DataFrame:
    """Type only ``names`` (the other declared columns already have their Arrow type); bad values raise like ``conform``."""
    from millpond.marts import _coerce_with_rows, conform

    typed: dict[str, pd.Series] = {}
    for name in names:
        column, problem, _ = _coerce_with_rows(name, use_case.columns[name], raw[name])
        if problem or column is None:
            conform(raw[names], _only(use_case, names), origin=origin, quarantine=quarantine)  # raises with the full message
            raise AssertionError("conform accepted what _coerce_with_rows refused")  # pragma: no cover
        typed[name] = column
    return pd.DataFrame(typed, index=raw.index)


def _only(use_case: UseCase, names: list[str]) -> UseCase:
    return use_case.model_copy(update={"columns": {n: use_case.columns[n] for n in names}})


def _duplicated_keys(path: Path, unique: list[str]) -> pd.DataFrame:
    """Every row of the staged Parquet file whose ``unique`` columns repeat, indexed by row number (DuckDB, spills to disk)."""
    import duckdb

    spill = tempfile.mkdtemp(prefix="millpond-duckdb-")
    try:
        con = duckdb.connect()
        try:
            con.execute(f"SET temp_directory = '{spill}'")
            con.execute("SET memory_limit = '512MB'")
            con.execute("SET preserve_insertion_order = false")
            keys = ", ".join(f'"{c}"' for c in unique)
            repeated = con.execute(
                f"SELECT count(*) FROM (SELECT {keys} FROM read_parquet(?) GROUP BY ALL HAVING count(*) > 1)", [str(path)],
            ).fetchone()
            if not repeated or not repeated[0]:  # the common case reads the key columns only
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


def stream_file(
    path: Path, fmt: str, target: Path, use_case: UseCase, *, delimiter: str, batch_rows: int, origin: str,
    quarantine: Path | None,
) -> StreamOutcome:
    """Stream ``path`` into ``target``; a CSV whose values do not fit the declared Arrow types is re-read as text."""
    columns = dict(use_case.columns)
    if fmt == "csv":
        try:
            return stream_to_parquet(record_batches(path, fmt, columns, delimiter=delimiter, batch_rows=batch_rows),
                                     target, use_case, origin=origin, quarantine=quarantine, arrow_errors_mean_retry=True)
        except _CsvTypesDoNotFit:
            target.unlink(missing_ok=True)
        return stream_to_parquet(record_batches(path, fmt, columns, delimiter=delimiter, batch_rows=batch_rows, typed_csv=False),
                                 target, use_case, origin=origin, quarantine=quarantine)
    return stream_to_parquet(record_batches(path, fmt, columns, delimiter=delimiter, batch_rows=batch_rows),
                             target, use_case, origin=origin, quarantine=quarantine)

