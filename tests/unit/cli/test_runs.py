"""``runs reindex``, ``runs verify`` and ``verify --repair``: the runs index is derived data, rebuilt from the records."""

from __future__ import annotations

import json
import sqlite3

import pytest

from millpond.cli import main
from millpond.runs.store import RunStore
from millpond.workspace import Workspace
from tests.unit.runs.test_store import _cycle

Capsys = pytest.CaptureFixture[str]


def _cli(ws: Workspace, *args: str) -> int:
    return main(["--workspace", str(ws.root), *args])


def _run_ids(ws: Workspace, capsys: Capsys) -> list[str]:
    capsys.readouterr()
    assert _cli(ws, "runs", "list", "--json") == 0
    return sorted(r["run_id"] for r in json.loads(capsys.readouterr().out))


def _drop_row(ws: Workspace, run_id: str) -> None:
    with sqlite3.connect(RunStore(ws.runs).index_path) as con:
        con.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
    con.close()


def test_an_unindexed_record_is_a_note_and_reindex_adds_it(workspace: Workspace, capsys: Capsys) -> None:
    cycle_id = _cycle(RunStore(workspace.runs))
    every = _run_ids(workspace, capsys)
    lost = f"{cycle_id}/02-score"
    _drop_row(workspace, lost)
    assert _run_ids(workspace, capsys) == every  # `runs list` reads the records: an index row lost hides nothing
    for command in (("runs", "verify"), ("verify",)):
        assert _cli(workspace, *command) == 0
        out = capsys.readouterr().out
        assert f"note: runs/{lost} is not indexed" in out and "`millpond runs reindex` adds it" in out
    assert _cli(workspace, "runs", "reindex") == 0
    assert capsys.readouterr().out.splitlines() == [
        f"added {lost}",
        "runs/index.sqlite: 1 added, 0 removed, 0 refreshed",
    ]
    assert _run_ids(workspace, capsys) == every
    assert _cli(workspace, "runs", "verify") == 0
    out = capsys.readouterr().out
    assert "note:" not in out and "all 3 run records verified" in out


def test_an_unindexed_tampered_record_exits_3(workspace: Workspace, capsys: Capsys) -> None:
    cycle_id = _cycle(RunStore(workspace.runs))
    lost = f"{cycle_id}/01-ingest"
    _drop_row(workspace, lost)
    notebook = workspace.runs / lost / "notebook.ipynb"
    notebook.chmod(0o644)
    notebook.write_text(notebook.read_text().replace("x = 1", "x = 2"))
    for command in (("runs", "verify"), ("verify",), ("verify", "--repair")):
        assert _cli(workspace, *command) == 3
        err = capsys.readouterr().out
        assert f"MISMATCH runs/{lost}/notebook.ipynb was altered after it was recorded" in err


@pytest.mark.parametrize("damage", ["deleted", "corrupt"])
def test_reindex_restores_runs_list_after_the_index_is_lost(workspace: Workspace, capsys: Capsys, damage: str) -> None:
    _cycle(RunStore(workspace.runs))
    every = _run_ids(workspace, capsys)
    index = RunStore(workspace.runs).index_path
    if damage == "deleted":
        index.unlink()
        assert _run_ids(workspace, capsys) == every  # listed from the records, never from the (missing) index
    else:
        index.write_bytes(b"\0garbage" * 512)
        assert _run_ids(workspace, capsys) == every  # the records are the truth; the index is never trusted over them
        assert _cli(workspace, "runs", "verify") == 3
        assert "MISMATCH runs/index.sqlite does not read" in capsys.readouterr().out
    assert _cli(workspace, "runs", "reindex", "--json") == 0
    done = json.loads(capsys.readouterr().out)
    assert sorted(done["added"]) == every
    assert done["rebuilt"] == ("it was missing" if damage == "deleted" else done["rebuilt"]) and done["rebuilt"]
    assert _run_ids(workspace, capsys) == every
    assert _cli(workspace, "runs", "verify") == 0


def test_verify_repair_reindexes_first_then_verifies(workspace: Workspace, capsys: Capsys) -> None:
    _cycle(RunStore(workspace.runs))
    every = _run_ids(workspace, capsys)
    RunStore(workspace.runs).index_path.write_bytes(b"not sqlite" * 400)
    assert _cli(workspace, "verify") == 3
    capsys.readouterr()
    assert _cli(workspace, "verify", "--repair") == 0
    out = capsys.readouterr().out
    assert out.startswith("rebuilt runs/index.sqlite from the run records: it did not read (")
    assert "runs/index.sqlite: 3 added, 0 removed, 0 refreshed" in out and "3 checked, all verified" in out
    assert _run_ids(workspace, capsys) == every
    assert _cli(workspace, "verify", "--repair", "--json") == 0
    captured = capsys.readouterr()
    assert all(r["ok"] for r in json.loads(captured.out))
    assert "runs/index.sqlite: 0 added, 0 removed, 0 refreshed" in captured.err
