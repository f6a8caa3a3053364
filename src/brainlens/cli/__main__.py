"""`python -m brainlens.cli`, as the `brainlens` console script."""

import sys

from brainlens.cli import main

sys.exit(main())
