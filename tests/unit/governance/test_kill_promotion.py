"""kill -9 at every step of a promotion: the alias move, its history, its audit entry and its smoke test are one
recoverable step (write-ahead ``pending.json``), completed or undone exactly once by the next cycle stage."""

from __future__ import annotations

import pytest

from millpond.config.params import load_use_case
from millpond.governance.audit import AuditEntry, AuditLog
from millpond.governance.deployment import promote_and_smoke_test, recover_pending
from millpond.models.monitoring import MonitoringLog
from millpond.models.store import ModelStore
from millpond.runs import stages
from millpond.workspace import Workspace
from tests.kill import assert_workspace_sound, run_killed

PROMOTE = """
from millpond.config.params import load_use_case
from millpond.governance.deployment import promote_and_smoke_test
from millpond.workspace import Workspace
ws = Workspace.find({root!r})
uc = load_use_case(ws.params / "churn.yaml")
promote_and_smoke_test(ws, uc, {version!r}, actor="millpond cycle", reason="kill test", window="2025-02",
                       run_id="killed/2025-02")
"""

# where the kill comes, and whether the champion had moved by then (the move is completed, else undone)
POINTS = [
    ("alias-before-intent", False),
    ("alias-intent-written", False),
    ("alias-switched", True),
    ("alias-history-written", True),
    ("promotion-audited", True),
    ("smoke-started", True),
]


def _promotions(ws: Workspace, version: str) -> list[AuditEntry]:
    return [e for e in AuditLog(ws.model_store, "churn").entries() if e.action == "promotion" and e.version == version]


@pytest.mark.reliability("kill")
@pytest.mark.parametrize(("point", "moved"), POINTS, ids=[p for p, _ in POINTS])
def test_a_kill_during_a_promotion_is_completed_or_undone_once(
    scoring_workspace: Workspace, point: str, moved: bool
) -> None:
    ws = scoring_workspace
    uc = load_use_case(ws.params / "churn.yaml")
    models = ModelStore(ws.model_store)
    before = models.aliases("churn")
    old, candidate = before["champion"], before["challenger"]
    run_killed(PROMOTE.format(root=str(ws.root), version=candidate), point)

    pending = models.pending("churn")
    assert (pending is not None) == (point != "alias-before-intent")
    assert models.aliases("churn")["champion"] == (candidate if moved and point != "alias-intent-written" else old)
    problems = [str(p) for r in __import__("millpond.ops.verify").ops.verify.verify_workspace(ws) for p in r.problems]
    assert problems == []  # a crash is not tampering: the interrupted move is a note

    # the next cycle stage recovers first (every stage does), then runs
    stages.run_score(stages.StageContext(ws, uc, "2025-02", run_id="next/2025-02"))
    assert models.pending("churn") is None
    champion = models.aliases("churn")["champion"]
    assert champion == (candidate if moved else old)
    assert len(_promotions(ws, candidate)) == (1 if moved else 0)  # audited exactly once, or not at all
    history = [(e.alias, e.target) for e in models.history("churn") if e.alias == "champion"]
    assert history[-1] == ("champion", champion) and history.count(("champion", candidate)) == (1 if moved else 0)
    decisions = [e for e in MonitoringLog(ws.model_store, "churn").entries("decision") if e.candidate == candidate]
    assert [d.outcome for d in decisions] == (["promoted"] if moved else [])
    assert_workspace_sound(ws, uc)
    if moved:  # the next promote stage of the window has no undecided candidate: never the champion against itself
        done = stages.run_promote(stages.StageContext(ws, uc, "2025-02", run_id="next/2025-02"))
        assert done.status == "skipped"
        promotions = [e for e in AuditLog(ws.model_store, "churn").entries() if e.action == "promotion"]
        assert all(e.fields["champion_before"] != e.version for e in promotions)
    else:  # nothing had moved: the decision is taken again, and carried out once
        assert promote_and_smoke_test(ws, uc, candidate, actor="t", reason="again", window="2025-02")["outcome"] == (
            "promoted"
        )
        assert len(_promotions(ws, candidate)) == 1
        assert_workspace_sound(ws, uc)


@pytest.mark.reliability("kill")
def test_a_kill_during_the_rollback_after_a_failed_smoke_test_completes_the_rollback(
    scoring_workspace: Workspace,
) -> None:
    ws = scoring_workspace
    uc = load_use_case(ws.params / "churn.yaml")
    models = ModelStore(ws.model_store)
    old, candidate = models.aliases("churn")["champion"], models.aliases("churn")["challenger"]
    failing = PROMOTE.replace(
        "promote_and_smoke_test(",
        "import millpond.governance.deployment as d\n"
        "real = d.smoke_champion\n"
        f"d.smoke_champion = lambda m, u: 'forced' if m.aliases('churn')['champion'] == {candidate!r} else real(m, u)\n"
        "d.promote_and_smoke_test(",
        1,
    )
    run_killed(failing.format(root=str(ws.root), version=candidate), "alias-switched:2")  # the rollback's switch
    assert models.pending("churn").phase == "rollback"
    assert recover_pending(ws, uc, run_id="next/2025-02")["outcome"] == "rolled_back"
    assert models.aliases("churn")["champion"] == old and models.pending("churn") is None
    entries = AuditLog(ws.model_store, "churn").entries()
    actions = [(e.action, e.version) for e in entries if e.action in ("promotion", "rollback")]
    assert actions[-2:] == [("promotion", candidate), ("rollback", candidate)]
    assert_workspace_sound(ws, uc)
