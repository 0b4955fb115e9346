"""`python -m gpuconf`."""

import sys

from gpuconf.cli import main

sys.exit(main())
