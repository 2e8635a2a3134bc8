from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from millpond.config.params import (
    check_window,
    check_window_format,
    load_use_case,
    params_file,
    read_yaml,
    validate_use_case,
)
from millpond.errors import ParamsError
from millpond.workspace import Workspace

REPO = Path(__file__).resolve().parents[3]


def churn() -> dict:
    return yaml.safe_load((REPO / "params" / "churn.yaml").read_text())


def test_demo_params_are_valid_and_infer_features() -> None:
    uc = load_use_case(REPO / "params" / "churn.yaml")
    assert uc.use_case == "churn"
    assert "customer_id" not in uc.feature_columns and "churned" not in uc.feature_columns
    assert set(uc.categorical_columns) == {"contract", "internet_service", "payment_method", "region"}
    assert "monthly_charges" in uc.numeric_columns
    assert uc.drift.kpi_tolerance == 0.02


def test_misspelt_top_level_key_names_it_and_suggests() -> None:
    data = churn()
    data["targett"] = data.pop("target")
    with pytest.raises(ParamsError, match=r"unknown key 'targett'\. Did you mean 'target'\?") as info:
        validate_use_case(data)
    assert "missing required key 'target'" in str(info.value)


def test_misspelt_nested_key_has_key_path() -> None:
    data = churn()
    data["promotion"]["metrc"] = "roc_auc"
    with pytest.raises(ParamsError, match=r"unknown key 'promotion\.metrc'\. Did you mean 'metric'\?"):
        validate_use_case(data)


def test_every_problem_is_listed_once() -> None:
    data = churn()
    data["modle"] = {}
    data["task"] = "clasification"
    data["training"]["windows"] = 0
    with pytest.raises(ParamsError, match=r"3 problem\(s\)") as info:
        validate_use_case(data)
    text = str(info.value)
    assert "Did you mean 'model'" in text
    assert "Did you mean 'classification'" in text
    assert "training.windows" in text


def test_metric_must_fit_the_task() -> None:
    data = churn()
    data["promotion"]["metric"] = "rocauc"
    with pytest.raises(
        ParamsError,
        match=r"promotion\.metric must be one of roc_auc, .*Got 'rocauc' instead\. Did you mean 'roc_auc'\?",
    ):
        validate_use_case(data)


def test_key_and_target_must_be_declared_columns() -> None:
    data = churn()
    data["key"] = "customer"
    with pytest.raises(ParamsError, match=r"key 'customer' is not in 'columns'\. Did you mean 'customer_id'\?"):
        validate_use_case(data)


