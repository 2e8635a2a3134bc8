"""`millpond score --model chrun@champion`: an unknown model name is refused before anything is recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from millpond.cli import main
from millpond.workspace import Workspace
from tests.conftest import tree_snapshot


@pytest.mark.reliability("hostile")
@pytest.mark.parametrize(("ref", "hint"), [("chrun@champion", "Did you mean 'churn'?"), ("nosuch", "Models: churn")])
def test_an_unknown_model_name_exits_2_with_did_you_mean_and_records_nothing(
    scoring_workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str], ref: str, hint: str
) -> None:
    ws = scoring_workspace
    data = tmp_path / "in.csv"
    data.write_text("customer_id,tenure_months\nC1,3\n", encoding="utf-8")
    before = tree_snapshot(ws.root)
    code = main(["--workspace", str(ws.root), "score", "--model", ref, "--input", str(data), "--output", "o.csv"])
    err = capsys.readouterr().err
    assert code == 2 and hint in err and "Nothing was recorded" in err
    after = tree_snapshot(ws.root)
    assert {k for k in after if not k.endswith(".lock")} == {k for k in before if not k.endswith(".lock")}
    assert not (ws.runs.exists() and any(ws.runs.iterdir()))
