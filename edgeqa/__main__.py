"""`python -m edgeqa`."""

import sys

from edgeqa.cli import main

sys.exit(main())
