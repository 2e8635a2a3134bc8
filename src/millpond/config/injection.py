"""Notebook parameters are data: millpond's own papermill translator writes each one as an exact Python literal.

papermill injects parameters into a notebook as Python source. Its stock Python
translator escapes strings itself and falls back to ``str(value)`` for any other
type, so a ``bytes`` value (YAML's ``!!binary``) reached the kernel unescaped and
ran as code. :class:`ExactTranslator` accepts only a tree of plain values (``str``,
``int``, finite ``float``, ``bool``, ``None``, ``list`` and ``dict`` with ``str``
keys, at most :data:`MAX_DEPTH` containers deep) and writes ``name = repr(value)``:
``repr`` of those types is a literal that evaluates to exactly the value (quotes,
backslashes, newlines, NUL and lone surrogates are escaped by Python itself), and
an assignment of a literal runs nothing else. Anything else is refused with a
:class:`~millpond.errors.ParamsError` before a kernel starts.

It is registered (:func:`register_translator`) in the process that calls
papermill: by millpond's runner before each stage, and, for a user's plain
``papermill`` command, through the ``papermill.engine`` entry point ``millpond``
in pyproject.toml (papermill imports every registered engine when it is
imported: :mod:`millpond.config.papermill_plugin` imports this module, which
registers the translator when imported). The stage
notebooks then re-validate what arrived (:func:`millpond.config.params.check_injected`).

Kept import-light (papermill's translators only): papermill imports it at start-up.
"""

from __future__ import annotations

import keyword
from typing import Any

from papermill.translators import PythonTranslator, papermill_translators

from millpond.config.plain import MAX_DEPTH, Loc, dotted, iter_problems  # noqa: F401  (MAX_DEPTH, Loc re-exported)
from millpond.errors import ParamsError

# The kernels the translator is registered for: papermill looks a translator up by kernel name, then language.
KERNELS = ("python", "millpond")


def python_literal(value: Any, name: str = "value") -> str:
    """``repr(value)`` after checking that ``value`` is a plain data tree (else :class:`ParamsError`)."""
    for loc, problem in iter_problems(value, (name,)):
        raise ParamsError(f"Notebook parameter '{dotted(loc)}' cannot be injected: {problem}.")
    try:
        return repr(value)
    except ValueError as exc:  # an int beyond Python's int-to-str digit limit
        raise ParamsError(f"Notebook parameter '{name}' cannot be injected: {exc}.") from None


def check_parameter_name(name: Any) -> str:
    """A parameter name must be a public Python identifier (not a keyword, not ``_``-prefixed such as
    ``__builtins__``), so ``name = <literal>`` binds exactly that one global."""
    if type(name) is not str or not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
        raise ParamsError(
            f"Notebook parameter name {name!r} is not allowed: use a Python identifier that does not start with '_'."
        )
    return name


class ExactTranslator(PythonTranslator):
    """papermill's Python translator, writing ``name = repr(value)`` for plain data and refusing anything else."""

    @classmethod
    def translate(cls, val: Any) -> str:
        return python_literal(val)

    @classmethod
    def assign(cls, name: str, str_val: str) -> str:
        return f"{check_parameter_name(name)} = {str_val}"

    @classmethod
    def codify(cls, parameters: dict[str, Any], comment: str = "Parameters") -> str:
        """The injected cell: a comment line, then one ``name = literal`` line per parameter (no formatter)."""
        lines = [cls.comment(comment)]
        lines += [cls.assign(name, python_literal(value, str(name))) for name, value in parameters.items()]
        return "\n".join(lines) + "\n"


def register_translator() -> None:
    """Make papermill inject parameters with :class:`ExactTranslator` in this process (idempotent)."""
    for kernel in KERNELS:
        papermill_translators.register(kernel, ExactTranslator)


register_translator()
