"""MartManifest: exactly today's manifest keys, and from_json/to_json give back the stored bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from millpond.config.params import load_use_case
from millpond.errors import MartError, MartIntegrityError
from millpond.marts.entities import SPEC_KEYS, MartManifest
from millpond.marts.store import MartStore, ingest
from millpond.workspace import Workspace

# A manifest as millpond has always written it for a use case without a ``mart:`` section (the demo's).
PLAIN = """{
  "columns": {
    "churned": "int64",
    "customer_id": "str",
    "monthly_charges": "float64"
  },
  "created_at": "2026-12-01T23:03:56.334106+00:00",
  "declared_columns": {
    "churned": "int",
    "customer_id": "str",
    "monthly_charges": "float"
  },
  "mart": "churn",
  "rows": 20000,
  "run_id": "20261201T230351Z-churn-2025-01-e0b3/01-ingest",
  "sha256": "977751ba75a824f99d552ba8a33a557f55c996013088a07a86e147e5e4f9a9d1",
  "source": {
    "format": "csv",
    "kind": "file",
    "path": "feature_marts/raw/churn/churn_2025-01.csv",
    "sha256": "6f048038231ad3b17383084ac28e7ccb90d8b383bcfc80c3cf4a4e74dc7f1162"
  },
  "version": "2025-01-4c4b8a3203bf",
  "window": "2025-01"
}
"""


def test_a_plain_manifest_round_trips_byte_for_byte() -> None:
    manifest = MartManifest.from_json(PLAIN)
    assert manifest.to_json() == PLAIN
    assert manifest.omitted == SPEC_KEYS and manifest.extra == {}
    assert (manifest.version, manifest.window, manifest.rows, manifest.run_id) == (
        "2025-01-4c4b8a3203bf",
        "2025-01",
        20000,
        "20261201T230351Z-churn-2025-01-e0b3/01-ingest",
    )
    assert manifest.source is not None and manifest.source["path"].endswith("churn_2025-01.csv")
    assert manifest.transform is None and manifest.load is None  # not written for a plain use case


def test_the_entity_holds_exactly_the_keys_the_store_writes() -> None:
    assert set(MartManifest.keys_known()) == {
        *json.loads(PLAIN),
        *SPEC_KEYS,
    }


def test_null_values_stay_apart_from_missing_keys() -> None:
    data = {**json.loads(PLAIN), "transform": None, "contract": None, "load": "full", "sources": {}, "warnings": []}
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    manifest = MartManifest.from_json(text)
    assert manifest.omitted == frozenset() and manifest.to_json() == text
    assert manifest.transform is None and "transform" in manifest.to_dict() and manifest.load == "full"


def test_unknown_and_missing_keys_survive_a_round_trip() -> None:
    data = {"mart": "m", "version": "2025-01-abc", "window": "2025-01", "created_at": "t", "later_key": [1, 2]}
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    manifest = MartManifest.from_json(text.encode())
    assert manifest.to_json() == text and manifest.extra == {"later_key": [1, 2]}
    assert manifest.columns is None and "columns" in manifest.omitted
    assert "columns" not in manifest.to_dict() and manifest.to_dict()["later_key"] == [1, 2]
    assert not hasattr(manifest, "get") and not hasattr(manifest, "__getitem__")  # attributes only, no dict bridge


@pytest.mark.parametrize(
    "text, message",
    [
        ("[1]", "is a JSON object"),
        ('{"mart": "m", "version": "v", "window": "w"}', "needs text values for created_at"),
        ('{"mart": "m", "version": "v", "window": "w", "created_at": "t", "rows": "9"}', "'rows' is a whole number"),
    ],
)
def test_what_is_not_a_manifest_is_refused(text: str, message: str) -> None:
    with pytest.raises(MartError, match=message):
        MartManifest.from_json(text)


def test_stored_manifests_round_trip_and_are_the_typed_entity(demo_workspace: Workspace) -> None:
    ws = demo_workspace
    ingest(ws, load_use_case(ws.params / "churn.yaml"), "2025-01", run_id="r1")
    from tests.unit.marts.test_transforms import _setup

    _setup(ws)
    ingest(ws, load_use_case(ws.params / "joined.yaml"), "2025-02", run_id="r2")
    for version in MartStore(ws.feature_marts).versions("churn"):
        stored = (version.path / "manifest.json").read_bytes()
        assert isinstance(version.manifest, MartManifest)
        assert MartManifest.from_json(stored).to_json().encode() == stored
        assert version.manifest.to_json().encode() == stored
        assert version.sha256 == version.manifest.sha256 and version.rows == version.manifest.rows > 0


def test_an_unreadable_manifest_is_an_integrity_error_naming_the_file(demo_workspace: Workspace) -> None:
    ws = demo_workspace
    version = ingest(ws, load_use_case(ws.params / "churn.yaml"), "2025-01").version
    path: Path = version.path / "manifest.json"
    path.chmod(0o644)
    path.write_text("{not json")
    with pytest.raises(MartIntegrityError, match=r"manifest\.json is not a readable mart manifest"):
        MartStore(ws.feature_marts).versions("churn")
