"""The canonical skops dump: one schema parse serves renumbering and the type check, bytes unchanged."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from millpond.models import store as ms


@pytest.fixture(scope="module")
def model() -> Pipeline:
    rng = np.random.default_rng(3)
    x = pd.DataFrame({"tenure": rng.normal(size=120), "plan": rng.choice(["a", "b", "c"], 120)})
    y = (x["tenure"] > 0).astype(int)
    pre = ColumnTransformer(
        [("num", StandardScaler(), ["tenure"]), ("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"])]
    )
    return Pipeline([("pre", pre), ("model", HistGradientBoostingClassifier(max_iter=5))]).fit(x, y)


def _schema(data: bytes) -> tuple[bytes, dict]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        text = archive.read("schema.json")
    return text, json.loads(text)


def test_schema_text_is_what_json_dumps_writes(model: Pipeline) -> None:
    text, schema = _schema(ms._canonical_dump(model))
    assert text == json.dumps(schema, indent=2).encode()
    ids = [n["__id__"] for n in ms._nodes(schema) if "__loader__" in n and "__id__" in n]
    assert sorted(set(ids)) == list(range(1, len(set(ids)) + 1))  # renumbered from 1, no object addresses left
    assert ms._canonical_dump(model) == ms._canonical_dump(model)


def test_types_read_once_match_a_fresh_read(model: Pipeline) -> None:
    dump = ms._canonical(model)
    _, schema = _schema(dump.data)
    fresh = {f"{n['__module__']}.{n['__class__']}" for n in ms._nodes(schema) if "__module__" in n and "__class__" in n}
    assert dump.types == fresh
    assert "sklearn.pipeline.Pipeline" in dump.types
    assert ms._types_outside_allow_list(dump.data, dump.types) == ms._types_outside_allow_list(dump.data) == []


def test_renumbering_falls_back_to_reencoding_when_text_and_schema_disagree() -> None:
    text = json.dumps({"a": {"__loader__": "X", "__id__": 7}, "b": {"__id__": 7}}, indent=2)
    renumbered = {"a": {"__loader__": "X", "__id__": 1}, "b": {"__id__": 7}}  # "b" has no loader: kept
    assert ms._renumbered_text(text, renumbered, {7: 1}, {}) == json.dumps(renumbered, indent=2).encode()
    fast = ms._renumbered_text(text, {"a": {"__loader__": "X", "__id__": 1}, "b": {"__id__": 1}}, {7: 1}, {})
    assert json.loads(fast) == {"a": {"__loader__": "X", "__id__": 1}, "b": {"__id__": 1}}
