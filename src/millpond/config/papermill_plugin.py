"""The ``papermill.engine`` entry point ``millpond``: makes a plain ``papermill`` command inject exact literals.

papermill loads the engines that installed packages declare (entry point group ``papermill.engine``) while it is
being imported. Loading this one imports :mod:`millpond.config.injection`, which registers millpond's
:class:`~millpond.config.injection.ExactTranslator` for Python kernels, so ``papermill notebooks/train.ipynb out.ipynb
-f params/churn.yaml`` refuses a ``!!binary`` (or any non-plain) value instead of writing it into the notebook as code.

:class:`MillpondEngine` is papermill's default engine under another name (``--engine millpond`` behaves like the
default); it is what the entry point names. When millpond itself imports papermill (the injection module importing
papermill's translators), this module finds the injection module half-imported; that one registers itself when done.
"""

from __future__ import annotations

from papermill.engines import NBClientEngine  # papermill.engines defines it before it loads entry points

import millpond.config.injection  # noqa: F401  # registers the exact translator


class MillpondEngine(NBClientEngine):
    """papermill's default engine (nbclient), named ``millpond``; see the module docstring for why it exists."""
