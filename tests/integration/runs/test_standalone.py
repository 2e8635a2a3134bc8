"""Stage notebooks executed outside millpond's runner, for real: plain papermill, nbclient, an "interactive" kernel.

No store write without a recorded, locked run: plain papermill records its own run (kind papermill) under the use
case's lock; an interactive kernel (JPY_SESSION_NAME set, as jupyter_server sets it) with the defaults writes
nothing at all (tests/integration/runs/test_lab_notebooks.py runs all five notebooks so); with commit=True it
records kind interactive; a second writer while a cycle holds the lock is
refused and writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml

from millpond.cli import main
from millpond.models.monitoring import MonitoringLog
from millpond.runs.runner import kernel_name
from millpond.runs.store import RunStore
from millpond.store.lock import CycleLock, read_holder
from millpond.workspace import Workspace
from tests.conftest import REPO

pytestmark = pytest.mark.integration


@pytest.fixture
def ws(scoring_workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """The scoring workspace (marts 2025-01..03, a champion) with the repo's notebooks; no Jupyter front end."""
    shutil.copytree(REPO / "notebooks", scoring_workspace.notebooks)
    for name in ("JPY_SESSION_NAME", "MILLPOND_EXECUTION"):
        monkeypatch.delenv(name, raising=False)
    return scoring_workspace


def _papermill(ws: Workspace, stage: str, out: Path, **extra: Any) -> None:
    """Exactly what the README shows: papermill notebooks/<stage>.ipynb out.ipynb -f params/churn.yaml -p window W."""
    import papermill as pm

    parameters = {**yaml.safe_load((ws.params / "churn.yaml").read_text()), **extra}
    pm.execute_notebook(
        str(ws.notebooks / f"{stage}.ipynb"),
        str(out),
        parameters=parameters,
        kernel_name=kernel_name(),
        cwd=str(ws.root),
        progress_bar=False,
    )


def _digest(root: Path) -> dict[str, str]:
    """sha256 of every file under the workspace (the output notebooks live outside it)."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _outputs_text(notebook: Path) -> str:
    nb = nbformat.read(notebook, as_version=4)
    return json.dumps([cell.get("outputs", []) for cell in nb.cells])


def test_plain_papermill_records_a_sealed_locked_run_and_its_baseline_change(
    ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = MonitoringLog(ws.model_store, "churn")
    before = len(log.entries())
    _papermill(ws, "score", tmp_path / "out.ipynb", window="2025-03")
    [record] = RunStore(ws.runs).list()
    manifest = record.manifest
    assert (record.stage, record.window, record.status) == ("score", "2025-03", "succeeded")
    assert manifest["extra"]["kind"] == "papermill" and "cannot see" in manifest["extra"]["notebook"]
    assert manifest["params"]["use_case"] == "churn" and manifest["packages"]["papermill"]
    kinds = {entry["kind"] for entry in manifest["inputs"].values()}
    assert {"mart_version", "model_version"} <= kinds and all(
        len(e["sha256"]) == 64 for e in manifest["inputs"].values()
    )
    written = [e for e in manifest["outputs"].values() if e["kind"] in ("capture_part", "log_entry")]
    assert {e["kind"] for e in written} == {"capture_part", "log_entry"}
    new = log.entries()[before:]
    assert new and all(entry.run_id == record.run_id for entry in new)  # every entry names its run
    assert RunStore(ws.runs).verify().ok and read_holder(ws, "churn") is None  # sealed, lock released
    assert main(["--workspace", str(ws.root), "runs", "show", record.run_id]) == 0
    shown = capsys.readouterr().out
    assert "kind         papermill" in shown
    assert "baseline     set the KPI baseline of window 2025-03" in shown
    assert record.run_id in _outputs_text(tmp_path / "out.ipynb")  # the reader sees which run recorded it


def test_an_interactive_run_with_commit_records_kind_interactive(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JPY_SESSION_NAME", str(ws.notebooks / "score.ipynb"))
    log = MonitoringLog(ws.model_store, "churn")
    before = len(log.entries())
    _papermill(ws, "score", tmp_path / "out.ipynb", window="2025-03", commit=True)
    [record] = RunStore(ws.runs).list()
    assert record.manifest["extra"]["kind"] == "interactive" and record.status == "succeeded"
    assert {e.run_id for e in log.entries()[before:]} == {record.run_id}
    assert RunStore(ws.runs).verify().ok


def test_a_second_writer_while_a_cycle_holds_the_lock_is_refused_and_writes_nothing(
    ws: Workspace, tmp_path: Path
) -> None:
    import papermill as pm

    with CycleLock(ws, "churn", command="millpond cycle --params params/churn.yaml --next"):
        before = _digest(ws.root)
        with pytest.raises(pm.PapermillExecutionError) as info:
            _papermill(ws, "score", tmp_path / "out.ipynb", window="2025-03")
        assert _digest(ws.root) == before
    assert info.value.ename == "CycleLockedError"
    assert "is locked by PID" in info.value.evalue and "millpond cycle --params" in info.value.evalue
    assert RunStore(ws.runs).list() == []


def test_nbclient_runs_are_recorded_like_papermill_ones(ws: Workspace) -> None:
    from nbclient import NotebookClient

    nb = nbformat.read(ws.notebooks / "score.ipynb", as_version=4)
    nb.cells[1].source += '\nwindow = "2025-03"'  # nbclient has no parameters: edit the cell, as a user would
    NotebookClient(nb, kernel_name=kernel_name(), resources={"metadata": {"path": str(ws.root)}}).execute()
    [record] = RunStore(ws.runs).list()
    assert record.manifest["extra"]["kind"] == "papermill" and record.stage == "score"
    assert RunStore(ws.runs).verify().ok
