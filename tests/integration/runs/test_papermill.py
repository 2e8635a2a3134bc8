"""Real papermill executions of the stage notebooks, recorded as run records."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from millpond.errors import StageFailedError
from millpond.marts.store import MartStore
from millpond.runs.runner import execute_stage, run_cycle
from millpond.runs.store import RunStore
from millpond.workspace import Workspace
from tests.conftest import run_millpond, tree_snapshot

pytestmark = pytest.mark.integration


def _cli(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    return run_millpond(ws, *args, timeout=600)


def test_a_cycle_runs_every_stage_and_records_it(demo_workspace: Workspace, capfd: pytest.CaptureFixture[str]) -> None:
    result = run_cycle(demo_workspace, "params/churn.yaml", "2025-01")
    assert "IPKernelApp" not in capfd.readouterr().err
    assert result.ok, result.error
    assert [(r.stage, r.status) for r in result.records] == [
        ("ingest", "succeeded"),
        ("score", "skipped"),
        ("drift", "skipped"),
        ("train", "succeeded"),
        ("promote", "succeeded"),
    ]
    train = result.records[3]
    assert train.scraps["summary"]["metrics"]["roc_auc"] > 0.7
    assert result.records[1].skip_reason == "no champion yet: nothing to score with"
    for record in result.records:
        notebook = record.path / "notebook.ipynb"
        manifest = json.loads((record.path / "manifest.json").read_text())
        assert manifest["params"]["use_case"] == "churn" and manifest["window"] == "2025-01"
        assert manifest["packages"]["papermill"] and "commit" in manifest["code"]
        assert manifest["extra"]["timings"]["wall_seconds"] > 0
        if record.stage in ("score", "drift"):  # no champion yet: skipped by the runner, no kernel started
            assert manifest["extra"]["kernel"] is False and not notebook.exists()
            assert (
                "report.html" in manifest["files"] and record.skip_reason in (record.path / "report.html").read_text()
            )
            continue
        assert not notebook.stat().st_mode & 0o222
        assert "kernel.log" in manifest["files"]  # the kernel's own log lines stay in the record, not the terminal
    assert RunStore(demo_workspace.runs).verify().ok

    shown = _cli(demo_workspace, "runs", "show", train.run_id, "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["scraps"]["summary"]["candidate"] == train.scraps["summary"]["candidate"]
    listed = json.loads(_cli(demo_workspace, "runs", "list", "--json").stdout)
    assert len(listed) == 5

    notebook = train.path / "notebook.ipynb"
    notebook.chmod(0o644)
    notebook.write_text(notebook.read_text().replace("roc_auc", "roc_aux"))
    verified = _cli(demo_workspace, "runs", "verify")
    assert verified.returncode == 3
    assert "04-train/notebook.ipynb" in verified.stdout


def test_a_failing_stage_keeps_its_notebook_and_changes_nothing(demo_workspace: Workspace) -> None:
    execute_stage(demo_workspace, "params/churn.yaml", "ingest", "2025-01")
    before = tree_snapshot(demo_workspace.feature_marts)
    with pytest.raises(
        StageFailedError, match=r"Stage 'ingest' failed for window '2026-07': SourceNotFoundError"
    ) as info:
        execute_stage(demo_workspace, "params/churn.yaml", "ingest", "2026-07")
    assert "notebook.ipynb" in str(info.value)
    assert tree_snapshot(demo_workspace.feature_marts) == before
    record = RunStore(demo_workspace.runs).list(status="failed")[0]
    assert record.window == "2026-07" and "No raw source for window '2026-07'" in record.error
    nb = nbformat.read(record.path / "notebook.ipynb", as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors and errors[0]["ename"] == "SourceNotFoundError"
    assert any("An Exception was encountered" in c.source for c in nb.cells)  # papermill's banner


def test_misspelt_param_fails_fast_and_is_recorded(demo_workspace: Workspace) -> None:
    data = yaml.safe_load((demo_workspace.params / "churn.yaml").read_text())
    data["promotion"]["metirc"] = data["promotion"].pop("metric")
    (demo_workspace.params / "typo.yaml").write_text(yaml.safe_dump(data))
    out = _cli(demo_workspace, "cycle", "--params", "params/typo.yaml", "--window", "2025-01")
    assert out.returncode == 2
    assert "unknown key 'promotion.metirc'. Did you mean 'metric'?" in out.stderr
    failed = RunStore(demo_workspace.runs).list(status="failed")
    assert len(failed) == 1 and failed[0].stage == "ingest" and "metirc" in failed[0].error
    assert not (demo_workspace.feature_marts / "churn").exists()


def test_plain_papermill_with_the_use_case_yaml(demo_workspace: Workspace, tmp_path: Path) -> None:
    papermill = Path(sys.executable).with_name("papermill")
    out = tmp_path / "ingest-out.ipynb"
    done = subprocess.run(
        [
            str(papermill),
            str(demo_workspace.notebooks / "ingest.ipynb"),
            str(out),
            "-f",
            "params/churn.yaml",
            "-p",
            "window",
            "2025-02",
        ],
        cwd=demo_workspace.root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    import scrapbook as sb

    scraps = sb.read_notebook(str(out)).scraps
    assert scraps["status"].data == "succeeded"
    version = MartStore(demo_workspace.feature_marts).latest("churn", "2025-02")
    assert scraps["summary"].data["mart_version"] == version.version


def _flip_a_byte(path: Path) -> None:
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_every_stage_manifest_lists_what_it_read_and_wrote_and_verify_checks_the_outputs(
    demo_workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    from millpond.cli import main
    from millpond.store.artifacts import from_manifest
    from millpond.store.files import sha256_file

    records = []
    for window in ("2025-01", "2025-02"):
        result = run_cycle(demo_workspace, "params/churn.yaml", window)
        assert result.ok, result.error
        records += result.records
    kinds = {}
    for record in records:
        manifest = json.loads((record.path / "manifest.json").read_text())
        inputs, outputs = from_manifest(manifest["inputs"]), from_manifest(manifest["outputs"])
        assert len(inputs) == len(manifest["inputs"]) and len(outputs) == len(manifest["outputs"])
        assert "inputs" not in manifest["scraps"] and "outputs" not in manifest["scraps"]  # moved to their own keys
        if record.status == "skipped":
            assert not outputs, record.run_id
            continue
        assert inputs and outputs, record.run_id
        for artifact in outputs:
            assert artifact.path is not None and len(artifact.sha256) == 64
            if artifact.offset is None:
                assert sha256_file(demo_workspace.root / artifact.path) == artifact.sha256
        kinds[(record.window, record.stage)] = {a.kind for a in inputs}, {a.kind for a in outputs}
    assert kinds[("2025-01", "ingest")] == ({"raw_file"}, {"mart_version", "log_entry"})  # + its versions.jsonl line
    assert kinds[("2025-01", "train")] == ({"mart_version"}, {"model_version", "log_entry"})
    assert kinds[("2025-02", "score")] == ({"mart_version", "model_version"}, {"capture_part", "log_entry"})
    assert kinds[("2025-02", "drift")] == ({"mart_version", "model_version"}, {"log_entry"})

    assert main(["--workspace", str(demo_workspace.root), "verify"]) == 0
    capsys.readouterr()
    score = next(r for r in records if (r.window, r.stage) == ("2025-02", "score"))
    part = next(a for a in from_manifest(score.manifest["outputs"]) if a.kind == "capture_part")
    mart = next(a for a in from_manifest(records[5].manifest["outputs"]) if a.kind == "mart_version")
    _flip_a_byte(demo_workspace.root / str(part.path))
    _flip_a_byte(demo_workspace.root / str(mart.path))
    assert main(["--workspace", str(demo_workspace.root), "verify"]) == 3
    err = capsys.readouterr().out
    assert f"{part.path} has sha256" in err and f"but run {score.run_id} recorded {part.sha256}" in err
    assert f"{mart.path} has sha256" in err and f"but run {records[5].run_id} recorded {mart.sha256}" in err


def test_a_failed_ingest_lists_the_raw_file_it_read_and_the_quarantine_it_wrote(demo_workspace: Workspace) -> None:
    data = yaml.safe_load((demo_workspace.params / "churn.yaml").read_text())
    data["mart"] = {"contract": {"columns": {"tenure_months": {"max": 1}}}}
    (demo_workspace.params / "strict.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(StageFailedError, match="ContractViolationError"):
        execute_stage(demo_workspace, "params/strict.yaml", "ingest", "2025-01")
    (record,) = RunStore(demo_workspace.runs).list(status="failed")
    inputs, outputs = record.manifest["inputs"], record.manifest["outputs"]
    assert [a["kind"] for a in inputs.values()] == ["raw_file"]
    (quarantine,) = outputs.values()
    assert quarantine["kind"] == "quarantine" and quarantine["path"] == f"runs/{record.run_id}/outputs/quarantine.csv"
    assert record.manifest["files"]["outputs/quarantine.csv"] == quarantine["sha256"]
