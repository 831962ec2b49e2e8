"""The role inventory (issue 10 item 4) as a library operation: roleredis.admin.inventory.take runs
SCAN, DBSIZE and MEMORY USAGE through the executor, against a real server and the embedded
backend, with the same SCAN batch size, retries and circuit breaker as every other call."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from roleredis import runtime
from roleredis.admin import inventory
from roleredis.admin.inventory import NO_ROLE, RoleUsage
from roleredis.core import ops
from roleredis.foundation.errors import ConnectionFailedError
from roleredis.testing import free_port

from .test_keys_scan import fill

pytestmark = pytest.mark.backends("redis", "memory")


def test_every_role_counted_with_its_memory(raw: redis.Redis, backend: str) -> None:
    fill(raw, "weather:", 2500)
    raw.mset({"timer:x": b"x" * 1000, "plain": b"1", "bad role:x": b"1", b"\xe9:y": b"1"})
    progress: list[tuple[int, int]] = []
    found = inventory.take(progress=lambda new, total: progress.append((new, total)))
    assert found.named == ["timer", "weather"]
    assert found.roles["weather"].keys == 2500 and found.roles["timer"].keys == 1
    assert found.no_role.keys == 3 and found.total.keys == 2504
    assert sum(new for new, _ in progress) == 2504 and {t for _, t in progress} == {2504}
    if backend == "memory":  # fakeredis has no MEMORY USAGE: counted, not measured
        assert found.memory_measured is False and found.total.memory_bytes == 0
    else:
        assert found.memory_measured is True
        assert found.roles["timer"].memory_bytes > 1000 > found.roles["weather"].memory_bytes / 2500


def test_an_empty_database(raw: redis.Redis) -> None:
    found = inventory.take()
    assert found.roles == {} and found.total == RoleUsage() and found.no_role == RoleUsage()


def test_a_given_client(raw: redis.Redis) -> None:
    raw.set("weather:a", b"1")
    found = inventory.take(client=raw)
    assert found.roles == {"weather": RoleUsage(1, found.roles["weather"].memory_bytes)}
    assert NO_ROLE not in found.roles


@pytest.mark.real_server
def test_scans_in_batches_and_never_lists_with_keys(
    raw: redis.Redis, commandstats: Callable[[], dict[str, int]]
) -> None:
    fill(raw, "weather:", 3 * ops.SCAN_COUNT)
    inventory.take()
    calls = commandstats()  # since the fixture reset the statistics
    assert "keys" not in calls
    assert calls["dbsize"] == 1
    assert 3 <= calls["scan"] <= 6  # SCAN_COUNT a batch (SCAN's count is only a hint)
    assert calls["memory|usage"] == 3 * ops.SCAN_COUNT


@pytest.mark.real_server
def test_a_dead_server_is_a_typed_error_counted_by_the_breaker(
    monkeypatch: pytest.MonkeyPatch, raw: redis.Redis
) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    runtime.reset()
    with pytest.raises(ConnectionFailedError, match="nothing accepts connections"):
        inventory.take()
    assert runtime.breaker().report()["consecutive_failures"] == 1
