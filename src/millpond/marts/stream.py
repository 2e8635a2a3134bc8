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
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from millpond.config.params import ColumnRule, ContractSpec, SourceSpec, UseCase
from millpond.errors import MartError
from millpond.marts import duck, sources
from millpond.marts.coercion import TypeProblems, column_problems, schema_error, type_columns
from millpond.marts.contracts import ContractReport, Violation, _examples, _rule_violations, effective_rules
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
        except (pa.ArrowException, OSError, ValueError):  # ValueError: column names that are not UTF-8
            return False  # unreadable: the in-memory path reports it
    return path.stat().st_size >= STREAM_MIN_BYTES


def record_batches(
    path: Path, fmt: str, columns: Mapping[str, str], *, delimiter: str, batch_rows: int, typed_csv: bool = True
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


def _suspects(frame: pd.DataFrame, rules: Mapping[str, ColumnRule], columns: dict[str, str]) -> pd.Series:
    """Rows that break (or warn on) a row-local contract rule (``effective_rules``: the defaults included)."""
    mask = pd.Series(False, index=frame.index)
    for name, rule in rules.items():
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
    if dtype == "float" and not rule.allow_infinite:
        mask |= present & pd.Series(np.isinf(column.to_numpy(dtype="float64", na_value=0.0)), index=column.index)
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


@dataclass(frozen=True)
class StreamOptions:
    """How :func:`stream_to_parquet` names its input in messages, and what it does besides writing the rows."""

    origin: str  # how messages name the rows ("Raw data for window '2025-01' (…)")
    quarantine: Path | None = None  # where offending rows go
    empty_message: str | None = None  # the error for a window without rows (else a ``min_rows`` violation)
    names_if_empty: list[str] | None = None  # the input's columns when it yields no batch at all
    hash_rows: bool = False  # compute ``StreamOutcome.rows_sha256``
    on_progress: ProgressCallback | None = None  # called after each written batch
    total_rows: int | None = None  # the input's rows when known (for progress)
    arrow_errors_mean_retry: bool = False  # an ``ArrowInvalid`` while reading raises ``_CsvTypesDoNotFit``


def stream_to_parquet(
    batches: Iterable[pa.RecordBatch], target: Path, use_case: UseCase, options: StreamOptions
) -> StreamOutcome:
    """Type, check and write every batch to ``target``.

    Problems are counted over the whole window, so the ``SchemaError`` or contract
    report says what the one-shot path would; ``options.empty_message`` is the error
    for a window without rows (else that is a ``min_rows`` violation).
    """
    window = _WindowWriter(target, use_case, options)
    try:
        for batch in _readable(batches, options):
            try:
                window.add(batch)
            except (pa.ArrowException, ValueError, OverflowError) as exc:  # a damaged file's values: text not UTF-8,
                if isinstance(exc, OSError):  # a date in year 47933… (an OSError: a write of the staged file failed)
                    raise
                raise MartError(
                    f"Cannot read {options.origin}: {exc}. Check that the file is complete and not damaged."
                ) from exc
    finally:
        window.close()
    return window.finish()


def _readable(batches: Iterable[pa.RecordBatch], options: StreamOptions) -> Iterator[pa.RecordBatch]:
    """``batches``, with a read error said plainly (or, for a typed CSV read, turned into a retry as text)."""
    iterator = iter(batches)
    while True:
        try:
            batch = next(iterator)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as exc:
            if options.arrow_errors_mean_retry and isinstance(exc, pa.ArrowInvalid):
                raise _CsvTypesDoNotFit(str(exc)) from exc
            raise MartError(
                f"Cannot read {options.origin}: {exc}. Check that the file is complete, UTF-8 text (CSV) and uses the declared delimiter."
            ) from exc
        yield batch


class _WindowWriter:
    """One window's rows on their way to Parquet: typed batch by batch, running counts for the whole-window rules."""

    def __init__(self, target: Path, use_case: UseCase, options: StreamOptions) -> None:
        self.target, self.use_case, self.options = target, use_case, options
        self.declared = list(use_case.columns)
        self.contract = use_case.mart.contract if use_case.mart and use_case.mart.contract else ContractSpec()
        self.rules = effective_rules(use_case)
        self.outcome = StreamOutcome()
        self.nulls = dict.fromkeys(self.declared, 0)
        self.schema: pa.Schema | None = None
        self.structural: list[str] | None = None  # missing or unexpected columns, from the first batch
        self.type_problems = TypeProblems()
        self.suspects: list[pd.DataFrame] = []  # rows that break (or warn on) a row-local rule
        self.writer: pq.ParquetWriter | None = None
        self.digest = hashlib.sha256() if options.hash_rows else None

    # --- batch by batch --------------------------------------------------------------------------------------
    def add(self, batch: pa.RecordBatch) -> None:
        """Type one batch and append it; once a problem is found, later batches are only checked, not written."""
        names = [str(n) for n in batch.schema.names]
        if self.structural is None:
            self.structural = column_problems(names, self.use_case)
        if batch.num_rows == 0:
            return
        start = self.outcome.rows
        self.outcome.rows += batch.num_rows
        index = pd.RangeIndex(start, start + batch.num_rows)
        present = [n for n in self.declared if names.count(n) == 1]  # a duplicated name is a structural problem
        fast = self._fast_columns(batch, names, present)
        typed = self._typed(batch, [n for n in present if n not in fast], index)
        if typed is None:
            return
        table = self._write(typed, fast)
        self._keep_suspects(table, index)
        if self.options.on_progress is not None:
            self.options.on_progress(self.outcome.rows, self.options.total_rows)

    def _fast_columns(self, batch: pa.RecordBatch, names: list[str], present: list[str]) -> dict[str, pa.Array]:
        """Columns already of their declared Arrow type and without nulls: written as they are, not via pandas."""
        failing = bool(self.structural) or bool(self.type_problems)
        if failing or self.digest is not None or self.schema is None:
            return {}
        return {
            n: batch.column(names.index(n))
            for n in present
            if batch.schema.field(n).type in _ARROW_FAST.get(self.use_case.columns[n], ())
            and batch.column(names.index(n)).null_count == 0
        }

    def _typed(self, batch: pa.RecordBatch, slow: list[str], index: pd.RangeIndex) -> pd.DataFrame | None:
        """The ``slow`` columns typed by the pandas rules; ``None`` once the window has a schema or type problem."""
        raw = batch.select(slow).to_pandas() if slow else pd.DataFrame(index=range(batch.num_rows))
        raw.index = index
        typed, problems = type_columns(raw, self.use_case, slow)
        if problems:
            whole = batch.to_pandas()
            whole.index = index
            self.type_problems.add(problems, whole)
        if self.structural or self.type_problems:
            return None
        return pd.DataFrame(typed, index=index)

    def _write(self, typed: pd.DataFrame, fast: dict[str, pa.Array]) -> pa.Table:
        """Append one typed batch to the Parquet file (opened, with the window's schema, on the first batch)."""
        if self.schema is None:
            typed = self._open(typed)
        assert self.schema is not None and self.writer is not None
        if self.digest is not None:
            self.digest.update(pd.util.hash_pandas_object(typed[self.declared], index=False).to_numpy().tobytes())
        arrays = [_column_array(f, fast, typed) for f in self.schema]
        table = pa.Table.from_arrays(arrays, schema=self.schema)
        self.writer.write_table(table)
        for f in self.schema:
            self.nulls[f.name] += table.column(f.name).null_count
        return table

    def _open(self, typed: pd.DataFrame) -> pd.DataFrame:
        typed = typed[self.declared]
        self.schema = pa.Schema.from_pandas(typed, preserve_index=False)
        self.outcome.dtypes = {c: str(t) for c, t in typed.dtypes.items()}
        self.writer = pq.ParquetWriter(self.target, self.schema)
        if self.digest is not None:
            self.digest.update(repr([(str(c), str(t)) for c, t in typed.dtypes.items()]).encode())
        return typed

    def _keep_suspects(self, table: pa.Table, index: pd.RangeIndex) -> None:
        """Keep the rows of this batch that break (or warn on) a row-local contract rule."""
        assert self.schema is not None
        ruled = [c for c in self.rules if c in self.schema.names]
        if not ruled:
            return
        checked = table.select(ruled).to_pandas()
        checked.index = index
        mask = _suspects(checked, self.rules, dict(self.use_case.columns))
        if mask.any():
            rows = table.take(pa.array(mask.to_numpy().nonzero()[0])).to_pandas()
            rows.index = index[mask.to_numpy()]
            self.suspects.append(rows)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    # --- the whole window ------------------------------------------------------------------------------------
    def finish(self) -> StreamOutcome:
        """Raise the window's schema error, or apply the whole-window rules and return what was found."""
        outcome = self.outcome
        if outcome.rows == 0 and self.options.empty_message:
            raise MartError(self.options.empty_message)
        self._raise_schema_problems()
        minimum = max(self.contract.min_rows, 1)
        if outcome.rows < minimum:
            outcome.report.violations.append(Violation("", f"min_rows {minimum}", outcome.rows, detail="in the window"))
            return outcome
        if self.digest is not None:
            outcome.rows_sha256 = self.digest.hexdigest()
        found = self._window_violations()
        if outcome.report.violations:
            outcome.offending = found[~found.index.duplicated()].sort_index()
        return outcome

    def _raise_schema_problems(self) -> None:
        structural = self.structural
        if structural is None:
            names = self.options.names_if_empty
            structural = column_problems(names, self.use_case) if names is not None else []
        if not (structural or self.type_problems):
            return
        problems = self.type_problems
        error = schema_error(
            self.options.origin,
            structural,
            problems.merged(self.outcome.rows),
            quarantine=self.options.quarantine,
            offending=problems.offending_rows(),
        )
        if problems.rows_dropped:
            error = type(error)(
                f"{error}\n({problems.rows_dropped} more offending row(s) not written: the quarantine keeps "
                f"the first {problems.max_rows}.)"
            )
        raise error

    def _window_violations(self) -> pd.DataFrame:
        """Add the all-null, row-rule and unique-key violations; return the rows involved."""
        report, rows = self.outcome.report, self.outcome.rows
        for name in self.declared:
            if self.nulls[name] == rows:
                report.violations.append(
                    Violation(name, "not all null", rows, [], None, "are all null: the column is empty")
                )
        found = (
            pd.concat(self.suspects)
            if self.suspects
            else pd.DataFrame({c: pd.Series(dtype=t) for c, t in self.outcome.dtypes.items()})
        )
        for name, rule in self.rules.items():
            if name in found.columns:
                key = name == self.use_case.key
                _rule_violations(name, found[name], rule, self.use_case.columns[name], report, key=key)
        duplicated = self._duplicates()
        return pd.concat([found, duplicated]) if duplicated is not None else found

    def _duplicates(self) -> pd.DataFrame | None:
        """The rows sharing a unique key (a violation added for them), or ``None`` when keys are unique."""
        unique = self.contract.unique if self.contract.unique is not None else [self.use_case.key]
        duplicated = _duplicated_keys(self.target, [u for u in unique if u]) if unique else None
        if duplicated is None or not len(duplicated):
            return None
        values = duplicated[unique[0]] if len(unique) == 1 else duplicated[unique].apply(tuple, axis=1)
        self.outcome.report.violations.append(
            Violation(
                ",".join(unique),
                "unique key",
                len(duplicated),
                _examples(values.drop_duplicates()),
                duplicated.index,
                f"share a key ({values.nunique()} duplicated value(s))",
            )
        )
        return duplicated


def _column_array(f: pa.Field, fast: dict[str, pa.Array], typed: pd.DataFrame) -> pa.Array:
    """One column of a batch in the window's Arrow type (NaN in a fast float column becomes null, as pandas does)."""
    if f.name not in fast:
        return pa.Array.from_pandas(typed[f.name], type=f.type)
    column = fast[f.name]
    if pa.types.is_floating(column.type) and pc.any(pc.is_nan(column)).as_py():
        column = pc.if_else(pc.is_nan(column), pa.scalar(None, column.type), column)
    return column.cast(f.type)


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
    columns: Mapping[str, str],
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
    while (batch := _next_batch(ws, path, fmt, batches)) is not None:
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


def _next_batch(ws: Workspace, path: Path, fmt: str, batches: Iterator[pa.RecordBatch]) -> pa.RecordBatch | None:
    """The next batch of a file (None at its end), its read errors said plainly; a Parquet batch is validated
    (a damaged file can hold text that is not UTF-8, which would otherwise reach the mart)."""
    try:
        batch = next(batches)
        if fmt == "parquet":
            batch.validate(full=True)
        return batch
    except StopIteration:
        return None
    except UnicodeDecodeError as exc:  # names that are not UTF-8 (pyarrow decodes them)
        if fmt == "parquet":
            raise sources.parquet_error(ws, path, exc) from exc
        raise MartError(sources._not_utf8_message(ws, path)) from exc
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


def stream_file(
    ws: Workspace,
    spec: SourceSpec,
    path: Path,
    window: str,
    target: Path,
    use_case: UseCase,
    *,
    batch_rows: int,
    options: StreamOptions,
) -> StreamOutcome:
    """Stream one file source into ``target``; a CSV whose values do not fit the declared Arrow types is re-read as text.

    ``options`` names the input and holds the quarantine and progress callback; the empty-window message and the
    row total are filled in here.
    """
    columns = dict(use_case.columns)
    fmt = sources.file_format(spec, path)
    total = sources.open_parquet(ws, path).metadata.num_rows if fmt == "parquet" and not spec.window_column else None
    options = replace(
        options,
        empty_message=f"Window {window!r} has no rows in {ws.relative(path)}: nothing to ingest.",
        total_rows=total,
    )

    def batches(*, typed_csv: bool = True) -> Iterator[pa.RecordBatch]:
        return file_batches(ws, spec, path, window, columns, batch_rows=batch_rows, typed_csv=typed_csv)

    if fmt != "csv":
        return stream_to_parquet(batches(), target, use_case, options)
    try:
        return stream_to_parquet(batches(), target, use_case, replace(options, arrow_errors_mean_retry=True))
    except _CsvTypesDoNotFit:
        target.unlink(missing_ok=True)
    return stream_to_parquet(batches(typed_csv=False), target, use_case, options)
