"""``python -m gpuconf.provision.kwok …`` — see :mod:`gpuconf.provision.kwok.cli`."""

import sys

from gpuconf.provision.kwok.cli import main

sys.exit(main(sys.argv[1:]))
