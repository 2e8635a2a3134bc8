"""millpond.read_cycle reads what a real cycle's stage notebooks glued (the sealed v1 fixture's records), by stage."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import millpond
from millpond.errors import RunIntegrityError, RunNotFoundError
from millpond.views.scraps import CycleScraps

SOURCE = Path(__file__).resolve().parents[2] / "fixtures" / "workspace-v1"
CYCLE = "20261201T225853Z-churn-2025-01-e5e1"


@pytest.fixture(scope="module")
def fixture_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the v1 fixture: reading its index migrates it (schema 1 -> 2), never the repo's file."""
    root = tmp_path_factory.mktemp("workspace-v1") / "ws"
    shutil.copytree(SOURCE, root)
    return root


def test_read_cycle_gives_each_stage_notebooks_scraps_in_cycle_order(fixture_copy: Path) -> None:
    root = fixture_copy
    cycle = millpond.read_cycle(CYCLE, workspace=root)
    assert isinstance(cycle, CycleScraps)
    assert (cycle.cycle_id, cycle.use_case, cycle.window) == (CYCLE, "churn", "2025-01")
    assert list(cycle) == ["ingest", "score", "drift", "train", "promote"]
    for stage, scraps in cycle.items():
        manifest = json.loads((root / "runs" / CYCLE / scraps.run_id.split("/")[1] / "manifest.json").read_text())
        assert scraps.notebook is not None and scraps.notebook.name == "notebook.ipynb"
        assert scraps["stage"] == stage and scraps.status == manifest["status"]
        assert scraps.summary == manifest["scraps"]["summary"]  # what scrapbook reads is what the runner recorded
    train = cycle["train"]
    assert train.summary["candidate"] == cycle["promote"].summary["candidate"]
    assert 0.5 < train.summary["metrics"]["roc_auc"] <= 1.0
    assert cycle["score"].status == "skipped" and "no champion" in cycle["score"].reason


def test_a_unique_part_of_the_id_is_enough_and_an_unknown_one_is_named(fixture_copy: Path) -> None:
    root = fixture_copy
    assert millpond.read_cycle("2025-02", workspace=root).window == "2025-02"
    with pytest.raises(RunNotFoundError, match="is ambiguous"):
        millpond.read_cycle("churn", workspace=root)
    with pytest.raises(RunNotFoundError, match=f"Did you mean '{CYCLE}'"):
        millpond.read_cycle(CYCLE.replace("e5e1", "e5e2"), workspace=root)
    with pytest.raises(KeyError, match="no 'scoring' stage"):
        millpond.read_cycle(CYCLE, workspace=root)["scoring"]


def test_a_notebook_changed_after_its_run_is_refused(tmp_path: Path) -> None:
    root = shutil.copytree(SOURCE, tmp_path / "ws")
    notebook = root / "runs" / CYCLE / "04-train" / "notebook.ipynb"
    notebook.chmod(0o644)
    notebook.write_text(notebook.read_text().replace("roc_auc", "roc_aux"))
    with pytest.raises(RunIntegrityError, match="04-train/notebook.ipynb does not match"):
        millpond.read_cycle(CYCLE, workspace=root)
