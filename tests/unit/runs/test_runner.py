from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
import yaml

from millpond.errors import ParamsError
from millpond.governance.events import read_events
from millpond.runs.runner import (
    CycleResult,
    _secret_strings,
    check_inputs,
    cycle_row,
    execute_stage,
    run_cycle,
    scrub_notebook,
)
from millpond.runs.store import RunStore
from millpond.workspace import Workspace
from tests.conftest import tree_snapshot
from tests.unit.ops.test_scheduler import _touch_windows


def test_secret_values_papermill_injected_are_scrubbed(tmp_path: Path) -> None:
    params = {
        "source": {"url": "postgresql://ana:s3cr3t-pw@127.0.0.1:5432/crm", "query": "select 1"},
        "notify": {"smtp_password": "hunter22", "user": "ana"},
        "env_ref": "${CHURN_DB_PASSWORD}",
    }
    assert _secret_strings(params) == {"s3cr3t-pw", "hunter22"}
    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"parameters": params}
    nb.cells = [nbformat.v4.new_code_cell(f"source = {params['source']!r}\nnotify = {params['notify']!r}")]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    scrub_notebook(path, params)
    text = path.read_text()
    assert "s3cr3t-pw" not in text and "hunter22" not in text
    assert "postgresql://ana:***@127.0.0.1:5432/crm" in text
    assert json.loads(text)["metadata"]["papermill"]["parameters"]["env_ref"] == "${CHURN_DB_PASSWORD}"


def test_nothing_to_scrub_leaves_the_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "nb.ipynb"
    path.write_text("{}")
    scrub_notebook(path, {"source": {"path": "x.csv"}})
    assert path.read_text() == "{}"


def test_cycle_row_of_an_empty_failed_cycle() -> None:
    row = cycle_row(CycleResult(cycle_id="c", window="2025-01", error="boom"))
    assert row == {
        "window": "2025-01",
        "champion": "-",
        "kpi": "-",
        "kpi_estimate": "-",
        "data_drift": "-",
        "model_drift": "-",
        "retrained": "no",
        "promoted": "no",
        "status": "failed",
    }


@pytest.mark.parametrize(
    ("params", "window", "stage", "message"),
    [
        ("params/chrun.yaml", "2025-03", "ingest", r"does not exist\. Did you mean 'params/churn\.yaml'\?"),
        ("params/churn.yaml", "2025-5", "ingest", r"Window '2025-5' does not fit .* Did you mean '2025-05'\?"),
        ("params/churn.yaml", "2025-03", "trian", r"Unknown stage 'trian'\. Did you mean 'train'\?"),
    ],
    ids=["params-path", "window", "stage"],
)
def test_the_python_api_refuses_bad_input_before_anything_is_recorded(
    workspace: Workspace, params: str, window: str, stage: str, message: str
) -> None:
    _touch_windows(workspace, "2025-01", "2025-02", "2025-03", "2025-04", "2025-05")
    before = tree_snapshot(workspace.root)
    with pytest.raises(ParamsError, match=message):
        check_inputs(workspace, params, window, stage=stage)
    with pytest.raises(ParamsError, match=message):
        execute_stage(workspace, params, stage, window)
    with pytest.raises(ParamsError, match=message):
        run_cycle(workspace, params, window, stages=(stage,))
    assert tree_snapshot(workspace.root) == before


def test_an_invalid_params_file_is_a_failed_run_of_its_use_case_marked_bad_params(workspace: Workspace) -> None:
    data = yaml.safe_load((workspace.params / "churn.yaml").read_text())
    data["promotion"]["metirc"] = data["promotion"].pop("metric")
    (workspace.params / "typo.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    assert check_inputs(workspace, "params/typo.yaml", "2025-03") is None  # exists: the run is its use case's
    result = run_cycle(workspace, "params/typo.yaml", "2025-03")
    assert result.bad_input and "unknown key 'promotion.metirc'. Did you mean 'metric'?" in (result.error or "")
    (record,) = RunStore(workspace.runs).list()
    assert (record.use_case, record.stage, record.status) == ("churn", "ingest", "failed")
    assert record.manifest["extra"]["bad_params"] is True and "params_change" in record.manifest["extra"]
    assert [r.run_id for r in result.records] == [record.run_id]
    assert read_events(workspace) == []  # not notified as a cycle failure
