from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from millpond.errors import (
    ModelIntegrityError,
    ModelStoreError,
    ModelStoreLockedError,
    ModelVersionNotFoundError,
    exit_code_of,
)
from millpond.models import store as model_store_module
from millpond.models.entities import ModelMetadata
from millpond.models.store import TRUSTED_TYPES, ModelStore, ModelVersion
from millpond.store.files import sha256_file
from millpond.store.lock import HolderLock
from tests.conftest import tree_snapshot

NUMERIC, CATEGORICAL = ["tenure", "spend"], ["plan", "region"]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 160
    df = pd.DataFrame(
        {
            "tenure": rng.integers(1, 60, n).astype(float),
            "spend": rng.gamma(2.0, 30.0, n),
            "plan": rng.choice(["basic", "plus", "pro"], n),
            "region": rng.choice(["north", "south"], n),
        }
    )
    df.loc[::9, "spend"] = np.nan
    df["churned"] = ((df["tenure"] < 20) ^ (rng.random(n) < 0.15)).astype(int)
    df["revenue"] = df["tenure"] * 3.0 + rng.normal(0, 5, n)
    return df


def _pipeline(estimator: object, *, scale: bool = True) -> Pipeline:
    numeric = Pipeline(
        [("impute", SimpleImputer(strategy="median"))] + ([("scale", StandardScaler())] if scale else [])
    )
    categorical = Pipeline(
        [
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("onehot", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
        ]
    )
    pre = ColumnTransformer(
        [("numeric", numeric, NUMERIC), ("categorical", categorical, CATEGORICAL)], verbose_feature_names_out=False
    )
    return Pipeline([("preprocess", pre), ("model", estimator)])


def _fit(frame: pd.DataFrame, estimator: object, target: str = "churned", **kwargs: bool) -> Pipeline:
    return _pipeline(estimator, **kwargs).fit(frame[NUMERIC + CATEGORICAL], frame[target])


_FITTED: dict[float, Pipeline] = {}


def _logreg(frame: pd.DataFrame, c: float = 1.0) -> Pipeline:
    """A small fitted pipeline, fitted once per ``c`` for the whole module (saving never mutates it)."""
    if c not in _FITTED:
        _FITTED[c] = _fit(frame, LogisticRegression(C=c, max_iter=500))
    return _FITTED[c]


class Doubler(BaseEstimator, TransformerMixin):
    """A custom transformer: code the trusted list has never reviewed."""

    def fit(self, X: object, y: object = None) -> Doubler:
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X) * 2


@pytest.mark.parametrize(
    ("estimator", "target", "scale"),
    [
        (HistGradientBoostingClassifier(max_iter=5, random_state=0), "churned", True),
        (LogisticRegression(max_iter=500), "churned", True),
        (RandomForestRegressor(n_estimators=5, random_state=0), "revenue", False),
        (HistGradientBoostingRegressor(max_iter=5, random_state=0), "revenue", False),
    ],
    ids=["hgb-classifier", "logistic", "rf-regressor", "hgb-regressor"],
)
def test_round_trip_gives_identical_predictions(
    tmp_path: Path, frame: pd.DataFrame, estimator: object, target: str, scale: bool
) -> None:
    store = ModelStore(tmp_path)
    model = _fit(frame, estimator, target, scale=scale)
    saved = store.save("churn", model, {"trained_for_window": "2025-01", "metrics": {"roc_auc": 0.81}})
    loaded, version = store.load("churn", saved.version)
    X = frame[NUMERIC + CATEGORICAL]
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    if hasattr(model, "predict_proba"):
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert version == saved
    assert saved.model_file == tmp_path / "churn" / "versions" / saved.version / "model.skops"
    assert saved.sha256 == sha256_file(saved.model_file) and saved.version == saved.sha256[:12]
    meta = json.loads((saved.path / "metadata.json").read_text())
    assert meta["trained_for_window"] == "2025-01" and meta["metrics"] == {"roc_auc": 0.81}
    assert (meta["name"], meta["version"], meta["sha256"]) == ("churn", saved.version, saved.sha256)
    assert meta["size_bytes"] == saved.model_file.stat().st_size and meta["sklearn_version"] == sklearn.__version__
    assert meta["created_at"].endswith("+00:00") and "skops_version" in meta
    for path in (saved.model_file, saved.path / "metadata.json"):
        assert path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH) == 0


