"""The timer role: keeps the running timers.

Like the weather role it writes a key named "state"; it lands under "timer:", because this
file lies under roles/timer/ (no role= anywhere).
"""

from __future__ import annotations

import time
from typing import Any

from roleredis import redis_delete, redis_get_keys, redis_read, redis_write


def start_timer(name: str, seconds: int) -> dict[str, Any]:
    # The key expires with the timer: Redis forgets it for us when the time is up.
    alarm = redis_write(f"alarm:{name}", {"ends_at": round(time.time()) + seconds}, ttl=seconds)
    if not alarm["success"]:
        return alarm  # results never raise: hand the first failure to the caller
    return redis_write("state", {"running": [name]}, ttl=seconds)


def load_state() -> dict[str, Any]:
    return redis_read("state")


def stored() -> list[dict[str, Any]]:
    """A read of every key of this role: each result has its prefixed_key and value."""
    return [redis_read(key) for key in redis_get_keys("*")["keys"]]


def keys() -> dict[str, Any]:
    return redis_get_keys("*")


def forget(keys: list[str]) -> list[dict[str, Any]]:
    """Delete these keys of this role, by name (the demo deletes only what it wrote)."""
    return [redis_delete(key) for key in keys]
