"""The one reference parser of the command line: ``NAME[@SELECTOR]`` for models and marts."""

from __future__ import annotations

import pytest

from millpond.cli.refs import MODEL_SELECTORS_BY_NAME, Ref, RefError, parse_ref
from millpond.errors import EXIT_BAD_INPUT, exit_code_of


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("churn", Ref("churn", None, "none")),
        ("churn@champion", Ref("churn", "champion", "alias")),
        ("churn@challenger", Ref("churn", "challenger", "alias")),
        ("churn@previous", Ref("churn", "previous", "alias")),
        ("churn@latest", Ref("churn", "latest", "alias")),
        ("churn@495d4586ed42", Ref("churn", "495d4586ed42", "version")),
        ("churn@495d", Ref("churn", "495d", "version")),
        ("churn-v2_eu@champion", Ref("churn-v2_eu", "champion", "alias")),
        ("churn@a@b", Ref("churn", "a@b", "version")),  # the first '@' splits; the store names the bad version
    ],
)
def test_model_refs(text: str, expected: Ref) -> None:
    ref = parse_ref(text)
    assert ref == expected
    assert str(ref) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("churn", Ref("churn", None, "none")),
        ("churn@2025-03", Ref("churn", "2025-03", "window")),
        ("churn@2025-W10", Ref("churn", "2025-W10", "window")),
        ("churn@2025-03-d69b98e210f7", Ref("churn", "2025-03-d69b98e210f7", "version")),
    ],
)
def test_mart_refs(text: str, expected: Ref) -> None:
    assert parse_ref(text, of="mart") == expected


def test_a_missing_selector_takes_the_commands_default() -> None:
    assert parse_ref("churn").selector_or("champion") == "champion"
    assert parse_ref("churn@previous").selector_or("champion") == "previous"


@pytest.mark.parametrize("text", ["", "@", "@champion", "churn@"])
def test_bad_model_refs_say_what_a_ref_looks_like(text: str) -> None:
    with pytest.raises(RefError) as caught:
        parse_ref(text)
    assert str(caught.value) == (
        f"Model reference {text!r} must look like NAME@champion, NAME@challenger or NAME@<version>, e.g. 'churn@champion'."
    )
    assert exit_code_of(caught.value) == EXIT_BAD_INPUT


@pytest.mark.parametrize("text", ["", "@2025-03", "churn@"])
def test_bad_mart_refs_say_what_a_ref_looks_like(text: str) -> None:
    with pytest.raises(RefError, match=r"^Mart reference .* must look like MART, MART@VERSION or MART@WINDOW"):
        parse_ref(text, of="mart")


def test_the_model_selectors_by_name_are_the_stores_aliases_and_latest() -> None:
    from millpond.models.store import ALIASES

    assert set(MODEL_SELECTORS_BY_NAME) == {*ALIASES, "latest"}