def test_same_model_bytes_give_the_same_version_and_never_overwrite(tmp_path: Path, frame: pd.DataFrame) -> None:
    store = ModelStore(tmp_path)
    first = store.save("churn", _fit(frame, LogisticRegression(max_iter=500)), {"run_id": "first"})
    refit = store.save(
        "churn", _fit(frame, LogisticRegression(max_iter=500)), {"run_id": "second"}
    )  # a fresh fit of the same model: same bytes
    assert refit == first and refit.metadata.run_id == "first"
    other = store.save("churn", _logreg(frame, c=0.1), {"run_id": "third"})
    assert other.version != first.version
    assert [v.version for v in store.versions("churn")] == [first.version, other.version]
    assert store.names() == ["churn"]


def test_a_tampered_model_file_is_refused_before_loading(tmp_path: Path, frame: pd.DataFrame) -> None:
    store = ModelStore(tmp_path)
    saved = store.save("churn", _logreg(frame), {})
    store.promote("churn", saved.version, actor="ana", reason="first model")
    path = saved.model_file
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    before = tree_snapshot(tmp_path)
    actual = sha256_file(path)
    expected = rf"model.skops was altered on disk: sha256 {actual}, store recorded {saved.sha256}.*`millpond models rollback churn`"
    with pytest.raises(ModelIntegrityError, match=expected):
        store.load("churn", "champion")
    assert tree_snapshot(tmp_path) == before
    assert store.aliases("churn") == {"champion": saved.version}
    assert store.get("churn", "champion") == saved


def test_a_model_with_untrusted_types_is_refused_at_save(tmp_path: Path, frame: pd.DataFrame) -> None:
    store = ModelStore(tmp_path)
    X, y = frame[NUMERIC].fillna(0), frame["churned"]
    custom = Pipeline([("double", Doubler()), ("model", LogisticRegression())]).fit(X, y)
    with pytest.raises(
        ModelIntegrityError, match=r"outside the trusted list: tests\.unit\.models\.test_store\.Doubler\."
    ):
        store.save("churn", custom, {})
    with_lambda = Pipeline([("f", FunctionTransformer(func=lambda a: a + 1)), ("model", LogisticRegression())]).fit(
        X, y
    )
    with pytest.raises(
        ModelIntegrityError,
        match=r"list: sklearn\.preprocessing\._function_transformer\.FunctionTransformer, tests\.unit\.models\.test_store\.<lambda>\.",
    ):
        store.save("churn", with_lambda, {})
    assert store.names() == [] and not list(tmp_path.rglob("*.skops"))
    assert "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor" in TRUSTED_TYPES


def test_promote_rollback_and_history(tmp_path: Path, frame: pd.DataFrame) -> None:
    store = ModelStore(tmp_path)
    a, b, c = (store.save("churn", _logreg(frame, c=k), {"k": k}).version for k in (0.1, 1.0, 10.0))
    assert store.aliases("churn") == {}
    store.promote("churn", a, actor="ana", reason="first")
    store.promote("churn", b[:6], actor="ana", reason="better auc")
    store.set_alias("churn", "challenger", c, actor="bo", reason="shadow")
    assert store.aliases("churn") == {"champion": b, "previous": a, "challenger": c}
    store.promote("churn", "challenger", actor="bo", reason="shadow won")
    assert store.aliases("churn") == {"champion": c, "previous": b}
    assert store.get("churn", "latest").version == c
    assert store.rollback("churn", actor="ops", reason="smoke test failed") == b
    assert store.aliases("churn") == {"champion": b, "previous": a}
    assert store.load("churn", "champion")[1].version == b
    assert store.rollback("churn", actor="ops", reason="again") == a
    assert store.aliases("churn") == {"champion": a}
    with pytest.raises(ModelStoreError, match="no previous version to roll back to"):
        store.rollback("churn", actor="ops", reason="once more")
    store.set_alias("churn", "challenger", b, actor="bo", reason="retry")
    store.remove_alias("churn", "challenger", actor="bo", reason="done")
    history = store.history("churn")
    assert [(h.action, h.alias, h.source, h.target) for h in history] == [
        ("promote", "champion", None, a),
        ("promote", "champion", a, b),
        ("promote", "previous", None, a),
        ("set", "challenger", None, c),
        ("promote", "champion", b, c),
        ("promote", "challenger", c, None),
        ("promote", "previous", a, b),
        ("rollback", "champion", c, b),
        ("rollback", "previous", b, a),
        ("rollback", "champion", b, a),
        ("rollback", "previous", a, None),
        ("set", "challenger", None, b),
        ("remove", "challenger", b, None),
    ]
    assert history[7].actor == "ops" and history[7].reason == "smoke test failed"
    assert all(h.time.endswith("+00:00") for h in history)


