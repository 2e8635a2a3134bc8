"""Ad-hoc `millpond score` is kept as an immutable run record that every reader of run records understands."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from millpond.cli import main
from millpond.marts.store import MartStore
from millpond.models.store import ModelStore
from millpond.runs.params_diff import params_change
from millpond.runs.store import RunStore, is_adhoc
from millpond.store.artifacts import from_manifest
from millpond.store.files import sha256_file
from millpond.workspace import Workspace
from tests.conftest import tree_snapshot


def _cli(ws: Workspace, *args: str) -> int:
    return main(["--workspace", str(ws.root), *args])


def test_adhoc_score_is_recorded_verified_listed_and_indexed(
    scoring_workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = scoring_workspace
    frame = MartStore(ws.feature_marts).latest("churn", "2025-03").read()
    frame.to_parquet(tmp_path / "in.parquet")  # with the labels: the record carries the KPI too
    champion = ModelStore(ws.model_store).get("churn", "champion")
    assert (
        _cli(
            ws,
            "score",
            "--model",
            "churn@champion",
            "--input",
            str(tmp_path / "in.parquet"),
            "--output",
            str(tmp_path / "out.parquet"),
            "--window",
            "2025-03",
        )
        == 0
    )
    printed = capsys.readouterr().out
    (record,) = RunStore(ws.runs).list()
    assert f"recorded as run {record.run_id}" in printed
    assert (record.use_case, record.window, record.stage, record.status) == ("churn", "2025-03", "score", "succeeded")
    assert is_adhoc(record) and record.run_id.endswith("/01-score")

    manifest = record.manifest
    inputs = {a.kind: a for a in from_manifest(manifest["inputs"])}
    assert set(inputs) == {"input_file", "model_version"}
    assert inputs["input_file"].sha256 == sha256_file(tmp_path / "in.parquet")
    assert inputs["model_version"].ref == f"churn@{champion.version}"
    assert inputs["model_version"].sha256 == champion.sha256
    summary = manifest["scraps"]["summary"]
    assert summary["rows"] == 3000 and summary["model_version"] == champion.version and summary["role"] == "champion"
    assert 0.5 < summary["kpi"]["roc_auc"] <= 1.0
    outputs = {a.kind: a for a in from_manifest(manifest["outputs"])}
    assert set(outputs) == {"predictions", "capture_part"} and len(manifest["outputs"]) == 2
    assert outputs["predictions"].sha256 == sha256_file(tmp_path / "out.parquet")
    capture = ws.root / str(outputs["capture_part"].path)
    assert f"model_version={champion.version}" in str(capture)
    assert capture.is_file() and outputs["capture_part"].sha256 == sha256_file(capture)
    assert manifest["extra"]["kind"] == "cli" and manifest["extra"]["timings"]["scoring_seconds"] > 0
    assert manifest["params"]["use_case"] == "churn" and manifest["status"] == "succeeded" and manifest["error"] is None
    assert set(manifest["files"]) == {"report.html"}
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert len(out) == 3000 and set(out["run_id"]) == {record.run_id}  # predictions point at their run record

    assert _cli(ws, "runs", "list", "--json") == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert (listed["run_id"], listed["stage"], listed["status"]) == (record.run_id, "score", "succeeded")
    assert _cli(ws, "runs", "show", record.run_id[-20:], "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["scraps"]["summary"]["rows"] == 3000 and shown["timings"]["wall_seconds"] > 0
    assert _cli(ws, "runs", "verify") == 0
    assert "all 1 run records verified" in capsys.readouterr().out

    assert _cli(ws, "report", "index", "--json") == 0
    lines = capsys.readouterr().out
    (row,) = json.loads(lines)  # one JSON document: the index rows
    assert "rows 3000" in row["metrics"] and "roc_auc" in row["metrics"] and row["champion"] == champion.version
    assert row["note"] == f"ad hoc: in.parquet scored with churn@{champion.version} (champion)"
    index = (ws.runs / "index.html").read_text(encoding="utf-8")
    assert f'href="{record.run_id}/report.html"' in index
    report = (record.path / "report.html").read_text(encoding="utf-8")
    assert "ad-hoc score" in report and champion.sha256 in report

    assert _cli(ws, "status", "--json") == 0  # an ad-hoc score is not the use case's last cycle
    (status,) = json.loads(capsys.readouterr().out)
    assert status["last_result"] == "never run" and status["error"] is None
    params = yaml.safe_load((ws.params / "churn.yaml").read_text())
    assert params_change(RunStore(ws.runs), "churn", params) == {"previous_run": None, "changed": {}}
    assert _cli(ws, "gc", "--dry-run", "--json") == 0 and _cli(ws, "du") == 0


def test_a_bad_input_file_is_recorded_as_failed_with_nothing_stored_changed(
    scoring_workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = scoring_workspace
    frame = MartStore(ws.feature_marts).latest("churn", "2025-03").read()
    frame.drop(columns="region").to_parquet(tmp_path / "in.parquet")
    before = tree_snapshot(ws.model_store)
    challenger = ModelStore(ws.model_store).get("churn", "challenger")
    code = _cli(
        ws,
        "score",
        "--model",
        "churn@challenger",
        "--input",
        str(tmp_path / "in.parquet"),
        "--output",
        str(tmp_path / "o.csv"),
    )
    err = capsys.readouterr().err
    (record,) = RunStore(ws.runs).list()
    assert code == 2 and "column 'region' is missing" in err and f"Recorded as failed run {record.run_id}" in err
    assert (record.use_case, record.stage, record.status) == ("churn", "score", "failed") and is_adhoc(record)
    assert (
        record.error is not None
        and record.error.startswith("InputContractError: ")
        and "'region' is missing" in record.error
    )
    inputs = {a.kind: a for a in from_manifest(record.manifest["inputs"])}
    assert inputs["input_file"].sha256 == sha256_file(tmp_path / "in.parquet")
    assert inputs["model_version"].ref == f"churn@{challenger.version}" and record.manifest["outputs"] == {}
    assert tree_snapshot(ws.model_store) == before  # no capture part, no staging file left
    assert not (tmp_path / "o.csv").exists() and not list(tmp_path.glob(".o.csv*"))
    assert _cli(ws, "runs", "verify") == 0


def test_an_unknown_model_version_is_recorded_as_failed(
    scoring_workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = scoring_workspace
    before = tree_snapshot(ws.model_store)
    code = _cli(
        ws, "score", "--model", "churn@champoin", "--input", "x.parquet", "--output", str(tmp_path / "out.parquet")
    )
    assert code == 2 and "Did you mean 'champion'?" in capsys.readouterr().err
    (record,) = RunStore(ws.runs).list()
    assert (record.use_case, record.window, record.status) == ("churn", "adhoc", "failed")
    assert "ModelVersionNotFoundError" in (record.error or "") and "'champoin'" in (record.error or "")
    assert record.manifest["inputs"] == {} and record.manifest["extra"]["model_ref"] == "churn@champoin"
    assert tree_snapshot(ws.model_store) == before and not (tmp_path / "out.parquet").exists()
    assert _cli(ws, "report", "index") == 0 and _cli(ws, "runs", "verify") == 0
