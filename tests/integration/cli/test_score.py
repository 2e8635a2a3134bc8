"""`millpond score`, `millpond labels add` and `millpond smoke` driven as a user would (in-process CLI)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from millpond.cli import main
from millpond.marts.store import MartStore
from millpond.models.store import ModelStore
from millpond.workspace import Workspace


def _cli(ws: Workspace, *args: str) -> int:
    return main(["--workspace", str(ws.root), *args])


def test_score_labels_and_smoke_end_to_end(
    scoring_workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = scoring_workspace
    frame = MartStore(ws.feature_marts).latest("churn", "2025-03").read()
    frame.drop(columns="churned").to_csv(tmp_path / "in.csv", index=False)
    champion = ModelStore(ws.model_store).aliases("churn")["champion"]
    assert (
        _cli(
            ws,
            "score",
            "--model",
            f"churn@{champion[:6]}",
            "--input",
            str(tmp_path / "in.csv"),
            "--output",
            str(tmp_path / "out.parquet"),
            "--window",
            "2025-03",
            "--run-id",
            "adhoc-1",
        )
        == 0
    )
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert len(out) == 3000 and set(out["model_version"]) == {champion} and set(out["run_id"]) == {"adhoc-1"}
    assert f"window=2025-03/model_version={champion}/part-adhoc-1.parquet" in capsys.readouterr().out
    frame[["customer_id", "churned"]].head(1000).to_csv(tmp_path / "labels.csv", index=False)
    assert (
        _cli(ws, "labels", "add", "--params", "params/churn.yaml", "--window", "2025-03", str(tmp_path / "labels.csv"))
        == 0
    )
    printed = capsys.readouterr().out
    assert "1000 labels for churn 2025-03: stored" in printed and champion in printed and "champion" in printed
    assert _cli(ws, "smoke", "churn@champion") == 0
    printed = capsys.readouterr().out
    assert "negative: unseen category" in printed and f"smoke test of churn@{champion}: passed" in printed


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("churn@champoin", "Did you mean 'champion'?"),
        ("chrun@champion", "Did you mean 'churn'?"),
        ("churn@", "must look like NAME@champion"),
    ],
)
def test_unknown_model_references_suggest_the_closest(
    scoring_workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str], model: str, message: str
) -> None:
    code = _cli(
        scoring_workspace, "score", "--model", model, "--input", "x.parquet", "--output", str(tmp_path / "out.parquet")
    )
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out.parquet").exists()


def test_tampered_model_is_refused_without_output(
    scoring_workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = scoring_workspace
    version = ModelStore(ws.model_store).get("churn", "champion")
    os.chmod(version.model_file, 0o644)
    with open(version.model_file, "ab") as handle:
        handle.write(b"tampered")
    mart = MartStore(ws.feature_marts).latest("churn", "2025-03").data_path
    code = _cli(
        ws, "score", "--model", "churn@champion", "--input", str(mart), "--output", str(tmp_path / "out.parquet")
    )
    assert code == 3 and "was altered on disk" in capsys.readouterr().err
    assert not (tmp_path / "out.parquet").exists() and not (ws.model_store / "churn" / "captures").exists()
    assert _cli(ws, "smoke", "churn@champion") == 3
    assert "was altered on disk" in capsys.readouterr().err


def test_bad_input_file_exits_2_with_the_contract_problem(
    scoring_workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = MartStore(scoring_workspace.feature_marts).latest("churn", "2025-03").read()
    frame.drop(columns="region").to_parquet(tmp_path / "in.parquet")
    code = _cli(
        scoring_workspace,
        "score",
        "--model",
        "churn@challenger",
        "--input",
        str(tmp_path / "in.parquet"),
        "--output",
        str(tmp_path / "o.csv"),
    )
    assert code == 2 and "column 'region' is missing" in capsys.readouterr().err
    assert not (tmp_path / "o.csv").exists() and not list(tmp_path.glob(".o.csv*"))
