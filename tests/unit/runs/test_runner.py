from __future__ import annotations

import json
from pathlib import Path

import nbformat

from millpond.runs.runner import CycleResult, _secret_strings, cycle_row, scrub_notebook


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
