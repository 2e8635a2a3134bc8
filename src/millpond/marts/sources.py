"""Raw sources of a feature mart: CSV/Parquet files and SQL databases (SQLAlchemy).

A file source is a path, a glob or a ``{window}`` pattern; a database source is
a SQLAlchemy URL plus a query. ``${ENV_VAR}`` references in a URL are expanded
only when connecting: the expanded URL is never returned, logged or stored —
provenance keeps the URL as written in the params (inline passwords masked).
"""

from __future__ import annotations

import glob
import hashlib
import itertools
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from millpond.config.params import SourceSpec
from millpond.config.secrets import redact_text, redact_url, remember
from millpond.errors import MartError, SourceNotFoundError, SourceQueryError, SourceUnavailableError, require_extra
from millpond.store.artifacts import note_read
from millpond.store.files import sha256_bytes, sha256_file
from millpond.workspace import Workspace

_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DELIMITERS = (";", "\t", "|", ",")


def frame_sha256(frame: pd.DataFrame) -> str:
    """Content hash of a frame's columns, dtypes and values (row order matters, the index does not)."""
    header = repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode()
    values = pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes() if len(frame) else b""
    return sha256_bytes(header + values)


# --- files -------------------------------------------------------------------------
def source_file(ws: Workspace, spec: SourceSpec, window: str | None, *, name: str = "source") -> Path:
    """The one file holding ``window`` (pattern with ``{window}``, a glob, or one file)."""
    assert spec.path is not None
    if window is None and "{window}" in spec.path:
        raise MartError(
            f"Source {name!r} ({spec.path}) has one file per window; a full load needs one file or query holding every window."
        )
    pattern = str(ws.resolve(spec.path.replace("{window}", window or "")))
    matches = sorted(glob.glob(pattern)) if any(ch in pattern for ch in "*?[") else [pattern]
    existing = [Path(m) for m in matches if Path(m).is_file()]
    if len(existing) == 1:
        return existing[0]
    if len(existing) > 1:
        raise MartError(
            f"Source pattern {spec.path!r} matches {len(existing)} files for window {window!r}; it must match one."
        )
    available = sorted(glob.glob(str(ws.resolve(spec.path.replace("{window}", "*")))))
    listed = ", ".join(Path(p).name for p in available[:6]) or "none"
    raise SourceNotFoundError(
        f"No raw source for window {window!r}: {ws.relative(pattern)} does not exist "
        f"(files matching the pattern: {listed}). Check '{'source' if name == 'source' else 'mart.sources.' + name}.path' "
        "in the params or the --window value."
    )


def file_format(spec: SourceSpec, path: Path) -> str:
    if spec.format:
        return spec.format
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise MartError(f"Cannot tell the format of {path.name}: set source.format to 'csv' or 'parquet'.")


def _not_utf8_message(ws: Workspace, path: Path) -> str:
    """Where the first byte that is not UTF-8 sits (read in chunks: the file may be larger than memory)."""
    carry, base, lines = b"", 0, 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(1 << 20)
            data = carry + chunk
            if not data:
                break
            try:
                data.decode("utf-8")
                carry = b""
            except UnicodeDecodeError as exc:
                if exc.reason == "unexpected end of data" and chunk:  # a character split between two reads
                    carry = data[exc.start :]
                    lines += data.count(b"\n", 0, exc.start)
                    base += exc.start
                    continue
                line = lines + data.count(b"\n", 0, exc.start) + 1
                return (
                    f"Raw file {ws.relative(path)} is not UTF-8 text: byte 0x{data[exc.start : exc.start + 1].hex()} at offset "
                    f"{base + exc.start} (line {line}) cannot be decoded. Re-encode the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)."
                )
            lines += data.count(b"\n")
            base += len(data)
            if not chunk:
                break
    return f"Raw file {ws.relative(path)} is not UTF-8 text. Re-encode it as UTF-8."


