"""``python -m payloadkit``: the same command line as ``payloadkit``."""

import sys

from payloadkit.cli import main

sys.exit(main())
