import subprocess
import sys


def test_papermill_imports_without_the_iri_grammar_and_still_validates_notebooks() -> None:
    code = (
        "from millpond.runs.kernel_imports import skip_unused_format_checkers; skip_unused_format_checkers()\n"
        "import sys, papermill, scrapbook, nbformat\n"
        "assert 'rfc3987_syntax' not in sys.modules or sys.modules['rfc3987_syntax'] is None\n"
        "nb = nbformat.v4.new_notebook(); nb.cells.append(nbformat.v4.new_code_cell('1'))\n"
        "nbformat.validate(nb)\n"
        "bad = nbformat.v4.new_notebook(); bad.cells.append({'cell_type': 'code'})\n"
        "try:\n    nbformat.validate(bad)\nexcept nbformat.ValidationError:\n    print('invalid caught')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "invalid caught"
