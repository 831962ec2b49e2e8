"""The weather role: keeps the latest forecast per city.

No function here passes role=: roleredis sees that this file lies under roles/weather/ and
stores every key under "weather:", so "state" here never meets the timer's "state".
"""

from __future__ import annotations

from typing import Any

from roleredis import (
    redis_delete,
    redis_get_keys,
    redis_health_check,
    redis_read,
    redis_write,
)

# A forecast is stale after ten minutes; the TTL also cleans up after a crashed run.
FORECAST_TTL = 600


def save_forecast(city: str, sky: str, high_c: float) -> dict[str, Any]:
    # "state" is the role's summary; "forecast:<city>" the detail, one key per city.
    detail = redis_write(
        f"forecast:{city.lower()}", {"sky": sky, "high_c": high_c}, ttl=FORECAST_TTL
    )
    if not detail["success"]:
        return detail  # results never raise: hand the first failure to the caller
    return redis_write("state", {"last_city": city}, ttl=FORECAST_TTL)


def load_state() -> dict[str, Any]:
    return redis_read("state")


def stored() -> list[dict[str, Any]]:
    """A read of every key of this role: each result has its prefixed_key and value."""
    return [redis_read(key) for key in redis_get_keys("*")["keys"]]


def keys() -> dict[str, Any]:
    return redis_get_keys("*")


def health() -> dict[str, Any]:
    return redis_health_check()


def forget(keys: list[str]) -> list[dict[str, Any]]:
    """Delete these keys of this role, by name (the demo deletes only what it wrote)."""
    return [redis_delete(key) for key in keys]
