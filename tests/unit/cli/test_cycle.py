"""``cycle`` and ``run``: typos are refused up front (exit 2, a message naming the fix, nothing written anywhere);
a params file that exists but does not validate is recorded as a failed run of its use case, and not notified.

Each case runs ``millpond`` in-process against a workspace with raw files for 2025-01..05 and proves the whole
workspace tree (runs, index, events, locks, marts, model store) is byte-identical afterwards.
"""

from __future__ import annotations

import pytest
import yaml

from millpond.cli import main
from millpond.governance.events import read_events
from millpond.runs.store import RunStore
from millpond.workspace import Workspace
from tests.conftest import tree_snapshot
from tests.unit.ops.test_scheduler import _touch_windows

WINDOWS = ("2025-01", "2025-02", "2025-03", "2025-04", "2025-05")
P = ("--params", "params/churn.yaml")
TYPO = ("--params", "params/chrun.yaml")
PARAMS_HINT = "Did you mean 'params/churn.yaml'?"
WINDOW_HINT = "Did you mean '2025-05'?"


@pytest.fixture
def ws(workspace: Workspace) -> Workspace:
    _touch_windows(workspace, *WINDOWS)
    return workspace


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("cycle", *TYPO, "--window", "2025-03"), PARAMS_HINT),
        (("cycle", *TYPO, "--next"), PARAMS_HINT),
        (("run", "ingest", *TYPO, "--window", "2025-03"), PARAMS_HINT),
        (("cycle", *P, "--window", "2025-5"), WINDOW_HINT),
        (("run", "train", *P, "--window", "2025-5"), WINDOW_HINT),
        (("cycle", *P, "--window", "2025-13"), "they are months 'YYYY-MM'"),
        (("cycle", *P, "--window", "../2025-03"), "window must be a label such as '2025-03'"),
        (("run", "trian", *P, "--window", "2025-03"), "Unknown stage 'trian'. Did you mean 'train'?"),
    ],
    ids=[
        "cycle-params",
        "cycle-next-params",
        "run-params",
        "cycle-window",
        "run-window",
        "cycle-month-13",
        "cycle-window-path",
        "run-stage",
    ],
)
def test_a_typo_exits_2_naming_the_fix_and_writes_nothing(
    ws: Workspace, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    assert_refused(ws, capsys, argv, message)


def assert_refused(ws: Workspace, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str) -> None:
    """``millpond ARGV`` exits 2 with ``message`` on stderr and leaves every file of the workspace as it was."""
    before = tree_snapshot(ws.root)
    assert main(["--workspace", str(ws.root), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert tree_snapshot(ws.root) == before  # no run folder, no index row, no events, no lock file


def test_the_window_message_names_the_format_and_the_windows_with_data(
    ws: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--workspace", str(ws.root), "cycle", *P, "--window", "2025-5"]) == 2
    err = capsys.readouterr().err
    assert "Window '2025-5' does not fit the windows of use case 'churn': they are months 'YYYY-MM'" in err
    assert "Windows with data: 2025-01 … 2025-05 (5)." in err


@pytest.mark.parametrize(
    ("edit", "filed_under"),
    [
        (lambda d: d.update(traning=d.pop("training")), "churn"),  # a misspelt key: its use case is still named
        (lambda d: d.update(use_case="not a name!"), "broken"),  # no valid use_case: the file's stem
    ],
    ids=["misspelt-key", "invalid-use-case"],
)
def test_an_invalid_params_file_records_one_failed_run_under_its_name_and_is_not_notified(
    ws: Workspace, capsys: pytest.CaptureFixture[str], edit, filed_under: str
) -> None:
    data = yaml.safe_load((ws.params / "churn.yaml").read_text())
    edit(data)
    (ws.params / "broken.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["--workspace", str(ws.root), "cycle", "--params", "params/broken.yaml", "--window", "2025-03"]) == 2
    assert "problem(s)" in capsys.readouterr().err
    (record,) = RunStore(ws.runs).list()
    assert (record.use_case, record.window, record.stage, record.status) == (filed_under, "2025-03", "ingest", "failed")
    assert record.manifest["extra"]["bad_params"] is True
    events = [e["event"] for e in read_events(ws)]
    assert "cycle_failed" not in events and "notify.failure" not in events
    assert not (ws.model_store / filed_under).exists()  # no audit entry for a notification either
