"""The hash-chained audit log: append, verify, and find any edit or deletion (also through the CLI, exit 3)."""

from __future__ import annotations

import json

import pytest

from millpond.cli import main
from millpond.errors import AuditIntegrityError
from millpond.governance.audit import GENESIS, AuditLog
from millpond.workspace import Workspace


def _log(ws: Workspace, entries: int = 4) -> AuditLog:
    log = AuditLog(ws.model_store, "churn")
    for i in range(entries):
        log.append("promotion" if i % 2 == 0 else "rejection", actor="ana", reason=f"reason {i}", version=f"v{i}")
    return log


def test_entries_chain_to_each_other(workspace: Workspace) -> None:
    log = _log(workspace)
    entries = log.entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4] and entries[0].prev == GENESIS
    assert entries[1].actor == "ana" and entries[1].reason == "reason 1" and entries[1].time
    assert entries[0].action == "promotion" and entries[0].version == "v0" and entries[0].fields == {"version": "v0"}
    assert log.verify() == 4 and log.problems() == []


@pytest.mark.parametrize(
    "damage, line",
    [
        ("edit_middle", 3),
        ("delete_middle", 2),
        ("delete_last", 4),
        ("edit_last", 4),
        ("garbage", 2),
    ],
)
def test_any_edit_or_deletion_is_found_and_named(
    workspace: Workspace, damage: str, line: int, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _log(workspace)
    lines = log.path.read_text().splitlines(keepends=True)
    if damage == "edit_middle":
        lines[1] = lines[1].replace("reason 1", "reason X")
    elif damage == "delete_middle":
        del lines[1]
    elif damage == "delete_last":
        del lines[3]
    elif damage == "edit_last":
        entry = json.loads(lines[3])
        lines[3] = json.dumps({**entry, "actor": "mallory"}, sort_keys=True) + "\n"
    else:
        lines[1] = "{not json\n"
    log.path.write_text("".join(lines))
    with pytest.raises(AuditIntegrityError, match=rf"line {line} "):
        log.verify()
    assert main(["--workspace", str(workspace.root), "audit", "verify", "churn"]) == 3
    assert f"line {line} " in capsys.readouterr().out


def test_cli_verify_passes_on_an_intact_log(workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    _log(workspace)
    (workspace.model_store / "churn" / "versions").mkdir(parents=True)
    assert main(["--workspace", str(workspace.root), "audit", "verify"]) == 0
    assert "churn audit log (hash chain): 4 checked, all verified" in capsys.readouterr().out
