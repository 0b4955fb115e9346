"""``python -m gpuconf.provision.kind …`` — see :mod:`gpuconf.provision.kind.cli`."""

import sys

from gpuconf.provision.kind.cli import main

sys.exit(main(sys.argv[1:]))
