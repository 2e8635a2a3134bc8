"""A cycle with ``slices:`` set (its stage functions, as the notebooks call them; a papermill cycle took 4-5 minutes
on the shared machine for nothing more): the KPI per slice reaches the train stage's summary, the model's
metadata and its card (site page and Markdown), and the drift stage's realised KPI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from millpond.config.params import load_use_case
from millpond.models.monitoring import MonitoringLog
from millpond.models.store import ModelStore
from millpond.runs import stages
from millpond.site import build_site
from millpond.site.layout import card_file, card_markdown_file
from millpond.workspace import Workspace
from tests.conftest import REPO

pytestmark = pytest.mark.integration


def test_a_cycle_with_slices_shows_the_kpi_per_slice_in_the_report_and_the_card(
    tmp_path: Path, small_demo_raw: Path
) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.millpond]\n", encoding="utf-8")
    for folder in ("notebooks", "params"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    ws = Workspace.find(tmp_path)
    shutil.copytree(small_demo_raw, ws.raw / "churn")
    params = yaml.safe_load((ws.params / "churn.yaml").read_text(encoding="utf-8"))
    params["slices"] = {"columns": ["region", "contract"], "min_rows": 150}
    params["promotion"] = {**params["promotion"], "max_slice_drop": 0.05}
    (ws.params / "churn.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")

    uc = load_use_case(ws.params / "churn.yaml")
    first = stages.StageContext(ws, uc, "2025-01", run_id="slices/2025-01")
    stages.run_ingest(first)
    trained = stages.run_train(first)
    assert stages.run_promote(first).summary["promoted"] is True

    version = ModelStore(ws.model_store).get("churn", "champion")
    stored = version.metadata.extra.get("slice_metrics")
    assert stored["metric"] == "roc_auc" and stored["min_rows"] == 150
    by_label = {f"{s['column']}={s['value']}": s for s in stored["slices"]}
    assert {"region=north", "region=south", "contract=month-to-month"} <= set(by_label), sorted(by_label)
    judged = [s for s in stored["slices"] if s["status"] == "ok"]
    assert judged and all(s["low"] <= s["kpi"] <= s["high"] for s in judged)
    assert sum(s["rows"] for s in stored["slices"] if s["column"] == "region") == version.metadata.holdout_rows

    shown = trained.summary["slices"]
    assert set(trained.tables["roc_auc per slice (holdout)"]["value"]) >= {"north", "south"}
    assert set(shown) == set(by_label) and shown["region=north"].endswith(f"({by_label['region=north']['rows']} rows)")

    site = build_site(ws, tmp_path / "site").parent
    page = (site / card_file("churn", version.version)).read_text(encoding="utf-8")
    assert 'id="mp-card-slices"' in page and "<td>region=north</td>" in page
    north = by_label["region=north"]
    assert f"{north['kpi']:.3f} [{north['low']:.3f}, {north['high']:.3f}]" in page
    markdown = (site / card_markdown_file("churn", version.version)).read_text(encoding="utf-8")
    assert "## Metrics per slice (holdout)" in markdown and f"| region=north | {north['rows']} |" in markdown
    small = [label for label, s in by_label.items() if s["status"] == "too_small"]
    for label in small:  # reported, not judged
        assert f"| {label} | {by_label[label]['rows']} | too small (< 150 rows): not judged | too_small |" in markdown

    second = stages.StageContext(ws, uc, "2025-02", run_id="slices/2025-02")
    stages.run_ingest(second)
    drift = stages.run_drift(second)
    realised = MonitoringLog(ws.model_store, "churn").latest("drift", "2025-02").fields["kpi_slices"]  # type: ignore[union-attr]
    assert {f"{s['column']}={s['value']}" for s in realised["slices"]} == set(drift.summary["kpi_slices"])
    assert all(s["rows"] >= 150 for s in realised["slices"] if s["status"] == "ok")  # every labelled row of 2025-02
    assert "realised roc_auc per slice" in drift.tables
