from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from millpond.errors import LogIntegrityError
from millpond.store.log import GENESIS, JsonLinesLog, encode, line_sha256


def test_entries_come_back_in_order_as_key_sorted_lines(tmp_path: Path) -> None:
    log = JsonLinesLog(tmp_path / "events.jsonl")
    log.append({"b": 1, "a": "x"})
    log.append({"c": [1, 2]})
    assert log.entries() == [{"a": "x", "b": 1}, {"c": [1, 2]}]
    assert (tmp_path / "events.jsonl").read_text() == '{"a": "x", "b": 1}\n{"c": [1, 2]}\n'


def test_a_torn_last_line_is_skipped_by_readers_and_cut_by_the_next_append(tmp_path: Path) -> None:
    path = tmp_path / "monitoring.jsonl"
    log = JsonLinesLog(path)
    log.append({"n": 1})
    with open(path, "ab") as handle:
        handle.write(b'{"n": 2, "half')  # a process killed mid-append
    assert log.entries() == [{"n": 1}]
    assert log.verify().ok and "torn" in log.verify().notes[0]
    log.append({"n": 3})
    assert path.read_bytes() == b'{"n": 1}\n{"n": 3}\n'


def test_a_torn_only_line_leaves_an_empty_log(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"n": ')
    log = JsonLinesLog(path, chain=True)
    assert log.entries() == []
    entry = log.append({"n": 1})
    assert entry["seq"] == 1 and entry["prev"] == GENESIS


def test_an_unreadable_line_before_the_end_is_an_integrity_error(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"n": 1}\nnot json\n{"n": 3}\n')
    with pytest.raises(LogIntegrityError, match=r"Line 2 of .*a\.jsonl is not valid JSON"):
        JsonLinesLog(path).entries()
    report = JsonLinesLog(path).verify()
    assert [(p.line, p.problem) for p in report.problems] == [(2, "is not valid JSON (edited or torn)")]


def test_a_chain_links_every_line_to_the_one_before(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = JsonLinesLog(path, chain=True, head=tmp_path / "audit.head")
    for n in range(3):
        log.append({"n": n})
    lines = path.read_bytes().splitlines(keepends=True)
    entries = [json.loads(line) for line in lines]
    assert [e["seq"] for e in entries] == [1, 2, 3]
    assert entries[0]["prev"] == GENESIS and entries[2]["prev"] == line_sha256(lines[1])
    assert json.loads((tmp_path / "audit.head").read_text()) == {"entries": 3, "sha256": line_sha256(lines[2])}
    assert log.verify().ok and log.verify().checked == 3


@pytest.mark.parametrize(
    ("tamper", "line", "problem"),
    [
        (lambda ls: [ls[0], ls[1].replace(b'"n": 1', b'"n": 9'), ls[2]], 3, "does not chain"),
        (lambda ls: [ls[0], ls[2]], 2, "does not chain"),
        (lambda ls: ls[:2], 3, "the log has 2 lines but 3 were written"),
        (lambda ls: [ls[0], ls[1], ls[2].replace(b'"n": 2', b'"n": 7')], 3, "the last line differs"),
    ],
    ids=["edited", "deleted", "truncated", "last-edited"],
)
def test_verify_names_the_line_where_a_tampered_chain_breaks(tmp_path: Path, tamper, line: int, problem: str) -> None:
    path = tmp_path / "audit.jsonl"
    log = JsonLinesLog(path, chain=True)
    for n in range(3):
        log.append({"n": n})
    path.write_bytes(b"".join(tamper(path.read_bytes().splitlines(keepends=True))))
    report = log.verify()
    assert not report.ok
    assert report.problems[0].line == line and problem in report.problems[0].problem


def test_a_head_one_entry_behind_is_a_crash_note_not_tampering_and_the_next_append_repairs_it(tmp_path: Path) -> None:
    path, head = tmp_path / "audit.jsonl", tmp_path / "audit.head"
    log = JsonLinesLog(path, chain=True, head=head)
    log.append({"n": 0})
    before = head.read_bytes()
    log.append({"n": 1})
    head.write_bytes(before)  # killed between the line's fsync and the head's replace
    report = log.verify()
    assert report.ok and "lags" in report.notes[0]
    assert log.append({"n": 2})["seq"] == 3
    assert log.verify().ok and not log.verify().notes


# --- a log an older millpond wrote without hashes becomes chained (legacy=True) ------------------------------------
def _legacy(tmp_path: Path) -> tuple[JsonLinesLog, Path]:
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps({"n": n}) + "\n" for n in range(3)), encoding="utf-8")
    return JsonLinesLog(path, chain=True, head=tmp_path / "history.head", legacy=True), path


def test_a_legacy_log_is_accepted_up_to_the_first_chained_entry(tmp_path: Path) -> None:
    log, path = _legacy(tmp_path)
    report = log.verify()
    assert report.ok and report.notes == [
        f"{path}: 3 entries written by an older millpond without hashes; the chain starts with the next entry"
    ]
    written = log.append({"n": 3})
    assert (
        written["seq"] == 4
        and written["prev"] == hashlib.sha256(path.read_bytes()[: -len(encode(written))]).hexdigest()
    )
    log.append({"n": 4})
    report = log.verify()
    assert report.ok and "entry 4 chains to all of them together" in report.notes[0]
    assert [e["n"] for e in log.entries()] == [0, 1, 2, 3, 4]


@pytest.mark.reliability("tamper")
@pytest.mark.parametrize("where", ["legacy-line", "chained-line", "unchained-after-chain"])
def test_edits_to_a_once_legacy_log_are_found(tmp_path: Path, where: str) -> None:
    log, path = _legacy(tmp_path)
    log.append({"n": 3})
    log.append({"n": 4})
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    if where == "legacy-line":
        lines[1] = json.dumps({"n": 99}) + "\n"
    elif where == "chained-line":
        lines[3] = lines[3].replace('"n": 3', '"n": 33')
    else:
        entry = {k: v for k, v in json.loads(lines[4]).items() if k not in ("seq", "prev")}
        lines[4] = json.dumps(entry) + "\n"
    path.write_text("".join(lines), encoding="utf-8")
    assert not log.verify().ok


def test_without_legacy_a_chained_log_refuses_to_chain_onto_an_unchained_line(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text(json.dumps({"n": 0}) + "\n", encoding="utf-8")
    with pytest.raises(LogIntegrityError, match="no sequence number"):
        JsonLinesLog(path, chain=True).append({"n": 1})
