"""Shared fixtures: throw-away workspaces with the real notebooks, params and small demo data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from millpond.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]
WINDOWS = ("2025-01", "2025-02", "2025-03", "2025-04", "2025-05")


@pytest.fixture(scope="session")
def small_demo_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five monthly windows of 3,000 rows: covariate shift from 2025-03, concept drift from 2025-04."""
    from millpond.demo_data import generate_churn

    out = tmp_path_factory.mktemp("raw") / "churn"
    generate_churn(out, windows=len(WINDOWS), rows_per_window=3000, covariate_shift_from="2025-03", concept_drift_from="2025-04")
    return out


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """An empty workspace holding copies of the repo's notebooks and params."""
    (tmp_path / "pyproject.toml").write_text("[tool.millpond]\n", encoding="utf-8")
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks")
    shutil.copytree(REPO / "params", tmp_path / "params")
    return Workspace.find(tmp_path)


@pytest.fixture
def demo_workspace(workspace: Workspace, small_demo_raw: Path) -> Workspace:
    """A workspace with the small demo data in feature_marts/raw/churn."""
    shutil.copytree(small_demo_raw, workspace.raw / "churn")
    return workspace


@pytest.fixture
def churn_params(workspace: Workspace) -> Path:
    return workspace.params / "churn.yaml"


def write_yaml(path: Path, data: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def tree_snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes (to prove nothing stored changed)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
