"""An SMTP server that accepts and never answers: each notification gives up after ``notify.email.timeout_seconds``,
the promotion (and the cycle) still completes, and the failure is in the events log without the password."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from millpond.config.params import load_use_case
from millpond.governance.deployment import promote_and_smoke_test
from millpond.governance.events import read_events
from millpond.models.store import ModelStore
from millpond.workspace import Workspace
from tests.conftest import MakeUseCase
from tests.faults import HangingSMTP, email_spec
from tests.kill import assert_workspace_sound

pytestmark = pytest.mark.integration
PASSWORD = "Smtp-Hang-Pw-9031"


@pytest.fixture
def hanging_smtp() -> Iterator[HangingSMTP]:
    server = HangingSMTP()
    yield server
    server.close()


def test_a_hanging_smtp_server_times_out_and_the_promotion_completes(
    scoring_workspace: Workspace, make_use_case: MakeUseCase, hanging_smtp: HangingSMTP, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_HANG_PW", PASSWORD)  # the login is never reached: no greeting comes
    ws = scoring_workspace
    uc = make_use_case(ws, notify={"email": email_spec(hanging_smtp)}, name="churn")
    models = ModelStore(ws.model_store)
    candidate = models.aliases("churn")["challenger"]
    done = promote_and_smoke_test(ws, uc, candidate, actor="test", reason="hang", window="2025-02")
    assert done["outcome"] == "promoted" and models.aliases("churn")["champion"] == candidate
    assert hanging_smtp.accepted  # the server was reached: the message waited for its greeting, then gave up
    failed = [e for e in read_events(ws, "notification_failed") if e.get("channel") == "email"]
    assert failed and all("timed out" in e["error"] for e in failed), failed
    for path in [*ws.logs.rglob("*"), *ws.model_store.rglob("*.jsonl")]:
        if path.is_file():
            assert PASSWORD not in path.read_text(errors="replace"), path
    assert_workspace_sound(ws, load_use_case(ws.params / "churn.yaml"))
