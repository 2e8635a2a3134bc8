"""A real `millpond cycle` whose promote kernel is killed right after the champion alias moved: the next cycle of
the same window recovers the promotion (history, audit, smoke test, decision: once) and completes, even with an
SMTP server that hangs (every e-mail times out after its ``timeout_seconds``; the failures are in the events log,
the SMTP password nowhere)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from millpond.config.params import load_use_case
from millpond.governance.audit import AuditLog
from millpond.governance.events import read_events
from millpond.models.store import ModelStore
from millpond.store.checkpoint import KILL_ENV
from millpond.workspace import Workspace
from tests.conftest import write_yaml
from tests.faults import HangingSMTP, email_spec
from tests.kill import assert_workspace_sound

pytestmark = pytest.mark.integration


PASSWORD = "Cycle-Smtp-Pw-5520"


def _cycle(ws: Workspace, kill_at: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != KILL_ENV} | {"SMTP_HANG_PW": PASSWORD}
    if kill_at:
        env[KILL_ENV] = kill_at  # the stage kernels inherit it: the promote kernel SIGKILLs itself there
    cmd = [sys.executable, "-m", "millpond", "--workspace", str(ws.root), "cycle", "--params", "params/churn.yaml"]
    return subprocess.run([*cmd, "--window", "2025-01"], env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.reliability("kill")
def test_a_cycle_killed_at_the_alias_switch_is_recovered_by_the_next_cycle(demo_workspace: Workspace) -> None:
    ws = demo_workspace
    killed = _cycle(ws, "alias-switched")
    assert killed.returncode != 0, killed.stdout
    models = ModelStore(ws.model_store)
    assert models.pending("churn") is not None and "champion" in models.aliases("churn")
    smtp = HangingSMTP()
    try:
        params = yaml.safe_load((ws.params / "churn.yaml").read_text())
        write_yaml(ws.params / "churn.yaml", params | {"notify": {"email": email_spec(smtp)}})
        again = _cycle(ws, None)
    finally:
        smtp.close()
    assert again.returncode == 0, again.stdout + again.stderr
    failed = [e for e in read_events(ws, "notification_failed") if e.get("channel") == "email"]
    assert smtp.accepted and failed and all("timed out" in e["error"] for e in failed), failed
    assert not [p for p in ws.root.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]
    assert models.pending("churn") is None
    champion = models.aliases("churn")["champion"]
    promotions = [e for e in AuditLog(ws.model_store, "churn").entries() if e.action == "promotion"]
    assert [e.version for e in promotions] == [champion] and promotions[0].fields["champion_before"] is None
    verified = subprocess.run(
        [sys.executable, "-m", "millpond", "--workspace", str(ws.root), "verify"], capture_output=True, text=True
    )
    assert verified.returncode == 0, verified.stdout
    assert_workspace_sound(ws, load_use_case(ws.params / "churn.yaml"))
