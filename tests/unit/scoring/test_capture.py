"""The capture store on the storage layer: staged parts, a hash record per part, verify and sweep."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from millpond.config.params import load_use_case
from millpond.errors import CaptureError
from millpond.marts.store import MartStore
from millpond.models.store import ModelStore
from millpond.scoring.batch import Scorer, score_file
from millpond.scoring.capture import CaptureStore, StagedWriter, record_path
from millpond.store.files import sha256_file
from millpond.workspace import Workspace


def _score(ws: Workspace, run_id: str, window: str = "2025-02") -> Path:
    uc = load_use_case(ws.params / "churn.yaml")
    champion = Scorer.load(ModelStore(ws.model_store), "churn", "champion", use_case=uc)
    path = MartStore(ws.feature_marts).latest("churn", window).data_path
    result = score_file(path, champion, captures=CaptureStore(ws.model_store, "churn"), window=window, run_id=run_id)
    return result.captures[champion.version]


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _flip_a_byte(path: Path) -> None:
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_part_is_published_with_its_hash_record_and_verifies_clean(scoring_workspace: Workspace) -> None:
    ws = scoring_workspace
    part = _score(ws, "r1")
    record = record_path(part)
    assert record.name == f"_{part.stem}.json" and not record.stat().st_mode & 0o222
    assert json.loads(record.read_text()) == {"part": part.name, "rows": 3000, "sha256": sha256_file(part)}
    assert sorted(p.name for p in part.parent.iterdir()) == sorted([part.name, record.name])  # no staging left
    _score(ws, "r2", window="2025-03")
    store = CaptureStore(ws.model_store, "churn")
    assert [p.path for p in store.parts("2025-02")] == [part]  # the record is never taken for a part
    report = store.verify()
    assert report.ok and report.checked == 2 and report.notes == []
    assert CaptureStore.verify_all(ws.model_store).checked == 2


def test_a_changed_byte_in_a_part_is_reported_naming_the_part(scoring_workspace: Workspace) -> None:
    ws = scoring_workspace
    part = _score(ws, "r1")
    _flip_a_byte(part)
    report = CaptureStore(ws.model_store, "churn").verify()
    assert not report.ok and [p.path for p in report.problems] == [str(part)]
    assert f"but {record_path(part).name} records " in report.problems[0].problem


def test_an_edited_record_is_reported(scoring_workspace: Workspace) -> None:
    ws = scoring_workspace
    part = _score(ws, "r1")
    record = record_path(part)
    data = json.loads(record.read_text())
    record.chmod(0o644)
    record.write_text(json.dumps({**data, "rows": 7}))
    assert [str(p) for p in CaptureStore(ws.model_store, "churn").verify().problems] == [
        f"{part} holds 3000 rows, but {record.name} records 7"
    ]
    record.write_text("{")
    problems = CaptureStore(ws.model_store, "churn").verify().problems
    assert [p.path for p in problems] == [str(record)] and "not a readable capture record" in problems[0].problem


def test_a_part_without_a_record_is_a_note_unless_it_does_not_read(scoring_workspace: Workspace) -> None:
    ws = scoring_workspace
    part = _score(ws, "old")
    record_path(part).unlink()  # as written by a millpond from before hash records
    report = CaptureStore(ws.model_store, "churn").verify()
    assert report.ok and report.checked == 1
    assert report.notes == [f"{part}: no recorded hash (written before captures recorded one); it reads as 3000 rows"]
    part.chmod(0o644)
    part.write_bytes(part.read_bytes()[:-100])  # truncated: its footer is gone
    report = CaptureStore(ws.model_store, "churn").verify()
    assert [p.path for p in report.problems] == [str(part)] and "not a readable Parquet file" in str(report.problems[0])


def test_staging_of_killed_runs_is_swept_and_a_live_one_is_kept(tmp_path: Path) -> None:
    store = CaptureStore(tmp_path, "churn")
    folder = store.part_path("2025-02", "v1", "x").parent
    folder.mkdir(parents=True)
    dead = folder / f".staging-part-r1-p{_dead_pid()}-abc123.parquet"
    dead.write_bytes(b"half")
    report = store.verify()
    assert report.ok and report.checked == 0 and "stopped half way" in report.notes[0]
    writer = store.open("2025-02", "v1", "r2")  # opening a part sweeps its folder first
    assert not dead.exists() and writer.staging.name.startswith(".staging-part-r2-p")
    assert store.sweep() == []  # the live writer's staging file is kept
    assert writer.staging.exists() and "in progress" in store.verify().notes[0]
    writer.write(pa.table({"x": [1, 2]}))
    part = writer.commit()
    assert sorted(p.name for p in folder.iterdir()) == ["_part-r2.json", "part-r2.parquet"]
    assert store.verify().ok and json.loads(record_path(part).read_text())["rows"] == 2


def test_a_part_that_appears_while_scoring_is_never_replaced(tmp_path: Path) -> None:
    target = tmp_path / "part-r.parquet"
    writer = StagedWriter(target)
    writer.write(pa.table({"x": [1]}))
    target.write_bytes(b"someone else's")
    with pytest.raises(CaptureError, match="appeared while scoring"):
        writer.commit()
    assert target.read_bytes() == b"someone else's" and sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_staging_files_of_dead_writers_are_swept_anywhere_when_a_part_is_opened(tmp_path: Path) -> None:
    import os

    store = CaptureStore(tmp_path, "churn")
    other = store.part_path("2025-01", "v1", "x").parent
    other.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)  # a process that has exited: its staging file is abandoned
    abandoned = other / f".staging-part-run-p{pid}-abc123.parquet"
    live = other / f".staging-part-run2-p{os.getpid()}-def456.parquet"  # a writer still running: kept
    old_style = other / ".part-run.parquet.k2j3.staging"  # older millpond's name, no pid
    stale_old = other / ".part-run0.parquet.k2j4.staging"
    for path in (abandoned, live, old_style, stale_old):
        path.write_bytes(b"PAR1")
    os.utime(stale_old, (0, 0))
    writer = store.open("2025-02", "v1", "new")  # another window: the sweep still covers every folder
    writer.abort()
    assert not abandoned.exists() and not stale_old.exists()
    assert live.exists() and old_style.exists()  # a live writer's file, and an old-style one under an hour old
