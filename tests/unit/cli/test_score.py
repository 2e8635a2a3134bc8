"""``score``, ``labels add`` and ``smoke``: a misspelt params path or window is refused before anything is written."""

from __future__ import annotations

import pytest

from millpond.workspace import Workspace
from tests.unit.cli.test_cycle import PARAMS_HINT, TYPO, WINDOW_HINT, WINDOWS, P, assert_refused
from tests.unit.ops.test_scheduler import _touch_windows


@pytest.fixture
def ws(workspace: Workspace) -> Workspace:
    _touch_windows(workspace, *WINDOWS)
    return workspace


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("score", "--model", "churn@champion", "--input", "in.csv", "--output", "out.csv", *TYPO), PARAMS_HINT),
        (("labels", "add", *TYPO, "--window", "2025-03", "labels.csv"), PARAMS_HINT),
        (("smoke", "churn@champion", *TYPO), PARAMS_HINT),
        (("labels", "add", *P, "--window", "2025-5", "labels.csv"), WINDOW_HINT),
        (("score", "--model", "churn@champion", "--input", "in.csv", "--output", "o.csv", "--window", "a/b"), "window"),
    ],
    ids=["score-params", "labels-params", "smoke-params", "labels-window", "score-window-path"],
)
def test_a_typo_exits_2_naming_the_fix_and_writes_nothing(
    ws: Workspace, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    assert_refused(ws, capsys, argv, message)


def test_a_score_params_file_that_does_not_validate_is_recorded_marked_bad_params(
    ws: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    from millpond.cli import main
    from millpond.runs.store import RunStore

    data = yaml.safe_load((ws.params / "churn.yaml").read_text())
    data["traning"] = data.pop("training")
    (ws.params / "typo.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    argv = ["score", "--model", "churn@champion", "--input", "in.csv", "--output", "out.csv"]
    assert main(["--workspace", str(ws.root), *argv, "--params", "params/typo.yaml"]) == 2
    assert "Did you mean 'training'?" in capsys.readouterr().err
    (record,) = RunStore(ws.runs).list()
    assert (record.use_case, record.status) == ("churn", "failed")
    assert record.manifest["extra"]["bad_params"] is True
