"""A mart's SQL transform: one ``.sql`` file in ``feature_marts/<mart>/`` run by DuckDB over the loaded sources."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd

from millpond.errors import TransformError
from millpond.store.artifacts import note_read
from millpond.store.files import sha256_bytes, sha256_file

_LINE = re.compile(r"LINE (\d+):")
_QUOTED = re.compile(r'"([^"]+)"')


def transform_path(feature_marts: Path, mart: str, name: str) -> Path:
    """Where the transform file ``name`` of ``mart`` lives."""
    return feature_marts / mart / name


def read_transform(path: Path, *, shown: str) -> tuple[str, str]:
    """The transform's SQL text and its sha256."""
    if not path.is_file():
        siblings = sorted(p.name for p in path.parent.glob("*.sql")) if path.parent.is_dir() else []
        raise TransformError(
            f"Transform {shown} does not exist (SQL files there: {', '.join(siblings) or 'none'}). "
            "Create it, or fix 'mart.transform' in the params."
        )
    text = path.read_text(encoding="utf-8")
    note_read("transform", path, sha256_file(path))  # the file's bytes, into the open run's inputs
    return text, sha256_bytes(text.encode("utf-8"))


def _error_line(message: str, sql: str) -> int | None:
    """The line DuckDB points at, or the first line naming the quoted identifier it complains about."""
    found = _LINE.search(message)
    if found:
        return int(found.group(1))
    for name in _QUOTED.findall(message.split("\n")[0]):
        pattern = re.compile(rf"\b{re.escape(name)}\b")
        for number, line in enumerate(sql.splitlines(), start=1):
            if pattern.search(line.split("--")[0]):
                return number
    return None


def _failed(exc: Exception, sql: str, shown: str, tables: list[str]) -> TransformError:
    message = str(exc)
    line = _error_line(message, sql)
    where = f"{shown}, line {line}" if line else shown
    return TransformError(
        f"Transform {where} failed: {message}\nTables available: {', '.join(tables)}. Fix the SQL file."
    )


def run_transform(sql: str, tables: dict[str, pd.DataFrame], *, shown: str) -> pd.DataFrame:
    """Run ``sql`` in a fresh in-memory DuckDB where each source is a table; return the last statement's rows."""
    import duckdb

    from millpond.marts import duck

    connection = duck.connect()
    try:
        for name, frame in tables.items():
            connection.register(name, frame)
        try:
            relation = connection.sql(sql)
            if relation is None:
                raise TransformError(f"Transform {shown} returned no rows: its last statement must be a SELECT.")
            return relation.df()
        except duckdb.Error as exc:
            raise _failed(exc, sql, shown, list(tables)) from None
    finally:
        connection.close()


def run_transform_to_parquet(connection: Any, sql: str, target: Path, *, shown: str, tables: list[str]) -> None:
    """Run ``sql`` on ``connection`` (sources registered as views) and stream its last statement's rows to ``target``."""
    import duckdb

    try:
        relation = connection.sql(sql)
        if relation is None:
            raise TransformError(f"Transform {shown} returned no rows: its last statement must be a SELECT.")
        relation.to_parquet(str(target))
    except duckdb.Error as exc:
        raise _failed(exc, sql, shown, tables) from None
