"""``python -m craton_hsm.cli``."""

import sys

from craton_hsm.cli import main

sys.exit(main())
