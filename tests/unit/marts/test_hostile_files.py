"""Hand-written hostile raw files (issue 14), each a case of the reliability line: refused with a millpond error
naming the file, the mart folder byte-identical, on the one-shot and the streamed path."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.unit.marts.hostile import check_outcome, sandbox

GOOD = "id,n,x,c,y\na,1,0.5,p,0\nb,2,1.5,q,1\n"


def _parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


_GOOD_PARQUET = _parquet(pa.table({"id": ["a", "b"], "n": [1, 2], "x": [0.5, 1.5], "c": ["p", "q"], "y": [0, 1]}))

CSV_CASES = {
    "empty file": b"",
    "only a UTF-8 BOM": b"\xef\xbb\xbf",
    "UTF-16 with its BOM": GOOD.encode("utf-16"),
    "latin-1 text": "id,n,x,c,y\né,1,0.5,ü,0\n".encode("latin-1"),
    "UTF-8 and latin-1 mixed": GOOD.encode() + "c,3,2.5,é,1\n".encode("latin-1"),
    "NUL in the header": b"id,n\x00,x,c,y\na,1,0.5,p,0\n",
    "NUL bytes only": b"\x00" * 64,
    "duplicated header column": b"id,n,x,c,y,x\na,1,0.5,p,0,0.7\n",
    "header only": b"id,n,x,c,y\n",
    "semicolons, not commas": GOOD.replace(",", ";").encode(),
    "tabs, not commas": GOOD.replace(",", "\t").encode(),
    "truncated inside a quoted field": b'id,n,x,c,y\na,1,0.5,"unterminated',
    "a row with too many fields": b"id,n,x,c,y\na,1,0.5,p,0,extra,more\n",
    "a 2 MB number": b"id,n,x,c,y\na," + b"9" * 2_000_000 + b",0.5,p,0\n",
    "random bytes": bytes(range(256)) * 8,
    "a Parquet file named .csv": _GOOD_PARQUET,
    "inf in a float column": b"id,n,x,c,y\na,1,inf,p,0\n",
    "a NULL key": b"id,n,x,c,y\n,1,0.5,p,0\n",
    "a fraction in an int column": b"id,n,x,c,y\na,1.5,0.5,p,0\n",
}
PARQUET_CASES = {
    "zero bytes": b"",
    "truncated": _GOOD_PARQUET[: len(_GOOD_PARQUET) // 2],
    "wrong footer magic": _GOOD_PARQUET[:-4] + b"PAR2",
    "footer only": _GOOD_PARQUET[-8:],
    "a CSV named .parquet": GOOD.encode(),
    "duplicated column": _parquet(
        pa.Table.from_arrays([pa.array(["a"]), pa.array([1]), pa.array([1])], names=["id", "n", "n"])
    ),
    "binary id column": _parquet(pa.table({"id": pa.array([b"\xff\xfe"]), "n": [1], "x": [0.5], "c": ["p"], "y": [0]})),
    "strings where ints belong": _parquet(pa.table({"id": ["a"], "n": ["one"], "x": [0.5], "c": ["p"], "y": [0]})),
    "all-null column": _parquet(
        pa.table({"id": ["a"], "n": [1], "x": pa.nulls(1, pa.float64()), "c": ["p"], "y": [0]})
    ),
}


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return sandbox(tmp_path_factory.mktemp("hostile"))


@pytest.mark.reliability("hostile")
@pytest.mark.parametrize("streamed", [False, True], ids=["one_shot", "streamed"])
@pytest.mark.parametrize(
    ("fmt", "data"),
    [("csv", d) for d in CSV_CASES.values()] + [("parquet", d) for d in PARQUET_CASES.values()],
    ids=[f"csv: {n}" for n in CSV_CASES] + [f"parquet: {n}" for n in PARQUET_CASES],
)
def test_a_hostile_file_is_refused_cleanly(ws, fmt: str, data: bytes, streamed: bool) -> None:  # type: ignore[no-untyped-def]
    assert check_outcome(ws, data, fmt, streamed=streamed) == "refused"


@pytest.mark.parametrize("streamed", [False, True], ids=["one_shot", "streamed"])
@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("csv", GOOD.encode()),
        ("csv", b"\xef\xbb\xbf" + GOOD.encode()),
        ("csv", GOOD.replace("\n", "\r\n").encode()),
        ("parquet", _GOOD_PARQUET),
    ],
    ids=["csv", "csv with a BOM", "csv with CRLF", "parquet"],
)
def test_the_controls_are_stored(ws, fmt: str, data: bytes, streamed: bool, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert check_outcome(ws, data, fmt, streamed=streamed) == "stored"


@pytest.mark.reliability("hostile")
@pytest.mark.parametrize("streamed", [False, True], ids=["one_shot", "streamed"])
def test_a_2_mb_text_field_is_stored_whole_or_refused_cleanly(ws, streamed: bool) -> None:  # type: ignore[no-untyped-def]
    """Text is text however long (one-shot stores it); the streamed CSV reader's blocks refuse a field longer than one."""
    data = b"id,n,x,c,y\na,1,0.5," + b"z" * 2_000_000 + b",1\n"
    assert check_outcome(ws, data, "csv", streamed=streamed) == ("refused" if streamed else "stored")