def _check_delimiter(ws: Workspace, path: Path, names: list[str], declared: int, delimiter: str) -> None:
    """A file read into one column whose name holds another delimiter was split with the wrong one."""
    if declared < 2 or len(names) != 1:
        return
    header = str(names[0])
    for candidate in _DELIMITERS:
        if candidate != delimiter and candidate in header:
            shown = {"\t": "\\t"}.get(candidate, candidate)
            raise MartError(
                f"Raw file {ws.relative(path)} has a single column {header[:60]!r}: it looks delimited by "
                f"{shown!r}, not {delimiter!r}. Set 'delimiter: \"{shown}\"' in its source in the params."
            )


def empty_file_error(ws: Workspace, path: Path) -> MartError:
    return MartError(f"Raw file {ws.relative(path)} is empty: it has no header and no rows.")


def parquet_error(ws: Workspace, path: Path, exc: BaseException) -> MartError:
    return MartError(
        f"Raw file {ws.relative(path)} is not a readable Parquet file (truncated or corrupt?): {exc}. "
        "Re-export it, or check that the copy finished."
    )


def open_parquet(ws: Workspace, path: Path) -> Any:
    """A ``pyarrow.parquet.ParquetFile``, or the error saying the file is truncated or corrupt."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path, pre_buffer=False)  # pre-buffering keeps every column chunk read so far alive
    except (pa.ArrowException, OSError, ValueError) as exc:  # ValueError: column names that are not UTF-8
        raise parquet_error(ws, path, exc) from exc


def file_provenance(ws: Workspace, spec: SourceSpec, path: Path) -> dict[str, Any]:
    """How a mart manifest describes a raw file it was built from (noted as read in the open run's ledger)."""
    digest = sha256_file(path)
    note_read("raw_file", path, digest)
    return {"kind": "file", "path": ws.relative(path), "format": file_format(spec, path), "sha256": digest}


def csv_chunks(
    ws: Workspace,
    path: Path,
    spec: SourceSpec,
    *,
    columns: dict[str, str] | None,
    chunk_rows: int | None = None,
) -> Any:
    """``pandas.read_csv`` of a CSV source (whole, or an iterator of ``chunk_rows`` chunks), errors said plainly."""
    declared = columns or {}
    delimiter = spec.delimiter or ","
    text_columns = {c: "str" for c, t in declared.items() if t == "str"}
    if path.stat().st_size == 0:
        raise empty_file_error(ws, path)
    if chunk_rows is None:
        with _csv_errors(ws, path):
            frame = pd.read_csv(path, dtype=text_columns, sep=delimiter)
        _check_delimiter(ws, path, [str(c) for c in frame.columns], len(declared), delimiter)
        return frame
    with _csv_errors(ws, path):
        reader = pd.read_csv(path, dtype=text_columns, sep=delimiter, chunksize=chunk_rows)
    return _checked_chunks(ws, path, reader, len(declared), delimiter)


@contextmanager
def _csv_errors(ws: Workspace, path: Path) -> Iterator[None]:
    """pandas' CSV errors as messages that say what is wrong with the file and how to fix it."""
    try:
        yield
    except pd.errors.EmptyDataError as exc:
        raise empty_file_error(ws, path) from exc
    except UnicodeDecodeError as exc:
        raise MartError(_not_utf8_message(ws, path)) from exc
    except (ValueError, OSError) as exc:
        raise MartError(f"Cannot read raw file {ws.relative(path)} as csv: {exc}") from exc


def _checked_chunks(ws: Workspace, path: Path, reader: Any, declared: int, delimiter: str) -> Iterator[pd.DataFrame]:
    with reader:
        for number in itertools.count():
            with _csv_errors(ws, path):
                chunk = next(reader, None)
            if chunk is None:
                return
            if number == 0:
                _check_delimiter(ws, path, [str(c) for c in chunk.columns], declared, delimiter)
            yield chunk


def read_file(
    ws: Workspace,
    spec: SourceSpec,
    window: str | None,
    *,
    name: str = "source",
    columns: dict[str, str] | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a file source (filtered to ``window`` when it has a window column) and describe it."""
    path = source_file(ws, spec, window, name=name)
    fmt = file_format(spec, path)
    if fmt == "csv":
        frame = csv_chunks(ws, path, spec, columns=columns)
    else:
        frame = _read_parquet(ws, path)
    frame = _filter_window(frame, spec, window, origin=ws.relative(path))
    return frame, file_provenance(ws, spec, path)


def _read_parquet(ws: Workspace, path: Path) -> pd.DataFrame:
    """A whole Parquet file, validated first: a damaged file can hold text that is not UTF-8, which pyarrow reads
    without complaint and pandas then fails on deep inside a later step."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pq.read_table(path).validate(full=True)
        return pd.read_parquet(path)
    except (pa.ArrowException, ValueError, OSError) as exc:
        raise parquet_error(ws, path, exc) from exc


def _filter_window(frame: pd.DataFrame, spec: SourceSpec, window: str | None, *, origin: str) -> pd.DataFrame:
    column = spec.window_column
    if not column:
        return frame
    if column not in frame.columns:
        raise MartError(f"Window column {column!r} is missing from {origin}.")
    if window is None:
        return frame
    return frame[frame[column].astype("str") == window].reset_index(drop=True)


# --- databases -----------------------------------------------------------------------
def expand_env(text: str, *, where: str) -> str:
    """Replace ``${NAME}`` with the URL-quoted environment variable (at connect time only)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise MartError(
                f"Environment variable {name} referenced in {where} is not set. Export it before running (e.g. export {name}=...)."
            )
        remember([os.environ[name]])  # masked in every message from now on (the driver may quote it)
        return quote(os.environ[name], safe="")

    return _ENV_REFERENCE.sub(value, text)


def _describe_db_error(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return redact_text(text.split("\n(Background on this error")[0].strip())


DB_CHUNK_ROWS = 100_000  # rows fetched per round trip; fixed, so a query's content hash does not depend on --batch-rows


@dataclass(frozen=True)
class _DatabaseSource:
    """A database source as messages name it: its key in the params, its URL with the password masked."""

    name: str
    url: str
    query: str

    @property
    def label(self) -> str:
        return f"source {self.name!r}" if self.name != "source" else "the source"

    @property
    def key(self) -> str:
        return "source" if self.name == "source" else f"mart.sources.{self.name}"

    @property
    def shown_url(self) -> str:
        return redact_url(self.url)

    def failed(self, exc: BaseException) -> SourceQueryError:
        return SourceQueryError(
            f"The query of {self.label} failed on {self.shown_url}: {_describe_db_error(exc)}\nQuery: {self.query.strip()}"
        )


@dataclass
class _Cursor:
    """An open server-side cursor: the engine, its connection, the result and its column names."""

    engine: Any
    connection: Any
    result: Any
    keys: list[str]

    def close(self) -> None:
        self.result.close()
        self.connection.close()
        self.engine.dispose()


def database_chunks(
    ws: Workspace,
    spec: SourceSpec,
    window: str | None,
    *,
    name: str = "source",
    chunk_rows: int = DB_CHUNK_ROWS,
) -> tuple[Iterator[pd.DataFrame], dict[str, Any]]:
    """Stream a source's query in chunks through SQLAlchemy (server-side cursor); its provenance is filled in as it goes.

    The provenance's ``sha256`` (a hash over every chunk) is final once the iterator is exhausted.
    """
    assert spec.url is not None and spec.query is not None
    db = _DatabaseSource(name, spec.url, spec.query)
    if window is None and "{window}" in spec.query:
        raise MartError(f"{db.key}.query holds {{window}}; a full load needs a query returning every window.")
    engine = _engine(ws, db)
    provenance: dict[str, Any] = {
        "kind": "database",
        "url": db.shown_url,
        "query": spec.query,
        "sha256": None,
        "path": None,
    }
    query = spec.query.replace("{window}", ":window")
    cursor = _execute(engine, db, query, {"window": window} if ":window" in query else {}, chunk_rows)
    note_read("database_query", None, sha256_bytes(spec.query.encode("utf-8")), ref=f"{name}: {db.shown_url}")
    return _frames(db, cursor, chunk_rows, provenance), provenance


def _engine(ws: Workspace, db: _DatabaseSource) -> Any:
    """A SQLAlchemy engine for the source's URL (``${VARS}`` expanded, a relative SQLite path resolved)."""
    sa = require_extra("sql", "sqlalchemy", feature=f"The database source {db.label}")
    from sqlalchemy import exc as sa_exc

    try:
        url = sa.engine.make_url(expand_env(db.url, where=f"{db.key}.url"))
    except sa_exc.ArgumentError as exc:
        raise MartError(
            f"Bad database URL {db.shown_url!r} for {db.label}: {redact_text(str(exc))}. "
            "Use a SQLAlchemy URL such as sqlite:///feature_marts/raw/churn.db or postgresql+psycopg://user:${PASSWORD}@host:5432/db."
        ) from None
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        db_path = ws.resolve(url.database)
        if not db_path.is_file():
            raise SourceUnavailableError(
                f"Could not connect to {db.label}: SQLite database {ws.relative(db_path)} does not exist ({db.shown_url})."
            )
        url = url.set(database=str(db_path))
    if url.drivername.partition("+")[2] == "psycopg":  # the PostgreSQL driver comes with the 'postgres' extra
        require_extra("postgres", "psycopg", feature=f"The PostgreSQL source {db.label}")
    try:
        return sa.create_engine(url)
    except (sa_exc.ArgumentError, sa_exc.NoSuchModuleError, ImportError) as exc:
        raise MartError(
            f"Bad database URL {db.shown_url!r} for {db.label}: {_describe_db_error(exc)}. Check the driver name and install it."
        ) from None


def _execute(engine: Any, db: _DatabaseSource, query: str, params: dict[str, Any], chunk_rows: int) -> _Cursor:
    """Connect and run the query with a server-side cursor; the engine is disposed of when either fails."""
    import sqlalchemy as sa
    from sqlalchemy import exc as sa_exc

    try:
        connection = engine.connect()
    except sa_exc.DBAPIError as exc:
        engine.dispose()
        raise SourceUnavailableError(
            f"Could not connect to {db.label} at {db.shown_url}: {_describe_db_error(exc)}. "
            "Check that the server is up and the host, port and credentials are right."
        ) from None
    try:
        result = connection.execution_options(stream_results=True, max_row_buffer=chunk_rows).execute(
            sa.text(query), params
        )
        keys = list(result.keys())
    except sa_exc.DBAPIError as exc:
        connection.close()
        engine.dispose()
        raise db.failed(exc) from None
    return _Cursor(engine, connection, result, keys)


def _frames(
    db: _DatabaseSource, cursor: _Cursor, chunk_rows: int, provenance: dict[str, Any]
) -> Iterator[pd.DataFrame]:
    """The result in frames of ``chunk_rows`` rows; the provenance's sha256 is set once the last one is read."""
    from sqlalchemy import exc as sa_exc

    digest = hashlib.sha256()
    try:
        first = True
        while True:
            try:
                rows = cursor.result.fetchmany(chunk_rows)
            except sa_exc.DBAPIError as exc:
                if exc.connection_invalidated:  # the server went away mid-read: worth a retry, not a bad query
                    raise SourceUnavailableError(
                        f"The connection to {db.label} dropped while its rows were read ({_describe_db_error(exc)}). "
                        "Nothing was stored; the next run (the scheduler retries it) reads the query again."
                    ) from None
                raise db.failed(exc) from None
            if not rows and not first:
                break
            first = False  # an empty result still yields one (empty) frame, so its columns are known
            frame = pd.DataFrame.from_records([tuple(r) for r in rows], columns=cursor.keys, coerce_float=True)
            digest.update(frame_sha256(frame).encode())
            yield frame
            if not rows:
                break
        provenance["sha256"] = digest.hexdigest()
    finally:
        cursor.close()
