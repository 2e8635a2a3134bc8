"""Artifacts and ledgers: what a stage read and wrote, noted by the stores while a ledger is open."""

from __future__ import annotations

from pathlib import Path

from millpond.store.artifacts import (
    Artifact,
    as_manifest,
    from_manifest,
    note_read,
    note_written,
    recording,
)
from millpond.store.files import sha256_file
from millpond.store.log import JsonLinesLog, line_sha256


def test_notes_go_to_every_open_ledger_with_paths_relative_to_the_workspace(tmp_path: Path) -> None:
    note_read("raw_file", tmp_path / "nobody.csv", "0" * 64)  # no ledger open: nothing happens, nothing fails
    with recording(tmp_path) as outer:
        note_read("raw_file", tmp_path / "raw" / "a.csv", "a" * 64)
        with recording(tmp_path / "raw") as inner:
            note_written("quarantine", tmp_path / "raw" / "q.csv", "b" * 64)
        note_read("database_query", None, "c" * 64, ref="source: postgresql://u:***@db/x")
    assert [a.key for a in outer.inputs] == ["raw_file:raw/a.csv", "database_query:source: postgresql://u:***@db/x"]
    assert outer.outputs == [Artifact("quarantine", "raw/q.csv", "b" * 64, "raw/q.csv")]
    assert inner.outputs == [Artifact("quarantine", "q.csv", "b" * 64, "q.csv")] and inner.inputs == []
    assert outer.inputs[1].path is None


def test_what_a_stage_reads_back_from_its_own_output_is_not_an_input(tmp_path: Path) -> None:
    with recording(tmp_path) as ledger:
        note_written("mart_version", tmp_path / "m" / "data.parquet", "d" * 64, ref="churn@2025-01-x")
        note_read("mart_version", tmp_path / "m" / "data.parquet", "d" * 64, ref="churn@2025-01-x")
        note_read("mart_version", tmp_path / "n" / "data.parquet", "e" * 64, ref="churn@2024-12-y")
    assert [a.ref for a in ledger.inputs] == ["churn@2024-12-y"]
    assert [a.ref for a in ledger.outputs] == ["churn@2025-01-x"]


def test_a_log_append_is_noted_with_the_offset_and_sha256_of_its_line(tmp_path: Path) -> None:
    log = JsonLinesLog(tmp_path / "logs" / "events.jsonl")
    log.append({"n": 1})
    with recording(tmp_path) as ledger:
        log.append({"n": 2})
    (line,) = ledger.outputs
    data = log.path.read_bytes()
    assert (line.kind, line.ref, line.path) == ("log_entry", "logs/events.jsonl", "logs/events.jsonl")
    assert line.offset == len(b'{"n": 1}\n') and line.key == f"log_entry:logs/events.jsonl@{line.offset}"
    assert line.sha256 == line_sha256(data[line.offset :]) == line_sha256(b'{"n": 2}\n')


def test_the_manifest_form_round_trips_and_reads_the_flat_pairs_of_older_adhoc_records(tmp_path: Path) -> None:
    artifacts = [
        Artifact("log_entry", "model_store/churn/monitoring.jsonl", "f" * 64, "model_store/churn/monitoring.jsonl", 42),
        Artifact("model_version", "churn@c7a08f4e1a24", "c7a08f4e1a24" + "0" * 52, "model_store/churn/x/model.skops"),
    ]
    entries = as_manifest(artifacts)
    assert list(entries) == sorted(a.key for a in artifacts)
    assert entries["log_entry:model_store/churn/monitoring.jsonl@42"]["offset"] == 42
    assert "offset" not in entries["model_version:churn@c7a08f4e1a24"]
    assert sorted(from_manifest(entries), key=lambda a: a.key) == sorted(artifacts, key=lambda a: a.key)

    part = tmp_path / "part.parquet"
    part.write_bytes(b"part")
    old = {
        "file": "in.parquet",
        "file_sha256": "1" * 64,
        "model": "churn@c7a08f4e1a24",
        "model_sha256": "2" * 64,
        "predictions": "out.parquet",
        "predictions_sha256": "3" * 64,
        "capture_c7a08f4e1a24": str(part),
        "capture_c7a08f4e1a24_sha256": sha256_file(part),
        "raw": "sha256:" + "b" * 64,  # free-form values of older records are left out
    }
    kinds = {a.kind: a for a in from_manifest(old)}
    assert set(kinds) == {"input_file", "model_version", "predictions", "capture_part"}
    assert kinds["capture_part"].path == str(part) and kinds["model_version"].path is None
    assert from_manifest({}) == []