def test_rollback_never_points_previous_at_the_version_rolled_back_from(tmp_path: Path, frame: pd.DataFrame) -> None:
    store = ModelStore(tmp_path)
    a, b = (store.save("churn", _logreg(frame, c=k), {}).version for k in (0.1, 1.0))
    store.promote("churn", a, actor="x", reason="")
    store.promote("churn", b, actor="x", reason="")
    store.rollback("churn", actor="x", reason="")  # a champion, replacing b
    store.promote("churn", b, actor="x", reason="fixed data")
    assert store.rollback("churn", actor="x", reason="bad again") == a
    assert store.aliases("churn") == {"champion": a}


def test_aliases_and_versions_are_validated(tmp_path: Path, frame: pd.DataFrame) -> None:
    store = ModelStore(tmp_path)
    v = store.save("churn", _logreg(frame), {}).version
    with pytest.raises(ModelStoreError, match="Unknown alias 'champoin'.*Did you mean 'champion'"):
        store.set_alias("churn", "champoin", v, actor="x", reason="")
    with pytest.raises(ModelVersionNotFoundError, match="no version or alias 'deadbeef0000'"):
        store.set_alias("churn", "challenger", "deadbeef0000", actor="x", reason="")
    with pytest.raises(ModelVersionNotFoundError, match="no 'challenger' alias to remove"):
        store.remove_alias("churn", "challenger", actor="x", reason="")
    assert store.aliases("churn") == {} and store.history("churn") == []


def test_unknown_names_versions_and_aliases_suggest_the_closest(tmp_path: Path, frame: pd.DataFrame) -> None:
    store = ModelStore(tmp_path)
    v = store.save("churn", _logreg(frame), {}).version
    with pytest.raises(ModelVersionNotFoundError, match="No model named 'chrun'.*Did you mean 'churn'.*Models: churn"):
        store.get("chrun", "champion")
    with pytest.raises(ModelVersionNotFoundError, match="No model named 'chrun'"):
        store.versions("chrun")
    typo = v[:-1] + ("0" if v[-1] != "0" else "1")
    with pytest.raises(ModelVersionNotFoundError, match=rf"no version or alias '{typo}'.*Did you mean '{v}'"):
        store.load("churn", typo)
    with pytest.raises(ModelVersionNotFoundError, match="Did you mean 'latest'"):
        store.get("churn", "latst")
    with pytest.raises(ModelVersionNotFoundError, match="has no 'champion' alias"):
        store.get("churn", "champion")
    with pytest.raises(ModelVersionNotFoundError, match=f"no version or alias '{v[:3]}'"):
        store.get("churn", v[:3])  # prefixes need at least 4 characters
    assert store.get("churn", v[:4]).version == v
    for bad in ("../evil", "a/b", "", ".hidden"):
        with pytest.raises(ModelStoreError, match="letters, digits, '-' and '_' only"):
            store.save(bad, object(), {})


_CHANGED = (
    "it was changed outside millpond; restore it, or move the alias with millpond, which records the move "
    "(a promote or rollback that was interrupted: run it again)."
)


