"""``python -m gpuconf.provision.realpods up|status|down|exec``."""

import sys

from gpuconf.provision.realpods.cli import main

sys.exit(main())
