from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from millpond.config.params import UseCase, load_use_case
from millpond.errors import MartError, MartVersionNotFoundError, SchemaError, SourceNotFoundError
from millpond.marts import store as marts_module
from millpond.marts.store import MartStore, ingest
from millpond.workspace import Workspace
from tests.conftest import MakeUseCase, tree_snapshot

pytestmark = pytest.mark.usefixtures("ingest_mode")


def _raw(ws: Workspace, window: str) -> Path:
    return ws.raw / "churn" / f"churn_{window}.csv"


def test_ingest_writes_a_typed_read_only_version(demo_workspace: Workspace, make_use_case: MakeUseCase) -> None:
    uc = make_use_case(demo_workspace)
    result = ingest(demo_workspace, uc, "2025-01", run_id="r1")
    version = result.version
    assert result.created
    assert version.version.startswith("2025-01-") and len(version.version) == len("2025-01-") + 12
    frame = version.read()
    assert list(frame.columns) == list(uc.columns)
    assert str(frame["tenure_months"].dtype) == "int64" and str(frame["monthly_charges"].dtype) == "float64"
    assert version.rows == len(pd.read_csv(_raw(demo_workspace, "2025-01")))
    assert version.manifest.source["path"] == "feature_marts/raw/churn/churn_2025-01.csv"
    assert version.manifest.run_id == "r1"
    for file in version.path.iterdir():
        assert not file.stat().st_mode & 0o222, f"{file.name} is writable"


def test_same_input_is_a_no_op_with_the_same_id(demo_workspace: Workspace, make_use_case: MakeUseCase) -> None:
    uc = make_use_case(demo_workspace)
    first = ingest(demo_workspace, uc, "2025-01")
    before = tree_snapshot(demo_workspace.feature_marts / "churn")
    second = ingest(demo_workspace, uc, "2025-01")
    assert not second.created and second.version.version == first.version.version
    assert tree_snapshot(demo_workspace.feature_marts / "churn") == before


def test_changed_source_gives_a_new_version_and_keeps_the_old(
    demo_workspace: Workspace, make_use_case: MakeUseCase
) -> None:
    uc = make_use_case(demo_workspace)
    first = ingest(demo_workspace, uc, "2025-01").version
    frame = pd.read_csv(_raw(demo_workspace, "2025-01"), dtype={"customer_id": "str"})
    frame.iloc[:100].to_csv(_raw(demo_workspace, "2025-01"), index=False)
    second = ingest(demo_workspace, uc, "2025-01").version
    assert second.version != first.version and second.rows == 100
    store = MartStore(demo_workspace.feature_marts)
    assert [v.version for v in store.versions("churn")] == [first.version, second.version]
    assert store.latest("churn", "2025-01").version == second.version
    assert store.get("churn", first.version).read().shape[0] == first.rows


def _expect_refusal(ws: Workspace, uc: UseCase, window: str, error: type[Exception], match: str) -> None:
    ingest(ws, uc, "2025-01")
    before = tree_snapshot(ws.feature_marts / "churn")
    with pytest.raises(error, match=match):
        ingest(ws, uc, window)
    assert tree_snapshot(ws.feature_marts / "churn") == before
    assert not list((ws.feature_marts / "churn" / "versions").glob(".staging*"))


def test_missing_column_is_named_with_a_suggestion(demo_workspace: Workspace, make_use_case: MakeUseCase) -> None:
    path = _raw(demo_workspace, "2025-02")
    pd.read_csv(path).rename(columns={"tenure_months": "tenure_month"}).to_csv(path, index=False)
    _expect_refusal(
        demo_workspace,
        make_use_case(demo_workspace),
        "2025-02",
        SchemaError,
        r"column 'tenure_months' is missing\. Did you mean 'tenure_month'\?",
    )


def test_extra_column_is_refused(demo_workspace: Workspace, make_use_case: MakeUseCase) -> None:
    path = _raw(demo_workspace, "2025-02")
    pd.read_csv(path).assign(loyalty="gold").to_csv(path, index=False)
    _expect_refusal(
        demo_workspace,
        make_use_case(demo_workspace),
        "2025-02",
        SchemaError,
        r"column 'loyalty' is not declared in 'columns'",
    )


