"""``python -m gpuconf.kwok …`` — see :mod:`gpuconf.kwok.cli`."""

import sys

from gpuconf.kwok.cli import main

sys.exit(main(sys.argv[1:]))
