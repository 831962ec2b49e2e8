"""``python -m roleredis.demo``: the demo with the package's own roles (see roleredis.demo)."""

import sys

from .roles.timer import lifecycle as timer
from .roles.weather import lifecycle as weather
from .runner import main

if __name__ == "__main__":
    sys.exit(main(weather, timer))
