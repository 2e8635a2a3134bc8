"""A workspace written by the old flat-module millpond (tests/fixtures/workspace-v1) still works with this code.

The fixture holds what two `millpond cycle` runs of commit a81a7dd left behind (see its README.md); the
repo's current notebooks are copied in, as a user upgrading millpond would keep their workspace and get new
notebooks.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from millpond.cli import main
from tests.conftest import REPO, tree_snapshot

FIXTURE = REPO / "tests" / "fixtures" / "workspace-v1"
OLD_WINDOWS = ("2025-01", "2025-02")  # cycled by the old code
NEW_WINDOW = "2025-03"  # raw data only: this code runs its cycle

# Files the old code made read-only (git keeps no such modes, so a checkout has them writable)
READ_ONLY = (
    "runs/*/*/**/*",
    "feature_marts/*/versions/*/*",
    "model_store/*/versions/*/*",
    "model_store/*/captures/**/*",
)


@pytest.fixture
def old_workspace(tmp_path: Path) -> Path:
    """A copy of the old workspace with the repo's notebooks, its stored files read-only as the old code left them."""
    root = tmp_path / "ws"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("README.md"))
    shutil.copytree(REPO / "notebooks", root / "notebooks")
    for pattern in READ_ONLY:
        for path in root.glob(pattern):
            if path.is_file():
                path.chmod(0o444)
    return root


def _cli(root: Path, *args: str) -> int:
    return main(["--workspace", str(root), *args])


def _old_run_ids() -> list[str]:
    return sorted(
        p.parent.relative_to(FIXTURE / "runs").as_posix() for p in (FIXTURE / "runs").glob("*/*/manifest.json")
    )


def _old_champion() -> str:
    return json.loads((FIXTURE / "model_store" / "churn" / "aliases.json").read_text(encoding="utf-8"))["champion"]


def _verify_all(root: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """Every verify command exits 0; returns what ``millpond verify`` printed."""
    printed = ""
    for args in (("runs", "verify"), ("models", "verify", "churn"), ("audit", "verify", "churn"), ("verify",)):
        code = _cli(root, *args)
        out, err = capsys.readouterr()
        assert code == 0, f"millpond {' '.join(args)} exited {code}: {out}{err}"
        printed = out
    return printed


def test_the_old_records_verify_and_list(old_workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert len(_old_run_ids()) == 5 * len(OLD_WINDOWS)  # the fixture is what the README says
    out = _verify_all(old_workspace, capsys)
    # the old code recorded no sha256 of metadata.json: a note; its aliases agree with history.jsonl and the audit log
    assert f"versions/{_old_champion()}/metadata.json was saved by an earlier millpond" in out
    assert "churn champion against its audit log: 1 checked, all verified" in out

    assert _cli(old_workspace, "models", "list", "churn", "--json") == 0
    models = json.loads(capsys.readouterr().out)
    assert [m["version"] for m in models if "champion" in m["aliases"].split(",")] == [_old_champion()]

    assert _cli(old_workspace, "runs", "list", "--json") == 0
    runs = json.loads(capsys.readouterr().out)
    assert sorted(r["run_id"] for r in runs) == _old_run_ids()
    assert {r["window"] for r in runs} == set(OLD_WINDOWS)
    assert all(r["status"] in ("succeeded", "skipped") for r in runs)


def test_a_cycle_continues_the_old_workspace(old_workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old_records = {run_id: tree_snapshot(old_workspace / "runs" / run_id) for run_id in _old_run_ids()}

    code = _cli(old_workspace, "cycle", "--params", "params/churn.yaml", "--window", NEW_WINDOW)
    out, err = capsys.readouterr()
    assert code == 0, f"cycle exited {code}: {out}{err}"

    _verify_all(old_workspace, capsys)
    assert _cli(old_workspace, "runs", "list", "--json") == 0
    runs = json.loads(capsys.readouterr().out)
    new = {r["stage"]: r for r in runs if r["window"] == NEW_WINDOW}
    assert sorted(new) == ["compare", "drift", "ingest", "promote", "score", "train"]  # compare: the sweetviz step
    assert new["score"]["status"] == "succeeded" and new["drift"]["status"] == "succeeded"  # with the old champion
    assert sorted(r["run_id"] for r in runs if r["window"] != NEW_WINDOW) == _old_run_ids()
    assert {run_id: tree_snapshot(old_workspace / "runs" / run_id) for run_id in _old_run_ids()} == old_records

    assert _cli(old_workspace, "models", "list", "churn", "--json") == 0
    versions = {m["version"] for m in json.loads(capsys.readouterr().out)}
    assert _old_champion() in versions
