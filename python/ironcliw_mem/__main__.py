"""``python -m ironcliw_mem``: the same as the ``ironcliw-mem`` command."""

import sys

from ironcliw_mem.tools.cli import main

sys.exit(main())