def test_a_crash_during_promote_keeps_the_old_champion(
    tmp_path: Path, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ModelStore(tmp_path)
    old, new = (store.save("churn", _logreg(frame, c=k), {}).version for k in (0.1, 1.0))
    store.promote("churn", old, actor="x", reason="first")
    written: dict[str, str] = {}
    real_replace = os.replace

    def crash(src: str, dst: str) -> None:
        if Path(dst).name == "aliases.json":
            written["aliases"] = Path(src).read_text()
            raise OSError("power cut")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        store.promote("churn", new, actor="x", reason="second")
    monkeypatch.undo()
    assert json.loads(written["aliases"]) == {"champion": new, "previous": old}  # the new aliases were fully written
    assert store.aliases("churn") == {"champion": old}
    assert store.load("churn", "champion")[1].version == old
    pending = store.pending("churn")  # the write-ahead record of the interrupted move
    assert pending is not None and pending.before == {"champion": old} and pending.after["champion"] == new
    assert [(h.alias, h.target) for h in store.history("churn")] == [("champion", old)]  # nothing logged yet
    report = store.verify("churn")
    assert report.ok and any("was interrupted" in note for note in report.notes)
    store.promote("churn", new, actor="x", reason="second, again")  # the record is dropped, the move made once
    assert store.aliases("churn") == {"champion": new, "previous": old} and store.verify("churn").ok
    assert store.pending("churn") is None
    assert [(h.alias, h.target) for h in store.history("churn")] == [
        ("champion", old),
        ("champion", new),
        ("previous", old),
    ]
    assert sorted(p.name for p in (tmp_path / "churn").iterdir()) == [
        ".lock",
        "aliases.json",
        "history.head",  # the hash chain's head
        "history.jsonl",
        "history.jsonl.lock",  # the append lock every JsonLinesLog keeps beside its file
        "versions",
    ]


def test_a_crash_during_save_leaves_no_version(
    tmp_path: Path, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ModelStore(tmp_path)
    kept = store.save("churn", _logreg(frame, c=0.1), {})

    def crash(staging: Path, final: Path) -> bool:
        assert (staging / "model.skops").exists() and (staging / "metadata.json").exists()
        raise OSError("disk full")

    monkeypatch.setattr(model_store_module, "publish_dir", crash)
    with pytest.raises(OSError, match="disk full"):
        store.save("churn", _logreg(frame, c=1.0), {})
    monkeypatch.undo()
    assert [v.version for v in store.versions("churn")] == [kept.version]
    assert os.listdir(tmp_path / "churn" / "versions") == [kept.version]
    # a hard kill cannot clean up: its staging folder is invisible, then removed by the next save
    stale = tmp_path / "churn" / "versions" / f".staging-{'f' * 12}-abcd1234"  # as earlier millpond named them
    killed = tmp_path / "churn" / "versions" / f".staging-{'e' * 12}-p999999999-x1y2"
    for folder in (stale, killed):
        folder.mkdir()
        (folder / "model.skops").write_bytes(b"half a zip")
    assert [v.version for v in store.versions("churn")] == [kept.version]
    second = store.save("churn", _logreg(frame, c=1.0), {})
    assert sorted(os.listdir(tmp_path / "churn" / "versions")) == sorted([kept.version, second.version])


_SAVE_LOOP = """
import sys
from pathlib import Path
import numpy as np
from sklearn.linear_model import LogisticRegression
from millpond.models.store import ModelStore

store = ModelStore(Path(sys.argv[1]))
rng = np.random.default_rng(0)
X = rng.normal(size=(80, 4))
y = (X[:, 0] + rng.normal(0, 0.5, 80) > 0).astype(int)
for i in range(100000):
    version = store.save("loop", LogisticRegression(C=1.0 + i).fit(X, y), {"i": i})
    print(version.version, flush=True)
"""


def test_a_killed_save_loop_leaves_every_visible_version_loadable(tmp_path: Path) -> None:
    script = tmp_path / "save_loop.py"
    script.write_text(_SAVE_LOOP)
    root = tmp_path / "model_store"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(script), str(root)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        reported = [proc.stdout.readline().strip() for _ in range(3)]
        folder, deadline, inside_save = root / "loop" / "versions", time.monotonic() + 5, False
        while not inside_save and time.monotonic() < deadline:  # wait for the child to be inside a save
            inside_save = any(n.startswith(".staging-") for n in os.listdir(folder))
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL and inside_save
    assert all(len(v) == 12 for v in reported), reported
    store = ModelStore(root)
    versions = store.versions("loop")
    assert [v.version for v in versions][: len(reported)] == reported
    assert all(not v.version.startswith(".") for v in versions)
    X = np.zeros((2, 4))
    for i, v in enumerate(versions):
        model, loaded = store.load("loop", v.version)
        assert loaded.metadata.extra["i"] == i and model.predict(X).shape == (2,)


def test_a_held_lock_times_out_naming_the_holder(tmp_path: Path, frame: pd.DataFrame) -> None:
    holder, store = ModelStore(tmp_path), ModelStore(tmp_path, lock_timeout=0.2)
    v = store.save("churn", _logreg(frame), {}).version
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with holder._locked("churn"):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(10)
        with pytest.raises(
            ModelStoreLockedError, match=rf"Model 'churn' is locked by PID {os.getpid()} on host .+ since .*wait for"
        ) as refused:
            store.promote("churn", v, actor="x", reason="")
        assert exit_code_of(refused.value) == 5 and isinstance(refused.value, ModelStoreError)
    finally:
        release.set()
        thread.join()
    store.promote("churn", v, actor="x", reason="")
    assert store.aliases("churn") == {"champion": v}
    assert (tmp_path / "churn" / ".lock").read_bytes() == b""  # a clean release leaves no holder behind


def test_a_holder_note_written_by_earlier_millpond_is_shown_as_written(tmp_path: Path, frame: pd.DataFrame) -> None:
    store = ModelStore(tmp_path, lock_timeout=0.1)
    v = store.save("churn", _logreg(frame), {}).version
    lock = HolderLock(tmp_path / "churn" / ".lock", timeout=1, what="Model 'churn'")
    with lock:
        (tmp_path / "churn" / ".lock").write_text("pid 123 on box (millpond cycle) since 2025-01-01T00:00:00+00:00\n")
        with pytest.raises(
            ModelStoreLockedError, match=r"locked by pid 123 on box \(millpond cycle\) since 2025-01-01"
        ):
            store.promote("churn", v, actor="x", reason="")


def test_history_survives_a_torn_last_line(tmp_path: Path, frame: pd.DataFrame) -> None:
    store = ModelStore(tmp_path)
    a, b = (store.save("churn", _logreg(frame, c=k), {}).version for k in (0.1, 1.0))
    store.promote("churn", a, actor="x", reason="")
    with open(tmp_path / "churn" / "history.jsonl", "a") as handle:
        handle.write('{"time": "2025-')  # a crash cut this append short
    store.promote("churn", b, actor="x", reason="")
    assert [(h.alias, h.target) for h in store.history("churn")] == [
        ("champion", a),
        ("champion", b),
        ("previous", a),
    ]
    assert isinstance(store.get("churn", "previous"), ModelVersion)
    lines = (tmp_path / "churn" / "history.jsonl").read_bytes().splitlines(keepends=True)
    assert len(lines) == 2 + 3 and all(json.loads(line) for line in lines)  # the next append cut the torn line off


def test_history_reads_a_fragment_earlier_millpond_kept_as_a_line(tmp_path: Path, frame: pd.DataFrame) -> None:
    store = ModelStore(tmp_path)
    a, b = (store.save("churn", _logreg(frame, c=k), {}).version for k in (0.1, 1.0))
    store.promote("churn", a, actor="x", reason="")
    history = tmp_path / "churn" / "history.jsonl"
    unchained = [{k: v for k, v in json.loads(line).items() if k not in ("seq", "prev")} for line in history.open()]
    history.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in unchained))  # as older millpond wrote
    (tmp_path / "churn" / "history.head").unlink()
    with open(history, "a") as handle:
        handle.write('{"time": "2025-\n')  # the old repair of a torn line: it only added the missing newline
    assert store.verify("churn").ok  # no chain yet: accepted, with a note
    store.promote("churn", b, actor="x", reason="")
    assert [(h.alias, h.target) for h in store.history("churn")] == [
        ("champion", a),
        ("champion", b),
        ("previous", a),
    ]
    report = store.verify("churn")  # the chain starts after the older entries and covers them as a whole
    assert report.ok and any("without hashes" in note for note in report.notes)
    assert store.rollback("churn", actor="x", reason="") == a


