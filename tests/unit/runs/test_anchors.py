"""The audit chain anchored outside the log, and the read-only guard of an interactive preview."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from millpond.cli import main
from millpond.errors import ReadOnlyRunError
from millpond.governance.audit import AuditLog
from millpond.ops.verify import audit_against_runs
from millpond.runs.entities import RunManifest, RunTimings
from millpond.runs.preview import read_only
from millpond.runs.runner import with_audit_heads
from millpond.runs.store import RunStore, new_cycle_id
from millpond.store.artifacts import as_manifest, recording
from millpond.store.log import JsonLinesLog
from millpond.workspace import Workspace


def _promote_run(ws: Workspace) -> AuditLog:
    """A recorded promote run that appended two audit entries: its manifest seals the head it left."""
    audit = AuditLog(ws.model_store, "churn")
    with recording(ws.root) as ledger:
        audit.append("promotion", actor="millpond cycle", version="a" * 64, reason="better")
        audit.append("notification", actor="millpond cycle", reason="promoted")
    outputs = as_manifest(ledger.outputs)
    runs = RunStore(ws.runs)
    run_dir = runs.prepare(new_cycle_id("churn", "2025-01"), 5, "promote")
    now = datetime.now(UTC)
    manifest = RunManifest(
        "churn", "2025-01", "promote", "succeeded", RunTimings.between(now, now), outputs=outputs,
        extra=with_audit_heads(ws, outputs, {}),
    )  # fmt: skip
    record = runs.record(run_dir, manifest)
    assert record.manifest["extra"]["audit_heads"] == {"model_store/churn/audit.jsonl": audit.anchor()}
    return audit


def _rewrite(audit: AuditLog) -> None:
    """Rewrite the log whole: an edited entry, the chain and audit.head recomputed, as an attacker would."""
    entries = [e.to_dict() for e in audit.entries()]
    entries[0]["reason"] = "forced through"
    audit.path.unlink()
    audit.head.unlink()
    fresh = JsonLinesLog(audit.path, chain=True, head=audit.head)
    for entry in entries:
        fresh.append({k: v for k, v in entry.items() if k not in ("seq", "prev")})


@pytest.mark.reliability("tamper")
def test_a_log_rewritten_with_a_recomputed_chain_no_longer_matches_the_sealed_records(workspace: Workspace) -> None:
    audit = _promote_run(workspace)
    assert audit_against_runs(workspace, audit).ok
    _rewrite(audit)
    assert audit.report().ok  # its own chain and head agree with the rewrite
    report = audit_against_runs(workspace, audit)
    assert not report.ok and "differs from the head run" in report.problems[0].problem
    assert main(["--workspace", str(workspace.root), "audit", "verify", "churn"]) == 3
    assert main(["--workspace", str(workspace.root), "verify"]) == 3


@pytest.mark.reliability("tamper")
def test_a_log_cut_below_a_sealed_head_is_found(workspace: Workspace) -> None:
    audit = _promote_run(workspace)
    lines = audit.path.read_bytes().splitlines(keepends=True)
    audit.path.write_bytes(lines[0])
    report = audit_against_runs(workspace, audit)
    assert not report.ok and "sealed its head at line 2" in report.problems[0].problem


def test_the_read_only_guard_refuses_writes_under_the_stores_only(tmp_path: Path) -> None:
    store, elsewhere = tmp_path / "model_store", tmp_path / "scratch"
    store.mkdir()
    (store / "kept.txt").write_text("before")
    errors: list[BaseException] = []

    def in_a_thread() -> None:
        try:
            (store / "thread.txt").write_text("x")
        except ReadOnlyRunError as exc:
            errors.append(exc)

    with read_only([store]):
        for attempt in (
            lambda: (store / "new.txt").write_text("x"),
            lambda: open(store / "kept.txt", "a").close(),
            lambda: (store / "sub").mkdir(),
            lambda: (store / "kept.txt").replace(store / "moved.txt"),
            lambda: (store / "kept.txt").unlink(),
        ):
            with pytest.raises(ReadOnlyRunError, match="commit = True"):
                attempt()
        thread = threading.Thread(target=in_a_thread)
        thread.start()
        thread.join()
        assert (store / "kept.txt").read_text() == "before"  # reading is fine
        elsewhere.mkdir()  # outside the stores: fine
    assert len(errors) == 1
    (store / "after.txt").write_text("x")  # the guard is gone with the block
    assert sorted(p.name for p in store.iterdir()) == ["after.txt", "kept.txt"]