def test_wrong_dtype_names_column_count_and_examples(demo_workspace: Workspace, make_use_case: MakeUseCase) -> None:
    path = _raw(demo_workspace, "2025-02")
    frame = pd.read_csv(path)
    frame["support_calls"] = frame["support_calls"].astype("str")
    frame.loc[:4, "support_calls"] = "many"
    frame.to_csv(path, index=False)
    _expect_refusal(
        demo_workspace,
        make_use_case(demo_workspace),
        "2025-02",
        SchemaError,
        r"column 'support_calls' should be int but holds text in 5 row\(s\), e\.g\. 'many'",
    )


def test_fractions_in_an_int_column_are_refused(demo_workspace: Workspace, make_use_case: MakeUseCase) -> None:
    path = _raw(demo_workspace, "2025-02")
    frame = pd.read_csv(path)
    frame["tenure_months"] = frame["tenure_months"].astype("float")
    frame.loc[0, "tenure_months"] = 2.5
    frame.to_csv(path, index=False)
    _expect_refusal(
        demo_workspace,
        make_use_case(demo_workspace),
        "2025-02",
        SchemaError,
        r"'tenure_months' should be int but holds fractions in 1 row",
    )


def test_header_only_window_is_empty(demo_workspace: Workspace, make_use_case: MakeUseCase) -> None:
    path = _raw(demo_workspace, "2025-02")
    pd.read_csv(path).iloc[:0].to_csv(path, index=False)
    _expect_refusal(
        demo_workspace, make_use_case(demo_workspace), "2025-02", MartError, r"Window '2025-02' has no rows"
    )


def test_empty_file(demo_workspace: Workspace, make_use_case: MakeUseCase) -> None:
    _raw(demo_workspace, "2025-02").write_bytes(b"")
    _expect_refusal(
        demo_workspace,
        make_use_case(demo_workspace),
        "2025-02",
        MartError,
        r"is empty: it has no header and no rows",
    )


def test_missing_source_lists_what_exists(demo_workspace: Workspace, make_use_case: MakeUseCase) -> None:
    _expect_refusal(
        demo_workspace,
        make_use_case(demo_workspace),
        "2026-01",
        SourceNotFoundError,
        r"No raw source for window '2026-01'.*churn_2025-01\.csv",
    )


def test_crash_while_publishing_leaves_nothing_visible(
    demo_workspace: Workspace, monkeypatch: pytest.MonkeyPatch, make_use_case: MakeUseCase
) -> None:
    uc = make_use_case(demo_workspace)

    def crash(staging: Path, final: Path) -> bool:
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(marts_module, "publish_dir", crash)
    with pytest.raises(KeyboardInterrupt):
        ingest(demo_workspace, uc, "2025-01")
    folder = demo_workspace.feature_marts / "churn" / "versions"
    assert MartStore(demo_workspace.feature_marts).versions("churn") == []
    assert list(folder.iterdir()) == []


def test_single_file_with_a_window_column(workspace: Workspace, small_demo_raw: Path) -> None:
    import yaml

    frames = []
    for window in ("2025-01", "2025-02"):
        frames.append(pd.read_csv(small_demo_raw / f"churn_{window}.csv").assign(month=window))
    (workspace.raw).mkdir(parents=True)
    pd.concat(frames).to_parquet(workspace.raw / "all.parquet", index=False)
    data = yaml.safe_load((workspace.params / "churn.yaml").read_text())
    data["source"] = {"path": "feature_marts/raw/all.parquet", "window_column": "month"}
    data["columns"]["month"] = "str"
    (workspace.params / "single.yaml").write_text(yaml.safe_dump(data))
    uc = load_use_case(workspace.params / "single.yaml")
    version = ingest(workspace, uc, "2025-02").version
    assert version.rows == len(frames[1])
    assert set(version.read()["month"]) == {"2025-02"}
    assert "month" not in uc.feature_columns


# --- verify --------------------------------------------------------------------------------------------------
def _flip_a_byte(path: Path) -> None:
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_an_intact_store_verifies_clean(demo_workspace: Workspace) -> None:
    uc = load_use_case(demo_workspace.params / "churn.yaml")
    for window in ("2025-01", "2025-02"):
        ingest(demo_workspace, uc, window)
    report = MartStore(demo_workspace.feature_marts).verify()
    assert report.ok and report.checked == 2 and report.problems == [] and report.notes == []
    assert MartStore(demo_workspace.feature_marts).verify("churn").checked == 2


