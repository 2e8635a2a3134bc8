"""Import-time savings for the CLI process and the stage kernels.

jsonschema (pulled in by nbformat, hence papermill and scrapbook) imports
``rfc3987_syntax`` when it is installed, only to check the ``iri`` and
``iri-reference`` string formats; building that package's grammar costs about
2 s per process. Neither nbformat's schema nor papermill's use those formats,
so millpond blocks that one import in the processes it starts; jsonschema
already treats the package as optional and simply skips those two checks.
"""

from __future__ import annotations

import sys


def skip_unused_format_checkers() -> None:
    """Block ``rfc3987_syntax`` unless jsonschema or the package was already imported here."""
    if "jsonschema" not in sys.modules and "rfc3987_syntax" not in sys.modules:
        sys.modules["rfc3987_syntax"] = None  # type: ignore[assignment]  # makes `import rfc3987_syntax` raise ImportError
