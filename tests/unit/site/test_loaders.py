"""millpond.load_model and millpond.read_mart: one line from any notebook inside the workspace."""

from __future__ import annotations

import os
import stat

import pytest

import millpond
from millpond.errors import MartVersionNotFoundError, ModelIntegrityError, ModelVersionNotFoundError, ParamsError
from millpond.marts.store import MartStore
from millpond.models.store import ModelStore
from millpond.workspace import Workspace


def test_load_model_by_alias_version_and_window(scoring_workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    store = ModelStore(scoring_workspace.model_store)
    champion, challenger = store.get("churn", "champion"), store.get("churn", "challenger")
    monkeypatch.chdir(scoring_workspace.root / "params")  # found from the current directory upwards
    model = millpond.load_model("churn@champion")
    rows = MartStore(scoring_workspace.feature_marts).latest("churn", "2025-03").head(20)
    expected, _ = store.load("churn", "champion")
    features = list(champion.metadata.input_schema)
    assert (model.predict_proba(rows[features]) == expected.predict_proba(rows[features])).all()
    assert type(millpond.load_model("churn")) is type(model)  # no selector: the champion
    by_prefix = millpond.load_model(f"churn@{challenger.version[:6]}")
    by_window = millpond.load_model("churn@2025-02")  # no cycle scored 2025-02: the version trained for it
    assert (by_prefix.predict_proba(rows[features]) == by_window.predict_proba(rows[features])).all()
    with pytest.raises(ModelVersionNotFoundError, match="no version or alias '2031-01'"):
        millpond.load_model("churn@2031-01")
    with pytest.raises(ParamsError, match="must look like 'churn@champion'"):
        millpond.load_model("churn@")


@pytest.mark.reliability("tamper")
def test_a_tampered_model_file_is_refused(scoring_workspace: Workspace) -> None:
    version = ModelStore(scoring_workspace.model_store).get("churn", "champion")
    os.chmod(version.model_file, stat.S_IRUSR | stat.S_IWUSR)
    with version.model_file.open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelIntegrityError):
        millpond.load_model("churn@champion", workspace=scoring_workspace)


def test_read_mart_by_window_version_or_newest(scoring_workspace: Workspace) -> None:
    marts = MartStore(scoring_workspace.feature_marts)
    march = marts.latest("churn", "2025-03")
    frame = millpond.read_mart("churn@2025-03", workspace=scoring_workspace.root)
    assert len(frame) == march.rows and frame.equals(march.read())
    january = marts.latest("churn", "2025-01")
    assert millpond.read_mart(f"churn@{january.version}", workspace=scoring_workspace).equals(january.read())
    assert millpond.read_mart("churn", workspace=scoring_workspace).equals(march.read())
    assert list(millpond.read_mart("churn@2025-01", ["region"], workspace=scoring_workspace).columns) == ["region"]
    with pytest.raises(MartVersionNotFoundError, match="no version for window '2025-13'"):
        millpond.read_mart("churn@2025-13", workspace=scoring_workspace)
