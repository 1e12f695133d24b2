"""``python -m fluxgrid.cli``: the ``fluxgrid`` command."""

import sys

from . import main

sys.exit(main())
