"""What read commands and a refused cycle import: never pandas, scikit-learn, skops or papermill.

Not timed (timings live in scripts/bench/bench_cli_startup.py): each case runs the command in a fresh interpreter
and reads ``sys.modules`` afterwards, so a heavy import that creeps back into a listing path fails here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from millpond.store.lock import CycleLock
from millpond.workspace import Workspace

REPO = Path(__file__).resolve().parents[3]
FIXTURE = REPO / "tests" / "fixtures" / "workspace-v1"
HEAVY = ("pandas", "sklearn", "skops", "papermill", "scipy", "nbclient")

_PROBE = """
import contextlib, io, json, sys
from millpond.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
    try:
        code = main(sys.argv[1:])
    except SystemExit as done:
        code = done.code
heavy = sorted({m.split('.')[0] for m in sys.modules} & set(HEAVY))
print(json.dumps({"exit_code": code, "heavy": heavy, "output": out.getvalue()}))
"""


def _probe(argv: list[str], cwd: Path) -> dict[str, object]:
    code = _PROBE.replace("set(HEAVY)", repr(set(HEAVY)))
    done = subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "MILLPOND_WORKSPACE": str(cwd)},
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.fixture
def old_workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    shutil.copytree(FIXTURE, root)
    return root


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["--version"], ["runs", "list"], ["runs", "list", "--json"], ["status"], ["models", "list", "churn"]],
    ids=lambda argv: " ".join(argv),
)
def test_a_read_command_imports_nothing_heavy(argv: list[str], old_workspace: Path) -> None:
    result = _probe(argv, old_workspace)
    assert result["exit_code"] == 0, result["output"]
    assert result["heavy"] == []


def test_the_probe_sees_a_heavy_import_when_there_is_one() -> None:
    import_pandas = _PROBE.replace("from millpond.cli import main", "import pandas\nfrom millpond.cli import main")
    done = subprocess.run(
        [sys.executable, "-c", import_pandas.replace("set(HEAVY)", repr(set(HEAVY))), "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "pandas" in json.loads(done.stdout.strip().splitlines()[-1])["heavy"]


def test_a_cycle_refused_by_the_lock_exits_5_naming_the_holder_before_any_heavy_import(old_workspace: Path) -> None:
    with CycleLock(Workspace.find(old_workspace), "churn", command="millpond cycle --next (the holder)"):
        result = _probe(["cycle", "--params", "params/churn.yaml", "--next"], old_workspace)
        as_json = _probe(
            ["run", "score", "--params", "params/churn.yaml", "--window", "2025-02", "--json"], old_workspace
        )
    assert result["exit_code"] == 5
    assert f"PID {os.getpid()}" in str(result["output"]) and "(the holder)" in str(result["output"])
    assert result["heavy"] == []
    assert as_json["exit_code"] == 5 and as_json["heavy"] == []
    assert json.loads(str(as_json["output"]))["exit_code"] == 5
