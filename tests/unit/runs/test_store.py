"""Run records: immutable folders with a manifest, and the SQLite index that lists them."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from millpond.errors import RunError, RunIntegrityError, RunNotFoundError
from millpond.runs.entities import RunManifest, RunTimings
from millpond.runs.store import SCHEMA_VERSION, RunRecord, RunStore, new_cycle_id
from millpond.store.files import sha256_file

T0 = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)
NOTEBOOK = {
    "cells": [{"cell_type": "code", "source": "x = 1", "outputs": [], "metadata": {}, "execution_count": 1}],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 5,
}
SECRET_PASSWORD = "Hunter2-very-secret"
URL_PASSWORD = "Pg-url-pw-9981"


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(tmp_path / "runs")


def _record(
    store: RunStore,
    cycle_id: str,
    order: int,
    stage: str,
    *,
    use_case: str = "churn",
    window: str = "2025-03",
    status: str = "succeeded",
    started: datetime = T0,
    **kwargs: Any,
) -> RunRecord:
    run_dir = store.prepare(cycle_id, order, stage)
    (run_dir / "notebook.ipynb").write_text(json.dumps(NOTEBOOK), encoding="utf-8")
    (run_dir / "outputs").mkdir()
    (run_dir / "outputs" / "table.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    manifest = RunManifest(
        use_case=use_case,
        window=window,
        stage=stage,
        status=status,
        timings=RunTimings.between(started, started + timedelta(seconds=2.5)),
        params=kwargs.pop("params", {"use_case": use_case}),
        **kwargs,
    )
    return store.record(run_dir, manifest)


def _cycle(store: RunStore, window: str = "2025-03", started: datetime = T0, use_case: str = "churn") -> str:
    cycle_id = new_cycle_id(use_case, window, now=started)
    _record(
        store,
        cycle_id,
        1,
        "ingest",
        window=window,
        started=started,
        use_case=use_case,
        outputs={"mart": "sha256:" + "a" * 64},
        scraps={"summary": {"rows": 3000}},
    )
    _record(
        store,
        cycle_id,
        2,
        "score",
        window=window,
        started=started + timedelta(seconds=10),
        use_case=use_case,
        status="skipped",
        skip_reason="no champion yet",
    )
    _record(
        store,
        cycle_id,
        3,
        "drift",
        window=window,
        started=started + timedelta(seconds=20),
        use_case=use_case,
        status="failed",
        error="DriftError: no reference",
    )
    return cycle_id


def test_new_cycle_id_is_sortable_and_validated() -> None:
    cycle_id = new_cycle_id("churn", "2025-03", now=T0)
    assert re.fullmatch(r"20250301T060000Z-churn-2025-03-[0-9a-f]{4}", cycle_id)
    later = new_cycle_id("churn", "2025-03", now=T0 + timedelta(seconds=1))
    assert sorted([later, cycle_id]) == [cycle_id, later]
    assert new_cycle_id("churn", "2025-03", now=datetime(2025, 3, 1, 6, 0)).startswith(
        "20250301T060000Z-"
    )  # naive = UTC
    for bad in ("a/b", "..", "", "a\\b"):
        with pytest.raises(RunError, match="without path separators"):
            new_cycle_id(bad, "2025-03")
    with pytest.raises(RunError, match="window"):
        new_cycle_id("churn", "2025/03")


def test_record_then_get_list_filter_and_cycle(store: RunStore) -> None:
    cycle_id = _cycle(store)
    other = _cycle(store, window="2025-04", started=T0 + timedelta(days=31))

    ingest = store.get(f"{cycle_id}/01-ingest")
    assert (ingest.run_id, ingest.cycle_id, ingest.stage, ingest.use_case, ingest.window, ingest.status) == (
        f"{cycle_id}/01-ingest",
        cycle_id,
        "ingest",
        "churn",
        "2025-03",
        "succeeded",
    )
    assert ingest.started_at == "2025-03-01T06:00:00.000000+00:00"
    assert ingest.finished_at == "2025-03-01T06:00:02.500000+00:00"
    assert ingest.duration_s == 2.5
    assert ingest.path == store.root / cycle_id / "01-ingest"
    assert ingest.scraps == {"summary": {"rows": 3000}}
    assert ingest.manifest["outputs"] == {"mart": "sha256:" + "a" * 64}
    assert (ingest.error, ingest.skip_reason) == (None, None)

    newest_first = store.list()
    assert [r.run_id for r in newest_first] == [
        f"{other}/03-drift",
        f"{other}/02-score",
        f"{other}/01-ingest",
        f"{cycle_id}/03-drift",
        f"{cycle_id}/02-score",
        f"{cycle_id}/01-ingest",
    ]
    assert [r.run_id for r in store.list(window="2025-03", stage="score")] == [f"{cycle_id}/02-score"]
    assert store.list(status="skipped", window="2025-04")[0].skip_reason == "no champion yet"
    assert store.list(status="failed", cycle_id=cycle_id)[0].error == "DriftError: no reference"
    assert [r.run_id for r in store.list(limit=2)] == [f"{other}/03-drift", f"{other}/02-score"]
    assert store.list(use_case="credit") == []

    assert [r.stage for r in store.cycle(cycle_id)] == ["ingest", "score", "drift"]
    assert store.cycle("nope") == []
    assert store.latest("churn", "2025-03", "ingest").run_id == f"{cycle_id}/01-ingest"
    assert store.latest("churn", "2025-03", "drift") is None  # only a failed one
    assert store.latest("churn", "2025-03", "drift", status="failed").run_id == f"{cycle_id}/03-drift"
    assert store.latest("churn", "2025-03", "drift", status=None).status == "failed"


def test_get_accepts_a_unique_prefix_suffix_or_part(store: RunStore) -> None:
    first = _cycle(store)
    second = _cycle(store, window="2025-04", started=T0 + timedelta(days=31))
    assert store.get(f"{first}/02").run_id == f"{first}/02-score"  # prefix
    assert store.get(f"{second[-4:]}/03-drift").run_id == f"{second}/03-drift"  # tail
    assert store.get(f"2025-04-{second[-4:]}/01").run_id == f"{second}/01-ingest"  # inner part
    with pytest.raises(RunNotFoundError, match=r"'03-drift' is ambiguous: it matches 2 runs"):
        store.get("03-drift")


def test_unknown_run_id_suggests_the_closest(store: RunStore) -> None:
    cycle_id = _cycle(store)
    with pytest.raises(RunNotFoundError) as info:
        store.get(f"{cycle_id}/03-drfit")
    message = str(info.value)
    assert f"No run '{cycle_id}/03-drfit' in runs/index.sqlite. Did you mean '{cycle_id}/03-drift'?" in message
    assert "millpond runs list" in message
    assert isinstance(info.value, KeyError)


def test_files_are_read_only_after_record(store: RunStore) -> None:
    record = _record(store, new_cycle_id("churn", "2025-03", now=T0), 1, "ingest")
    files = sorted(p.relative_to(record.path).as_posix() for p in record.path.rglob("*") if p.is_file())
    assert files == ["manifest.json", "notebook.ipynb", "outputs/table.csv"]
    for name in files:
        assert stat.S_IMODE((record.path / name).stat().st_mode) & 0o222 == 0, name


def test_manifest_holds_hashes_versions_and_redacted_params(store: RunStore, tmp_path: Path) -> None:
    params = {
        "use_case": "churn",
        "source": {
            "url": f"postgresql://ops:{URL_PASSWORD}@db.local/churn",
            "password": SECRET_PASSWORD,
            "query": "select 1",
        },
        "notify": {"token": "${SLACK_TOKEN}"},
    }
    record = _record(
        store,
        new_cycle_id("churn", "2025-03", now=T0),
        1,
        "ingest",
        params=params,
        status="failed",
        error=f"OperationalError: cannot reach postgresql://ops:{URL_PASSWORD}@db.local/churn",
        inputs={"raw": "sha256:" + "b" * 64},
        scraps={"echo": {"password": SECRET_PASSWORD}},
        extra={"timings": {"wall_seconds": 3.0}},
    )
    manifest = json.loads((record.path / "manifest.json").read_text())
    assert manifest == record.manifest
    assert manifest["params"] == {
        "use_case": "churn",
        "source": {"url": "postgresql://ops:***@db.local/churn", "password": "***", "query": "select 1"},
        "notify": {"token": "${SLACK_TOKEN}"},
    }
    assert manifest["error"] == "OperationalError: cannot reach postgresql://ops:***@db.local/churn"
    assert manifest["scraps"] == {"echo": {"password": "***"}}
    assert manifest["files"] == {
        "notebook.ipynb": sha256_file(record.path / "notebook.ipynb"),
        "outputs/table.csv": sha256_file(record.path / "outputs" / "table.csv"),
    }
    assert manifest["inputs"] == {"raw": "sha256:" + "b" * 64} and manifest["outputs"] == {}
    assert manifest["packages"]["pandas"] == metadata.version("pandas")
    assert manifest["packages"]["papermill"] == metadata.version("papermill")
    assert manifest["code"] == {"commit": None, "dirty": None, "branch": None}  # tmp_path is not a git checkout
    assert manifest["timings"] == {
        "started_at": "2025-03-01T06:00:00.000000+00:00",
        "finished_at": "2025-03-01T06:00:02.500000+00:00",
        "duration_s": 2.5,
    }
    assert (manifest["run_id"], manifest["status"], manifest["stage"]) == (record.run_id, "failed", "ingest")
    assert manifest["extra"] == {"timings": {"wall_seconds": 3.0}}

    leaked = [
        p
        for p in tmp_path.rglob("*")
        if p.is_file() and (SECRET_PASSWORD.encode() in p.read_bytes() or URL_PASSWORD.encode() in p.read_bytes())
    ]
    assert leaked == []
    with sqlite3.connect(store.index_path) as con:
        dump = "\n".join(con.iterdump())
    assert "ops:***@db.local" in dump and SECRET_PASSWORD not in dump and URL_PASSWORD not in dump


def test_record_validates_its_inputs(store: RunStore, tmp_path: Path) -> None:
    run_dir = store.prepare(new_cycle_id("churn", "2025-03", now=T0), 1, "ingest")

    def manifest(stage: str, status: str) -> RunManifest:
        return RunManifest("churn", "2025-03", stage, status, RunTimings.between(T0, T0))

    with pytest.raises(RunError, match=r"status must be one of .* Got 'done' instead"):
        store.record(run_dir, manifest("ingest", "done"))
    with pytest.raises(RunError, match="another stage than 'score'"):
        store.record(run_dir, manifest("score", "succeeded"))
    elsewhere = tmp_path / "x" / "01-ingest"
    elsewhere.mkdir(parents=True)
    with pytest.raises(RunError, match="create it with RunStore.prepare"):
        store.record(elsewhere, manifest("ingest", "succeeded"))
    store.record(run_dir, manifest("ingest", "succeeded"))
    with pytest.raises(RunError, match="recorded once"):
        store.record(run_dir, manifest("ingest", "succeeded"))
    assert len(store.list()) == 1


def test_prepare_refuses_an_existing_folder(store: RunStore) -> None:
    cycle_id = new_cycle_id("churn", "2025-03", now=T0)
    run_dir = store.prepare(cycle_id, 4, "train")
    assert run_dir == store.root / cycle_id / "04-train" and run_dir.is_dir()
    with pytest.raises(RunError, match=rf"Run folder runs/{cycle_id}/04-train already exists"):
        store.prepare(cycle_id, 4, "train")
    with pytest.raises(RunError, match="from 0 to 99"):
        store.prepare(cycle_id, 100, "train")
    with pytest.raises(RunError, match="path separators"):
        store.prepare("../evil", 1, "train")


def test_verify_is_empty_on_fresh_records(store: RunStore) -> None:
    _cycle(store)
    assert store.verify().ok


def _unlock(path: Path) -> None:
    path.chmod(0o644)


def test_verify_names_a_tampered_notebook(store: RunStore) -> None:
    record = _record(store, new_cycle_id("churn", "2025-03", now=T0), 4, "train")
    notebook = record.path / "notebook.ipynb"
    _unlock(notebook)
    notebook.write_text(notebook.read_text().replace("x = 1", "x = 2"))
    assert [str(p) for p in store.verify().problems] == [
        f"runs/{record.run_id}/notebook.ipynb was altered after it was recorded (its sha256 "
        "differs from the manifest): restore it from a backup or re-run the stage."
    ]


def test_verify_names_a_tampered_manifest(store: RunStore) -> None:
    record = _record(store, new_cycle_id("churn", "2025-03", now=T0), 1, "ingest")
    manifest = record.path / "manifest.json"
    _unlock(manifest)
    manifest.write_text(manifest.read_text().replace('"succeeded"', '"failed"'))
    problems = [str(p) for p in store.verify().problems]
    assert len(problems) == 1
    assert problems[0].startswith(f"runs/{record.run_id}/manifest.json was altered (its sha256 differs from the index)")


def test_verify_names_deleted_and_added_files(store: RunStore) -> None:
    record = _record(store, new_cycle_id("churn", "2025-03", now=T0), 1, "ingest")
    (record.path / "outputs" / "table.csv").unlink()
    (record.path / "outputs" / "extra.txt").write_text("sneaked in")
    assert [str(p) for p in store.verify().problems] == [
        f"runs/{record.run_id}/outputs/table.csv is missing although its manifest records it: "
        "restore it from a backup or re-run the stage.",
        f"runs/{record.run_id}/outputs/extra.txt was added after the run was recorded: remove it, run records are immutable.",
    ]


def test_verify_names_an_indexed_run_whose_folder_is_gone(store: RunStore) -> None:
    import shutil

    record = _record(store, new_cycle_id("churn", "2025-03", now=T0), 1, "ingest")
    shutil.rmtree(record.path)
    assert [str(p) for p in store.verify().problems] == [
        f"runs/{record.run_id} is in the index but its folder is gone: restore it from a backup."
    ]


def test_a_crash_before_indexing_is_a_note_then_reindexed(store: RunStore) -> None:
    cycle_id = _cycle(store)
    lost = f"{cycle_id}/02-score"
    with sqlite3.connect(store.index_path) as con:
        con.execute("DELETE FROM runs WHERE run_id = ?", (lost,))
    con.close()
    assert [r.run_id for r in store.cycle(cycle_id)] == [f"{cycle_id}/01-ingest", f"{cycle_id}/03-drift"]
    report = store.verify()
    assert report.ok and report.checked == 3
    assert report.notes == [
        f"runs/{lost} is not indexed (a crash between its manifest and the index write?): "
        "`millpond runs reindex` adds it"
    ]
    done = store.reindex()
    assert (done.added, done.removed, done.refreshed, done.kept, done.rebuilt) == ([lost], [], [], {}, "")
    assert done.lines() == [f"added {lost}", "runs/index.sqlite: 1 added, 0 removed, 0 refreshed"]
    assert store.reindex().added == []
    report = store.verify()
    assert report.ok and report.notes == []
    restored = store.get(lost)
    assert (restored.status, restored.skip_reason, restored.duration_s) == ("skipped", "no champion yet", 2.5)
    assert [r.stage for r in store.cycle(cycle_id)] == ["ingest", "score", "drift"]


def test_an_unindexed_record_is_still_checked_against_its_manifest(store: RunStore) -> None:
    record = _record(store, new_cycle_id("churn", "2025-03", now=T0), 4, "train")
    with sqlite3.connect(store.index_path) as con:
        con.execute("DELETE FROM runs")
    con.close()
    table = record.path / "outputs" / "table.csv"
    _unlock(table)
    table.write_text("a,b\n1,3\n")
    report = store.verify()
    assert [str(p) for p in report.problems] == [
        f"runs/{record.run_id}/outputs/table.csv was altered after it was recorded (its sha256 "
        "differs from the manifest): restore it from a backup or re-run the stage."
    ]
    assert len(report.notes) == 1 and "is not indexed" in report.notes[0]


def _listed(store: RunStore) -> list[tuple[str, str, str]]:
    return sorted((r.run_id, r.status, r.started_at) for r in store.list())


@pytest.mark.parametrize("damage", ["deleted", "not a database", "torn page"])
def test_reindex_rebuilds_a_missing_or_damaged_index_from_the_records(store: RunStore, damage: str) -> None:
    _cycle(store)
    _cycle(store, window="2025-04", started=T0 + timedelta(days=30))
    before = _listed(store)
    assert len(before) == 6
    if damage == "deleted":
        store.index_path.unlink()
    elif damage == "not a database":
        store.index_path.write_bytes(b"this is not an SQLite file, it was overwritten" * 100)
    else:
        data = bytearray(store.index_path.read_bytes())
        data[4096:8192] = b"\xff" * 4096  # the second page (the table's rows) overwritten
        store.index_path.write_bytes(bytes(data))
    if damage != "deleted":
        with pytest.raises(RunIntegrityError, match=r"runs/index.sqlite does not read .*`millpond runs reindex`"):
            store.list()
        report = store.verify()
        assert [p.path for p in report.problems] == ["runs/index.sqlite"] and report.checked == 6
        assert "rebuild it with `millpond runs reindex`" in report.problems[0].problem and report.notes == []
    done = store.reindex()
    assert sorted(done.added) == [r[0] for r in before] and done.removed == [] and done.rebuilt
    assert done.lines()[0].startswith("rebuilt runs/index.sqlite from the run records: ")
    assert _listed(store) == before
    assert store.verify().ok and store.verify().notes == []
    if damage != "deleted":
        assert (store.root / "index.sqlite.corrupt").is_file()  # kept for a look, never read again


def test_reindex_removes_rows_of_gone_folders_refreshes_edited_rows_and_keeps_tampered_ones(store: RunStore) -> None:
    import shutil

    cycle_id = _cycle(store)
    ingest, score, drift = (f"{cycle_id}/{n}" for n in ("01-ingest", "02-score", "03-drift"))
    shutil.rmtree(store.root / drift)
    with sqlite3.connect(store.index_path) as con:
        con.execute("UPDATE runs SET status = 'failed' WHERE run_id = ?", (score,))  # the derived row edited
    con.close()
    manifest = store.root / ingest / "manifest.json"
    _unlock(manifest)
    manifest.write_text(manifest.read_text().replace('"succeeded"', '"failed"'))
    done = store.reindex()
    assert (done.added, done.removed, done.refreshed) == ([], [drift], [score])
    assert done.kept == {
        ingest: f"runs/{ingest}/manifest.json differs from the hash its index row recorded (tampering?)"
    }
    assert done.lines()[-1] == "runs/index.sqlite: 0 added, 1 removed, 1 refreshed; 1 left for `millpond runs verify`"
    assert store.get(score).status == "skipped" and store.get(ingest).status == "succeeded"
    assert [str(p) for p in store.verify().problems] == [
        f"runs/{ingest}/manifest.json was altered (its sha256 differs from the index): "
        "restore it from a backup or re-run the stage."
    ]


def test_reindex_skips_an_unreadable_manifest_and_verify_names_it(store: RunStore) -> None:
    record = _record(store, new_cycle_id("churn", "2025-03", now=T0), 1, "ingest")
    store.index_path.unlink()
    manifest = record.path / "manifest.json"
    _unlock(manifest)
    manifest.write_text('{"stage": ')
    done = store.reindex()
    assert done.added == [] and list(done.skipped) == [record.run_id]
    assert done.skipped[record.run_id].startswith(f"runs/{record.run_id}/manifest.json is not a readable run manifest")
    assert [str(p) for p in store.verify().problems] == [
        f"runs/{record.run_id}/manifest.json is not a readable run manifest: restore it from a backup."
    ]


def test_verify_notes_a_folder_that_was_never_recorded_as_unfinished(store: RunStore) -> None:
    run_dir = store.prepare(
        new_cycle_id("churn", "2025-03", now=T0), 1, "ingest", claim={"use_case": "churn", "window": "2025-03"}
    )
    (run_dir / "notebook.ipynb").write_text("{}")
    rel = run_dir.relative_to(store.root.parent).as_posix()
    report = store.verify()
    assert report.ok and report.problems == []  # a crash is not tampering
    assert [n for n in report.notes if n.startswith(rel)] == [
        f"{rel} is an unfinished run of 'churn' (no manifest yet: its stage is still running, or its process died "
        "before recording it); `millpond verify --repair` or the next run of the use case seals it as interrupted"
    ]
    assert store.reindex().added == []
    assert store.unfinished() == {f"{run_dir.parent.name}/{run_dir.name}": run_dir}


def test_the_claim_names_the_run_and_is_gone_once_recorded(store: RunStore) -> None:
    run_dir = store.prepare(new_cycle_id("churn-b", "2025-03", now=T0), 1, "ingest", claim={"use_case": "churn-b"})
    claim = json.loads((run_dir / ".claim.json").read_text())
    assert claim["use_case"] == "churn-b" and claim["stage"] == "ingest" and claim["pid"] == os.getpid()
    manifest = RunManifest("churn-b", "2025-03", "ingest", "succeeded", RunTimings.between(T0, T0))
    record = store.record(run_dir, manifest)
    assert not (run_dir / ".claim.json").exists() and ".claim.json" not in record.manifest["files"]


def test_index_is_created_on_first_use_with_a_schema_version(store: RunStore) -> None:
    assert not store.index_path.exists()
    assert store.list() == []
    with sqlite3.connect(store.index_path) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(RunError, match="newer than this millpond reads"):
        store.list()


def _listed_statuses(store: RunStore) -> dict[str, str]:
    return {r.run_id: r.status for r in store.records()}


def test_runs_are_listed_from_index_rows_whose_key_holds_and_from_the_manifest_otherwise(
    store: RunStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from millpond.runs import store as run_store

    cycle_id = _cycle(store)
    truth = _listed_statuses(store)
    parsed: list[str] = []
    real_row = run_store._row
    monkeypatch.setattr(run_store, "_row", lambda run_id, *a, **k: parsed.append(run_id) or real_row(run_id, *a, **k))
    assert _listed_statuses(store) == truth and parsed == []  # every row's key holds: no manifest parsed

    score, drift = f"{cycle_id}/02-score", f"{cycle_id}/03-drift"
    with sqlite3.connect(store.index_path) as con:
        con.execute("UPDATE runs SET status = 'failed' WHERE run_id = ?", (score,))  # the row edited, key kept
    con.close()
    manifest = store.root / drift / "manifest.json"
    _unlock(manifest)
    manifest.write_text(manifest.read_text().replace('"succeeded"', '"failed"'))  # the record rewritten
    listed = _listed_statuses(store)
    assert sorted(parsed) == [score, drift]  # only the two whose key no longer holds were read
    assert listed == {**truth, drift: "failed"}  # what the manifests say now, never the edited row


def test_a_version_1_index_is_migrated_and_reindex_fills_in_row_keys_without_news(store: RunStore) -> None:
    _cycle(store)
    truth = _listed_statuses(store)
    with sqlite3.connect(store.index_path) as con:  # the index as millpond 0.x wrote it: no row_key column
        con.execute("ALTER TABLE runs DROP COLUMN row_key")
        con.execute("PRAGMA user_version = 1")
    con.close()
    assert _listed_statuses(store) == truth  # an index of another version is not read: all from the manifests
    assert {r.run_id: r.status for r in store.list()} == truth  # the index itself migrates on first use
    with sqlite3.connect(store.index_path) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert {r[0] for r in con.execute("SELECT row_key FROM runs")} == {""}
    con.close()
    done = store.reindex()
    assert (done.added, done.removed, done.refreshed, done.kept) == ([], [], [], {})
    with sqlite3.connect(store.index_path) as con:
        assert "" not in {r[0] for r in con.execute("SELECT row_key FROM runs")}
    con.close()
    assert _listed_statuses(store) == truth and store.verify().ok


def test_manifest_is_read_lazily_from_the_run_folder(store: RunStore) -> None:
    record = _record(store, new_cycle_id("churn", "2025-03", now=T0), 1, "ingest")
    listed = store.list()[0]
    assert "_manifest" not in listed.__dict__ or listed.__dict__["_manifest"] is None
    assert listed.manifest == record.manifest and listed.manifest["stage"] == "ingest"
    assert repr(listed) == f"RunRecord('{record.run_id}', status='succeeded')"


def _worker(root: str, worker: int, count: int, barrier: Any) -> None:
    store = RunStore(root)
    barrier.wait()
    for i in range(count):
        cycle_id = new_cycle_id("churn", f"2025-{worker:02d}")
        _record(
            store,
            cycle_id,
            1,
            "ingest",
            window=f"2025-{worker:02d}",
            started=T0 + timedelta(minutes=i),
            scraps={"worker": worker, "i": i},
        )


def test_two_processes_recording_concurrently_leave_a_consistent_index(tmp_path: Path) -> None:
    root = tmp_path / "runs"  # the index does not exist yet: both processes race to create it
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    workers = [ctx.Process(target=_worker, args=(str(root), w, 10, barrier)) for w in (1, 2)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
    assert [p.exitcode for p in workers] == [0, 0]
    store = RunStore(root)
    records = store.list()
    assert len(records) == 20 == len({r.run_id for r in records})
    assert sorted((r.scraps["worker"], r.scraps["i"]) for r in records) == [(w, i) for w in (1, 2) for i in range(10)]
    assert len(store.list(window="2025-01")) == len(store.list(window="2025-02")) == 10
    assert store.verify().ok
    with sqlite3.connect(store.index_path) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 20
    con.close()
    assert os.path.isdir(root)


@pytest.mark.reliability("tamper")
def test_a_recorded_run_whose_manifest_and_index_row_were_removed_is_no_unfinished_run(store: RunStore) -> None:
    record = _record(store, new_cycle_id("churn", "2025-03", now=T0), 1, "ingest")
    manifest = record.path / "manifest.json"
    _unlock(manifest)
    manifest.unlink()
    with sqlite3.connect(store.index_path) as con:
        con.execute("DELETE FROM runs")
    report = store.verify()
    assert [p.problem for p in report.problems] == [
        "is missing from a recorded run (its files are sealed read-only) and so is its index row: "
        "restore both from a backup."
    ]
