"""ModelMetadata: typed attributes over metadata.json, byte for byte what the store has always written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from millpond.models.entities import ModelMetadata
from millpond.store.files import atomic_write_json

# written by the train stage and ModelStore.save before ModelMetadata existed (a demo cycle, window 2025-01)
BEFORE = Path(__file__).parent / "data" / "metadata_before_entities.json"


def test_a_metadata_file_written_before_the_entity_round_trips_byte_for_byte(tmp_path: Path) -> None:
    text = BEFORE.read_text(encoding="utf-8")
    meta = ModelMetadata.from_json(text)
    assert meta.to_json() == text
    assert meta.extra == {} and meta.present == frozenset(ModelMetadata.known_keys())
    raw = json.loads(text)
    assert meta.to_dict() == raw
    assert (meta.name, meta.version, meta.sha256) == ("churn", "c7a08f4e1a24", raw["sha256"])
    assert meta.trained_for_window == "2025-01" and meta.train_rows == raw["train_rows"]
    assert meta.metrics["roc_auc"] == raw["metrics"]["roc_auc"] and meta.search is None
    assert [m["window"] for m in meta.training_marts] == ["2025-01"]
    assert meta.params["use_case"] == "churn" and meta.run_id == raw["run_id"]
    atomic_write_json(tmp_path / "metadata.json", meta.to_dict())  # how the store wrote it
    assert (tmp_path / "metadata.json").read_text(encoding="utf-8") == text


def test_absent_keys_read_as_defaults_and_are_not_written_back() -> None:
    text = (
        json.dumps({"sha256": "ab" * 32, "created_at": "2025-01-01T00:00:00+00:00", "k": 0.1}, indent=2, sort_keys=True)
        + "\n"
    )
    meta = ModelMetadata.from_json(text)
    assert meta.metrics == {} and meta.training_marts == [] and meta.trained_for_window is None
    assert meta.extra == {"k": 0.1} and meta.to_json() == text
    assert "metrics" not in meta.to_dict() and meta.to_dict()["k"] == 0.1
    assert not hasattr(meta, "get") and not hasattr(meta, "__getitem__")  # attributes only, no dict bridge


def test_a_null_is_not_an_absent_key() -> None:
    meta = ModelMetadata.from_dict({"sha256": "s", "created_at": "t", "search": None})
    assert "search" in meta.to_dict() and meta.search is None
    assert json.loads(meta.to_json()) == {"sha256": "s", "created_at": "t", "search": None}


def test_metadata_without_its_hash_or_time_is_refused() -> None:
    with pytest.raises(ValueError, match="has no 'sha256' or 'created_at'"):
        ModelMetadata.from_json("{}")
    with pytest.raises(ValueError, match="must be a JSON object"):
        ModelMetadata.from_json("[1]")


def test_an_entity_built_in_code_writes_every_key() -> None:
    meta = ModelMetadata(sha256="s", created_at="t", name="churn", version="v")
    assert set(meta.to_dict()) == set(ModelMetadata.known_keys())
