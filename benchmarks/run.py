"""Run the roleredis benchmarks (see roleredis.bench): python benchmarks/run.py [--json]."""

import sys

from roleredis.bench import main

if __name__ == "__main__":
    sys.exit(main())
