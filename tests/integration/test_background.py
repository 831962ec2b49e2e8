"""Issue 3, sections 1-3: redis_write_async, the one background writer, flush, outages.

Every test runs against a real redis-server: the session's (through the autouse clean
environment) or one of its own (``own_server``) when it must pause, kill or restart it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
import redis

from roleredis import (
    acting_as,
    redis_flush,
    redis_health_check,
    redis_read,
    redis_read_async,
    redis_write,
    redis_write_async,
    reset,
)
from roleredis.testing import RedisServer

pytestmark = pytest.mark.backends("redis", "memory", "sentinel", "cluster", "cluster_spread")

MakeModule = Callable[..., ModuleType]
WRITER_THREAD = "roleredis-writer"
CONNECT_TIMEOUT = 0.5
SOCKET_TIMEOUT = 1.0


def writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == WRITER_THREAD and t.is_alive()]


def fast_config(**async_settings: Any) -> dict[str, Any]:
    """Short timeouts, so that a server that is down costs little; plus ``async:`` settings."""
    return {
        "connection": {
            "socket_connect_timeout": CONNECT_TIMEOUT,
            "socket_timeout": SOCKET_TIMEOUT,
        },
        "async": {"drain_timeout": 1, **async_settings},
    }


@pytest.fixture
def own_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisServer]:
    """A redis-server of this test's own (to pause, kill, restart); REDIS_URL points at it.

    The test writes its config (write_config) afterwards, which also resets roleredis.
    """
    server = RedisServer().start()
    monkeypatch.setenv("REDIS_URL", server.url)
    reset()
    try:
        yield server
    finally:
        if server.paused:
            server.resume()
        if not server.running:
            server.start()
        reset()
        server.stop()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def background_stats() -> dict[str, int]:
    # Only to wait without polling the server; assertions go through redis_health_check().
    from roleredis.transport.writer import process as background

    return background.stats()


# =========================================================================== section 1


def test_write_async_result_has_the_guide_fields(
    raw: redis.Redis, physical: Callable[[str], str]
) -> None:
    result = redis_write_async("logs:info", {"event": "user_login"}, ttl=86400, role="weather")
    assert result["success"] is True, result
    assert result["key"] == "logs:info"
    assert result["prefixed_key"] == physical("weather:logs:info")
    assert result["ttl"] == 86400
    assert result["async"] is True
    assert isinstance(result["message"], str)
    assert "start" in result["message"].lower(), result["message"]
    assert "error_code" not in result
    flushed = redis_flush(timeout=10)
    assert flushed["success"] is True, flushed
    assert redis_read("logs:info", role="weather")["value"] == {"event": "user_login"}
    assert 86390 <= raw.ttl("weather:logs:info") <= 86400


def test_write_async_ttl_policy_matches_the_sync_write(
    write_config: Callable[..., object], raw: redis.Redis
) -> None:
    write_config({"key_management": {"default_ttl": 600, "max_ttl": 3600}})
    default = redis_write_async("d", 1, role="w")
    assert default["success"] is True and default["ttl"] == 600, default
    lowered = redis_write_async("m", 1, ttl=99999, role="w")
    assert lowered["success"] is True and lowered["ttl"] == 3600, lowered
    assert "warning" in lowered and redis_write("m2", 1, ttl=99999, role="w")["warning"]
    forever = redis_write_async("f", 1, ttl=-1, role="w")
    assert forever["ttl"] == 3600  # no expiry is above max_ttl too
    assert redis_flush(timeout=10)["success"] is True
    assert 590 <= raw.ttl("w:d") <= 600
    assert 3590 <= raw.ttl("w:m") <= 3600
    assert 3590 <= raw.ttl("w:f") <= 3600


@pytest.mark.parametrize(
    "value",
    [
        "123",
        "null",
        "",
        None,
        True,
        False,
        0,
        -7,
        2**70,
        1.5,
        b"\xff\x00bytes",
        [1, "a"],
        {"n": {}},
    ],
    ids=repr,
)
def test_values_written_async_come_back_exactly(value: Any) -> None:
    assert redis_write_async("v", value, role="w")["success"] is True
    assert redis_flush(timeout=10)["success"] is True
    read = redis_read("v", role="w")
    assert read["success"] is True, read
    assert type(read["value"]) is type(value)
    assert read["value"] == value


INVALID_CALLS: dict[str, tuple[Callable[[], dict[str, Any]], str]] = {
    "empty key": (lambda: redis_write_async("", 1, role="w"), "invalid_argument"),
    "int key": (lambda: redis_write_async(5, 1, role="w"), "invalid_argument"),  # type: ignore[arg-type]
    "long key": (lambda: redis_write_async("k" * 1025, 1, role="w"), "invalid_argument"),
    "role with colon": (lambda: redis_write_async("k", 1, role="a:b"), "invalid_argument"),
    "empty role": (lambda: redis_write_async("k", 1, role=""), "invalid_argument"),
    "ttl zero": (lambda: redis_write_async("k", 1, ttl=0, role="w"), "invalid_argument"),
    "ttl negative": (lambda: redis_write_async("k", 1, ttl=-5, role="w"), "invalid_argument"),
    "ttl float": (lambda: redis_write_async("k", 1, ttl=1.5, role="w"), "invalid_argument"),  # type: ignore[arg-type]
    "ttl str": (lambda: redis_write_async("k", 1, ttl="60", role="w"), "invalid_argument"),  # type: ignore[arg-type]
    "set value": (lambda: redis_write_async("k", {1, 2}, role="w"), "serialization"),
    "tuple value": (lambda: redis_write_async("k", (1, 2), role="w"), "serialization"),
    "nan value": (lambda: redis_write_async("k", float("nan"), role="w"), "serialization"),
    "int dict key": (lambda: redis_write_async("k", {1: "a"}, role="w"), "serialization"),
    "object value": (lambda: redis_write_async("k", object(), role="w"), "serialization"),
    "nested bytes": (lambda: redis_write_async("k", [b"x"], role="w"), "serialization"),
}


@pytest.mark.parametrize("name", list(INVALID_CALLS))
def test_invalid_write_async_is_reported_at_once_and_nothing_is_queued(
    name: str, raw: redis.Redis
) -> None:
    call, code = INVALID_CALLS[name]
    # at once: the call's own result says what was wrong (not a later count of lost writes),
    # and nothing reached the writer (no timed bound: one failed at 0.73 s on a loaded machine)
    result = call()
    assert result["success"] is False, result
    assert result["error_code"] == code, result
    assert isinstance(result["error"], str) and result["error"]
    assert background_stats()["pending"] == 0
    flushed = redis_flush(timeout=5)
    assert flushed["success"] is True and flushed["written"] == 0, flushed
    assert raw.dbsize() == 0
    assert redis_health_check(role="w")["background"]["written"] == 0


def test_invalid_write_async_has_the_same_error_code_as_the_sync_write() -> None:
    for name, (call, code) in INVALID_CALLS.items():
        result = call()
        assert result["error_code"] == code, (name, result)
    sync = redis_write("k", {1, 2}, role="w")
    assert sync["error_code"] == redis_write_async("k", {1, 2}, role="w")["error_code"]


ROLE_WRITER = """
import threading
from roleredis import redis_write_async