def test_yaml_keeps_dates_as_strings(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("window: 2025-03-01\nwhen: 2025-03-01 10:00:00\n")
    assert read_yaml(path) == {"window": "2025-03-01", "when": "2025-03-01 10:00:00"}


def test_missing_params_file_suggests_close_name(tmp_path: Path) -> None:
    (tmp_path / "churn.yaml").write_text("use_case: churn\n")
    with pytest.raises(ParamsError, match=r"does not exist\. Did you mean 'churn\.yaml'\?"):
        read_yaml(tmp_path / "chrun.yaml")


def test_a_params_path_that_does_not_exist_suggests_the_closest_file_in_params(workspace: Workspace) -> None:
    assert params_file(workspace, "params/churn.yaml") == workspace.params / "churn.yaml"
    assert params_file(workspace, workspace.params / "churn.yaml") == workspace.params / "churn.yaml"
    for typo in ("params/chrun.yaml", "./params/churn.yml", "parms/churn.yaml", str(workspace.params / "chrun.yaml")):
        with pytest.raises(ParamsError, match=r"does not exist\. Did you mean 'params/churn\.yaml'\?") as info:
            params_file(workspace, typo)
        assert "use cases: params/churn.yaml" in str(info.value)
    with pytest.raises(ParamsError, match=r"params/zzz\.yaml does not exist\. Pass an existing use-case file"):
        params_file(workspace, "params/zzz.yaml")  # nothing close: no suggestion


MONTHS = ["2025-01", "2025-02", "2025-03", "2025-04", "2025-05"]


@pytest.mark.parametrize(
    ("window", "known", "monthly", "hint"),
    [
        ("2025-5", MONTHS, False, "Did you mean '2025-05'?"),  # the padded month has data
        ("2025_05", MONTHS, False, "Did you mean '2025-05'?"),
        ("202505", MONTHS, False, "Did you mean '2025-05'?"),
        ("2025-13", MONTHS, False, "Did you mean '2025-03'?"),  # no such month: the closest window with data
        ("2025-5", [], True, "Did you mean '2025-05'?"),  # a monthly calendar, nothing ingested yet
        ("week-7", ["week-06", "week-07"], False, "Did you mean 'week-07'?"),  # shaped unlike the windows with data
    ],
)
def test_a_malformed_window_is_refused_naming_the_closest(
    window: str, known: list[str], monthly: bool, hint: str
) -> None:
    with pytest.raises(ParamsError, match=rf"Window '{window}' does not fit the windows of use case 'churn'") as info:
        check_window_format(window, known, monthly=monthly, use_case="churn")
    assert hint in str(info.value)


@pytest.mark.parametrize(
    ("window", "known", "monthly"),
    [
        ("2025-05", MONTHS, False),
        ("2026-07", MONTHS, False),  # well formed without data: its ingest says what is missing
        ("2025-5", [], False),  # nothing to compare with
        ("w03", ["w01", "w02"], False),
        ("2025-01", [], True),
    ],
)
def test_a_window_shaped_like_the_use_cases_passes(window: str, known: list[str], monthly: bool) -> None:
    assert check_window_format(window, known, monthly=monthly) == window


def test_non_mapping_yaml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ParamsError, match="must hold a mapping"):
        read_yaml(path)


def test_source_needs_exactly_one_kind() -> None:
    data = churn()
    data["source"] = {"path": "x.csv", "url": "sqlite:///x.db", "query": "select 1"}
    with pytest.raises(ParamsError, match="exactly one of 'path'"):
        validate_use_case(data)


@pytest.mark.parametrize("bad", ["", "../2025-03", "2025/03", " 2025-03"])
def test_window_labels_cannot_escape_folders(bad: str) -> None:
    with pytest.raises(ParamsError, match="window must be a label"):
        check_window(bad)


def test_slices_are_a_list_of_mart_columns_and_default_to_none() -> None:
    assert validate_use_case(churn()).slices.columns == []
    uc = validate_use_case({**churn(), "slices": ["region", "contract"]})
    assert uc.slices.columns == ["region", "contract"] and uc.slices.min_rows == 100
    assert validate_use_case(uc.notebook_parameters()) == uc  # the mapping form round-trips
    longer = validate_use_case({**churn(), "slices": {"columns": ["region"], "min_rows": 30}})
    assert longer.slices.min_rows == 30


def test_a_bad_slice_name_is_refused_naming_it_and_the_marts_columns() -> None:
    with pytest.raises(ParamsError) as info:
        validate_use_case({**churn(), "slices": ["regoin", "monthly_charges", "churned"]})
    message = str(info.value)
    assert "slices lists 'regoin', which is not a column of the mart 'churn'" in message
    assert "(its columns: customer_id, tenure_months, contract," in message and "Did you mean 'region'?" in message
    assert "'monthly_charges', a float column: slices need categories" in message
    assert "'churned', the target" in message


def test_the_slice_guard_needs_slices() -> None:
    data = churn()
    data["promotion"] = {**data["promotion"], "max_slice_drop": 0.05}
    with pytest.raises(ParamsError, match=r"promotion\.max_slice_drop guards slices"):
        validate_use_case(data)
    assert validate_use_case({**data, "slices": ["region"]}).promotion.max_slice_drop == 0.05
    with pytest.raises(ParamsError, match=r"max_slice_drop"):
        validate_use_case({**data, "slices": ["region"], "promotion": {**data["promotion"], "max_slice_drop": -1}})


def test_the_slices_example_is_valid() -> None:
    uc = load_use_case(REPO / "params" / "examples" / "churn_by_segment.yaml")
    assert uc.slices.columns == ["region", "contract"] and uc.promotion.max_slice_drop == 0.05
