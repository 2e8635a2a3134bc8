"""The windows a use case has, listed from raw file names and mart version folders, and the --window check."""

from __future__ import annotations

import pytest

from millpond.errors import ParamsError
from millpond.marts.windows import check_use_case_window, file_windows, known_windows, mart_windows
from millpond.workspace import Workspace
from tests.conftest import MakeUseCase
from tests.unit.ops.test_scheduler import _touch_windows


def _mart_versions(ws: Workspace, *windows: str) -> None:
    for window in windows:
        (ws.feature_marts / "churn" / "versions" / f"{window}-0123456789ab").mkdir(parents=True)
    (ws.feature_marts / "churn" / "versions" / ".staging-2025-09-x").mkdir()  # a half-published one: not a window


def test_windows_come_from_raw_file_names_and_mart_version_folders(
    workspace: Workspace, make_use_case: MakeUseCase
) -> None:
    uc = make_use_case(workspace)
    _touch_windows(workspace, "2025-02", "2025-01")
    (workspace.raw / "churn" / "notes.txt").write_text("not a window")
    _mart_versions(workspace, "2024-12", "2025-01")
    assert file_windows(workspace, uc.source) == ["2025-01", "2025-02"]
    assert mart_windows(workspace, "churn") == ["2024-12", "2025-01"]
    assert known_windows(workspace, uc) == ["2024-12", "2025-01", "2025-02"]
    assert mart_windows(workspace, "credit") == []


def test_a_database_source_is_listed_from_its_mart_versions(workspace: Workspace, make_use_case: MakeUseCase) -> None:
    uc = make_use_case(workspace, source={"url": "sqlite:///x.db", "query": "SELECT * FROM t WHERE m = {window}"})
    assert file_windows(workspace, uc.source) == [] and known_windows(workspace, uc) == []
    check_use_case_window(workspace, uc, "2025-5")  # nothing to compare with: only the label rules apply
    _mart_versions(workspace, "2025-04", "2025-05")
    with pytest.raises(ParamsError, match=r"Window '2025-5' does not fit .* Did you mean '2025-05'\?"):
        check_use_case_window(workspace, uc, "2025-5")


def test_a_monthly_calendar_needs_months_before_any_data(workspace: Workspace, make_use_case: MakeUseCase) -> None:
    uc = make_use_case(
        workspace,
        source={"url": "sqlite:///x.db", "query": "SELECT 1"},
        schedule={"calendar": "monthly", "start": "2025-01"},
    )
    assert check_use_case_window(workspace, uc, "2025-07") == "2025-07"
    with pytest.raises(ParamsError, match=r"they are months 'YYYY-MM' such as '2025-03'\. Did you mean '2025-07'\?"):
        check_use_case_window(workspace, uc, "2025-7")


def test_windows_the_caller_knows_besides_the_data_pass(workspace: Workspace, make_use_case: MakeUseCase) -> None:
    uc = make_use_case(workspace)
    _touch_windows(workspace, "2025-01", "2025-02")
    assert check_use_case_window(workspace, uc, "adhoc", also=["adhoc"]) == "adhoc"  # e.g. captured by `score`
    with pytest.raises(ParamsError, match="Did you mean '2025-02'"):
        check_use_case_window(workspace, uc, "2025-2", also=["adhoc"])