def test_versions_carry_typed_metadata(tmp_path: Path, frame: pd.DataFrame) -> None:
    store = ModelStore(tmp_path)
    marts = [{"version": "2025-01-abc", "window": "2025-01", "sha256": "0" * 64}]
    saved = store.save("churn", _logreg(frame), {"trained_for_window": "2025-01", "training_marts": marts, "k": 1})
    meta = store.get("churn", saved.version).metadata
    assert isinstance(meta, ModelMetadata) and meta == saved.metadata
    assert (meta.name, meta.version, meta.sha256, meta.created_at) == (
        "churn",
        saved.version,
        saved.sha256,
        saved.created_at,
    )
    assert meta.trained_for_window == "2025-01" and meta.training_marts == marts and meta.extra == {"k": 1}
    assert meta.size_bytes == saved.model_file.stat().st_size and meta.metrics == {} and meta.run_id is None
    assert (saved.path / "metadata.json").read_text() == meta.to_json()


def test_verify_reports_every_altered_or_missing_model_file_without_raising(
    tmp_path: Path, frame: pd.DataFrame
) -> None:
    store = ModelStore(tmp_path)
    a, b, c = (store.save("churn", _logreg(frame, c=k), {}) for k in (0.1, 1.0, 10.0))
    store.save("credit", _logreg(frame, c=0.5), {})
    report = store.verify("churn")
    assert report.ok and report.checked == 3 and report.lines()[-1] == "churn: 3 checked, all verified"
    os.chmod(b.model_file, 0o644)
    b.model_file.write_bytes(b.model_file.read_bytes()[:-1] + b"!")
    os.chmod(c.model_file, 0o644)
    c.model_file.unlink()
    report = store.verify("churn")
    assert not report.ok and report.checked == 3
    problems = {p.path: p.problem for p in report.problems}
    assert set(problems) == {str(b.model_file), str(c.model_file)}
    assert problems[str(b.model_file)].startswith(f"was altered on disk: sha256 {sha256_file(b.model_file)}")
    assert problems[str(c.model_file)].startswith("is missing; restore it from a backup")
    assert f"MISMATCH {b.model_file} was altered on disk" in "\n".join(report.lines())
    assert store.verify("churn", a.version).ok and not store.verify("churn", "latest").ok
    everything = store.verify()
    assert everything.checked == 4 and len(everything.problems) == 2
    with pytest.raises(ModelIntegrityError, match=rf"Model file {c.model_file} is missing"):
        store.load("churn", c.version)
    assert store.verified("churn", a.version) == a


