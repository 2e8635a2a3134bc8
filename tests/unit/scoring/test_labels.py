"""Late labels: joined to captured predictions by key, KPIs per window and model version, bad files change nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from millpond.config.params import load_use_case, read_yaml
from millpond.errors import LabelsError, ParamsError
from millpond.marts.store import MartStore
from millpond.models.monitoring import MonitoringLog
from millpond.models.training import metrics_from_scores
from millpond.runs import stages
from millpond.scoring.labels import add_labels, kpi_table
from millpond.workspace import Workspace
from tests.conftest import tree_snapshot, write_yaml


def _score_without_labels(ws: Workspace, window: str = "2025-03") -> tuple[pd.DataFrame, stages.StageResult]:
    """Score a window whose mart has no target column yet (labels arrive later)."""
    uc = load_use_case(ws.params / "churn.yaml")
    mart = MartStore(ws.feature_marts).latest("churn", window)
    frame = mart.read()
    mart.data_path.chmod(0o644)
    frame.drop(columns=["churned"]).to_parquet(mart.data_path)
    result = stages.run_score(stages.StageContext(ws, uc, window, run_id=f"score/{window}"))
    return frame[["customer_id", "churned"]], result


def test_labels_give_kpis_per_model_version(scoring_workspace: Workspace, tmp_path: Path) -> None:
    ws = scoring_workspace
    truth, scored = _score_without_labels(ws)
    assert "kpi" not in scored.summary and scored.summary["challenger"] is not None
    labels = truth.sample(frac=0.5, random_state=1)
    labels.to_csv(tmp_path / "labels.csv", index=False)
    uc = load_use_case(ws.params / "churn.yaml")
    result = add_labels(ws, uc, "2025-03", tmp_path / "labels.csv", run_id="labels/1")
    champion, challenger = scored.summary["champion"], scored.summary["challenger"]
    assert result.roles == {champion: "champion", challenger: "challenger"}
    assert result.coverage[champion] == pytest.approx(0.5)
    captured = pd.read_parquet(ws.resolve(scored.summary["captures"][champion])).merge(labels, on="customer_id")
    expected = metrics_from_scores(captured["churned"].to_numpy(), captured["probability"].to_numpy(), uc)
    assert result.metrics[champion] == expected
    log = MonitoringLog(ws.model_store, "churn")
    kpi = log.latest("kpi", "2025-03")
    assert kpi is not None and kpi.model_version == champion and kpi.metrics == expected
    assert (kpi.run_id, kpi.fields["scoring_run_id"]) == ("labels/1", "score/2025-03")
    assert {e.model_version for e in log.entries("model_kpi", "2025-03")} == {champion, challenger}
    table = kpi_table(ws.model_store, "churn", "roc_auc")
    assert table.loc["2025-03", champion] == pytest.approx(expected["roc_auc"])
    assert not result.path.stat().st_mode & 0o200
    again = add_labels(ws, uc, "2025-03", tmp_path / "labels.csv")
    assert again.created is False and again.path == result.path
    # without a run id the entries name the scoring run the labels were joined to: they count in the KPI baseline
    assert {e.run_id for e in log.entries("kpi", "2025-03")[-1:] + log.entries("model_kpi")[-2:]} == {"score/2025-03"}
    assert log.kpi_history("roc_auc", before="2025-04")[-1] == ("2025-03", expected["roc_auc"])


def test_a_malformed_window_is_refused_naming_the_closest_and_nothing_changes(
    scoring_workspace: Workspace, tmp_path: Path
) -> None:
    ws = scoring_workspace
    truth, _ = _score_without_labels(ws)
    truth.to_csv(tmp_path / "labels.csv", index=False)
    before = tree_snapshot(ws.root)
    with pytest.raises(ParamsError, match=r"Window '2025-3' does not fit .* Did you mean '2025-03'\?"):
        add_labels(ws, load_use_case(ws.params / "churn.yaml"), "2025-3", tmp_path / "labels.csv")
    assert tree_snapshot(ws.root) == before


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: pd.concat([f, f.head(2)]), r"2 duplicate key\(s\) in 'customer_id'"),
        (
            lambda f: pd.concat([f, pd.DataFrame({"customer_id": ["nobody-1"], "churned": [1]})]),
            r"1 of 301 key\(s\) .* match no captured prediction of window '2025-03', e.g. \['nobody-1'\]",
        ),
        (lambda f: f.rename(columns={"churned": "churn"}), r"lacks column\(s\) \['churned'\]. Did you mean 'churn'\?"),
        (lambda f: f.assign(churned=[None] + f["churned"].tolist()[1:]), r"1 missing value\(s\) in 'churned'"),
    ],
    ids=["duplicates", "unknown-keys", "missing-column", "missing-label"],
)
def test_bad_labels_are_refused_and_nothing_changes(
    scoring_workspace: Workspace, tmp_path: Path, edit, message: str
) -> None:
    ws = scoring_workspace
    truth, _ = _score_without_labels(ws)
    edit(truth.head(300)).to_csv(tmp_path / "labels.csv", index=False)
    before = tree_snapshot(ws.model_store)
    with pytest.raises(LabelsError, match=message):
        add_labels(ws, load_use_case(ws.params / "churn.yaml"), "2025-03", tmp_path / "labels.csv")
    assert tree_snapshot(ws.model_store) == before


def test_labels_source_from_params_and_unscored_window(scoring_workspace: Workspace) -> None:
    ws = scoring_workspace
    truth, _ = _score_without_labels(ws)
    (ws.root / "labels").mkdir()
    truth.to_parquet(ws.root / "labels" / "churn_2025-03.parquet")
    data = read_yaml(ws.params / "churn.yaml")
    data["scoring"]["labels"] = {"path": "labels/churn_{window}.parquet"}
    uc = load_use_case(write_yaml(ws.params / "labelled.yaml", data))
    assert add_labels(ws, uc, "2025-03").rows == 3000
    with pytest.raises(LabelsError, match="has no scoring.labels.path"):
        add_labels(ws, load_use_case(ws.params / "churn.yaml"), "2025-03")
    with pytest.raises(LabelsError, match="No captures of model 'churn' for window '2025-01'"):
        add_labels(ws, uc, "2025-01", ws.root / "labels" / "churn_2025-03.parquet")


def test_late_labels_give_the_kpi_per_slice_of_the_captured_rows(scoring_workspace: Workspace, tmp_path: Path) -> None:
    from sklearn.metrics import roc_auc_score

    from millpond.drift.slices import labelled_slices

    ws = scoring_workspace
    truth, scored = _score_without_labels(ws)
    truth.to_csv(tmp_path / "labels.csv", index=False)
    uc = load_use_case(ws.params / "churn.yaml")
    uc = uc.model_copy(update={"slices": uc.slices.model_copy(update={"columns": ["region"], "min_rows": 500})})
    result = add_labels(ws, uc, "2025-03", tmp_path / "labels.csv", run_id="labels/1", slices=labelled_slices(uc))
    champion = scored.summary["champion"]
    captured = pd.read_parquet(ws.resolve(scored.summary["captures"][champion])).merge(truth, on="customer_id")
    by_value = {s["value"]: s for s in result.slices[champion]["slices"]}
    assert set(by_value) == set(captured["region"])
    for value, item in by_value.items():
        rows = captured[captured["region"] == value]
        assert item["rows"] == len(rows)
        if len(rows) < 500:
            assert item["status"] == "too_small" and item["kpi"] is None
        else:
            assert item["kpi"] == pytest.approx(roc_auc_score(rows["churned"], rows["probability"]), abs=1e-12)
            assert item["low"] <= item["kpi"] <= item["high"]
    assert MonitoringLog(ws.model_store, "churn").latest("kpi", "2025-03").fields["slices"]  # type: ignore[union-attr] == result.slices[champion]