def test_a_changed_byte_in_a_data_file_is_reported_naming_the_file(demo_workspace: Workspace) -> None:
    uc = load_use_case(demo_workspace.params / "churn.yaml")
    first = ingest(demo_workspace, uc, "2025-01").version
    ingest(demo_workspace, uc, "2025-02")
    _flip_a_byte(first.data_path)
    report = MartStore(demo_workspace.feature_marts).verify()
    assert not report.ok and report.checked == 2
    assert [p.path for p in report.problems] == [str(first.data_path)]
    assert "records " + first.sha256 in report.problems[0].problem
    assert report.lines()[0].startswith(f"MISMATCH {first.data_path} has sha256 ")


def test_a_manifest_naming_another_version_or_an_edited_row_count_is_reported(demo_workspace: Workspace) -> None:
    import json

    version = ingest(demo_workspace, load_use_case(demo_workspace.params / "churn.yaml"), "2025-01").version
    path = version.path / "manifest.json"
    data = json.loads(path.read_text())
    path.chmod(0o644)
    path.write_text(json.dumps({**data, "version": "2025-01-000000000000", "rows": data["rows"] + 1}))
    problems = [str(p) for p in MartStore(demo_workspace.feature_marts).verify().problems]
    assert problems[:2] == [
        f"{path} names version '2025-01-000000000000', but it is stored as '{version.version}'",
        f"{path} records {data['rows'] + 1} rows, but data.parquet holds {data['rows']}",
    ]
    assert len(problems) == 3 and problems[2].startswith(f"{path} has sha256 ")  # versions.jsonl's record of it
    assert "versions.jsonl records" in problems[2]
    path.write_text("{")
    (version.path / "data.parquet").chmod(0o644)
    (version.path / "data.parquet").unlink()
    report = MartStore(demo_workspace.feature_marts).verify("churn")
    assert {p.path for p in report.problems} == {str(path)} and "not a readable mart manifest" in str(
        report.problems[0]
    )


def test_verify_notes_scratch_folders_and_refuses_an_unknown_mart(demo_workspace: Workspace) -> None:
    from millpond.errors import MartVersionNotFoundError
    from millpond.store.staging import scratch_dir

    ingest(demo_workspace, load_use_case(demo_workspace.params / "churn.yaml"), "2025-01")
    store = MartStore(demo_workspace.feature_marts)
    scratch_dir(store.root / "churn" / "versions", "2025-02-abc")
    report = store.verify()
    assert report.ok and report.checked == 1 and len(report.notes) == 1 and "in progress" in report.notes[0]
    with pytest.raises(MartVersionNotFoundError, match="Mart 'chrun' has no stored versions.*Did you mean 'churn'"):
        store.verify("chrun")


def test_versions_are_flushed_to_disk_before_they_are_published(
    demo_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from millpond.store import staging

    flushed: list[str] = []
    real = staging.fsync_file
    monkeypatch.setattr(staging, "fsync_file", lambda path: flushed.append(Path(path).name) or real(path))
    ingest(demo_workspace, load_use_case(demo_workspace.params / "churn.yaml"), "2025-01")
    assert sorted(flushed) == ["data.parquet", "manifest.json"]


def test_get_finds_a_version_by_a_piece_of_its_id_and_refuses_ambiguity(
    demo_workspace: Workspace, make_use_case: MakeUseCase
) -> None:
    uc = make_use_case(demo_workspace)
    first = ingest(demo_workspace, uc, "2025-01").version
    ingest(demo_workspace, uc, "2025-02")
    store = MartStore(demo_workspace.feature_marts)
    digest = first.version.removeprefix("2025-01-")
    assert store.get("churn", digest[:6]).version == first.version  # a piece of the hash
    assert store.get("churn", "2025-01").version == first.version  # the only version of that window
    with pytest.raises(MartVersionNotFoundError, match="'2025-0' is ambiguous: it matches 2025-01-"):
        store.get("churn", "2025-0")
    with pytest.raises(MartVersionNotFoundError, match="has no version 'zzzzzz'"):
        store.get("churn", "zzzzzz")
    with pytest.raises(MartVersionNotFoundError, match="has no version"):
        store.get("churn", digest[:3])  # too short a piece
