"""DuckDB connections as millpond uses them: in memory, bounded, quiet."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def connect(
    *, threads: int | None = 1, memory_limit: str | None = None, spill: Path | None = None, preserve_order: bool = True
) -> Any:
    """A fresh in-memory DuckDB connection; with ``memory_limit`` and ``spill`` it spills to that folder beyond the limit.

    DuckDB's own progress bar is switched off where it can be: in a plain process it would draw
    into stdout (a cron log); inside a Jupyter kernel DuckDB refuses the setting without ipywidgets
    and draws nothing, so the refusal is ignored.
    """
    import duckdb

    con = duckdb.connect(":memory:")
    if threads is not None:
        con.execute(f"SET threads TO {int(threads)}")
    if spill is not None:
        con.execute(f"SET temp_directory = {literal(spill)}")
    if memory_limit is not None:
        con.execute(f"SET memory_limit = {literal(memory_limit)}")
    con.execute(f"SET preserve_insertion_order = {'true' if preserve_order else 'false'}")
    try:
        con.execute("SET enable_progress_bar = false")
    except duckdb.Error:
        pass
    return con


def literal(value: object) -> str:
    """``value`` as a quoted SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"
