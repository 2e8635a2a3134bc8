"""kill -9 while a model version is saved: no partial version is ever visible, and saving again completes it."""

from __future__ import annotations

import copy

import pytest

from millpond.config.params import load_use_case
from millpond.models.store import ModelStore
from millpond.workspace import Workspace
from tests.kill import assert_workspace_sound, run_killed

SAVE = """
import copy
from millpond.models.store import ModelStore
store = ModelStore({root!r})
model, _ = store.load("churn", "champion")
changed = copy.deepcopy(model).set_params(verbose=True)  # other bytes: a new version
store.save("churn", changed, {{"trained_for_window": "2025-03"}})
"""


@pytest.mark.reliability("kill")
@pytest.mark.parametrize("point", ["model-staged", "model-recorded", "model-published"])
def test_a_kill_while_saving_leaves_no_partial_version(scoring_workspace: Workspace, point: str) -> None:
    ws = scoring_workspace
    uc = load_use_case(ws.params / "churn.yaml")
    store = ModelStore(ws.model_store)
    before = {v.version for v in store.versions("churn")}
    run_killed(SAVE.format(root=str(ws.model_store)), point)

    after = {v.version for v in store.versions("churn")}
    assert len(after - before) == (1 if point == "model-published" else 0)  # whole version, or none
    assert_workspace_sound(ws, uc)
    model, _ = store.load("churn", "champion")
    saved = store.save("churn", copy.deepcopy(model).set_params(verbose=True), {"trained_for_window": "2025-03"})
    assert {v.version for v in store.versions("churn")} == before | {saved.version}
    assert store.load("churn", saved.version)[1].sha256 == saved.sha256
    assert not [p.name for p in (ws.model_store / "churn" / "versions").iterdir() if p.name.startswith(".")]
    assert_workspace_sound(ws, uc)
