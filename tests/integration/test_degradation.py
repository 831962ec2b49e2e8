"""Issue 2, section 8: graceful degradation. With the server down every call returns
success False with connection within socket_connect_timeout (retries included); once the
server is back the next call succeeds without reset() or a restart of the program.

Issue 5 added a circuit breaker: after ``breaker.failures`` consecutive connection failures
calls fail fast for ``breaker.cooldown`` seconds, then one probe call decides. Fewer failures
than that never hold the next call back (test_a_few_failures_never_hold_the_next_call); after
more, the first call once the cool-down has passed succeeds."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from roleredis import (
    redis_clear_role_data,
    redis_delete,
    redis_exists,
    redis_get_keys,
    redis_health_check,
    redis_read,
    redis_read_many,
    redis_write,
    redis_write_many,
    reset,
)
from roleredis.testing import RedisServer

CONNECT_TIMEOUT = 0.5
SOCKET_TIMEOUT = 0.5
BREAKER_COOLDOWN = 0.5
MARGIN = 0.3  # scheduling slack on a loaded machine

CALLS: dict[str, Callable[[], dict[str, Any]]] = {
    "write": lambda: redis_write("k", 1, role="w"),
    "read": lambda: redis_read("k", role="w"),
    "exists": lambda: redis_exists("k", role="w"),
    "delete": lambda: redis_delete("k", role="w"),
    "get_keys": lambda: redis_get_keys(role="w"),
    "clear": lambda: redis_clear_role_data("w"),
    "health": lambda: redis_health_check(role="w"),
    "write_many": lambda: redis_write_many({"a": 1, "b": 2}, role="w"),
    "read_many": lambda: redis_read_many(["a", "b"], role="w"),
}


def timed(call: Callable[[], dict[str, Any]]) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


@pytest.fixture
def victim(
    monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., object]
) -> Iterator[RedisServer]:
    """A server of this test's own, to kill and restart; roleredis points at it with short
    timeouts."""
    server = RedisServer()
    server.start()
    monkeypatch.setenv("REDIS_URL", server.url)
    write_config(
        {
            "connection": {
                "socket_connect_timeout": CONNECT_TIMEOUT,
                "socket_timeout": SOCKET_TIMEOUT,
            },
            "breaker": {"cooldown": BREAKER_COOLDOWN},
        }
    )
    try:
        yield server
    finally:
        reset()
        server.stop()


@pytest.mark.parametrize("name", list(CALLS))
def test_server_down_each_call_fails_fast_with_connection(name: str, victim: RedisServer) -> None:
    assert redis_write("warm", 1, role="w")["success"] is True  # a pooled connection exists
    victim.kill()
    for _ in range(2):  # the stale pooled connection, then a fresh connect attempt
        result, elapsed = timed(CALLS[name])
        assert result["success"] is False, result
        assert result["error_code"] == "connection", result
        assert isinstance(result["error"], str) and result["error"]
        assert elapsed <= CONNECT_TIMEOUT + MARGIN, f"{name} took {elapsed:.2f} s"
    if name == "health":
        assert result["connected"] is False


def test_next_call_after_restart_succeeds_without_reset(victim: RedisServer) -> None:
    assert redis_write("before", 1, role="w")["success"] is True
    victim.kill()
    for _ in range(5):
        assert redis_write("during", 1, role="w")["error_code"] == "connection"
        assert redis_read("before", role="w")["error_code"] == "connection"
    victim.restart()
    time.sleep(BREAKER_COOLDOWN)  # ten failures opened the breaker: the probe call decides
    result = redis_write("after", {"back": True}, role="w")
    assert result["success"] is True, result
    assert redis_read("after", role="w")["value"] == {"back": True}
    assert redis_health_check(role="w")["success"] is True


def test_a_few_failures_never_hold_the_next_call(victim: RedisServer) -> None:
    # breaker.failures is at least 2 (default 3): a failed call or two just before the server
    # comes back must not make the next one fail fast
    assert redis_write("before", 1, role="w")["success"] is True
    victim.kill()
    for _ in range(2):
        assert redis_write("during", 1, role="w")["error_code"] == "connection"
    victim.restart()
    result = redis_write("after", 2, role="w")
    assert result["success"] is True, result


def test_restart_between_calls_is_invisible(victim: RedisServer) -> None:
    # The pool holds connections to the old process; the first call after the restart must
    # notice they are dead and reconnect, not fail.
    assert redis_write("a", 1, role="w")["success"] is True
    victim.kill()
    victim.restart()
    result = redis_write("b", 2, role="w")
    assert result["success"] is True, result
    assert redis_read("b", role="w")["value"] == 2


def test_data_survives_a_restart_with_appendonly(
    monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., object]
) -> None:
    server = RedisServer(appendonly=True).start()
    try:
        monkeypatch.setenv("REDIS_URL", server.url)
        write_config({"connection": {"socket_connect_timeout": CONNECT_TIMEOUT}})
        assert redis_write("kept", [1, 2, 3], role="w")["success"] is True
        server.kill()
        assert redis_read("kept", role="w")["error_code"] == "connection"
        server.restart()
        assert redis_read("kept", role="w")["value"] == [1, 2, 3]
    finally:
        reset()
        server.stop()


def test_server_never_started_fails_fast(
    monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., object]
) -> None:
    server = RedisServer()  # a free port, nothing listening
    monkeypatch.setenv("REDIS_URL", server.url)
    write_config(
        {
            "connection": {"socket_connect_timeout": CONNECT_TIMEOUT},
            "breaker": {"cooldown": BREAKER_COOLDOWN},
        }
    )
    for name, call in CALLS.items():
        result, elapsed = timed(call)
        assert result["success"] is False, (name, result)
        assert result["error_code"] == "connection", (name, result)
        assert elapsed <= CONNECT_TIMEOUT + MARGIN, (name, elapsed)
    # ... and it comes up later, on that port: no reset needed (once the breaker that nine
    # failures opened has cooled down)
    server.start()
    time.sleep(BREAKER_COOLDOWN)
    try:
        assert redis_write("k", 1, role="w")["success"] is True
    finally:
        reset()
        server.stop()


def test_unreachable_host_fails_within_socket_connect_timeout(
    monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., object], blackhole: Any
) -> None:
    # Connecting hangs (SYNs dropped), as with a host that is down or firewalled.
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{blackhole.port}/0")
    write_config({"connection": {"socket_connect_timeout": CONNECT_TIMEOUT}})
    for name in ("write", "read", "health", "write_many"):
        result, elapsed = timed(CALLS[name])
        assert result["success"] is False, (name, result)
        assert result["error_code"] == "connection", (name, result)
        assert elapsed <= CONNECT_TIMEOUT + MARGIN, f"{name} took {elapsed:.2f} s"


def test_paused_server_times_out_then_recovers(victim: RedisServer) -> None:
    assert redis_write("k", 1, role="w")["success"] is True
    victim.pause()
    try:
        result, elapsed = timed(CALLS["read"])
    finally:
        victim.resume()
    assert result["success"] is False, result
    assert result["error_code"] in ("timeout", "connection"), result
    assert elapsed <= SOCKET_TIMEOUT + CONNECT_TIMEOUT + MARGIN, f"took {elapsed:.2f} s"
    # the server answers again: the next call works, without reset()
    again = redis_read("k", role="w")
    assert again["success"] is True, again
    assert again["value"] == 1


def test_failures_never_raise_and_are_logged_without_values(
    victim: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    victim.kill()
    secret = "degraded-secret-value"
    caplog.set_level("DEBUG")
    result = redis_write("k", secret, role="w")
    assert result["error_code"] == "connection"
    assert result.get("role") == "w"
    assert any(r.name.startswith("roleredis") for r in caplog.records)
    assert all(secret not in r.getMessage() for r in caplog.records)
