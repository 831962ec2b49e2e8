"""``python -m roleredis.cli``: the ``roleredis`` command."""

import sys

from roleredis.cli import main

if __name__ == "__main__":
    sys.exit(main())
