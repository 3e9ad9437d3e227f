"""``python -m httsleep URL [options]``: the same as the ``httsleep`` command."""

import sys

from .cli import main

sys.exit(main())
