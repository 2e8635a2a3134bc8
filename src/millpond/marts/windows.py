"""The windows a use case has data for, listed cheaply, and the check that a requested window fits them.

Cheap means without reading any data: the window labels in the names of the raw files that match a
``{window}`` source pattern, and the windows of the mart's stored versions (``<window>-<hash>`` folders).
A use case whose one file holds every window (``source.window_column``) or that reads a database is
listed from its mart versions only. The scheduler derives due windows from the same file listing.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterable
from pathlib import Path

from millpond.config.params import WINDOW_PATTERN, SourceSpec, UseCase, check_window_format
from millpond.workspace import Workspace


def _glob_to_regex(text: str) -> str:
    return re.escape(text).replace(r"\*", "[^/]*").replace(r"\?", "[^/]")


def file_windows(ws: Workspace, spec: SourceSpec) -> list[str]:
    """The windows named by the raw files matching ``spec.path``'s ``{window}`` pattern, oldest first ([] without one)."""
    if not spec.path or "{window}" not in spec.path:
        return []
    pattern = str(ws.resolve(spec.path))
    head, _, tail = pattern.partition("{window}")
    regex = re.compile(f"^{_glob_to_regex(head)}(?P<window>[^/]+?){_glob_to_regex(tail.replace('{window}', '*'))}$")
    found = set()
    for path in glob.glob(pattern.replace("{window}", "*")):
        match = regex.match(path)
        if match and Path(path).is_file() and WINDOW_PATTERN.match(match["window"]):
            found.add(match["window"])
    return sorted(found)


def mart_windows(ws: Workspace, mart: str) -> list[str]:
    """The windows of the stored versions of ``mart``, from their folder names (no manifest is read)."""
    folder = ws.feature_marts / mart / "versions"
    if not folder.is_dir():
        return []
    names = (p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    return sorted({name.rpartition("-")[0] for name in names if "-" in name} - {""})


def known_windows(ws: Workspace, use_case: UseCase) -> list[str]:
    """Every window the use case has raw files or mart versions for, oldest first."""
    return sorted(set(file_windows(ws, use_case.source)) | set(mart_windows(ws, use_case.use_case)))


def check_use_case_window(ws: Workspace, use_case: UseCase, window: str, *, also: Iterable[str] = ()) -> str:
    """Refuse a malformed ``window`` for ``use_case`` before anything runs (a :class:`~millpond.errors.ParamsError`).

    The window must look like the use case's windows (months 'YYYY-MM' for a monthly calendar or when every known
    window is one); the error names the closest window with data ('2025-5' -> '2025-05'). ``also`` are windows
    valid for the caller besides those (``labels add``: the captured windows). A well-formed window without data
    passes: its ingest says what is missing.
    """
    extra = set(also)
    if window in extra:
        return window
    return check_window_format(
        window,
        set(known_windows(ws, use_case)) | extra,
        monthly=use_case.schedule.calendar == "monthly",
        use_case=use_case.use_case,
    )
