"""Injected notebook parameters are data (issue 14): the cell papermill writes evaluates to exactly the validated
value and runs nothing else; anything that is not plain data is refused before a kernel starts.

Proven by execution without a kernel: the injected cell papermill builds (``parameterize_notebook``, the code path
of ``execute_notebook``) is parsed (only ``name = <literal>`` statements) and executed in a fresh namespace with no
builtins at all, so a payload that tried to call anything would raise instead of passing.
"""

from __future__ import annotations

import ast
import keyword
import math
import os
import tomllib
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from papermill.engines import NBClientEngine
from papermill.parameterize import parameterize_notebook
from papermill.translators import PythonTranslator, papermill_translators, translate_parameters

from millpond.config.injection import MAX_DEPTH, ExactTranslator, register_translator
from millpond.config.papermill_plugin import MillpondEngine
from millpond.config.params import check_injected, load_use_case, read_yaml, validate_use_case
from millpond.errors import ParamsError

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = max(1000, int(os.environ.get("MILLPOND_FUZZ_EXAMPLES", "1000")))  # >= 1,000 in CI: they take seconds
PIPELINE_EXAMPLES = int(os.environ.get("MILLPOND_FUZZ_EXAMPLES", "200"))
CANARY = "pwned-by-injection"

# Strings built to break out of a literal: quotes, escapes, comment starts, line breaks, NUL, surrogates, payloads.
SNIPPETS = [
    '"""',
    "'''",
    '"',
    "'",
    "#",
    "\\",
    "\\n",
    "\\x00",
    "\0",
    "\n",
    "\r",
    "\r\n",
    "\t",
    "\x0b",
    "\x0c",
    "\x1b[31m",
    "\x7f",
    "\x85",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\ud800",
    "\udfff",
    "\udbff\udfff",
    "\U0010ffff",
    "\x00\x00",
    f"__import__('os').system('touch {CANARY}')",
    f'"+__import__("os").system("touch {CANARY}")+"',
    f"'; __import__('os').system('touch {CANARY}'); '",
    f'"""; __import__("os").system("touch {CANARY}"); """',
    f"\n__import__('os').system('touch {CANARY}')\n",
    "b'\\x00'",
    "${HOME}",
    "{window}",
    "%s",
    "\\N{BULLET}",
    "\\u0041",
    "f'{x}'",
]
YAML_PIECES = ["\n", "\t", '"""', "'''", "#", "\\", "'", ": ", "- ", "&a", "*a", "!!binary ", "<<: ", "---", "%"]
any_char = st.characters(exclude_categories=())  # every code point, lone surrogates included
pieces = st.lists(st.one_of(st.text(any_char, max_size=8), st.sampled_from(SNIPPETS)), max_size=5).map("".join)
long_strings = st.builds(  # 1,000 to 12,000 characters (the schema caps strings at 10,000)
    lambda unit, size: (unit * (size // len(unit) + 1))[:size],
    st.sampled_from(SNIPPETS) | st.text(any_char, min_size=1, max_size=3),
    st.integers(1_000, 12_000),
)
strings = pieces | long_strings
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**300), max_value=10**300)
    | st.floats(allow_nan=False, allow_infinity=False)
    | strings
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(strings, inner, max_size=4), max_leaves=8
)
names = st.sampled_from(["use_case", "description", "model", "window", "run_dir", "x"]) | st.text(
    "abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=8
).filter(lambda n: n.isidentifier() and not n.startswith("_") and not keyword.iskeyword(n))


def same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (1 is not True, 0.0 is not -0.0, key order counts)."""
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if type(a) is list:
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is dict:
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def injected_cell(parameters: dict[str, Any]) -> str:
    """The source of the cell papermill injects into a millpond-kernel notebook (what execute_notebook runs)."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.metadata["tags"] = ["parameters"]
    after = nbformat.v4.new_code_cell("print(x)")
    after.metadata["tags"] = []
    nb.cells = [cell, after]
    nb.metadata["kernelspec"] = {"name": "millpond", "language": "python", "display_name": "millpond"}
    nb.metadata["papermill"] = {}
    out = parameterize_notebook(nb, parameters)
    [injected] = [c for c in out.cells if "injected-parameters" in c.metadata.get("tags", [])]
    return str(injected.source)