def test_verify_reports_an_unreadable_metadata_file(tmp_path: Path, frame: pd.DataFrame) -> None:
    store = ModelStore(tmp_path)
    saved = store.save("churn", _logreg(frame), {})
    meta = saved.path / "metadata.json"
    os.chmod(meta, 0o644)
    meta.write_text('{"sha256": ')
    report = store.verify("churn")
    assert [p.path for p in report.problems] == [str(meta)] and report.checked == 1
    with pytest.raises(ModelIntegrityError, match="does not read"):
        store.get("churn", saved.version)


def _hand_write_aliases(store: ModelStore, name: str, aliases: dict[str, str]) -> Path:
    path = store.root / name / "aliases.json"
    path.write_text(json.dumps(aliases, indent=2) + "\n")  # what an editor or a restore script does
    return path


def test_verify_finds_aliases_json_repointed_by_hand(tmp_path: Path, frame: pd.DataFrame) -> None:
    store = ModelStore(tmp_path)
    a, b, c = (store.save("churn", _logreg(frame, c=k), {}).version for k in (0.1, 1.0, 10.0))
    store.promote("churn", a, actor="ana", reason="first")
    store.promote("churn", b, actor="ana", reason="better")
    assert store.verify("churn").ok
    path = _hand_write_aliases(store, "churn", {"champion": a, "previous": b})  # scoring now serves a
    report = store.verify("churn")
    assert [p.path for p in report.problems] == [str(path), str(path)]
    champion, previous = (p.problem for p in report.problems)
    assert champion.startswith(f"champion points to {a} but the last recorded move (promote by ana at ")
    assert champion.endswith(f") set {b}: {_CHANGED}")
    assert previous.startswith(f"previous points to {b} but the last recorded move (promote by ana at ")
    assert f"MISMATCH {path} champion points to {a}" in "\n".join(report.lines())
    assert [p.path for p in store.verify("churn", "champion").problems] == [str(path)]  # that alias only
    assert not store.verify().ok
    _hand_write_aliases(store, "churn", {"champion": b, "previous": a, "challenger": c})
    (problem,) = store.verify("churn").problems
    assert problem.problem == f"challenger points to {c} but history.jsonl records no move of it: {_CHANGED}"
    _hand_write_aliases(store, "churn", {"previous": a})
    assert store.verify("churn").problems[0].problem.startswith("has no champion but the last recorded move (")
    _hand_write_aliases(store, "churn", {"champion": b, "previous": a})
    assert store.verify("churn").ok
    (tmp_path / "churn" / "aliases.json").write_text('{"champion": ')
    (problem,) = store.verify("churn").problems
    assert problem.path == str(path) and problem.problem.startswith("does not read (")


