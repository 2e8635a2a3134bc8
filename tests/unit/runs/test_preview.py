"""Each stage's read-only preview computes what the stage would show and leaves every store byte-identical."""

from __future__ import annotations

import pytest

from millpond.config.params import load_use_case
from millpond.errors import ReadOnlyRunError, RunError
from millpond.runs import preview, stages
from millpond.runs.standalone import execution
from millpond.workspace import Workspace
from tests.conftest import tree_snapshot


def _ctx(ws: Workspace, window: str) -> stages.StageContext:
    uc = load_use_case(ws.params / "churn.yaml")
    return stages.StageContext(ws, uc, window)


@pytest.mark.parametrize(
    ("stage", "window", "shown", "says"),
    [
        ("ingest", "2025-04", "columns", "the raw rows the window would ingest"),
        ("score", "2025-03", "prediction sample", "neither captured nor logged"),
        ("train", "2025-03", "feature importance (normalised)", "so a cycle would fit none here"),
        ("promote", "2025-02", "paired comparison on the held-out rows (gain = candidate better)", "candidate "),
        ("promote", "2025-03", "paired comparison on the held-out rows (gain = candidate better)", "train would fit"),
    ],
)
def test_a_preview_shows_the_stage_and_writes_nothing(
    scoring_workspace: Workspace, stage: str, window: str, shown: str, says: str
) -> None:
    ws = scoring_workspace
    before = tree_snapshot(ws.root)
    result = preview.preview(stage, _ctx(ws, window))
    assert tree_snapshot(ws.root) == before
    assert result.status == "succeeded" and shown in result.tables and says in result.reason
    assert result.reason.startswith(preview.PREVIEW) and result.summary["committed"] is False
    if stage == "train":  # the candidate's metrics, measured on the window's held-out rows
        assert 0.5 < result.summary["metrics"]["roc_auc"] <= 1 and result.data["holdout_scores"] is not None
    if stage == "promote":
        assert "the policy would" in result.reason and result.summary["rule"] and not result.summary["promoted"]


@pytest.mark.parametrize("stage", stages.RUNNERS)
def test_a_preview_in_a_fresh_workspace_says_what_to_run_first(workspace: Workspace, stage: str) -> None:
    before = tree_snapshot(workspace.root)
    result = preview.preview(stage, _ctx(workspace, "2025-03"))
    assert tree_snapshot(workspace.root) == before
    assert result.status == "skipped" and "millpond demo" in result.summary["what to do"]


def test_a_preview_that_tries_to_write_is_refused(
    scoring_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = scoring_workspace
    before = tree_snapshot(ws.root)
    monkeypatch.setitem(preview.PREVIEWS, "score", stages.run_score)  # the real stage: it captures and logs
    with pytest.raises(ReadOnlyRunError, match="commit = True"):
        preview.preview("score", _ctx(ws, "2025-03"))
    assert tree_snapshot(ws.root) == before


def test_how_a_notebook_runs_decides_whether_it_writes(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.delenv("MILLPOND_EXECUTION", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert execution({}) == execution({"commit": True}) == type(execution({}))("papermill", True)
    monkeypatch.setenv("JPY_SESSION_NAME", "score.ipynb")
    assert (execution({}).kind, execution({}).writes) == ("interactive", False)
    assert execution({"commit": True}).writes and not execution({"commit": "yes"}).writes
    with pytest.raises(RunError, match="set by `millpond run`/`millpond cycle` only"):
        execution({"run_id": "made-up/02-score"})  # a run id given by hand is no recorded run
