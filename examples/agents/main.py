"""Two roles, one Redis, no collisions: the guide's layout, run end to end.

    python examples/agents/main.py

The roles are in roles/weather/lifecycle.py and roles/timer/lifecycle.py: both write a key
named "state", and neither passes a role anywhere; roleredis detects each one from the
directory its file lies in. The steps that call them (and print what happens) are the ones
`roleredis demo` runs, shared from roleredis.demo.runner.

With REDIS_URL (or REDIS_HOST, REDIS_PORT, ROLEREDIS_CONFIG, a ./config.yaml) set, it uses that
Redis. Otherwise it starts a throwaway redis-server on a free port (or, without the
redis-server program, the embedded memory:// backend), so that a first run never writes into a
server you already have. On a configured server its roles are named
roleredis-demo-<run id>.weather and .timer, so your own weather: and timer: keys are never
touched. Leaves nothing behind: it deletes, by name, the keys it wrote.
"""

from __future__ import annotations

import sys

from roles.timer import lifecycle as timer
from roles.weather import lifecycle as weather

from roleredis.demo import main

if __name__ == "__main__":
    sys.exit(main(weather, timer))
