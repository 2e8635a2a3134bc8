"""``marts verify`` and ``captures verify``: clean stores exit 0, a changed byte exits 3 naming the file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from millpond.cli import main
from millpond.config.params import load_use_case
from millpond.models.store import ModelStore
from millpond.scoring.batch import Scorer, score_file
from millpond.scoring.capture import CaptureStore
from millpond.workspace import Workspace


def _flip_a_byte(path: Path) -> None:
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_marts_verify_passes_then_names_a_changed_data_file(
    scoring_workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = str(scoring_workspace.root)
    assert main(["--workspace", ws, "marts", "verify"]) == 0
    assert "3 checked, all verified" in capsys.readouterr().out
    data = sorted((scoring_workspace.feature_marts / "churn" / "versions").glob("2025-02-*/data.parquet"))[0]
    _flip_a_byte(data)
    assert main(["--workspace", ws, "marts", "verify", "churn"]) == 3
    assert str(data) in capsys.readouterr().out


def test_captures_verify_passes_then_names_a_changed_part(
    scoring_workspace: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = scoring_workspace
    uc = load_use_case(ws.params / "churn.yaml")
    mart = sorted((ws.feature_marts / "churn" / "versions").glob("2025-03-*/data.parquet"))[0]
    scorer = Scorer.load(ModelStore(ws.model_store), "churn", "champion", use_case=uc)
    captures = CaptureStore(ws.model_store, "churn")
    score_file(mart, scorer, captures=captures, window="2025-03", output=tmp_path / "out.parquet", run_id="t/1")
    assert main(["--workspace", str(ws.root), "captures", "verify", "churn"]) == 0
    capsys.readouterr()
    part = sorted((ws.model_store / "churn" / "captures").rglob("part-*.parquet"))[0]
    _flip_a_byte(part)
    assert main(["--workspace", str(ws.root), "captures", "verify"]) == 3
    assert str(part) in capsys.readouterr().out


def test_millpond_verify_checks_every_store_and_names_each_changed_file(
    scoring_workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = scoring_workspace
    assert main(["--workspace", str(ws.root), "verify"]) == 0
    out = capsys.readouterr().out
    assert "feature marts" in out or "marts" in out
    assert "churn audit log (hash chain)" in out and "churn monitoring log" in out
    data = sorted((ws.feature_marts / "churn" / "versions").glob("2025-01-*/data.parquet"))[0]
    model = sorted((ws.model_store / "churn" / "versions").glob("*/model.skops"))[0]
    _flip_a_byte(data)
    _flip_a_byte(model)
    monitoring = ws.model_store / "churn" / "monitoring.jsonl"
    lines = monitoring.read_bytes().splitlines(keepends=True)
    monitoring.write_bytes(lines[0] + b"{not json\n" + b"".join(lines[1:]))
    assert main(["--workspace", str(ws.root), "verify"]) == 3
    err = capsys.readouterr().out
    assert str(data) in err and "model.skops" in err and f"{monitoring} line 2 is not valid JSON" in err


def test_a_hand_edited_aliases_json_exits_3_naming_it_and_a_real_rollback_is_clean(
    scoring_workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    ws, store = scoring_workspace, ModelStore(scoring_workspace.model_store)
    first = store.aliases("churn")["champion"]
    store.promote("churn", "challenger", actor="test", reason="the challenger won")
    second = store.aliases("churn")["champion"]
    for command in (("models", "verify", "churn"), ("verify",)):
        assert main(["--workspace", str(ws.root), *command]) == 0, capsys.readouterr()
    capsys.readouterr()
    aliases = ws.model_store / "churn" / "aliases.json"
    aliases.write_text(json.dumps({"champion": first, "previous": first}))  # scoring would serve the old one
    for command in (("models", "verify", "churn"), ("models", "verify", "churn@champion"), ("verify",)):
        assert main(["--workspace", str(ws.root), *command]) == 3
        err = capsys.readouterr().out
        assert f"MISMATCH {aliases} champion points to {first} but the last recorded move (promote by test" in err
        assert f") set {second}: it was changed outside millpond" in err
    aliases.write_text(json.dumps({"champion": second, "previous": first}))
    assert main(["--workspace", str(ws.root), "models", "rollback", "churn", "--reason", "bad KPIs"]) == 0
    assert store.aliases("churn")["champion"] == first
    for command in (("models", "verify", "churn"), ("verify",)):
        assert main(["--workspace", str(ws.root), *command]) == 0


def test_an_edited_metric_in_metadata_json_exits_3(
    scoring_workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = scoring_workspace
    champion = ModelStore(ws.model_store).get("churn", "champion")
    meta = champion.path / "metadata.json"
    roc_auc = champion.metadata.metrics["roc_auc"]
    os.chmod(meta, 0o644)
    meta.write_text(meta.read_text().replace(f'"roc_auc": {json.dumps(roc_auc)}', f'"roc_auc": {roc_auc + 1}'))
    assert main(["--workspace", str(ws.root), "models", "show", "churn@champion", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["metadata"]["metrics"]["roc_auc"] == roc_auc + 1  # shown as edited ...
    for command in (("models", "verify", "churn"), ("models", "verify", "churn@champion"), ("verify",)):
        assert main(["--workspace", str(ws.root), *command]) == 3  # ... and caught
        assert f"MISMATCH {meta} was altered on disk: sha256 " in capsys.readouterr().out


def test_aliases_and_history_rewound_together_are_caught_by_the_audit_log(
    scoring_workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    from millpond.governance.deployment import promote_and_smoke_test

    ws, store = scoring_workspace, ModelStore(scoring_workspace.model_store)
    uc = load_use_case(ws.params / "churn.yaml")
    first, challenger = store.aliases("churn")["champion"], store.aliases("churn")["challenger"]
    history = ws.model_store / "churn" / "history.jsonl"
    before, head = history.read_bytes(), history.with_suffix(".head").read_bytes()
    assert promote_and_smoke_test(ws, uc, challenger, actor="test", reason="won")["outcome"] == "promoted"
    assert main(["--workspace", str(ws.root), "verify"]) == 0
    assert "churn champion against its audit log: 1 checked, all verified" in capsys.readouterr().out
    history.write_bytes(before)  # the promotion's lines cut off, and aliases.json put back to match
    history.with_suffix(".head").write_bytes(head)  # the history's own chain head rewound too
    (ws.model_store / "churn" / "aliases.json").write_text(json.dumps({"champion": first, "challenger": challenger}))
    assert main(["--workspace", str(ws.root), "models", "verify", "churn"]) == 0  # history and aliases agree ...
    capsys.readouterr()
    assert main(["--workspace", str(ws.root), "verify"]) == 3  # ... but the hash-chained audit log does not
    err = capsys.readouterr().out
    assert f"MISMATCH {history} does not hold the champion move the audit log recorded: the audit log's last " in err
    assert f"set champion {challenger}, but its last champion move set {first}; history.jsonl was changed" in err


def test_a_champion_moved_outside_the_governed_commands_is_a_note(
    scoring_workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    ws, store = scoring_workspace, ModelStore(scoring_workspace.model_store)
    store.promote("churn", "challenger", actor="a notebook", reason="by hand")  # recorded, but not audited
    assert main(["--workspace", str(ws.root), "verify"]) == 0
    out = capsys.readouterr().out
    assert "note: churn: the audit log's last promotion (line " in out
    assert "(promote by a notebook at " in out and "without an audit entry: moved outside millpond's commands" in out
