"""``python -m gpuconf.kind …`` — see :mod:`gpuconf.kind.cli`."""

import sys

from gpuconf.kind.cli import main

sys.exit(main(sys.argv[1:]))