def test_real_moves_verify_clean(tmp_path: Path, frame: pd.DataFrame) -> None:
    store = ModelStore(tmp_path)
    a, b, c = (store.save("churn", _logreg(frame, c=k), {}).version for k in (0.1, 1.0, 10.0))
    assert store.verify("churn").ok  # no aliases, no moves
    store.promote("churn", a, actor="x", reason="")
    store.promote("churn", b, actor="x", reason="")
    store.set_alias("churn", "challenger", c, actor="x", reason="")
    assert store.verify("churn").ok
    store.promote("churn", "challenger", actor="x", reason="")
    assert store.rollback("churn", actor="x", reason="") == b
    assert store.verify("churn").ok
    store.remove_alias("churn", "previous", actor="x", reason="")
    report = store.verify("churn")
    assert report.ok and report.notes == [] and report.checked == 3


def test_verify_finds_an_edited_metadata_json(tmp_path: Path, frame: pd.DataFrame) -> None:
    store = ModelStore(tmp_path)
    saved = store.save("churn", _logreg(frame), {"metrics": {"roc_auc": 0.8626}})
    other = store.save("churn", _logreg(frame, c=0.1), {})
    meta = saved.path / "metadata.json"
    recorded = sha256_file(meta)
    saves = [json.loads(line) for line in (tmp_path / "churn" / "history.jsonl").read_text().splitlines()]
    assert [(e["action"], e["version"], e["metadata_sha256"]) for e in saves] == [
        ("save", saved.version, recorded),
        ("save", other.version, sha256_file(other.path / "metadata.json")),
    ]
    assert store.history("churn") == []  # saves are no alias changes
    os.chmod(meta, 0o644)
    meta.write_text(meta.read_text().replace('"roc_auc": 0.8626', '"roc_auc": 1.8626'))
    assert store.get("churn", saved.version).metadata.metrics == {"roc_auc": 1.8626}  # what `models show` prints
    report = store.verify("churn")
    assert [(p.path, p.problem) for p in report.problems] == [
        (
            str(meta),
            f"was altered on disk: sha256 {sha256_file(meta)}, its save recorded {recorded} in history.jsonl; "
            "restore the version folder from a backup.",
        )
    ]
    assert not store.verify("churn", saved.version).ok and store.verify("churn", other.version).ok