def run_cell(source: str) -> dict[str, Any]:
    """Check the cell holds only ``name = <literal>`` statements, then run it with no builtins; its namespace."""
    tree = ast.parse(source)
    for node in tree.body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
        ast.literal_eval(node.value)  # raises unless the value is a literal (no call, name, attribute, operator)
    namespace: dict[str, Any] = {"__builtins__": {}}  # nothing to call: a payload raises NameError, never runs
    exec(compile(tree, "<injected-parameters>", "exec"), namespace)
    del namespace["__builtins__"]
    return namespace


@pytest.mark.reliability("code")
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(st.dictionaries(names, values, min_size=1, max_size=3))
def test_the_injected_cell_evaluates_to_exactly_the_values_and_nothing_else(parameters: dict[str, Any]) -> None:
    register_translator()
    namespace = run_cell(translate_parameters("millpond", "python", parameters, "Parameters"))  # papermill's call
    assert list(namespace) == list(parameters)  # only the parameter names, in order
    for name, value in parameters.items():
        assert same(namespace[name], value), name
    assert not Path(CANARY).exists()


# Text a YAML dumper writes and the loader reads back unchanged: no control characters, surrogates or the
# characters YAML itself reads as line breaks (U+0085, U+2028, U+2029), which the loader folds or refuses.
yaml_safe_char = st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp"))
description_text = st.lists(  # YAML-significant pieces too: the dumper must quote them, the loader read them back
    st.text(yaml_safe_char, max_size=30) | st.sampled_from(YAML_PIECES + SNIPPETS[-7:]), max_size=30
).map("".join)


