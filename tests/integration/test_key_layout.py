"""Issue 11 §2: results show the real prefixed_key of the backend's layout (``{weather}:forecast``
when roles are co-located in a cluster slot), and a role's listing and clearing never touch
another role whose name merely starts the same (``{alpha}:`` never matches ``{alphabet}:``),
in every layout."""

from __future__ import annotations

import pytest
import redis
from redis.crc import key_slot

from roleredis import (
    redis_clear_role_data,
    redis_delete,
    redis_get_keys,
    redis_read,
    redis_write,
    redis_write_many,
)

pytestmark = pytest.mark.backends("redis", "memory", "sentinel", "cluster", "cluster_spread")

#: the Redis key of weather's "forecast" on each backend, spelled out (not computed)
FORECAST = {
    "redis": "weather:forecast",
    "memory": "weather:forecast",
    "sentinel": "weather:forecast",
    "cluster": "{weather}:forecast",
    "cluster_spread": "weather:forecast",
}


def test_results_show_the_real_prefixed_key(backend: str, raw: redis.Redis) -> None:
    expected = FORECAST[backend]
    written = redis_write("forecast", {"sky": "clear"}, role="weather")
    assert written["prefixed_key"] == expected, written
    assert redis_read("forecast", role="weather")["prefixed_key"] == expected
    assert redis_delete("forecast", role="weather")["prefixed_key"] == expected
    missing = redis_read("forecast", role="weather")
    assert missing["success"] is False and missing["prefixed_key"] == expected, missing


@pytest.mark.backends("cluster")
def test_a_co_located_roles_keys_share_its_slot(redis_cluster: object) -> None:
    keys = [f"k{n}" for n in range(20)]
    assert redis_write_many(dict.fromkeys(keys, 1), role="weather")["success"]
    slot = key_slot(b"weather")
    client = redis_cluster.client()  # type: ignore[attr-defined]
    try:
        for key in keys:
            assert client.exists(f"{{weather}}:{key}") == 1
            assert client.exists(f"weather:{key}") == 0
            assert key_slot(f"{{weather}}:{key}".encode()) == slot
    finally:
        client.close()


@pytest.mark.backends("cluster_spread")
def test_spread_roles_keys_are_plain_and_over_many_slots(redis_cluster: object) -> None:
    keys = [f"k{n}" for n in range(20)]
    assert redis_write_many(dict.fromkeys(keys, 1), role="weather")["success"]
    client = redis_cluster.client()  # type: ignore[attr-defined]
    try:
        for key in keys:
            assert client.exists(f"weather:{key}") == 1
            assert client.exists(f"{{weather}}:{key}") == 0
    finally:
        client.close()
    assert len({key_slot(f"weather:{key}".encode()) for key in keys}) > 1


def test_alpha_never_lists_or_clears_alphabets_keys(raw: redis.Redis) -> None:
    for role in ("alpha", "alphabet", "alph"):
        assert redis_write_many({f"k{n}": n for n in range(5)}, role=role)["success"]
    assert redis_write("bet:x", 1, role="alpha")["success"]

    assert redis_get_keys(role="alpha")["keys"] == ["bet:x", "k0", "k1", "k2", "k3", "k4"]
    assert redis_get_keys("k*", role="alph")["keys"] == ["k0", "k1", "k2", "k3", "k4"]
    assert redis_get_keys("bet*", role="alph")["keys"] == []

    cleared = redis_clear_role_data("alpha")
    assert cleared["success"] is True and cleared["deleted_count"] == 6, cleared
    assert redis_get_keys(role="alpha")["keys"] == []
    for role in ("alphabet", "alph"):
        assert redis_get_keys(role=role)["keys"] == ["k0", "k1", "k2", "k3", "k4"]
        assert redis_read("k4", role=role)["value"] == 4
        assert raw.exists(f"{role}:k0") == 1


@pytest.mark.backends("cluster")
def test_the_raw_adapter_does_not_hide_a_key_in_the_wrong_layout(
    raw: redis.Redis, redis_cluster: object
) -> None:
    # raw (tests/conftest.py LayoutClient) maps weather:x to {weather}:x on this backend: a
    # key written as plain weather:x, which roleredis must not do here, is not found by it
    client = redis_cluster.client()  # type: ignore[attr-defined]
    try:
        client.set("weather:x", 1)
    finally:
        client.close()
    assert raw.exists("weather:x") == 0
    assert raw.keys() == [b"<not in layout>weather:x"]
