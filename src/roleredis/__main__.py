"""``python -m roleredis``: the ``roleredis`` command (see :mod:`roleredis.cli`)."""

import sys

if __name__ == "__main__":
    from roleredis.cli import main

    sys.exit(main())