def test_a_version_saved_without_a_metadata_record_is_a_note(tmp_path: Path, frame: pd.DataFrame) -> None:
    store = ModelStore(tmp_path)
    saved = store.save("churn", _logreg(frame), {})
    store.promote("churn", saved.version, actor="x", reason="")
    history = tmp_path / "churn" / "history.jsonl"
    kept = [json.loads(line) for line in history.read_text().splitlines() if '"save"' not in line]
    history.write_text(
        "".join(json.dumps({k: v for k, v in e.items() if k not in ("seq", "prev")}) + "\n" for e in kept)
    )
    (tmp_path / "churn" / "history.head").unlink()
    report = store.verify("churn")  # as earlier millpond left it: no save entry, no hash chain
    assert report.ok and report.notes == [
        f"{history}: 1 entries written by an older millpond without hashes; the chain starts with the next entry",
        f"{saved.path / 'metadata.json'} was saved by an earlier millpond, which recorded no sha256 of it in "
        "history.jsonl: only its model file is checked",
    ]


# --- the hash-chained history.jsonl ------------------------------------------------------------------------------
def _three_moves(tmp_path: Path, frame: pd.DataFrame) -> tuple[ModelStore, Path]:
    store = ModelStore(tmp_path)
    a, b = (store.save("churn", _logreg(frame, c=k), {}).version for k in (0.1, 1.0))
    store.promote("churn", a, actor="x", reason="first")
    store.promote("churn", b, actor="x", reason="second")
    assert store.verify("churn").ok
    return store, tmp_path / "churn" / "history.jsonl"


def _edit_line(lines: list[str]) -> list[str]:
    entry = json.loads(lines[2])
    entry["actor"] = "mallory"
    return [*lines[:2], json.dumps(entry, sort_keys=True) + "\n", *lines[3:]]


TAMPERS = {
    "edited": _edit_line,
    "removed": lambda lines: lines[:1] + lines[2:],
    "reordered": lambda lines: [lines[1], lines[0], *lines[2:]],
    "last-removed": lambda lines: lines[:-1],
}


@pytest.mark.reliability("tamper")
@pytest.mark.parametrize("tamper", list(TAMPERS))
def test_models_verify_finds_an_edited_removed_or_reordered_history_line(
    tmp_path: Path, frame: pd.DataFrame, tamper: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from millpond.cli import main

    store, history = _three_moves(tmp_path / "model_store", frame)
    (tmp_path / "pyproject.toml").write_text("[tool.millpond]\n", encoding="utf-8")
    history.write_text("".join(TAMPERS[tamper](history.read_text().splitlines(keepends=True))))
    report = store.verify("churn")
    assert not report.ok and all(p.path == str(history) for p in report.problems if "history" in p.path)
    assert any(p.path == str(history) for p in report.problems)
    assert main(["--workspace", str(tmp_path), "models", "verify", "churn"]) == 3
    assert "history.jsonl" in capsys.readouterr().out


def test_a_history_move_interrupted_by_a_kill_is_completed_once_by_the_next_write(
    tmp_path: Path, frame: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ModelStore(tmp_path)
    a, b = (store.save("churn", _logreg(frame, c=k), {}).version for k in (0.1, 1.0))
    store.promote("churn", a, actor="x", reason="first")

    def killed(name: str) -> None:
        if name == "alias-switched":
            raise SystemExit("killed")  # stands in for SIGKILL: nothing after this point of the move runs

    monkeypatch.setattr(model_store_module, "checkpoint", killed)
    with pytest.raises(SystemExit):
        store.promote("churn", b, actor="x", reason="second")
    monkeypatch.undo()
    assert store.aliases("churn")["champion"] == b and store.pending("churn") is not None
    report = store.verify("churn")
    assert report.ok and any("was interrupted" in n for n in report.notes)  # a crash is not tampering
    store.set_alias("churn", "challenger", a, actor="x", reason="next write")  # completes the move first
    moves = [(h.alias, h.target, h.action) for h in store.history("churn")]
    assert moves == [
        ("champion", a, "promote"),
        ("champion", b, "promote"),
        ("previous", a, "promote"),
        ("challenger", a, "set"),
    ]
    assert store.pending("churn") is None and store.verify("churn").ok
