"""Issue 13's tamper matrix: one changed byte (or line) in any stored file is named by `millpond verify` (exit 3).

One workspace is prepared once: the scoring template's marts, models, captures and logs, plus a stage run through
papermill (a notebook in its record), an ad-hoc score and a labels add (each a recorded CLI run). Every case copies
it, changes one file and runs `millpond verify` in-process, as a user would.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from millpond.cli import main
from millpond.marts.store import MartStore
from millpond.workspace import Workspace


def _cli(root: Path, *args: str) -> int:
    return main(["--workspace", str(root), *args])


@pytest.fixture(scope="module")
def sealed_workspace(scoring_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tamper") / "ws"
    shutil.copytree(scoring_template, root)
    shutil.copytree(Path(__file__).resolve().parents[3] / "notebooks", root / "notebooks", dirs_exist_ok=True)
    ws = Workspace.find(root)
    frame = MartStore(ws.feature_marts).latest("churn", "2025-03").read()
    frame.drop(columns="churned").to_csv(root.parent / "in.csv", index=False)
    frame[["customer_id", "churned"]].head(500).to_csv(root.parent / "labels.csv", index=False)
    out = str(root.parent / "out.parquet")
    assert (
        _cli(
            root,
            "score",
            "--model",
            "churn@champion",
            "--input",
            str(root.parent / "in.csv"),
            "--output",
            out,
            "--window",
            "2025-03",
        )
        == 0
    )
    assert (
        _cli(
            root,
            "labels",
            "add",
            "--params",
            "params/churn.yaml",
            "--window",
            "2025-03",
            str(root.parent / "labels.csv"),
        )
        == 0
    )
    assert _cli(root, "run", "drift", "--params", "params/churn.yaml", "--window", "2025-03") == 0
    assert _cli(root, "verify") == 0
    return root


def _flip(path: Path) -> Path:
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    return path


def _edit_line(path: Path) -> Path:
    """Change a value inside one JSON line, keeping it valid JSON (a forged entry, not a torn one)."""
    os.chmod(path, 0o644)
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    entry = json.loads(lines[0])
    entry["forged"] = True
    lines[0] = json.dumps(entry) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _one(root: Path, pattern: str) -> Path:
    found = sorted(p for p in root.glob(pattern) if p.is_file())
    assert found, f"nothing matches {pattern}"
    return found[0]


CASES: dict[str, Callable[[Path], Path]] = {
    "mart data file": lambda r: _flip(_one(r, "feature_marts/churn/versions/*/data.parquet")),
    "mart manifest": lambda r: _flip(_one(r, "feature_marts/churn/versions/*/manifest.json")),
    "capture part": lambda r: _flip(_one(r, "model_store/churn/captures/**/part-*.parquet")),
    "labels file": lambda r: _flip(_one(r, "model_store/churn/labels/**/labels-*.parquet")),
    "model file": lambda r: _flip(_one(r, "model_store/churn/versions/*/model.skops")),
    "model metadata": lambda r: _flip(_one(r, "model_store/churn/versions/*/metadata.json")),
    "run notebook": lambda r: _flip(_one(r, "runs/*/*-drift/notebook.ipynb")),
    "run manifest": lambda r: _flip(_one(r, "runs/*/*-labels/manifest.json")),
    "run report": lambda r: _flip(_one(r, "runs/*/*-score/report.html")),
    "monitoring log line": lambda r: _edit_line(r / "model_store/churn/monitoring.jsonl"),
    "audit log line": lambda r: _edit_line(r / "model_store/churn/audit.jsonl"),
    "alias history line": lambda r: _edit_line(r / "model_store/churn/history.jsonl"),
}


@pytest.mark.reliability("tamper")
@pytest.mark.parametrize("case", list(CASES))
def test_one_changed_file_is_named_by_millpond_verify(
    sealed_workspace: Path, tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "ws"
    shutil.copytree(sealed_workspace, root, symlinks=True)
    capsys.readouterr()
    changed = CASES[case](root)
    assert _cli(root, "verify") == 3
    out = capsys.readouterr().out
    assert "MISMATCH" in out
    named = [line for line in out.splitlines() if line.startswith("MISMATCH")]
    assert any(changed.name in line for line in named), f"{changed} not named in: {named}"
