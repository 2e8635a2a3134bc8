"""Shared pieces of the hostile-data tests: a small use case, a sandbox workspace and the one outcome check.

Every ingest of a hostile file must end in one of two ways: a valid mart version (the file was data after all),
or a :class:`~millpond.errors.MillpondError` whose message names the file, with the mart folder byte-identical.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from millpond.config.params import UseCase, validate_use_case
from millpond.errors import MillpondError
from millpond.marts import store as marts
from millpond.marts import stream as mart_stream
from millpond.marts.store import MartStore, ingest
from millpond.workspace import Workspace
from tests.conftest import tree_snapshot

WINDOW = "2025-01"
COLUMNS = {"id": "str", "n": "int", "x": "float", "c": "str", "y": "int"}


def use_case(fmt: str, *, delimiter: str | None = None) -> UseCase:
    source: dict[str, str] = {"path": f"feature_marts/raw/fz/fz_{{window}}.{fmt}"}
    if delimiter is not None:
        source["delimiter"] = delimiter
    return validate_use_case(
        {"use_case": "fz", "task": "classification", "source": source, "key": "id", "target": "y", "columns": COLUMNS}
    )


def sandbox(root: Path) -> Workspace:
    """A workspace with one stored version of mart ``fz`` (so 'nothing earlier changed' has something to keep)."""
    ws = Workspace(root=root)
    (ws.raw / "fz").mkdir(parents=True, exist_ok=True)
    good = ws.raw / "fz" / "fz_2024-12.csv"
    good.write_text("id,n,x,c,y\na,1,0.5,p,0\nb,2,1.5,q,1\n", encoding="utf-8")
    ingest(ws, use_case("csv"), "2024-12")
    good.unlink()
    return ws


@contextmanager
def ingest_path(streamed: bool) -> Iterator[None]:
    """Force the streaming path (1,000-row batches, tiny CSV blocks) or leave the one-shot path."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "fsync", lambda fd: None)  # durability is not what is fuzzed; fsync would dominate the time
        if streamed:
            patch.setattr(marts, "_streams", lambda *args, **kwargs: True)
            patch.setattr(mart_stream, "BATCH_ROWS", 1000)
        yield


def _remove_version(path: Path) -> None:
    for item in path.rglob("*"):
        item.chmod(item.stat().st_mode | stat.S_IWUSR)
    shutil.rmtree(path)


def check_outcome(ws: Workspace, data: bytes, fmt: str, *, streamed: bool, delimiter: str | None = None) -> str:
    """Ingest ``data`` as window 2025-01; return "stored" or "refused" (and undo a stored version for the next case).

    Anything but a millpond error naming the file fails the test, as does a refusal that changed the mart folder.
    """
    raw = ws.raw / "fz" / f"fz_{WINDOW}.{fmt}"
    raw.write_bytes(data)
    folder = ws.feature_marts / "fz"
    before = tree_snapshot(folder)
    try:
        with ingest_path(streamed):
            result = ingest(ws, use_case(fmt, delimiter=delimiter), WINDOW)
    except MillpondError as exc:
        assert raw.name in str(exc), f"the message does not name the file: {exc}"
        assert tree_snapshot(folder) == before, f"a refused ingest changed the mart folder: {exc}"
        return "refused"
    finally:
        raw.unlink()
    report = MartStore(ws.feature_marts).verify("fz")
    assert report.ok, report
    frame = result.version.read()
    assert list(frame.columns) == list(COLUMNS) and len(frame) == result.version.rows > 0
    assert frame["id"].notna().all() and frame["id"].is_unique
    if result.created:
        _remove_version(result.version.path)
        _forget_version_log(folder, before)  # the next case starts from the same mart folder
    assert tree_snapshot(folder) == before
    return "stored"


def _forget_version_log(folder: Path, before: dict[str, bytes]) -> None:
    """Put versions.jsonl (and its head and lock) back as they were before a stored case."""
    for name in ("versions.jsonl", "versions.head", "versions.jsonl.lock"):
        path = folder / name
        if name in before:
            path.chmod(0o644)
            path.write_bytes(before[name])
        else:
            path.unlink(missing_ok=True)
