"""Every verify command reports through one function: its lines, and exit 3 when something is wrong."""

from __future__ import annotations

import pytest

from millpond.cli.verify import Verified, print_verify
from millpond.errors import EXIT_INTEGRITY, EXIT_OK


def test_all_ok_prints_the_ok_lines_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code = print_verify([Verified(ok_line="a: fine"), Verified(ok_line="b: fine")])
    captured = capsys.readouterr()
    assert code == EXIT_OK
    assert captured.out == "a: fine\nb: fine\n" and captured.err == ""


def test_problems_go_to_stdout_and_the_error_to_stderr_with_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    results = [
        Verified(ok_line="a: fine"),
        Verified(problems=["x was altered", "y is missing"], error="2 problem(s) found"),
        Verified(error="c is broken"),
        Verified(ok_line="d: fine"),
    ]
    code = print_verify(iter(results))
    captured = capsys.readouterr()
    assert code == EXIT_INTEGRITY
    assert captured.out == "a: fine\nx was altered\ny is missing\nd: fine\n"
    assert captured.err == "error: 2 problem(s) found\nerror: c is broken\n"


def test_a_result_is_ok_only_without_problems_and_error() -> None:
    assert Verified(ok_line="fine").ok
    assert not Verified(problems=["p"]).ok
    assert not Verified(error="e").ok
