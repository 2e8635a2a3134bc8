"""Batch scoring: record batches, captures per model version, shadow/split challengers, bad input leaves nothing."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from millpond.config.params import load_use_case
from millpond.errors import CaptureError, InputContractError, ScoringError
from millpond.marts.store import MartStore
from millpond.models.store import ModelStore
from millpond.scoring.batch import Scorer, parse_model_ref, score_file, split_mask
from millpond.scoring.capture import CaptureStore
from millpond.workspace import Workspace


def _scorers(ws: Workspace, **scoring: object) -> tuple[Scorer, Scorer]:
    uc = load_use_case(ws.params / "churn.yaml")
    uc = uc.model_copy(update={"scoring": uc.scoring.model_copy(update=scoring)})
    store = ModelStore(ws.model_store)
    return (
        Scorer.load(store, "churn", "champion", use_case=uc),
        Scorer.load(store, "churn", "challenger", role="challenger", use_case=uc),
    )


def _mart(ws: Workspace, window: str = "2025-02") -> tuple[Path, pd.DataFrame]:
    version = MartStore(ws.feature_marts).latest("churn", window)
    return version.data_path, version.read()


def _visible_and_hidden(ws: Workspace) -> list[str]:
    root = ws.model_store / "churn" / "captures"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_batches_give_the_bare_predictions_and_one_read_only_capture(
    scoring_workspace: Workspace, tmp_path: Path
) -> None:
    ws = scoring_workspace
    champion, _ = _scorers(ws, batch_rows=700)
    path, frame = _mart(ws)
    out = tmp_path / "predictions.parquet"
    result = score_file(
        path, champion, captures=CaptureStore(ws.model_store, "churn"), window="2025-02", output=out, run_id="run/1"
    )
    expected = champion.model.predict_proba(frame[champion.use_case.feature_columns])[:, 1]
    written = pd.read_parquet(out)
    assert result.rows == len(frame) == 3000
    assert list(written.columns) == [
        "customer_id",
        "prediction",
        "probability",
        "model",
        "model_version",
        "run_id",
        "scored_at",
    ]
    np.testing.assert_array_equal(written["probability"].to_numpy(), expected)
    np.testing.assert_array_equal(written["prediction"].to_numpy(), (expected >= 0.5).astype("int64"))
    assert written["customer_id"].tolist() == frame["customer_id"].tolist()
    assert set(written["model_version"]) == {champion.version} and set(written["run_id"]) == {"run/1"}
    part = (
        ws.model_store
        / "churn"
        / "captures"
        / "window=2025-02"
        / f"model_version={champion.version}"
        / "part-run_1.parquet"
    )
    assert result.captures == {champion.version: part}
    assert not part.stat().st_mode & stat.S_IWUSR
    captured = CaptureStore(ws.model_store, "churn").read("2025-02", champion.version)
    assert set(champion.use_case.feature_columns) <= set(captured.columns) and "churned" not in captured.columns
    assert captured["served"].all() and set(captured["role"]) == {"champion"}
    np.testing.assert_array_equal(captured["probability"].to_numpy(), expected)
    assert result.metrics[champion.version]["n"] == 3000 and result.metrics[champion.version]["roc_auc"] > 0.7
    assert pq.ParquetFile(part).num_row_groups == 5  # written batch by batch (700-row batches)


def test_csv_in_csv_out(scoring_workspace: Workspace, tmp_path: Path) -> None:
    champion, _ = _scorers(scoring_workspace, batch_rows=1000)
    _, frame = _mart(scoring_workspace)
    source = tmp_path / "in.csv"
    frame.drop(columns=["churned"]).to_csv(source, index=False)
    result = score_file(source, champion, output=tmp_path / "out.csv")
    written = pd.read_csv(tmp_path / "out.csv")
    expected = champion.model.predict_proba(frame[champion.use_case.feature_columns])[:, 1]
    np.testing.assert_allclose(written["probability"].to_numpy(), expected, rtol=1e-12)
    assert result.metrics == {} and result.captures == {}


def test_shadow_challenger_scores_every_row_unserved(scoring_workspace: Workspace) -> None:
    ws = scoring_workspace
    champion, challenger = _scorers(ws, challenger_mode="shadow")
    path, frame = _mart(ws)
    result = score_file(
        path,
        champion,
        challenger=challenger,
        captures=CaptureStore(ws.model_store, "churn"),
        window="2025-02",
        run_id="r",
    )
    assert result.served == {champion.version: 3000, challenger.version: 0}
    shadow = CaptureStore(ws.model_store, "churn").read("2025-02", challenger.version)
    assert len(shadow) == 3000 and not shadow["served"].any() and set(shadow["role"]) == {"challenger"}
    expected = challenger.model.predict_proba(frame[challenger.use_case.feature_columns])[:, 1]
    np.testing.assert_array_equal(shadow["probability"].to_numpy(), expected)
    assert set(result.metrics) == {champion.version, challenger.version}


def test_split_serves_a_stable_share_by_key_hash(scoring_workspace: Workspace, tmp_path: Path) -> None:
    ws = scoring_workspace
    champion, challenger = _scorers(ws, challenger_mode="split", split_fraction=0.3, batch_rows=1000)
    path, frame = _mart(ws)
    captures = CaptureStore(ws.model_store, "churn")
    first = score_file(
        path,
        champion,
        challenger=challenger,
        captures=captures,
        window="2025-02",
        output=tmp_path / "a.parquet",
        run_id="a",
    )
    score_file(
        path,
        champion,
        challenger=challenger,
        captures=captures,
        window="2025-02",
        output=tmp_path / "b.parquet",
        run_id="b",
    )
    mask = split_mask(frame["customer_id"], 0.3)
    assert first.served == {champion.version: int((~mask).sum()), challenger.version: int(mask.sum())}
    assert 0.25 < mask.mean() < 0.35
    a, b = pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet")
    assert (a["model_version"] == np.where(mask, challenger.version, champion.version)).all()
    assert a["model_version"].tolist() == b["model_version"].tolist()
    served = captures.read("2025-02", challenger.version, run_id="a")
    assert sorted(served["customer_id"]) == sorted(frame.loc[mask, "customer_id"]) and served["served"].all()


def test_missing_column_is_refused_and_nothing_is_written(scoring_workspace: Workspace, tmp_path: Path) -> None:
    champion, challenger = _scorers(scoring_workspace)
    _, frame = _mart(scoring_workspace)
    source = tmp_path / "in.parquet"
    frame.drop(columns=["tenure_months"]).to_parquet(source)
    before = _visible_and_hidden(scoring_workspace)
    with pytest.raises(InputContractError, match=r"column 'tenure_months' is missing"):
        score_file(
            source,
            champion,
            challenger=challenger,
            captures=CaptureStore(scoring_workspace.model_store, "churn"),
            window="2025-02",
            output=tmp_path / "out.parquet",
        )
    assert _visible_and_hidden(scoring_workspace) == before == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet", "ws"]


def test_a_bad_later_batch_leaves_no_partial_capture(scoring_workspace: Workspace, tmp_path: Path) -> None:
    champion, _ = _scorers(scoring_workspace, batch_rows=500)
    _, frame = _mart(scoring_workspace)
    frame.loc[2600, "contract"] = "lifetime"
    source = tmp_path / "in.parquet"
    frame.to_parquet(source)
    with pytest.raises(
        InputContractError,
        match=r"(?s)rows 2501-3000\).*column 'contract' has 1 value\(s\) the model never saw, e.g. \['lifetime'\]",
    ):
        score_file(
            source,
            champion,
            captures=CaptureStore(scoring_workspace.model_store, "churn"),
            window="2025-02",
            output=tmp_path / "out.parquet",
        )
    assert _visible_and_hidden(scoring_workspace) == []
    assert not (tmp_path / "out.parquet").exists() and not list(tmp_path.glob(".staging-out*"))


def test_empty_inputs_are_refused(scoring_workspace: Workspace, tmp_path: Path) -> None:
    champion, _ = _scorers(scoring_workspace)
    _, frame = _mart(scoring_workspace)
    frame.head(0).to_parquet(tmp_path / "empty.parquet")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ScoringError, match="has no rows to score"):
        score_file(tmp_path / "empty.parquet", champion, output=tmp_path / "o.parquet")
    with pytest.raises(ScoringError, match="is empty"):
        score_file(tmp_path / "empty.csv", champion, output=tmp_path / "o.parquet")
    with pytest.raises(ScoringError, match="does not exist. Did you mean 'empty.csv'"):
        score_file(tmp_path / "empty.cvs", champion)
    assert not (tmp_path / "o.parquet").exists()


def test_captures_are_never_rewritten(scoring_workspace: Workspace) -> None:
    champion, _ = _scorers(scoring_workspace)
    path, _ = _mart(scoring_workspace)
    captures = CaptureStore(scoring_workspace.model_store, "churn")
    score_file(path, champion, captures=captures, window="2025-02", run_id="same")
    before = _visible_and_hidden(scoring_workspace)
    with pytest.raises(CaptureError, match="already exists; captures are append-only"):
        score_file(path, champion, captures=captures, window="2025-02", run_id="same")
    assert _visible_and_hidden(scoring_workspace) == before
    with pytest.raises(CaptureError, match="(?s)No captures .* window '2025-03'.*Windows captured: 2025-02"):
        captures.read("2025-03")


def test_model_references() -> None:
    assert parse_model_ref("churn@champion") == ("churn", "champion")
    assert parse_model_ref("churn") == ("churn", "champion")
    assert parse_model_ref("churn@3f2a9c1b0d4e") == ("churn", "3f2a9c1b0d4e")
    with pytest.raises(ScoringError, match="must look like NAME@champion"):
        parse_model_ref("churn@")


def test_progress_counts_every_batch_up_to_the_total(scoring_workspace: Workspace, tmp_path: Path) -> None:
    champion, _ = _scorers(scoring_workspace, batch_rows=700)
    path, frame = _mart(scoring_workspace)
    calls: list[tuple[int, int | None]] = []
    result = score_file(
        path, champion, output=tmp_path / "p.parquet", on_progress=lambda done, total: calls.append((done, total))
    )
    assert calls == [(700, 3000), (1400, 3000), (2100, 3000), (2800, 3000), (3000, 3000)] and result.rows == 3000
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    csv_calls: list[tuple[int, int | None]] = []
    score_file(
        source, champion, output=tmp_path / "c.parquet", on_progress=lambda done, total: csv_calls.append((done, total))
    )
    assert csv_calls[-1] == (3000, None) and [d for d, _ in csv_calls] == sorted(d for d, _ in csv_calls)


def test_status_line_shows_scored_rows() -> None:
    import io

    from millpond.runs.progress import StatusLine, rows_progress

    assert rows_progress("scored", 1500, 3000) == "scored 1,500 of 3,000 rows (50%)"
    assert rows_progress("scored", 1500, None) == "scored 1,500 rows"
    stream = io.StringIO()
    StatusLine(stream, enabled=True).rows_callback()(700, 3000)
    assert stream.getvalue().startswith("\rscored 700 of 3,000 rows (23%)  [")
    quiet = io.StringIO()
    StatusLine(quiet).rows_callback()(700, 3000)  # not a terminal: nothing written
    assert quiet.getvalue() == ""
