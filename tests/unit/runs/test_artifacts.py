"""``verify_outputs``: every output a run record lists is still byte-identical; gc's removals are notes."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from millpond.cli import main
from millpond.config.params import load_use_case
from millpond.ops.retention import retention_log
from millpond.runs import stages
from millpond.runs.artifacts import verify_outputs
from millpond.runs.entities import RunManifest, RunTimings
from millpond.runs.stages import StageContext, StageResult
from millpond.runs.store import RunStore
from millpond.store.artifacts import Artifact, as_manifest
from millpond.workspace import Workspace

CYCLE = "20250301T000000Z-churn-2025-03-abcd"


def _record(ws: Workspace, order: int, result: StageResult, window: str) -> None:
    """Record a stage run in-process as the runner would (its inputs and outputs in the manifest)."""
    runs = RunStore(ws.runs)
    now = datetime.now(UTC)
    manifest = RunManifest(
        use_case="churn",
        window=window,
        stage=result.stage,
        status=result.status,
        timings=RunTimings.between(now, now),
        inputs=as_manifest(result.inputs),
        outputs=as_manifest(result.outputs),
    )
    runs.record(runs.prepare(CYCLE, order, result.stage), manifest)


def _score(ws: Workspace, window: str, order: int) -> StageResult:
    ctx = StageContext(ws, load_use_case(ws.params / "churn.yaml"), window, run_id=f"{CYCLE}/{order:02d}-score")
    result = stages.run_score(ctx)
    _record(ws, order, result, window)
    return result


def _flip_a_byte(path: Path) -> None:
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _parts(result: StageResult) -> list[Path]:
    """The capture parts a score wrote (the champion's and the challenger's), in path order."""
    return sorted(Path(str(a.path)) for a in result.outputs if a.kind == "capture_part")


def test_intact_outputs_verify_and_a_changed_byte_names_the_file(scoring_workspace: Workspace) -> None:
    ws = scoring_workspace
    scored = _score(ws, "2025-02", 2)
    report = verify_outputs(ws, retention_log(ws))
    assert len(_parts(scored)) == 2  # shadow mode: the champion's part and the challenger's
    assert report.ok and report.checked == len(scored.outputs) > 2 and not report.notes
    part = _parts(scored)[0]
    _flip_a_byte(ws.root / part)
    report = verify_outputs(ws)
    (problem,) = report.problems
    assert problem.path == part.as_posix() and f"run {CYCLE}/02-score recorded" in problem.problem
    assert "capture_part" in problem.problem


def test_an_edited_log_line_and_a_missing_mart_version_are_problems(scoring_workspace: Workspace) -> None:
    ws = scoring_workspace
    scored = _score(ws, "2025-02", 2)
    ingest = stages.run_ingest(StageContext(ws, load_use_case(ws.params / "churn.yaml"), "2025-04"))
    _record(ws, 1, ingest, "2025-04")
    (mart,) = [a for a in ingest.outputs if a.kind == "mart_version"]
    line = next(a for a in scored.outputs if a.kind == "log_entry")
    log = ws.root / str(line.path)
    data = log.read_bytes()
    assert line.offset is not None
    log.write_bytes(data[: line.offset] + data[line.offset :].replace(b'"kind"', b'"kinD"', 1))
    folder = (ws.root / str(mart.path)).parent
    for path in folder.iterdir():
        path.chmod(0o644)
    shutil.rmtree(folder)
    report = verify_outputs(ws, retention_log(ws))
    problems = {p.path: p for p in report.problems}
    assert set(problems) == {line.path, mart.path}
    assert problems[line.path].line == data.count(b"\n", 0, line.offset) + 1
    assert f"appended at byte {line.offset}" in problems[line.path].problem
    assert "is missing" in problems[str(mart.path)].problem and "no gc removal" in problems[str(mart.path)].problem


def test_what_gc_removed_is_a_note_not_a_problem(scoring_workspace: Workspace, capsys: pytest.CaptureFixture) -> None:
    ws = scoring_workspace
    older = _score(ws, "2025-02", 2)
    newer = _score(ws, "2025-03", 7)
    os.utime(ws.model_store / "churn" / "captures" / "window=2025-02", (1, 1))  # the older capture window
    assert main(["--workspace", str(ws.root), "gc", "--keep-days", "0", "--keep-versions", "1"]) == 0
    capsys.readouterr()
    removed, kept = _parts(older), _parts(newer)
    assert not any((ws.root / p).exists() for p in removed) and all((ws.root / p).exists() for p in kept)
    report = verify_outputs(ws, retention_log(ws))
    assert report.ok, report.lines()
    assert report.notes == [
        f"{p.as_posix()}: written by run {CYCLE}/02-score, removed by millpond gc at {_removed_at(ws)}" for p in removed
    ]

    assert main(["--workspace", str(ws.root), "verify"]) == 0  # `millpond verify` runs the check
    assert "run outputs (what the run records list as written):" in capsys.readouterr().out
    _flip_a_byte(ws.root / kept[0])
    assert main(["--workspace", str(ws.root), "verify"]) == 3
    assert f"{kept[0].as_posix()} has sha256" in capsys.readouterr().out


def _removed_at(ws: Workspace) -> str:
    (entry,) = retention_log(ws).entries()  # gc removed the one capture window, nothing else
    assert entry["kind"] == "capture" and entry["ref"] == "window=2025-02"
    return str(entry["time"])


def test_a_replaced_predictions_file_is_a_note_and_database_queries_are_not_files(
    scoring_workspace: Workspace, tmp_path: Path
) -> None:
    ws = scoring_workspace
    out = tmp_path / "out.csv"
    out.write_text("a\n1\n")
    written = StageResult(
        "score",
        outputs=[Artifact("predictions", str(out), "0" * 64, str(out))],
        inputs=[Artifact("database_query", "source: postgresql://u:***@db/x", "1" * 64)],
    )
    _record(ws, 2, written, "2025-02")
    report = verify_outputs(ws)
    assert (
        report.ok
        and report.checked == 1
        and report.notes == [f"{out}: predictions of run {CYCLE}/02-score, replaced since (outside the stores)"]
    )


def test_an_old_adhoc_record_with_flat_outputs_is_checked_too(scoring_workspace: Workspace) -> None:
    ws = scoring_workspace
    part = _parts(_score(ws, "2025-02", 2))[0]
    runs = RunStore(ws.runs)
    now = datetime.now(UTC)
    old = RunManifest(
        use_case="churn",
        window="adhoc",
        stage="score",
        status="succeeded",
        timings=RunTimings.between(now, now),
        outputs={"capture_v": part.as_posix(), "capture_v_sha256": "f" * 64},
    )
    runs.record(runs.prepare("20240101T000000Z-churn-adhoc-0000", 1, "score"), old)
    (problem,) = verify_outputs(ws).problems
    assert problem.path == part.as_posix() and "20240101T000000Z-churn-adhoc-0000/01-score" in problem.problem


def test_a_workspace_without_run_records_has_nothing_to_check(workspace: Workspace) -> None:
    report = verify_outputs(workspace)
    assert report.ok and report.checked == 0 and not (workspace.runs / "index.sqlite").exists()
