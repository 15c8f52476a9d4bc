"""``python -m core.cli``: the headless command line."""

import sys

from core.cli.main import main

sys.exit(main())
