"""Hostile params files (issue 14): each is refused with a ParamsError naming the problem, and nothing is written.

The params loader builds plain data only (no tags, anchors, merge keys, duplicated keys, control characters;
bounded size, depth and count), and the schema refuses NaN/inf anywhere, unsafe use-case names and unbounded
strings. Bombs (a 100 MB file, a billion laughs, 10,000-deep nesting) are refused in bounded memory.
"""

from __future__ import annotations

import base64
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from millpond.config.loader import MAX_NODES, MAX_PARAMS_BYTES, parse_yaml
from millpond.config.params import load_use_case, read_yaml
from millpond.errors import ParamsError
from tests.conftest import tree_snapshot

REPO = Path(__file__).resolve().parents[3]
BASE = (REPO / "params" / "churn.yaml").read_text(encoding="utf-8")
CANARY = "pwned-by-params"  # a payload creates this file next to the params when it runs
PAYLOAD = f'"+__import__("os").system("touch {CANARY}")+"'


def replace(old: str, new: str) -> Callable[[], str]:
    """The demo params with one line changed (asserting the line exists, so a case cannot silently test nothing)."""

    def text() -> str:
        assert old in BASE, old
        return BASE.replace(old, new, 1)

    return text


def append(block: str) -> Callable[[], str]:
    return lambda: BASE + block


def just(text: str) -> Callable[[], str]:
    return lambda: text


DESCRIPTION = "description: Monthly customer churn (embedded synthetic demo data)"
BINARY = base64.b64encode(PAYLOAD.encode()).decode()
BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)
CONTRACT = "mart:\n  contract:\n    columns:\n      monthly_charges: {min: %s}\n"

