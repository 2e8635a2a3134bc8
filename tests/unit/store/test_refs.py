"""One lookup rule for every store's ``get``: exact id, else the only prefix, else the only substring."""

from __future__ import annotations

import pytest

from millpond.store.refs import MIN_PIECE, matching_ids

IDS = [
    "20250301-churn-2025-03-a3f9/01-ingest",
    "20250301-churn-2025-03-a3f9/02-score",
    "20250401-churn-2025-04-b7c2/01-ingest",
]


def test_exact_beats_prefix_and_substring() -> None:
    ids = ["abcd", "abcdef", "xxabcdxx"]
    assert matching_ids("abcd", ids) == ["abcd"]


def test_a_unique_prefix_is_found_and_wins_over_substrings() -> None:
    assert matching_ids("20250401", IDS) == [IDS[2]]
    assert matching_ids("abcd", ["abcdef", "zzabcd"]) == ["abcdef"]  # the prefix rule stops before substrings


def test_a_unique_substring_is_found_when_no_id_starts_with_it() -> None:
    assert matching_ids("a3f9/02", IDS) == [IDS[1]]
    assert matching_ids("2025-04-b7c2/01", IDS) == [IDS[2]]


def test_several_matches_are_all_returned_so_the_store_can_say_ambiguous() -> None:
    assert matching_ids("01-ingest", IDS) == [IDS[0], IDS[2]]
    assert matching_ids("2025", IDS) == sorted(IDS)


@pytest.mark.parametrize("query", ["", "a", "01", "a3f"])
def test_pieces_shorter_than_the_minimum_match_exactly_only(query: str) -> None:
    assert len(query) < MIN_PIECE
    assert matching_ids(query, [*IDS, "a3f9", "01x"]) == []
    assert matching_ids(query, [query, "zz" + query]) == ([query] if query else [""])


def test_nothing_matching_gives_nothing() -> None:
    assert matching_ids("ffff", IDS) == []
