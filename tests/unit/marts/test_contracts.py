"""Data contracts and bad raw input: each refusal names what failed, quarantines rows, stores nothing."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from millpond.errors import ContractViolationError, MartError, SchemaError
from millpond.marts.store import MartStore, ingest
from millpond.workspace import Workspace
from tests.conftest import MakeUseCase, tree_snapshot

pytestmark = pytest.mark.usefixtures("ingest_mode")

CONTRACT = {
    "columns": {
        "monthly_charges": {"nullable": False, "min": 0, "max": 500},
        "contract": {"allowed": ["month-to-month", "one-year", "two-year"], "on_unseen": "fail"},
        "region": {"allowed": ["north", "south", "east", "west", "central"], "on_unseen": "warn"},
    },
    "min_rows": 100,
}


def _raw(ws: Workspace, window: str) -> Path:
    return ws.raw / "churn" / f"churn_{window}.csv"


def _frame(ws: Workspace, window: str) -> pd.DataFrame:
    return pd.read_csv(_raw(ws, window), dtype={"customer_id": "str"})


def _refuse(ws: Workspace, uc, window: str, error: type[Exception], match: str, tmp_path: Path) -> Path:
    """Ingest 2025-01, then check ``window`` is refused with ``match`` and nothing stored changed."""
    ingest(ws, uc, "2025-01")
    before = tree_snapshot(ws.feature_marts)
    quarantine = tmp_path / "run" / "outputs" / "quarantine.csv"
    with pytest.raises(error, match=match):
        ingest(ws, uc, window, quarantine=quarantine)
    assert tree_snapshot(ws.feature_marts) == before
    assert not list((ws.feature_marts / "churn" / "versions").glob(".staging*"))
    return quarantine


def test_contract_passes_and_is_recorded_in_the_manifest(demo_workspace: Workspace, make_use_case: MakeUseCase) -> None:
    uc = make_use_case(demo_workspace, mart={"contract": CONTRACT})
    result = ingest(demo_workspace, uc, "2025-01")
    assert result.created and result.warnings == []
    assert result.version.manifest.contract["min_rows"] == 100
    assert result.version.manifest.load == "incremental"


def test_range_violation_names_column_rule_count_examples_and_quarantines(
    demo_workspace: Workspace, tmp_path: Path, make_use_case: MakeUseCase
) -> None:
    frame = _frame(demo_workspace, "2025-02")
    frame.loc[[3, 7, 11], "monthly_charges"] = [-1.5, -2.0, -7.25]
    frame.to_csv(_raw(demo_workspace, "2025-02"), index=False)
    uc = make_use_case(demo_workspace, mart={"contract": CONTRACT})
    quarantine = _refuse(
        demo_workspace,
        uc,
        "2025-02",
        ContractViolationError,
        r"column 'monthly_charges', rule min 0: 3 row\(s\) are below it, e\.g\. -1\.5, -2\.0, -7\.25",
        tmp_path,
    )
    rows = pd.read_csv(quarantine)
    assert rows["_row"].tolist() == [4, 8, 12]
    assert rows["monthly_charges"].tolist() == [-1.5, -2.0, -7.25]
    assert set(rows["_violations"]) == {"monthly_charges: min 0"}


def test_nulls_in_a_non_nullable_column(demo_workspace: Workspace, tmp_path: Path, make_use_case: MakeUseCase) -> None:
    frame = _frame(demo_workspace, "2025-02")
    frame.loc[[0, 1], "monthly_charges"] = None
    frame.to_csv(_raw(demo_workspace, "2025-02"), index=False)
    uc = make_use_case(demo_workspace, mart={"contract": CONTRACT})
    quarantine = _refuse(
        demo_workspace,
        uc,
        "2025-02",
        ContractViolationError,
        r"column 'monthly_charges', rule nullable: false: 2 row\(s\) are null",
        tmp_path,
    )
    assert len(pd.read_csv(quarantine)) == 2


def test_unseen_category_fails_when_the_contract_says_fail(
    demo_workspace: Workspace, tmp_path: Path, make_use_case: MakeUseCase
) -> None:
    frame = _frame(demo_workspace, "2025-02")
    frame.loc[:4, "contract"] = "weekly"
    frame.to_csv(_raw(demo_workspace, "2025-02"), index=False)
    uc = make_use_case(demo_workspace, mart={"contract": CONTRACT})
    quarantine = _refuse(
        demo_workspace,
        uc,
        "2025-02",
        ContractViolationError,
        r"column 'contract', rule allowed categories: 5 row\(s\) hold 1 unseen category, e\.g\. 'weekly'",
        tmp_path,
    )
    assert set(pd.read_csv(quarantine)["contract"]) == {"weekly"}


def test_unseen_category_warns_and_ingests_when_the_contract_says_warn(
    demo_workspace: Workspace, make_use_case: MakeUseCase
) -> None:
    frame = _frame(demo_workspace, "2025-02")
    frame.loc[:2, "region"] = "atlantis"
    frame.to_csv(_raw(demo_workspace, "2025-02"), index=False)
    uc = make_use_case(demo_workspace, mart={"contract": CONTRACT})
    result = ingest(demo_workspace, uc, "2025-02")
    assert result.created
    assert result.warnings == [
        "column 'region', rule allowed categories (on_unseen: warn): 3 row(s) hold unseen categories 'atlantis'; ingested anyway"
    ]
    assert result.version.manifest.warnings == result.warnings


def test_duplicated_keys_are_refused_even_without_a_contract(
    demo_workspace: Workspace, tmp_path: Path, make_use_case: MakeUseCase
) -> None:
    frame = _frame(demo_workspace, "2025-02")
    frame.loc[1, "customer_id"] = frame.loc[0, "customer_id"]
    frame.to_csv(_raw(demo_workspace, "2025-02"), index=False)
    key = frame.loc[0, "customer_id"]
    quarantine = _refuse(
        demo_workspace,
        make_use_case(demo_workspace),
        "2025-02",
        ContractViolationError,
        rf"column 'customer_id', rule unique key: 2 row\(s\) share a key \(1 duplicated value\(s\)\), e\.g\. '{key}'",
        tmp_path,
    )
    assert pd.read_csv(quarantine, dtype={"customer_id": "str"})["customer_id"].tolist() == [key, key]


def test_too_few_rows_break_min_rows(demo_workspace: Workspace, tmp_path: Path, make_use_case: MakeUseCase) -> None:
    _frame(demo_workspace, "2025-02").head(40).to_csv(_raw(demo_workspace, "2025-02"), index=False)
    uc = make_use_case(demo_workspace, mart={"contract": CONTRACT})
    quarantine = _refuse(
        demo_workspace,
        uc,
        "2025-02",
        ContractViolationError,
        r"window, rule min_rows 100: 40 row\(s\) in the window",
        tmp_path,
    )
    assert not quarantine.exists()


def test_all_null_float_column(demo_workspace: Workspace, tmp_path: Path, make_use_case: MakeUseCase) -> None:
    frame = _frame(demo_workspace, "2025-02")
    frame["total_charges"] = None
    frame.to_csv(_raw(demo_workspace, "2025-02"), index=False)
    _refuse(
        demo_workspace,
        make_use_case(demo_workspace),
        "2025-02",
        ContractViolationError,
        r"column 'total_charges', rule not all null: 3000 row\(s\) are all null: the column is empty",
        tmp_path,
    )


def test_all_null_int_column(demo_workspace: Workspace, tmp_path: Path, make_use_case: MakeUseCase) -> None:
    frame = _frame(demo_workspace, "2025-02")
    frame["support_calls"] = None
    frame.to_csv(_raw(demo_workspace, "2025-02"), index=False)
    _refuse(
        demo_workspace,
        make_use_case(demo_workspace),
        "2025-02",
        SchemaError,
        r"column 'support_calls', rule not all null: all 3000 row\(s\) are null: the column is empty",
        tmp_path,
    )


def test_wrong_type_rows_are_quarantined(demo_workspace: Workspace, tmp_path: Path, make_use_case: MakeUseCase) -> None:
    frame = _frame(demo_workspace, "2025-02")
    frame["support_calls"] = frame["support_calls"].astype("str")
    frame.loc[[2, 5], "support_calls"] = "many"
    frame.to_csv(_raw(demo_workspace, "2025-02"), index=False)
    quarantine = _refuse(
        demo_workspace,
        make_use_case(demo_workspace),
        "2025-02",
        SchemaError,
        r"column 'support_calls' should be int but holds text in 2 row\(s\), e\.g\. 'many', 'many'(.|\n)*2 offending row",
        tmp_path,
    )
    rows = pd.read_csv(quarantine)
    assert rows["_row"].tolist() == [3, 6] and set(rows["_violations"]) == {"support_calls: type int"}


def test_non_utf8_bytes_are_located(demo_workspace: Workspace, tmp_path: Path, make_use_case: MakeUseCase) -> None:
    path = _raw(demo_workspace, "2025-02")
    lines = path.read_bytes().split(b"\n")
    lines[3] = (
        lines[3]
        .replace(b"north", b"n\xf6rth")
        .replace(b"south", b"s\xf6uth")
        .replace(b"east", b"\xe9ast")
        .replace(b"west", b"w\xe9st")
    )
    path.write_bytes(b"\n".join(lines))
    offset = b"\n".join(lines).index(b"\xf6") if b"\xf6" in lines[3] else b"\n".join(lines).index(b"\xe9")
    byte = b"\n".join(lines)[offset : offset + 1].hex()
    _refuse(
        demo_workspace,
        make_use_case(demo_workspace),
        "2025-02",
        MartError,
        rf"churn_2025-02\.csv is not UTF-8 text: byte 0x{byte} at offset {offset} \(line 4\) cannot be decoded",
        tmp_path,
    )


def test_wrong_delimiter_is_named(demo_workspace: Workspace, tmp_path: Path, make_use_case: MakeUseCase) -> None:
    _frame(demo_workspace, "2025-02").to_csv(_raw(demo_workspace, "2025-02"), index=False, sep=";")
    _refuse(
        demo_workspace,
        make_use_case(demo_workspace),
        "2025-02",
        MartError,
        r"has a single column 'customer_id;tenure_months;.*': it looks delimited by ';', not ','\. Set 'delimiter: \";\"'",
        tmp_path,
    )


def test_declared_delimiter_is_used(demo_workspace: Workspace, make_use_case: MakeUseCase) -> None:
    _frame(demo_workspace, "2025-02").to_csv(_raw(demo_workspace, "2025-02"), index=False, sep=";")
    data = yaml.safe_load((demo_workspace.params / "churn.yaml").read_text())
    uc = make_use_case(demo_workspace, source={**data["source"], "delimiter": ";"})
    assert ingest(demo_workspace, uc, "2025-02").version.rows == 3000


def test_truncated_parquet(demo_workspace: Workspace, tmp_path: Path, make_use_case: MakeUseCase) -> None:
    folder = demo_workspace.raw / "pq"
    folder.mkdir()
    for window in ("2025-01", "2025-02"):
        _frame(demo_workspace, window).to_parquet(folder / f"churn_{window}.parquet", index=False)
    data = (folder / "churn_2025-02.parquet").read_bytes()
    (folder / "churn_2025-02.parquet").write_bytes(data[: len(data) // 2])
    uc = make_use_case(demo_workspace, source={"path": "feature_marts/raw/pq/churn_{window}.parquet"})
    _refuse(
        demo_workspace,
        uc,
        "2025-02",
        MartError,
        r"Raw file feature_marts/raw/pq/churn_2025-02\.parquet is not a readable Parquet file \(truncated or corrupt\?\)",
        tmp_path,
    )


def test_contract_naming_an_unknown_column_is_a_params_error(
    demo_workspace: Workspace, make_use_case: MakeUseCase
) -> None:
    from millpond.errors import ParamsError

    with pytest.raises(
        ParamsError,
        match=r"mart\.contract\.columns lists 'monthly_charge', which is not in 'columns'\. Did you mean 'monthly_charges'\?",
    ):
        make_use_case(demo_workspace, mart={"contract": {"columns": {"monthly_charge": {"min": 0}}}})
    assert MartStore(demo_workspace.feature_marts).versions("churn") == []


def test_the_ingest_stage_quarantines_into_its_run_record(
    demo_workspace: Workspace, tmp_path: Path, make_use_case: MakeUseCase
) -> None:
    from millpond.runs.stages import StageContext, run_ingest

    frame = _frame(demo_workspace, "2025-02")
    frame.loc[1, "customer_id"] = frame.loc[0, "customer_id"]
    frame.to_csv(_raw(demo_workspace, "2025-02"), index=False)
    run_dir = tmp_path / "runs" / "c1" / "01-ingest"
    ctx = StageContext(demo_workspace, make_use_case(demo_workspace), "2025-02", run_id="c1/01-ingest", run_dir=run_dir)
    with pytest.raises(
        ContractViolationError, match=r"2 offending row\(s\) written to .*01-ingest/outputs/quarantine\.csv"
    ):
        run_ingest(ctx)
    assert len(pd.read_csv(run_dir / "outputs" / "quarantine.csv")) == 2
