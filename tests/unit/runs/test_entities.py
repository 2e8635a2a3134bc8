"""The run manifest entity: byte-compatible with the manifest.json files recorded runs already hold."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from millpond.errors import RunIntegrityError
from millpond.runs import store as run_store
from millpond.runs.entities import RunManifest, RunTimings
from millpond.runs.store import RunStore

GOLDEN = Path(__file__).parent / "data" / "manifests"  # written by the code before RunManifest existed
T0 = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize("name", sorted(p.name for p in GOLDEN.glob("*.json")))
def test_a_recorded_manifest_round_trips_byte_identically(name: str) -> None:
    text = (GOLDEN / name).read_bytes().decode("utf-8")
    manifest = RunManifest.from_json(text)
    assert manifest.to_json() == text
    assert RunManifest.from_dict(json.loads(text)).to_dict() == json.loads(text)
    assert manifest.run_id.startswith(manifest.cycle_id + "/") and manifest.timings.duration_s >= 0


def test_the_golden_files_cover_every_status_and_hidden_secrets() -> None:
    manifests = [RunManifest.from_json((GOLDEN / n).read_text(encoding="utf-8")) for n in sorted(GOLDEN.iterdir())]
    assert {m.status for m in manifests} == {"succeeded", "skipped", "failed"}
    failed = next(m for m in manifests if m.status == "failed")
    assert failed.params["source"] == {"password": "***", "url": "postgresql://ops:***@db/churn"}
    assert next(m for m in manifests if m.stage == "drift" and m.status == "succeeded").reason.startswith(
        "no impactful"
    )


def test_record_writes_the_bytes_the_old_keyword_record_wrote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same run recorded through RunStore.record(run_dir, manifest) gives drift_failed_redacted.json exactly."""
    golden = (GOLDEN / "drift_failed_redacted.json").read_bytes()
    monkeypatch.setattr(run_store, "package_versions", lambda: json.loads(golden)["packages"])
    store = RunStore(tmp_path / "runs")
    run_dir = store.prepare("20250301T060000Z-churn-2025-03-abcd", 3, "drift")
    (run_dir / "notebook.ipynb").write_text("{}")
    (run_dir / "outputs").mkdir()
    (run_dir / "outputs" / "drift_table.csv").write_text("feature,psi\nä,0.1\n", encoding="utf-8")
    manifest = RunManifest(
        use_case="churn",
        window="2025-03",
        stage="drift",
        status="failed",
        timings=RunTimings.between(T0, T0 + timedelta(seconds=1.25)),
        params={
            "use_case": "churn",
            "source": {"url": "postgresql://ops:pw-secret-1@db/churn", "password": "hunter22"},
            "path": Path("feature_marts/raw"),
            "windows": (1, 2),
        },
        error="OperationalError: cannot reach postgresql://ops:pw-secret-1@db/churn",
        scraps={"status": "failed", "summary": {"kpi": 0.1 + 0.2, "when": T0, "names": ("a", "b"), "ümlaut": "·"}},
        inputs={"raw": "sha256:" + "b" * 64},
        extra={"timings": {"wall_seconds": 1.0000000001}, "reason": "", 3: "int key"},
    )
    record = store.record(run_dir, manifest, repo_dir=tmp_path)
    assert (run_dir / "manifest.json").read_bytes() == golden
    assert record.manifest == json.loads(golden)
    assert record.run_manifest == RunManifest.from_json(golden)
    assert record.params["source"]["password"] == "***" and record.reason == ""


def test_timings_are_utc_iso_with_microseconds_and_never_negative() -> None:
    timings = RunTimings.between(datetime(2025, 3, 1, 7, 0), "2025-03-01T07:00:02.5+01:00")  # naive = UTC
    assert timings == RunTimings("2025-03-01T07:00:00.000000+00:00", "2025-03-01T06:00:02.500000+00:00", 0.0)
    assert RunTimings.between(T0, T0 + timedelta(seconds=2.5)).duration_s == 2.5


def test_a_manifest_without_what_every_manifest_holds_is_an_integrity_error() -> None:
    text = (GOLDEN / "promote_skipped.json").read_text(encoding="utf-8")
    data = json.loads(text)
    del data["timings"]
    with pytest.raises(RunIntegrityError, match="runs verify"):
        RunManifest.from_dict(data)
    with pytest.raises(RunIntegrityError, match="not valid JSON"):
        RunManifest.from_json(text[:-5])
