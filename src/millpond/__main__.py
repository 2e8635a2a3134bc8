"""``python -m millpond`` is the ``millpond`` command."""

import sys

from millpond.cli import main

sys.exit(main())
