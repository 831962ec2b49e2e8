"""Two roles, one Redis, no collisions: the guide's layout, run end to end.

    python examples/agents/main.py

With REDIS_URL (or REDIS_HOST, ROLEREDIS_CONFIG, a ./config.yaml) set, it uses that Redis.
Otherwise it starts a throwaway redis-server on a free port, so that a first run never writes
into a server you already have. Leaves nothing behind: it clears both roles' data.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

import roleredis
from roleredis.testing import RedisServer, RedisServerError

from roles.timer import lifecycle as timer
from roles.weather import lifecycle as weather


def check(result: dict[str, Any]) -> dict[str, Any]:
    """Stop with one clear line on the first failure (roleredis returns errors, never raises)."""
    if not result["success"]:
        print(f"error: {result['error']} [{result['error_code']}]", file=sys.stderr)
        raise SystemExit(1)
    return result


@contextlib.contextmanager
def some_redis() -> Iterator[None]:
    """The configured Redis if there is one, else a throwaway redis-server for this run."""
    configured = ("REDIS_URL", "REDIS_HOST", "REDIS_PORT", "ROLEREDIS_CONFIG")
    if any(os.environ.get(name) for name in configured) or os.path.exists("config.yaml"):
        yield
        return
    try:
        server = RedisServer().start()
    except RedisServerError as exc:
        print(f"error: no Redis configured and none could be started: {exc}", file=sys.stderr)
        print("       set REDIS_URL=redis://host:port/db, or install redis-server", file=sys.stderr)
        raise SystemExit(1) from None
    print(f"(no Redis configured: using a throwaway redis-server at {server.url})")
    os.environ["REDIS_URL"] = server.url
    roleredis.reset()
    try:
        yield
    finally:
        roleredis.reset()
        server.stop()


def main() -> int:
    # Every failure comes back in a result, and check() prints it; roleredis's own warning
    # log lines would only say the same thing again.
    logging.getLogger("roleredis").setLevel(logging.ERROR)
    with some_redis():
        return run()


def run() -> int:
    # Health first: if Redis is not there, say so in one line instead of failing six times.
    health = weather.health()
    if not health["success"]:
        down = health["error_code"] in ("connection", "timeout")
        what = "Redis is not reachable" if down else "cannot use Redis"
        print(f"error: {what}: {health['error']}", file=sys.stderr)
        return 1
    print(f"Redis {health['redis_version']} ({health['mode']}) is up, {health['latency_ms']} ms")

    # Both roles write a key named "state". Neither passes a role: each is detected from the
    # directory its lifecycle.py lives in, so the two land under different prefixes.
    for result in (
        check(weather.save_forecast("Paris", sky="clear", high_c=21.5)),
        check(timer.start_timer("tea", seconds=180)),
    ):
        print(f"wrote {result['key']!r} as {result['prefixed_key']} (ttl {result['ttl']} s)")

    # Reading "state" back gives each role its own value.
    print(f"weather reads state: {check(weather.load_state())['value']}")
    print(f"timer reads state:   {check(timer.load_state())['value']}")

    # Each role lists only its own keys, shown without the prefix.
    for name, role in (("weather", weather), ("timer", timer)):
        listed = check(role.keys())
        print(f"{name} has {listed['count']} keys: {', '.join(listed['keys'])}")

    print("stored in Redis:")
    for role in (weather, timer):
        for result in role.stored():
            print(f"  {check(result)['prefixed_key']} = {result['value']}")

    # Clean up, so that a demo run leaves nothing behind (the TTLs would, eventually).
    for name, role in (("weather", weather), ("timer", timer)):
        print(f"cleared {name}: {check(role.forget_everything())['deleted_count']} keys deleted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
