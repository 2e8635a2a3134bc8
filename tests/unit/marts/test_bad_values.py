"""Values that parse but are no data (issue 14): a NULL key and infinite floats are refused at ingest, nothing stored.

Each case runs one-shot and streamed (``ingest_mode``) and is a hostile input of the reliability line.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from millpond.errors import ContractViolationError, SchemaError
from millpond.marts.store import MartStore, ingest
from millpond.workspace import Workspace
from tests.conftest import MakeUseCase, tree_snapshot

pytestmark = pytest.mark.usefixtures("ingest_mode")


def _raw(ws: Workspace) -> Path:
    return ws.raw / "churn" / "churn_2025-02.csv"


def _edit(ws: Workspace, rows: list[int], column: str, text: str) -> None:
    """Write ``text`` literally (as the CSV bytes a source would hold) into ``column`` at ``rows`` of 2025-02."""
    frame = pd.read_csv(_raw(ws), dtype=str, keep_default_na=False)
    frame.loc[rows, column] = text
    frame.to_csv(_raw(ws), index=False)


def _refused(ws: Workspace, uc, error: type[Exception], match: str) -> str:
    ingest(ws, uc, "2025-01")
    before = tree_snapshot(ws.feature_marts)
    with pytest.raises(error, match=match) as info:
        ingest(ws, uc, "2025-02")
    assert tree_snapshot(ws.feature_marts) == before
    assert [v.window for v in MartStore(ws.feature_marts).versions("churn")] == ["2025-01"]
    return str(info.value)


@pytest.mark.reliability("hostile")
@pytest.mark.parametrize("text", ["inf", "-inf", "Infinity", "-Infinity", "1e400", "INF"])
def test_an_infinite_float_is_refused_naming_column_rows_and_the_fix(
    demo_workspace: Workspace, make_use_case: MakeUseCase, text: str
) -> None:
    _edit(demo_workspace, [3, 7], "monthly_charges", text)
    message = _refused(
        demo_workspace,
        make_use_case(demo_workspace),
        ContractViolationError,
        r"column 'monthly_charges', rule finite values: 2 row\(s\) are infinite at row\(s\) 4, 8;",
    )
    assert "mart.contract.columns.monthly_charges.allow_infinite: true" in message
    assert "churn_2025-02.csv" in message and "Nothing was stored" in message


def test_infinite_values_pass_when_the_contract_allows_them(
    demo_workspace: Workspace, make_use_case: MakeUseCase
) -> None:
    _edit(demo_workspace, [3], "monthly_charges", "inf")
    _edit(demo_workspace, [5], "monthly_charges", "-inf")
    contract = {"columns": {"monthly_charges": {"allow_infinite": True}}}
    result = ingest(demo_workspace, make_use_case(demo_workspace, mart={"contract": contract}), "2025-02")
    values = result.version.read()["monthly_charges"]
    assert values[3] == math.inf and values[5] == -math.inf and values.map(math.isinf).sum() == 2


@pytest.mark.reliability("hostile")
def test_infinity_in_another_float_column_is_refused_even_with_a_contract_on_the_first(
    demo_workspace: Workspace, make_use_case: MakeUseCase
) -> None:
    _edit(demo_workspace, [0], "total_charges", "inf")
    contract = {"columns": {"monthly_charges": {"allow_infinite": True, "min": 0}}}
    _refused(
        demo_workspace,
        make_use_case(demo_workspace, mart={"contract": contract}),
        ContractViolationError,
        r"column 'total_charges', rule finite values: 1 row\(s\) are infinite at row\(s\) 1;",
    )


@pytest.mark.reliability("hostile")
@pytest.mark.parametrize("text", ["inf", "-Infinity", "99999999999999999999999"])
def test_an_infinite_or_oversized_int_is_a_type_error_not_a_traceback(
    demo_workspace: Workspace, make_use_case: MakeUseCase, text: str
) -> None:
    _edit(demo_workspace, [2], "tenure_months", text)
    _refused(
        demo_workspace,
        make_use_case(demo_workspace),
        SchemaError,
        r"column 'tenure_months' should be int but holds infinite or out-of-range \(beyond 64 bits\) values in 1 row",
    )


@pytest.mark.reliability("hostile")
@pytest.mark.parametrize("text", ["", "nan", "NULL", "NaN"])
def test_a_null_key_is_refused_naming_the_rows_and_the_fix(
    demo_workspace: Workspace, make_use_case: MakeUseCase, text: str
) -> None:
    _edit(demo_workspace, [9], "customer_id", text)
    message = _refused(
        demo_workspace,
        make_use_case(demo_workspace),
        ContractViolationError,
        r"column 'customer_id', rule key not null: 1 row\(s\) have no key \(null/NaN\) at row\(s\) 10;",
    )
    assert "mart.contract.columns.customer_id.nullable: true" in message


def test_a_null_key_passes_when_the_contract_says_the_key_is_nullable(
    demo_workspace: Workspace, make_use_case: MakeUseCase
) -> None:
    _edit(demo_workspace, [9], "customer_id", "")
    contract = {"columns": {"customer_id": {"nullable": True}}}
    result = ingest(demo_workspace, make_use_case(demo_workspace, mart={"contract": contract}), "2025-02")
    assert result.version.read()["customer_id"].isna().tolist().count(True) == 1


def test_a_nan_float_is_a_missing_value_refused_only_where_the_contract_says_nullable_false(
    demo_workspace: Workspace, make_use_case: MakeUseCase
) -> None:
    _edit(demo_workspace, [1], "monthly_charges", "nan")
    stored = ingest(demo_workspace, make_use_case(demo_workspace), "2025-02").version.read()
    assert stored["monthly_charges"].isna().sum() == 1
    strict = make_use_case(demo_workspace, mart={"contract": {"columns": {"monthly_charges": {"nullable": False}}}})
    with pytest.raises(ContractViolationError, match=r"column 'monthly_charges', rule nullable: false: 1 row"):
        ingest(demo_workspace, strict, "2025-02")
