"""``python -m hanseg.cli``: the ``hanseg`` command."""

import sys

from hanseg.cli import main

sys.exit(main())