HOSTILE: list[tuple[str, Callable[[], str], str]] = [
    # --- tags: only plain scalars, lists and mappings
    ("binary", replace(DESCRIPTION, f"description: !!binary {BINARY}"), r"'!!binary'"),
    ("python-object", append(f"x: !!python/object/apply:os.system ['touch {CANARY}']\n"), r"'!!python/object/apply"),
    ("python-name", append("x: !!python/name:os.system\n"), r"'!!python/name:os.system' is not allowed"),
    ("set", append("x: !!set {a, b}\n"), r"'!!set' is not allowed"),
    ("timestamp", append("x: !!timestamp 2025-03-01\n"), r"'!!timestamp' is not allowed"),
    ("custom-tag", append("x: !payload bar\n"), r"'!payload' is not allowed"),
    ("explicit-str", replace("use_case: churn", "use_case: !!str churn"), r"line 4: the tag '!!str' is not allowed"),
    ("tagged-mapping", replace("retrain:", "retrain: !!omap"), r"'!!omap' is not allowed"),
    # --- anchors, aliases, merge keys, duplicated keys
    ("anchor-alias", append("x: &a 1\ny: *a\n"), r"anchors and aliases are not supported in millpond params"),
    ("alias-bomb", just(BOMB), r"line 1: anchors and aliases are not supported.*write the value out"),
    ("merge-key", append("x: {a: 1}\ny:\n  <<: {a: 2}\n"), r"merge keys '<<' are not supported"),
    ("duplicate-use-case", append("use_case: other\n"), r"key 'use_case' is given twice \(lines 4 and \d+\)"),
    (
        "duplicate-nested",
        replace("  metric: roc_auc\n", "  metric: roc_auc\n  metric: log_loss\n"),
        r"key 'metric' is given twice \(lines \d+ and \d+\)",
    ),
    ("non-string-key", replace("  tenure_months: int", "  1: int"), r"the key '1' is not a string; quote it"),
    ("bool-key", append("yes: 1\n"), r"the key 'yes' is not a string"),
    # --- shape
    ("top-level-list", just("- use_case: churn\n"), r"must hold a mapping of parameter names to values, got list"),
    ("top-level-scalar", just("churn\n"), r"must hold a mapping .* got str"),
    ("two-documents", just("use_case: a\n---\nuse_case: b\n"), r"not valid YAML: expected a single document"),
    ("unknown-key", append("targett: churned\n"), r"unknown key 'targett'"),
    ("deep-nesting", just("x: " + "[" * 10_000 + "]" * 10_000 + "\n"), r"nesting depth|nested more than 20 deep"),
    ("deep-block", just("".join("  " * i + f"k{i}:\n" for i in range(30))), r"line 21: .*nested more than 20 deep"),
    ("too-many-values", just("x: [" + ", ".join(["1"] * (MAX_NODES + 1)) + "]\n"), r"more than 10,000 values"),
    # --- strings
    ("nul", replace(DESCRIPTION, 'description: "nul \\0 here"'), r"control character \(U\+0000\)"),
    ("escape-char", replace("key: customer_id", 'key: "customer\\e_id"'), r"control character \(U\+001B\)"),
    ("surrogate", replace(DESCRIPTION, 'description: "\\ud800"'), r"invalid Unicode character"),
    (
        "long-description",
        replace(DESCRIPTION, "description: " + "x" * 10_001),
        r"1 problem\(s\):\n  - 'description': 10,001 characters is longer than the 10,000 allowed",
    ),
    ("huge-integer", append("x: " + "9" * 5000 + "\n"), r"holds a value millpond cannot read"),
    # --- use_case names
    ("use-case-dotdot", replace("use_case: churn", "use_case: ../../etc"), r"'use_case': must be a name"),
    ("use-case-slash", replace("use_case: churn", "use_case: a/b"), r"'use_case': must be a name"),
    ("use-case-300", replace("use_case: churn", "use_case: " + "c" * 300), r"at most 64 .*\(300 characters\)"),
    ("use-case-newline", replace("use_case: churn", 'use_case: "churn\\n"'), r"got 'churn\\n'"),
    ("use-case-raw", replace("use_case: churn", "use_case: raw"), r"\(not 'raw'"),
    ("use-case-space", replace("use_case: churn", "use_case: churn 2"), r"'use_case': must be a name"),
    # --- NaN and infinities, in every numeric section
    (
        "nan-min-improvement",
        replace("min_improvement: 0.0", "min_improvement: .nan"),
        r"'promotion.min_improvement': nan",
    ),
    ("nan-learning-rate", replace("learning_rate: 0.08", "learning_rate: .nan"), r"'model.params.learning_rate': nan"),
    ("inf-backoff", replace("backoff_seconds: 30", "backoff_seconds: .inf"), r"'schedule.backoff_seconds': inf"),
    ("nan-kpi-tolerance", replace("kpi_tolerance: 0.02", "kpi_tolerance: .NaN"), r"'drift.kpi_tolerance': nan"),
    (
        "inf-psi-alert",
        replace("kpi_tolerance: 0.02", "kpi_tolerance: 0.02\n  psi_alert: .inf"),
        r"'drift.psi_alert': inf",
    ),
    ("nan-holdout", replace("holdout_fraction: 0.25", "holdout_fraction: .nan"), r"'training.holdout_fraction': nan"),
    ("inf-latency", replace("smoke_latency_ms: 2000", "smoke_latency_ms: .inf"), r"'scoring.smoke_latency_ms': inf"),
    ("minus-inf-split", replace("split_fraction: 0.1", "split_fraction: -.inf"), r"'scoring.split_fraction': -inf"),
    (
        "huge-backoff",
        replace("backoff_seconds: 30", "backoff_seconds: 1e+308"),
        r"'schedule.backoff_seconds': .*less than or equal to 86400",
    ),
    (
        "int-beyond-64-bits",
        replace("batch_rows: 100000", "batch_rows: 99999999999999999999999"),
        r"'scoring.batch_rows': an integer beyond the 64-bit range",
    ),
    ("inf-keep-days", replace("keep_days: 90", "keep_days: .inf"), r"'retention.keep_days': inf"),
    ("nan-contract-min", append(CONTRACT % ".nan"), r"'mart.contract.columns.monthly_charges.min': nan"),
    (
        "nan-search-range",
        replace(
            "    learning_rate: 0.08\n",
            "    learning_rate: 0.08\n  search:\n    method: random\n"
            "    space: {learning_rate: {low: .nan, high: 0.3}}\n",
        ),
        r"'model.search.space.learning_rate.low': nan",
    ),
    ("nan-in-param-list", replace("max_iter: 200", "max_iter: [1, .nan]"), r"'model.params.max_iter.1': nan"),
    (
        "inf-email-timeout",
        replace("notify: {}", "notify: {email: {host: h, from: a@b.c, to: [x@y.z], timeout_seconds: .inf}}"),
        r"'notify.email.timeout_seconds': inf",
    ),
]


@pytest.mark.reliability("hostile")
@pytest.mark.parametrize(("text", "expected"), [pytest.param(t, e, id=i) for i, t, e in HOSTILE])
def test_a_hostile_params_file_is_refused_naming_the_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: Callable[[], str], expected: str
) -> None:
    monkeypatch.chdir(tmp_path)  # where a payload's `touch` would land
    path = tmp_path / "hostile.yaml"
    path.write_text(text(), encoding="utf-8")
    before = tree_snapshot(tmp_path)
    with pytest.raises(ParamsError, match=expected):
        load_use_case(path)
    assert tree_snapshot(tmp_path) == before  # nothing written, the payload never ran
    assert not (tmp_path / CANARY).exists()


