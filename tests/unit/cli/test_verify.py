"""Every verify command reports through one function: the stores' reports, and exit 3 when something is wrong."""

from __future__ import annotations

import pytest

from millpond.cli.verify import print_verify
from millpond.errors import EXIT_INTEGRITY, EXIT_OK
from millpond.store.verify import VerifyReport


def test_intact_reports_print_on_stdout_and_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    notes = VerifyReport("b", checked=1)
    notes.note("a run is unfinished")
    code = print_verify([VerifyReport("a", checked=2), notes], ok_line="fine")
    captured = capsys.readouterr()
    assert code == EXIT_OK and captured.err == ""
    assert (
        captured.out
        == "a: 2 checked, all verified\nfine\nnote: a run is unfinished\nb: 1 checked, all verified\nfine\n"
    )


def test_a_mismatch_is_named_on_stdout_counted_on_stderr_and_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    bad = VerifyReport("marts", checked=3)
    bad.add("feature_marts/churn/versions/v/data.parquet", "was altered")
    bad.add("runs/x/audit.jsonl", "is not valid JSON", line=4)
    code = print_verify(iter([VerifyReport("a", checked=1), bad]), ok_line="fine")
    captured = capsys.readouterr()
    assert code == EXIT_INTEGRITY
    assert captured.out == (
        "a: 1 checked, all verified\nfine\n"
        "MISMATCH feature_marts/churn/versions/v/data.parquet was altered\n"
        "MISMATCH runs/x/audit.jsonl line 4 is not valid JSON\n"
        "marts: 3 checked, 2 problem(s)\n"
    )
    assert captured.err == "error: 2 stored file(s) do not match their records (MISMATCH lines above)\n"
