"""`millpond marts show` and `marts diff`: schema, rows, hashes, lineage and per-column deltas."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from millpond.cli import main
from millpond.config.params import load_use_case
from millpond.marts.store import ingest
from millpond.workspace import Workspace


def _two_versions(ws: Workspace):
    uc = load_use_case(ws.params / "churn.yaml")
    first = ingest(ws, uc, "2025-01", run_id="cycle-1/01-ingest").version
    path = ws.raw / "churn" / "churn_2025-01.csv"
    frame = pd.read_csv(path, dtype={"customer_id": "str"}).iloc[:1000]
    frame["monthly_charges"] = frame["monthly_charges"] + 10.0
    frame.to_csv(path, index=False)
    second = ingest(ws, uc, "2025-01", run_id="cycle-2/01-ingest").version
    return first, second, frame


def test_show_json_names_schema_rows_hashes_source_and_run(
    demo_workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second, _ = _two_versions(demo_workspace)
    assert main(["--workspace", str(demo_workspace.root), "marts", "show", f"churn@{first.version}", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["version"] == first.version and data["rows"] == 3000 and data["sha256"] == first.sha256
    assert data["schema"]["tenure_months"] == "int64" and data["window"] == "2025-01"
    assert (
        data["source"]["path"] == "feature_marts/raw/churn/churn_2025-01.csv" and data["run_id"] == "cycle-1/01-ingest"
    )
    assert data["summary"]["region"]["nulls"] == 0
    assert main(["--workspace", str(demo_workspace.root), "marts", "show", "churn"]) == 0
    text = capsys.readouterr().out
    assert f"churn@{second.version}  window 2025-01  rows 1000" in text and "cycle-2/01-ingest" in text


def test_diff_reports_rows_schema_and_column_deltas(
    demo_workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second, frame = _two_versions(demo_workspace)
    old_mean = first.read()["monthly_charges"].mean()
    args = [
        "--workspace",
        str(demo_workspace.root),
        "marts",
        "diff",
        f"churn@{first.version}",
        f"churn@{second.version}",
    ]
    assert main([*args, "--json"]) == 0
    diff = json.loads(capsys.readouterr().out)
    assert diff["rows"] == {"old": 3000, "new": 1000, "delta": -2000}
    assert diff["schema"] == {"added": {}, "removed": {}, "retyped": {}}
    mean = diff["columns"]["monthly_charges"]["mean"]
    assert mean["old"] == pytest.approx(old_mean) and mean["new"] == pytest.approx(frame["monthly_charges"].mean())
    assert mean["delta"] == pytest.approx(frame["monthly_charges"].mean() - old_mean, abs=1e-5)
    assert main(args) == 0
    assert "rows: 3000 → 1000 (-2000)" in capsys.readouterr().out


def test_unknown_version_suggests_the_closest(demo_workspace: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    first, _, _ = _two_versions(demo_workspace)
    assert main(["--workspace", str(demo_workspace.root), "marts", "show", f"churn@{first.version[:-1]}x"]) == 2
    assert f"Did you mean '{first.version}'?" in capsys.readouterr().err


def test_summary_of_a_big_version_reads_one_column_at_a_time_and_says_the_same(
    demo_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from millpond.marts import compare as mart_compare
    from millpond.marts.store import MartVersion

    version = ingest(demo_workspace, load_use_case(demo_workspace.params / "churn.yaml"), "2025-01").version
    whole = mart_compare.describe_version(version)["summary"]
    reads: list[list[str] | None] = []
    real = MartVersion.read
    monkeypatch.setattr(MartVersion, "read", lambda self, columns=None: reads.append(columns) or real(self, columns))
    monkeypatch.setattr(mart_compare, "DESCRIBE_WHOLE_ROWS", 100)
    assert mart_compare.describe_version(version)["summary"] == whole
    assert all(columns is not None and len(columns) == 1 for columns in reads) and len(reads) == len(whole)
