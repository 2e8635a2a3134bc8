"""The five stage notebooks run top to bottom with their defaults as in JupyterLab show something worth reading.

A kernel JupyterLab starts has ``JPY_SESSION_NAME`` set, so the stages run as read-only previews
(runs/preview.py). Against a workspace with data (marts 2025-01..03, a champion) each notebook shows its stage's
numbers and plots: train fits and measures the candidate although the policy would fit none; promote says what the
policy would decide. In a fresh workspace without data each says what to run first. Either way no byte under the
workspace changes.

To keep the suite lean, the five notebooks run one after the other in one kernel (the cells of each, unchanged,
in stage order: every parameters cell sets every parameter again), as a person running them in turn would see them.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import nbformat
import pytest

from millpond.config.params import STAGES
from millpond.runs.runner import kernel_name
from millpond.workspace import Workspace
from tests.conftest import REPO

pytestmark = pytest.mark.integration


def _digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _run_in_lab(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    """Every stage notebook's cells executed in one kernel started as JupyterLab would; per stage: text, images."""
    from nbclient import NotebookClient

    monkeypatch.setenv("JPY_SESSION_NAME", str(ws.notebooks / "ingest.ipynb"))  # what jupyter_server sets
    monkeypatch.delenv("MILLPOND_EXECUTION", raising=False)
    combined = nbformat.v4.new_notebook()
    for stage in STAGES:
        for cell in nbformat.read(ws.notebooks / f"{stage}.ipynb", as_version=4).cells:
            if cell.cell_type == "code":
                cell.metadata["stage"] = stage
                combined.cells.append(cell)
    NotebookClient(
        combined, kernel_name=kernel_name(), timeout=600, resources={"metadata": {"path": str(ws.notebooks)}}
    ).execute()
    shown: dict[str, dict[str, Any]] = {stage: {"text": "", "images": 0, "errors": []} for stage in STAGES}
    for cell in combined.cells:
        seen = shown[cell.metadata["stage"]]
        for out in cell.get("outputs", []):
            if out.output_type == "error":
                seen["errors"].append(f"{out.ename}: {out.evalue}")
            seen["images"] += int("image/png" in out.get("data", {}))
            data = out.get("data", {})
            seen["text"] += "\n".join([data.get("text/plain", ""), data.get("text/markdown", ""), out.get("text", "")])
    return shown


@pytest.fixture
def demo_ws(scoring_workspace: Workspace) -> Workspace:
    shutil.copytree(REPO / "notebooks", scoring_workspace.notebooks)
    return scoring_workspace


def test_with_data_every_notebook_shows_its_stage_and_nothing_changes(
    demo_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _digest(demo_ws.root)
    shown = _run_in_lab(demo_ws, monkeypatch)
    assert _digest(demo_ws.root) == before
    assert {stage: seen["errors"] for stage, seen in shown.items()} == {stage: [] for stage in STAGES}
    for stage in STAGES:
        assert f"**{stage}: succeeded** — preview (commit=False): nothing was stored" in shown[stage]["text"]
    assert "first rows" in shown["ingest"]["text"] and "read as" in shown["ingest"]["text"]
    assert "prediction sample" in shown["score"]["text"] and "roc_auc 0." in shown["score"]["text"]
    assert "drift per feature (by impact)" in shown["drift"]["text"] and shown["drift"]["images"] >= 1
    train = shown["train"]["text"]
    assert "retrain policy not triggered" in train and "the candidate it would fit (not saved)" in train
    assert "roc_auc 0." in train and "pr_auc 0." in train and "train_rows" in train  # the candidate's metrics
    assert shown["train"]["images"] >= 4  # ROC + PR, calibration, confusion, importance
    promote = shown["promote"]["text"]
    assert "the candidate train would fit (not saved)" in promote and "paired comparison" in promote
    assert "the policy would" in promote and "candidate_score" in promote


def test_in_a_fresh_workspace_every_notebook_says_what_to_run_first(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _digest(workspace.root)
    shown = _run_in_lab(workspace, monkeypatch)
    assert _digest(workspace.root) == before
    for stage in STAGES:
        seen = shown[stage]
        assert seen["errors"] == [], stage
        assert f"**{stage}: skipped**" in seen["text"] and "what to do" in seen["text"], stage
        assert "millpond demo" in seen["text"], stage
    assert "No raw source for window '2025-03'" in shown["ingest"]["text"]
    assert "no champion yet" in shown["score"]["text"] and "no champion yet" in shown["drift"]["text"]
    assert "millpond cycle --params params/churn.yaml --window 2025-03" in shown["train"]["text"]
