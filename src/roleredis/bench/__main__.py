"""``python -m roleredis.bench``: the benchmarks (see :mod:`roleredis.bench.run`)."""

import sys

from roleredis.bench import main

if __name__ == "__main__":
    sys.exit(main())
