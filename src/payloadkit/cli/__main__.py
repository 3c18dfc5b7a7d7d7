"""``python -m payloadkit.cli``."""

import sys

from payloadkit.cli import main

sys.exit(main())