@pytest.mark.reliability("hostile")
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"use_case: churn\ndescription: caf\xe9\n", r"not UTF-8 text \(byte 32\)", id="latin-1"),
        pytest.param(b"use_case: churn\x00\n", r"not valid YAML", id="raw-nul"),
        pytest.param(b"\xff\xfe", r"not UTF-8", id="utf-16-bom"),
    ],
)
def test_bytes_that_are_not_yaml_text_are_refused(tmp_path: Path, data: bytes, expected: str) -> None:
    path = tmp_path / "bytes.yaml"
    path.write_bytes(data)
    with pytest.raises(ParamsError, match=expected):
        read_yaml(path)


def _peak_bytes(action: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        with pytest.raises(ParamsError):
            action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.reliability("hostile")
@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda p: p.write_text(BOMB), id="billion-laughs"),
        pytest.param(lambda p: p.write_text("x: " + "[" * 10_000 + "]" * 10_000), id="10000-deep"),
        pytest.param(lambda p: p.write_text("x: {" + "a: [" * 50_000), id="unclosed-deep"),
        pytest.param(lambda p: p.write_text("x: [" + "1, " * (MAX_PARAMS_BYTES // 3 - 2) + "1]"), id="1-MiB-of-values"),
    ],
)
def test_bombs_are_refused_in_bounded_memory(tmp_path: Path, make: Callable[[Path], object]) -> None:
    path = tmp_path / "bomb.yaml"
    make(path)
    assert path.stat().st_size <= MAX_PARAMS_BYTES
    # An expanded billion laughs holds 9**9 strings; refusing at the first anchor keeps this far below 10 MB.
    assert _peak_bytes(lambda: read_yaml(path)) < 10 * 2**20


@pytest.mark.reliability("hostile")
def test_a_100_mb_params_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as handle:  # 100 MB: a description line, then a sparse tail
        handle.write(b"use_case: churn\ndescription: ")
        handle.truncate(100 * 2**20)
    with pytest.raises(ParamsError, match=r"104,857,600 bytes, more than the 1,048,576 allowed"):
        load_use_case(path)
    assert _peak_bytes(lambda: read_yaml(path)) < 2**20  # reading it would take 100 MB


def _nodes(node: yaml.Node) -> int:
    if isinstance(node, yaml.MappingNode):
        return 1 + sum(_nodes(k) + _nodes(v) for k, v in node.value)
    if isinstance(node, yaml.SequenceNode):
        return 1 + sum(_nodes(item) for item in node.value)
    return 1


def test_just_under_the_caps_is_accepted(tmp_path: Path) -> None:
    """The caps are where they say: 20 levels, 10,000 values and a 10,000-character description still load."""
    nested = "[" * 17 + "1" + "]" * 17  # 17 lists in model.params in model in the top mapping: 20 levels
    text = BASE.replace("max_iter: 200", f"max_iter: {nested}").replace(DESCRIPTION, "description: " + "d" * 10_000)
    spare = MAX_NODES - _nodes(yaml.compose(text)) - 2  # the key and the list take two
    text += "scoring_notes: [" + ", ".join(["1"] * spare) + "]\n"
    path = tmp_path / "edge.yaml"
    path.write_text(text, encoding="utf-8")
    data = read_yaml(path)
    assert len(data["description"]) == 10_000
    depth, value = 0, data["model"]["params"]["max_iter"]
    while isinstance(value, list):
        depth, value = depth + 1, value[0]
    assert (depth, value) == (17, 1)
    assert _nodes(yaml.compose(text)) == MAX_NODES
    with pytest.raises(ParamsError, match="more than 10,000 values"):  # one more is one too many
        parse_yaml(text + "one_more: 1\n")
    with pytest.raises(ParamsError, match=r"unknown key 'scoring_notes'") as info:  # the loader let it through
        load_use_case(path)
    assert "1 problem(s)" in str(info.value)


def test_plain_yaml_still_means_what_it_did(tmp_path: Path) -> None:
    """Dates stay strings, '=' is a string, YAML 1.1 booleans and numbers still load; tab and newline are fine."""
    path = tmp_path / "plain.yaml"
    path.write_text(
        'a: 2025-03-01\nb: =\nc: yes\nd: 0x1F\ne: 1.5e+3\nf: ~\ng: "tab\\tand\\nnewline"\nh: [1, {i: j}]\n'
        "k: 'it''s # not a comment'\n",
        encoding="utf-8",
    )
    assert read_yaml(path) == {
        "a": "2025-03-01",
        "b": "=",
        "c": True,
        "d": 31,
        "e": 1500.0,
        "f": None,
        "g": "tab\tand\nnewline",
        "h": [1, {"i": "j"}],
        "k": "it's # not a comment",
    }


def test_the_demo_params_stay_valid() -> None:
    for path in sorted((REPO / "params").glob("*.yaml")):
        assert load_use_case(path).use_case == path.stem