@pytest.mark.fuzz
@pytest.mark.reliability("code")
@settings(max_examples=PIPELINE_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(description=description_text, note=description_text)
def test_yaml_to_notebook_round_trip_is_exact(
    tmp_path_factory: pytest.TempPathFactory, description: str, note: str
) -> None:
    """A params file with arbitrary text (written by a YAML dumper) arrives in the notebook exactly."""
    data = read_yaml(REPO / "params" / "churn.yaml")
    data["description"] = description
    data["model"]["params"]["note"] = note  # free-form: not checked by the schema, still injected exactly
    path = tmp_path_factory.mktemp("rt") / "p.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    use_case = load_use_case(path)
    register_translator()
    namespace = run_cell(injected_cell(use_case.notebook_parameters()))
    assert namespace["description"] == description
    assert namespace["model"]["params"]["note"] == note
    assert check_injected(namespace) == use_case


class EvilStr(str):
    def __repr__(self) -> str:
        raise AssertionError("repr of a str subclass must not be trusted")


REFUSED = [
    pytest.param(b'"+__import__("os").system("touch x")+"', r"a bytes value is not plain data", id="bytes"),
    pytest.param(bytearray(b"x"), r"a bytearray value", id="bytearray"),
    pytest.param({"a", "b"}, r"a set value", id="set"),
    pytest.param(frozenset(), r"a frozenset value", id="frozenset"),
    pytest.param(("a",), r"a tuple value", id="tuple"),
    pytest.param(1j, r"a complex value", id="complex"),
    pytest.param(Decimal("1.5"), r"a Decimal value", id="decimal"),
    pytest.param(datetime(2025, 3, 1), r"a datetime value", id="datetime"),
    pytest.param(EvilStr("x"), r"a EvilStr value", id="str-subclass"),
    pytest.param(float("nan"), r"nan is not allowed", id="nan"),
    pytest.param(float("-inf"), r"-inf is not allowed", id="minus-inf"),
    pytest.param({"a": [1, {"b": b"x"}]}, r"'p.a.1.b' cannot be injected: a bytes value", id="nested-bytes"),
    pytest.param({1: "a"}, r"the key 1 is a int; mapping keys must be strings", id="int-key"),
    pytest.param(ast, r"a module value", id="module"),
    pytest.param(print, r"a builtin_function_or_method value", id="function"),
]


@pytest.mark.reliability("code")
@pytest.mark.parametrize(("value", "expected"), REFUSED)
def test_a_value_that_is_not_plain_data_is_refused_not_injected(value: Any, expected: str) -> None:
    register_translator()
    with pytest.raises(ParamsError, match=expected):
        injected_cell({"p": value})


@pytest.mark.reliability("code")
def test_nesting_beyond_the_cap_is_refused() -> None:
    value: Any = 1
    for _ in range(MAX_DEPTH):
        value = [value]
    assert run_cell(ExactTranslator.codify({"p": value}))["p"] == value  # MAX_DEPTH lists: fine
    with pytest.raises(ParamsError, match=r"nested more than 20 deep"):
        ExactTranslator.codify({"p": [value]})


@pytest.mark.reliability("code")
@pytest.mark.parametrize("name", ["__builtins__", "_hidden", "import", "a b", "x=1;y", "os.system", "", "1a"])
def test_a_parameter_name_that_could_bind_more_than_one_global_is_refused(name: str) -> None:
    with pytest.raises(ParamsError, match="is not allowed: use a Python identifier"):
        ExactTranslator.codify({name: 1})


def test_papermill_uses_the_exact_translator_for_python_kernels_once_millpond_is_imported() -> None:
    register_translator()
    for kernel in ("python3", "millpond", "some-other-python"):
        assert papermill_translators.find_translator(kernel, "python") is ExactTranslator
    # papermill's own Python translator falls back to str(value) for bytes: the hole this closes (a name runs)
    stock = ast.parse(PythonTranslator.translate(b'"+payload()+"'), mode="eval")
    assert "payload" in {node.id for node in ast.walk(stock) if isinstance(node, ast.Name)}
    with pytest.raises(ParamsError, match="a bytes value"):
        ExactTranslator.translate(b'"+payload()+"')


def test_the_papermill_entry_point_names_millponds_engine() -> None:
    """A plain `papermill` imports the engines packages declare: ours imports (so registers) the translator."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    target = project["entry-points"]["papermill.engine"]["millpond"]
    assert target == f"{MillpondEngine.__module__}:{MillpondEngine.__name__}"
    assert issubclass(MillpondEngine, NBClientEngine)


@pytest.mark.reliability("code")
def test_the_stage_entry_refuses_non_plain_values_in_its_namespace() -> None:
    use_case = load_use_case(REPO / "params" / "churn.yaml")
    good = {**use_case.notebook_parameters(), "window": "2025-03", "run_id": "", "run_dir": "", "workspace": ""}
    assert check_injected({**good, "np": math, "In": [], "_": object()}) == use_case  # other globals are ignored
    bad = {
        **good,
        "description": b"x",
        "model": {"family": "hist_gradient_boosting", "params": {"learning_rate": float("nan")}},
        "window": {"2025-03"},
        "key": EvilStr("customer_id"),
    }
    with pytest.raises(ParamsError, match=r"4 problem\(s\)") as info:
        check_injected(bad)
    text = str(info.value)
    for line in (
        "'description': a bytes value is not plain data",
        "'model.params.learning_rate': nan is not allowed",
        "'window': a set value",
        "'key': a EvilStr value",
    ):
        assert line in text


def test_notebook_parameters_are_the_validated_schema_and_round_trip() -> None:
    data = read_yaml(REPO / "params" / "churn.yaml")
    data["notify"] = {"email": {"host": "smtp", "from": "a@b.c", "to": ["x@y.z"], "password": "${SMTP_PASSWORD}"}}
    data["mart"] = {"contract": {"columns": {"monthly_charges": {"min": 0, "allowed": None}}}}
    data["scoring"]["batch_rows"] = "500"  # coerced by the schema: the notebook gets the validated 500
    use_case = validate_use_case(data)
    injected = use_case.notebook_parameters()
    assert set(injected) == set(type(use_case).model_fields)  # every field, defaults too, not the raw YAML
    assert injected["scoring"]["batch_rows"] == 500
    assert injected["mart"]["contract"]["columns"]["monthly_charges"]["min"] == 0.0
    assert injected["notify"]["email"]["from"] == "a@b.c"  # by alias, so it validates again
    assert injected["training"]["min_rows"] == 200  # a default the YAML left out
    assert validate_use_case(injected) == use_case
    assert same(run_cell(ExactTranslator.codify(injected)), injected)
