"""Streaming ingest: tiny record batches give the same mart as the one-shot path, and late violations store nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from millpond.errors import ContractViolationError, SchemaError
from millpond.marts import ingest
from millpond.params import load_use_case
from millpond.workspace import Workspace
from tests.conftest import tree_snapshot

CONTRACT = {"columns": {"monthly_charges": {"nullable": False, "min": 0, "max": 500}}, "min_rows": 100}
_VOLATILE = {"created_at", "sha256"}  # the Parquet file's row groups differ by batch size; its rows do not


def _use_case(ws: Workspace, **mart):
    data = yaml.safe_load((ws.params / "churn.yaml").read_text())
    data["mart"] = {"contract": CONTRACT, **mart}
    path = ws.params / "stream.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_use_case(path)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_tiny_batches_store_the_same_rows_and_manifest_as_one_shot(demo_workspace: Workspace, tmp_path: Path, fmt: str) -> None:
    ws = demo_workspace
    raw = ws.raw / "churn" / "churn_2025-01.csv"
    if fmt == "parquet":
        pd.read_csv(raw, dtype={"customer_id": "str"}).to_parquet(raw.with_suffix(".parquet"), index=False)
        raw.unlink()
        data = yaml.safe_load((ws.params / "churn.yaml").read_text())
        data["source"]["path"] = data["source"]["path"].replace(".csv", ".parquet")
        (ws.params / "churn.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    uc = _use_case(ws)
    one_shot = ingest(ws, uc, "2025-01")
    expected_frame, expected_manifest = one_shot.version.read(), dict(one_shot.version.manifest)
    shutil.rmtree(ws.feature_marts / "churn" / "versions")
    streamed = ingest(ws, uc, "2025-01", batch_rows=7)
    assert streamed.created and streamed.version.version == one_shot.version.version
    pd.testing.assert_frame_equal(streamed.version.read(), expected_frame)
    manifest = streamed.version.manifest
    assert {k: v for k, v in manifest.items() if k not in _VOLATILE} == {k: v for k, v in expected_manifest.items() if k not in _VOLATILE}
    assert manifest["rows"] == len(expected_frame) > 7
    again = ingest(ws, uc, "2025-01", batch_rows=7)
    assert not again.created and again.version.version == one_shot.version.version


def test_violation_in_a_later_batch_stores_nothing_and_quarantines_the_row(demo_workspace: Workspace, tmp_path: Path) -> None:
    ws = demo_workspace
    uc = _use_case(ws)
    ingest(ws, uc, "2025-01")
    raw = ws.raw / "churn" / "churn_2025-02.csv"
    frame = pd.read_csv(raw, dtype={"customer_id": "str"})
    last = len(frame) - 1
    frame.loc[last, "monthly_charges"] = 9999.0
    frame.loc[last - 1, "customer_id"] = frame.loc[0, "customer_id"]
    frame.to_csv(raw, index=False)
    before = tree_snapshot(ws.feature_marts)
    quarantine = tmp_path / "quarantine.csv"
    with pytest.raises(ContractViolationError, match=r"(?s)column 'monthly_charges', rule max 500: 1 row\(s\) are above it, e.g. 9999\.0"
                       r".*rule unique key: 2 row\(s\) share a key \(1 duplicated value\(s\)\).*Nothing was stored"):
        ingest(ws, uc, "2025-02", quarantine=quarantine, batch_rows=10)
    assert tree_snapshot(ws.feature_marts) == before
    assert not list((ws.feature_marts / "churn" / "versions").glob(".staging*"))
    rows = pd.read_csv(quarantine)
    assert rows["_row"].tolist() == [1, last, last + 1]
    assert rows["_violations"].tolist()[-1] == "monthly_charges: max 500"


def test_text_in_an_int_column_of_a_later_batch_names_its_rows(demo_workspace: Workspace, tmp_path: Path) -> None:
    ws = demo_workspace
    uc = _use_case(ws)
    raw = ws.raw / "churn" / "churn_2025-02.csv"
    frame = pd.read_csv(raw, dtype={"customer_id": "str"})
    frame["support_calls"] = frame["support_calls"].astype("str")
    frame.loc[25, "support_calls"] = "many"
    frame.to_csv(raw, index=False)
    quarantine = tmp_path / "quarantine.csv"
    with pytest.raises(SchemaError, match=r"\(rows 21-30\) does not match(.|\n)*column 'support_calls' should be int but holds text "
                       r"in 1 row\(s\), e\.g\. 'many'(.|\n)*1 offending row"):
        ingest(ws, uc, "2025-02", quarantine=quarantine, batch_rows=10)
    assert not (ws.feature_marts / "churn" / "versions").exists() or not any((ws.feature_marts / "churn" / "versions").iterdir())
    rows = pd.read_csv(quarantine)
    assert rows["_row"].tolist() == [26] and rows["_violations"].tolist() == ["support_calls: type int"]
