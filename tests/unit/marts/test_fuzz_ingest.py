"""The CSV/Parquet ingest fuzzed with hypothesis (issue 14): only millpond's own errors come out, nothing is stored.

Generated files: random bytes; CSV built from hostile cells (unicode, NULs, quotes, delimiters, inf, huge numbers),
then serialised with a random delimiter, quoting, header (duplicated, missing, renamed, reordered columns),
encoding (UTF-8, BOMs, UTF-16, latin-1, a mix per row), and mutated (truncated, NULs spliced in, a huge field);
Parquet files of random column types, duplicated names, truncated or with bytes flipped. Each file is ingested
one-shot or streamed. The unmarked run makes ``CI_EXAMPLES`` files; the ``fuzz``-marked run reads its count from
``MILLPOND_FUZZ_EXAMPLES`` (default 200 in CI; ``MILLPOND_FUZZ_EXAMPLES=2000 pytest -m fuzz`` for a long run).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.unit.marts.hostile import COLUMNS, check_outcome, sandbox

CI_EXAMPLES = 100  # a quick run in every session; 1,000 take ~30 s on 2 loaded cores, so the fuzz run holds the rest
FUZZ_EXAMPLES = int(os.environ.get("MILLPOND_FUZZ_EXAMPLES", "200"))

_TOKENS = [
    "",
    "nan",
    "inf",
    "-inf",
    "Infinity",
    "1e400",
    "NULL",
    "0x1f",
    " 7",
    "1,5",
    "1.0",
    "-0",
    "99999999999999999999",
]
_cell = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(_TOKENS),
    st.text(max_size=12),
    st.text(alphabet=st.sampled_from(",;\t|\"'\n\r\x00\ufeff\\é€"), max_size=6),
)
_ID = st.one_of(st.integers(0, 40).map(lambda i: f"k{i}"), _cell)


@st.composite
def _rows(draw: st.DrawFn) -> list[list[str]]:
    count = draw(st.integers(0, 25))
    return [
        [draw(_ID), draw(_cell), draw(_cell), draw(_cell), draw(st.sampled_from(["0", "1", "2", ""]) | _cell)]
        for _ in range(count)
    ]


@st.composite
def _header(draw: st.DrawFn) -> list[str]:
    names = list(COLUMNS)
    change = draw(st.sampled_from(["keep", "keep", "duplicate", "drop", "rename", "shuffle", "extra"]))
    if change == "duplicate":
        names.append(draw(st.sampled_from(names)))
    elif change == "drop":
        names.remove(draw(st.sampled_from(names)))
    elif change == "rename":
        names[draw(st.integers(0, len(names) - 1))] = draw(st.text(max_size=8))
    elif change == "shuffle":
        names = draw(st.permutations(names))
    elif change == "extra":
        names.append(draw(st.text(min_size=1, max_size=8)))
    return list(names)


def _encode(draw: st.DrawFn, lines: list[str]) -> bytes:
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252", "mixed"]))
    if encoding == "mixed":
        return b"".join(line.encode(draw(st.sampled_from(["utf-8", "latin-1"])), "replace") for line in lines)
    return "".join(lines).encode(encoding, "replace")


def _serialise(draw: st.DrawFn, header: list[str], rows: list[list[str]], delimiter: str) -> list[str]:
    if draw(st.booleans()):  # properly quoted
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=delimiter, lineterminator=draw(st.sampled_from(["\n", "\r\n", "\r"]))).writerows(
            [header, *rows]
        )
        return buffer.getvalue().splitlines(keepends=True)
    return [delimiter.join(cells) + "\n" for cells in [header, *rows]]  # raw: quotes and delimiters unescaped


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[bytes, str | None]:
    """CSV bytes and the delimiter the params declare (None: the default ',')."""
    declared = draw(st.sampled_from([None, None, ";", "\t", "|"]))
    written = declared or ","
    if draw(st.integers(0, 5)) == 0:
        written = draw(st.sampled_from([",", ";", "\t", "|", " "]))  # a wrong delimiter
    data = _encode(draw, _serialise(draw, draw(_header()), draw(_rows()), written))
    mutation = draw(st.sampled_from(["none", "none", "truncate", "nul", "huge", "garbage"]))
    if mutation == "truncate" and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif mutation == "nul" and data:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + b"\x00" * draw(st.integers(1, 3)) + data[at:]
    elif mutation == "huge":
        at = data.find(b"\n") + 1
        size = draw(st.sampled_from([70_000, 300_000, 1_200_000]))
        data = data[:at] + b"k0," + b"9" * size + b",1.0,x,0\n" + data[at:]
    elif mutation == "garbage":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(min_size=1, max_size=40)) + data[at:]
    return data, declared


_ARROW_COLUMNS = st.sampled_from(["str", "int", "float", "bool", "null", "binary", "date", "list"])


def _arrow_column(draw: st.DrawFn, kind: str, rows: int) -> pa.Array:
    if kind == "str":
        return pa.array(draw(st.lists(st.none() | st.text(max_size=8), min_size=rows, max_size=rows)), pa.string())
    if kind == "int":
        return pa.array(draw(st.lists(st.none() | st.integers(-(2**63), 2**63 - 1), min_size=rows, max_size=rows)))
    if kind == "float":
        return pa.array(draw(st.lists(st.none() | st.floats(), min_size=rows, max_size=rows)), pa.float64())
    if kind == "bool":
        return pa.array(draw(st.lists(st.none() | st.booleans(), min_size=rows, max_size=rows)), pa.bool_())
    if kind == "binary":
        return pa.array(draw(st.lists(st.binary(max_size=6), min_size=rows, max_size=rows)), pa.binary())
    if kind == "date":
        return (
            pa.array([None] * rows, pa.date32())
            if rows == 0
            else pa.array(draw(st.lists(st.dates(), min_size=rows, max_size=rows)), pa.date32())
        )
    if kind == "list":
        return pa.array(draw(st.lists(st.lists(st.integers(0, 9), max_size=2), min_size=rows, max_size=rows)))
    return pa.nulls(rows)


@st.composite
def parquet_files(draw: st.DrawFn) -> bytes:
    rows = draw(st.integers(0, 20))
    names = draw(_header())
    if draw(st.booleans()):  # mostly the declared types, so some files get past the schema check
        kinds = [{"str": "str", "int": "int", "float": "float"}[COLUMNS[n]] if n in COLUMNS else "str" for n in names]
        kinds = [draw(st.sampled_from([k, k, k, "null", "str"])) for k in kinds]
    else:
        kinds = [draw(_ARROW_COLUMNS) for _ in names]
    table = pa.Table.from_arrays([_arrow_column(draw, k, rows) for k in kinds], names=names)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    data = buffer.getvalue()
    mutation = draw(st.sampled_from(["none", "none", "truncate", "flip"]))
    if mutation == "truncate":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif mutation == "flip":
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
    return data


@st.composite
def hostile_files(draw: st.DrawFn) -> tuple[bytes, str, str | None]:
    """(bytes, format, declared delimiter) of one generated input file."""
    kind = draw(st.sampled_from(["csv", "csv", "csv", "parquet", "parquet", "bytes"]))
    if kind == "csv":
        data, delimiter = draw(csv_files())
        return data, "csv", delimiter
    if kind == "parquet":
        return draw(parquet_files()), "parquet", None
    return draw(st.binary(max_size=4096)), draw(st.sampled_from(["csv", "parquet"])), None


def _settings(examples: int):  # type: ignore[no-untyped-def]
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=(Phase.explicit, Phase.reuse, Phase.generate),  # no shrinking: a failure is reported at once, unshrunk
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )


def _fuzz(root: Path, examples: int) -> None:
    ws = sandbox(root)
    outcomes: dict[str, int] = {}

    @_settings(examples)
    @given(hostile_files(), st.booleans())
    def run(case: tuple[bytes, str, str | None], streamed: bool) -> None:
        data, fmt, delimiter = case
        outcome = check_outcome(ws, data, fmt, streamed=streamed, delimiter=delimiter)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    run()
    assert sum(outcomes.values()) >= examples * 0.9 and outcomes.get("refused", 0) > 0, outcomes


def test_generated_files_give_only_millpond_errors_and_store_nothing(tmp_path: Path) -> None:
    _fuzz(tmp_path, CI_EXAMPLES)


@pytest.mark.fuzz
def test_generated_files_long_run(tmp_path: Path) -> None:
    _fuzz(tmp_path, FUZZ_EXAMPLES)
