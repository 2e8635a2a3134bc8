import importlib
import subprocess
import sys

import millpond


def test_every_name_in_all_resolves_to_its_module_object() -> None:
    for name in millpond.__all__:
        obj = getattr(millpond, name)
        if name != "__version__":
            assert getattr(importlib.import_module(millpond._EXPORTS[name]), name) is obj


def test_importing_the_package_stays_light() -> None:
    code = "import sys, millpond; print(sorted(m for m in ('pandas', 'sklearn', 'papermill') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