def log_event(key, value):
    return redis_write_async(key, value)

def log_event_from_thread(key, value):
    out = {}
    thread = threading.Thread(target=lambda: out.update(redis_write_async(key, value)))
    thread.start()
    thread.join()
    return out
"""


def test_role_is_resolved_in_the_caller_not_in_the_writer_thread(
    role_module: MakeModule, raw: redis.Redis, physical: Callable[[str], str]
) -> None:
    weather = role_module("weather", "bg_lifecycle", ROLE_WRITER)
    result = weather.log_event("event", {"n": 1})
    assert result["success"] is True, result
    assert result["prefixed_key"] == physical("weather:event")
    assert result["role"] == "weather"
    # a thread started inside the role's module is still the role's caller
    from_thread = weather.log_event_from_thread("event2", {"n": 2})
    assert from_thread["prefixed_key"] == physical("weather:event2"), from_thread
    # acting_as() is a context variable of the caller: the writer thread does not have it
    with acting_as("timer"):
        assert redis_write_async("tick", 1)["prefixed_key"] == physical("timer:tick")
    assert redis_flush(timeout=10)["success"] is True
    assert sorted(raw.keys()) == [b"timer:tick", b"weather:event", b"weather:event2"]
    assert redis_read("event", role="weather")["value"] == {"n": 1}


# =========================================================================== section 2


def test_no_writer_thread_before_the_first_async_call(raw: redis.Redis) -> None:
    reset()
    assert writer_threads() == [], "a writer thread survived reset()"
    import roleredis.aio  # noqa: F401  (importing starts nothing)

    assert redis_write("sync", 1, role="w")["success"] is True
    assert redis_read("sync", role="w")["success"] is True
    health = redis_health_check(role="w")
    assert health["success"] is True
    assert health["background"]["pending"] == 0
    assert health["background"]["written"] == 0
    assert redis_flush(timeout=1)["success"] is True
    assert writer_threads() == [], "a sync call or flush started the writer"

    assert redis_write_async("a", 1, role="w")["success"] is True
    assert len(writer_threads()) == 1
    # more callers, more threads: still one writer per process
    callers = [
        threading.Thread(target=lambda n=n: redis_write_async(f"t{n}", n, role="w"))
        for n in range(4)
    ]
    for thread in callers:
        thread.start()
    for thread in callers:
        thread.join()
    assert len(writer_threads()) == 1
    assert redis_flush(timeout=10)["success"] is True
    assert raw.dbsize() == 6


def test_reset_stops_the_writer_thread() -> None:
    assert redis_write_async("a", 1, role="w")["success"] is True
    assert len(writer_threads()) == 1
    reset()
    assert writer_threads() == []
    assert redis_read("a", role="w")["value"] == 1  # reset() drained it first


THREADS = 8
PER_THREAD = 1250  # 8 x 1250 = 10000 writes
HOT_KEYS = 10  # each thread rewrites these keys many times, in sequence


def test_10000_async_writes_from_8_threads_all_land_and_the_last_write_wins(
    raw: redis.Redis, physical: Callable[[str], str]
) -> None:
    failures: list[dict[str, Any]] = []
    barrier = threading.Barrier(THREADS)

    def work(t: int) -> None:
        role = f"bg{t}"
        barrier.wait()
        with acting_as(role) if t % 2 else contextlib.nullcontext():
            for i in range(PER_THREAD):
                if i % 5 == 0:  # 250 writes spread over the hot keys, in order
                    key, value = f"hot{i // 5 % HOT_KEYS}", {"t": t, "seq": i}
                else:
                    key, value = f"u{i}", {"t": t, "i": i}
                result = (
                    redis_write_async(key, value)
                    if t % 2
                    else redis_write_async(key, value, role=role)
                )
                if result["success"] is not True or result["prefixed_key"] != physical(
                    f"{role}:{key}"
                ):
                    failures.append(result)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    flushed = redis_flush(timeout=30)
    elapsed = time.monotonic() - started
    assert failures == []
    assert flushed["success"] is True, flushed
    assert flushed["pending"] == 0

    unique_per_thread = PER_THREAD - PER_THREAD // 5
    assert raw.dbsize() == THREADS * (unique_per_thread + HOT_KEYS)
    for t in range(THREADS):
        role = f"bg{t}"
        keys = [f"{role}:u{i}" for i in range(PER_THREAD) if i % 5]
        values = raw.mget(keys)
        assert all(v is not None for v in values), f"thread {t}: missing writes"
        decoded = [redis_read(f"u{i}", role=role)["value"] for i in (1, 2, PER_THREAD - 1)]
        assert decoded == [{"t": t, "i": i} for i in (1, 2, PER_THREAD - 1)]
        for h in range(HOT_KEYS):
            last = max(i for i in range(0, PER_THREAD, 5) if i // 5 % HOT_KEYS == h)
            got = redis_read(f"hot{h}", role=role)["value"]
            assert got == {"t": t, "seq": last}, (role, h, got)
    health = redis_health_check(role="w")["background"]
    assert health["written"] == THREADS * PER_THREAD
    assert health["pending"] == 0 and health["given_up"] == 0
    assert elapsed < 20


@pytest.mark.real_server
@pytest.mark.parametrize("outage", ["paused", "killed"])
def test_overflow_returns_overloaded_and_the_count_matches_what_is_missing(
    outage: str, own_server: RedisServer, write_config: Callable[..., object]
) -> None:
    write_config(fast_config(max_pending=50))
    if outage == "paused":
        own_server.pause()
    else:
        own_server.kill()
    results: list[dict[str, Any]] = []
    slowest = 0.0
    for i in range(500):
        started = time.perf_counter()
        results.append(redis_write_async(f"k{i}", i, role="ovf"))
        slowest = max(slowest, time.perf_counter() - started)
    read = redis_read_async("k0", lambda r: None, role="ovf")
    # socket_timeout is 1 s: a call that waited for room in the queue would take that long
    assert slowest < 0.5, f"a call blocked for {slowest:.3f} s"
    assert read["success"] is False and read["error_code"] == "overloaded", read

    overloaded = [r for r in results if r.get("error_code") == "overloaded"]
    accepted = [r for r in results if r["success"] is True]
    assert len(overloaded) + len(accepted) == 500, [
        r for r in results if r not in overloaded and r not in accepted
    ]
    assert len(overloaded) >= 450
    assert len(accepted) <= 50, "the queue holds more than async.max_pending"
    for r in overloaded:
        assert r["success"] is False
        assert r["key"].startswith("k")
        assert "max_pending" in r["error"] or "full" in r["error"]

    if outage == "paused":
        own_server.resume()
    else:
        own_server.start()
    flushed = redis_flush(timeout=15)
    assert flushed["success"] is True, flushed
    client = own_server.client()
    try:
        present = {k.decode() for k in client.keys("ovf:*")}
    finally:
        client.close()
    missing = {f"ovf:k{i}" for i in range(500)} - present
    assert len(missing) == len(overloaded)
    assert missing == {r["prefixed_key"] for r in overloaded if "prefixed_key" in r} or missing == {
        f"ovf:{r['key']}" for r in overloaded
    }
    assert present == {r["prefixed_key"] for r in accepted}
    # the queue has room again
    assert redis_write_async("after", 1, role="ovf")["success"] is True
    assert redis_flush(timeout=10)["success"] is True


# =========================================================================== section 3


def test_flush_returns_written_and_pending_zero(raw: redis.Redis) -> None:
    for i in range(1000):
        redis_write_async(f"k{i}", i, role="w")
    result = redis_flush(timeout=10)
    assert result["success"] is True, result
    assert result["pending"] == 0
    assert isinstance(result["written"], int) and 0 <= result["written"] <= 1000
    assert raw.dbsize() == 1000
    # nothing queued: flush returns at once
    started = time.monotonic()
    assert redis_flush()["success"] is True
    assert time.monotonic() - started < 0.5


@pytest.mark.real_server
def test_flush_written_counts_the_writes_it_waited_for(
    own_server: RedisServer, write_config: Callable[..., object]
) -> None:
    write_config(fast_config())
    own_server.pause()
    for i in range(25):
        assert redis_write_async(f"k{i}", i, role="w")["success"] is True
    out: dict[str, Any] = {}
    flusher = threading.Thread(target=lambda: out.update(redis_flush(timeout=15)))
    flusher.start()
    time.sleep(0.2)  # the flush is waiting before anything could be carried out
    own_server.resume()
    flusher.join()
    assert out["success"] is True, out
    assert out["written"] == 25
    assert out["pending"] == 0


@pytest.mark.real_server
@pytest.mark.parametrize("outage", ["paused", "killed"])
def test_flush_timeout_reports_timeout_and_what_is_pending(
    outage: str, own_server: RedisServer, write_config: Callable[..., object]
) -> None:
    write_config(fast_config())
    getattr(own_server, "pause" if outage == "paused" else "kill")()
    for i in range(10):
        assert redis_write_async(f"k{i}", i, role="w")["success"] is True
    started = time.monotonic()
    result = redis_flush(timeout=0.3)
    elapsed = time.monotonic() - started
    assert result["success"] is False, result
    assert result["error_code"] == "timeout", result
    assert result["pending"] == 10, result
    assert result["written"] == 0
    assert isinstance(result["error"], str) and result["error"]
    assert 0.25 <= elapsed < 1.5, f"flush(timeout=0.3) took {elapsed:.2f} s"
    # the writes were kept; they land once the server is back
    if outage == "paused":
        own_server.resume()
    else:
        own_server.start()
    again = redis_flush(timeout=15)
    assert again["success"] is True and again["pending"] == 0, again
    assert [redis_read(f"k{i}", role="w")["value"] for i in range(10)] == list(range(10))


def test_flush_rejects_a_bad_timeout() -> None:
    for bad in (-1, "1", True):
        result = redis_flush(timeout=bad)  # type: ignore[arg-type]
        assert result["success"] is False, (bad, result)
        assert result["error_code"] == "invalid_argument", (bad, result)


def test_read_async_after_write_async_from_the_same_thread_sees_the_writes() -> None:
    errors: list[Any] = []

    def chain(t: int) -> None:
        role = f"ryw{t}"
        got: list[dict[str, Any]] = []
        done = threading.Event()
        for n in range(300):
            redis_write_async("counter", n, role=role)
            redis_write_async(f"k{n}", n, role=role)
        queued = redis_read_async("counter", lambda r: (got.append(r), done.set()), role=role)
        assert queued["success"] is True
        if not done.wait(10):
            errors.append((t, "no callback"))
            return
        if got[0].get("value") != 299:
            errors.append((t, got[0]))
        last: list[dict[str, Any]] = []
        more = threading.Event()
        redis_write_async("k299", "changed", role=role)
        redis_read_async("k299", lambda r: (last.append(r), more.set()), role=role)
        if not more.wait(10) or last[0].get("value") != "changed":
            errors.append((t, last))

    threads = [threading.Thread(target=chain, args=(t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_health_check_reports_the_background_counters(raw: redis.Redis) -> None:
    before = redis_health_check(role="w")
    assert before["success"] is True, before
    counters = before["background"]
    for name in ("pending", "written", "given_up"):
        assert counters[name] == 0, counters
    for i in range(300):
        redis_write_async(f"k{i}", i, role="w")
    assert redis_flush(timeout=10)["success"] is True
    after = redis_health_check(role="w")["background"]
    assert after["written"] == 300
    assert after["pending"] == 0
    assert after["given_up"] == 0
    assert all(isinstance(v, int) and v >= 0 for v in after.values()), after
    # the sync tools do not count as background writes
    redis_write("sync", 1, role="w")
    assert redis_health_check(role="w")["background"]["written"] == 300


@pytest.mark.real_server
def test_writes_older_than_max_age_are_given_up_counted_and_logged(
    own_server: RedisServer,
    write_config: Callable[..., object],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="roleredis")
    write_config(fast_config(max_age=1))
    own_server.kill()
    count = 37
    for i in range(count):
        assert redis_write_async(f"old{i}", i, role="w")["success"] is True
    # a retry at least every 2 s: given up by max_age + 2 s; a flush waiting meanwhile
    # returns then, and says how many were lost
    during = redis_flush(timeout=8)
    assert during["success"] is True, during
    assert (during["written"], during["lost"], during["pending"]) == (0, count, 0), during
    wait_for(lambda: background_stats()["given_up"] >= count, 6, "the writes to be given up")
    own_server.start()
    health = redis_health_check(role="w")
    assert health["success"] is True, health
    assert health["background"]["given_up"] == count
    assert health["background"]["pending"] == 0
    flushed = redis_flush(timeout=5)
    assert flushed["success"] is True
    client = own_server.client()
    try:
        assert client.keys("w:old*") == []
    finally:
        client.close()
    logged = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("roleredis") and r.levelno >= logging.WARNING
    ]
    assert any(
        re.search(rf"\b{count}\b", m) and re.search(r"(give|gave|given)\s+up", m, re.I)
        for m in logged
    ), logged
    # the writer still works afterwards
    assert redis_write_async("new", 1, role="w")["success"] is True
    assert redis_flush(timeout=10)["success"] is True
    assert redis_read("new", role="w")["value"] == 1


@pytest.mark.real_server
def test_writes_survive_an_outage_shorter_than_max_age(
    own_server: RedisServer, write_config: Callable[..., object]
) -> None:
    write_config(fast_config(max_age=30))
    own_server.kill()
    for i in range(200):
        assert redis_write_async(f"k{i}", i, role="w")["success"] is True
    time.sleep(0.5)
    own_server.start()
    # retried at least every 2 s: through soon after the server is back
    started = time.monotonic()
    flushed = redis_flush(timeout=10)
    assert flushed["success"] is True, flushed
    assert time.monotonic() - started < 3
    assert redis_health_check(role="w")["background"]["given_up"] == 0
    assert [redis_read(f"k{i}", role="w")["value"] for i in (0, 199)] == [0, 199]


@pytest.mark.real_server
def test_after_a_long_outage_the_retry_comes_within_2_s_of_the_server_coming_back(
    own_server: RedisServer, write_config: Callable[..., object]
) -> None:
    # The backoff grows while the server is down; it is capped so that a retry comes at least
    # every 2 s: 3.5 s down is long enough for the backoff to reach the cap.
    write_config(fast_config(max_age=60))
    own_server.kill()
    for i in range(50):
        assert redis_write_async(f"k{i}", i, role="w")["success"] is True
    time.sleep(3.5)
    own_server.start()
    started = time.monotonic()
    flushed = redis_flush(timeout=10)
    elapsed = time.monotonic() - started
    assert flushed["success"] is True, flushed
    assert elapsed < 2 + 0.5, f"the writes went through {elapsed:.2f} s after the server was back"
    assert redis_read("k49", role="w")["value"] == 49


@pytest.mark.real_server
def test_a_write_redis_refuses_is_counted_and_logged_not_silent(
    own_server: RedisServer,
    write_config: Callable[..., object],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="roleredis")
    write_config(fast_config())
    admin = own_server.client()
    try:
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", "1")
        for i in range(5):
            assert redis_write_async(f"oom{i}", i, role="w")["success"] is True
        flushed = redis_flush(timeout=10)
        admin.config_set("maxmemory", "0")
    finally:
        admin.close()
    assert flushed["pending"] == 0, flushed
    counters = redis_health_check(role="w")["background"]
    assert counters["written"] == 0, counters
    assert counters.get("failed", 0) + counters.get("given_up", 0) == 5, counters
    refused = [
        r
        for r in caplog.records
        if r.name.startswith("roleredis")
        and r.levelno >= logging.WARNING
        and "OOM" in r.getMessage()
    ]
    assert len(refused) >= 1
