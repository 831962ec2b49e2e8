"""Issue 3, section 5: roleredis.aio, awaitable versions of every tool on redis.asyncio.

Same names, arguments, results and semantics as the sync tools; one client per event loop, so
asyncio.run() twice, or loops in several threads at once, never meet "attached to a different
loop", "Event loop is closed" or unclosed-connection warnings.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
import redis

import roleredis
from roleredis import aio, reset, tools
from roleredis.foundation.errors import InvalidArgumentError, NotFoundError
from roleredis.testing import RedisServer

pytestmark = pytest.mark.backends("redis", "memory", "sentinel", "cluster", "cluster_spread")

MakeModule = Callable[..., ModuleType]
Result = dict[str, Any]

# fields that differ between two calls by their nature: timing, and in the health check the
# message (it quotes the latency), the server's memory, and the pool of the calling flavour
TIMING_FIELDS = {"latency_ms"}
HEALTH_VOLATILE = {"latency_ms", "message", "pool", "used_memory_human"}

LOOP_TROUBLE = (
    "attached to a different loop",
    "event loop is closed",
    "unclosed",
    "task was destroyed",
    "never awaited",
    "different event loop",
)


@contextlib.contextmanager
def strict_loops() -> Iterator[list[str]]:
    """Collect every warning, unraisable exception (e.g. in __del__) and asyncio error log
    raised inside the block (after a gc.collect()); fail if any is about loops/connections."""
    problems: list[str] = []
    old_hook = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        problems.append(f"unraisable: {unraisable.exc_type.__name__}: {unraisable.exc_value}")

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                problems.append(f"asyncio log: {record.getMessage()}")

    handler = Collect()
    asyncio_log = logging.getLogger("asyncio")
    asyncio_log.addHandler(handler)
    sys.unraisablehook = hook
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield problems
            gc.collect()
            gc.collect()
        problems.extend(f"{w.category.__name__}: {w.message}" for w in caught)
    finally:
        sys.unraisablehook = old_hook
        asyncio_log.removeHandler(handler)
    assert problems == [], problems


def comparable(result: Result) -> Result:
    volatile = HEALTH_VOLATILE if "connected" in result else TIMING_FIELDS
    return {k: v for k, v in result.items() if k not in volatile}


def same(sync_result: Result, async_result: Result) -> None:
    """Field by field: the same fields in the same order, the same values (but timing)."""
    assert list(sync_result) == list(async_result), (sync_result, async_result)
    assert comparable(sync_result) == comparable(async_result)


# --------------------------------------------------------------------------- same results

VALUES: list[Any] = [{"sky": "clear", "n": [1, 2.5, None]}, "123", None, True, b"\xff\x00", 2**70]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_write_and_read_give_the_same_results_as_the_sync_tools(value: Any) -> None:
    async def main() -> tuple[Result, Result]:
        return (
            await aio.redis_write("k", value, ttl=-1, role="cmp"),
            await aio.redis_read("k", role="cmp"),
        )

    sync_write = tools.redis_write("k", value, ttl=-1, role="cmp")
    sync_read = tools.redis_read("k", role="cmp")
    async_write, async_read = asyncio.run(main())
    same(sync_write, async_write)
    same(sync_read, async_read)
    assert type(async_read["value"]) is type(value)


def test_write_with_ttl_gives_the_same_result_as_the_sync_write(raw: redis.Redis) -> None:
    sync = tools.redis_write("t", 1, ttl=120, role="cmp")
    async_ = asyncio.run(aio.redis_write("t", 1, ttl=120, role="cmp"))
    same(sync, async_)
    assert 110 <= raw.ttl("cmp:t") <= 120


def test_ttl_policy_from_config_is_the_same(write_config: Callable[..., object]) -> None:
    write_config({"key_management": {"default_ttl": 600, "max_ttl": 3600}})
    for kwargs in ({}, {"ttl": 99999}, {"ttl": -1}, {"ttl": 30}):
        sync = tools.redis_write("k", 1, role="cmp", **kwargs)
        async_ = asyncio.run(aio.redis_write("k", 1, role="cmp", **kwargs))
        same(sync, async_)


def test_exists_delete_get_keys_give_the_same_results() -> None:
    tools.redis_write_many({"a": 1, "b": 2, "session:x": 3, "session:y": 4}, role="cmp")

    async def reads() -> list[Result]:
        return [
            await aio.redis_exists("a", role="cmp"),
            await aio.redis_exists("zzz", role="cmp"),
            await aio.redis_get_keys(role="cmp"),
            await aio.redis_get_keys("session:*", role="cmp"),
            await aio.redis_get_keys("nothing*", role="cmp"),
        ]

    sync_reads = [
        tools.redis_exists("a", role="cmp"),
        tools.redis_exists("zzz", role="cmp"),
        tools.redis_get_keys(role="cmp"),
        tools.redis_get_keys("session:*", role="cmp"),
        tools.redis_get_keys("nothing*", role="cmp"),
    ]
    for sync, async_ in zip(sync_reads, asyncio.run(reads()), strict=True):
        same(sync, async_)
        assert sync["success"] is True

    sync_deleted = tools.redis_delete("a", role="cmp")
    tools.redis_write("a", 1, role="cmp")
    async_deleted = asyncio.run(aio.redis_delete("a", role="cmp"))
    same(sync_deleted, async_deleted)
    assert async_deleted["deleted"] is True
    same(tools.redis_delete("a", role="cmp"), asyncio.run(aio.redis_delete("a", role="cmp")))


def test_clear_role_data_gives_the_same_result() -> None:
    mapping = {f"k{n}": n for n in range(30)}
    tools.redis_write_many(mapping, role="clr")
    tools.redis_write("keep", 1, role="other")
    sync = tools.redis_clear_role_data("clr")
    tools.redis_write_many(mapping, role="clr")
    async_ = asyncio.run(aio.redis_clear_role_data("clr"))
    same(sync, async_)
    assert async_["deleted_count"] == 30
    assert tools.redis_read("keep", role="other")["value"] == 1
    same(tools.redis_clear_role_data("clr"), asyncio.run(aio.redis_clear_role_data("clr")))


def test_write_many_and_read_many_give_the_same_results() -> None:
    mapping = {f"k{n}": {"n": n} for n in range(50)}
    sync_w = tools.redis_write_many(mapping, ttl=300, role="cmp")
    async_w = asyncio.run(aio.redis_write_many(mapping, ttl=300, role="cmp"))
    same(sync_w, async_w)
    keys = [*mapping, "missing1", "missing2"]
    sync_r = tools.redis_read_many(keys, role="cmp")
    async_r = asyncio.run(aio.redis_read_many(keys, role="cmp"))
    same(sync_r, async_r)
    assert async_r["missing"] == ["missing1", "missing2"]
    same(tools.redis_write_many({}, role="cmp"), asyncio.run(aio.redis_write_many({}, role="cmp")))
    same(tools.redis_read_many([], role="cmp"), asyncio.run(aio.redis_read_many([], role="cmp")))


def test_health_check_gives_the_same_fields() -> None:
    sync = tools.redis_health_check(role="cmp")
    async_ = asyncio.run(aio.redis_health_check(role="cmp"))
    assert sync["success"] is True and async_["success"] is True
    assert set(sync) == set(async_)
    same(sync, async_)
    assert isinstance(async_["latency_ms"], float | int)
    assert set(async_["pool"]) == set(sync["pool"])
    assert async_["background"] == sync["background"]


ERROR_CASES: dict[str, tuple[str, tuple[Any, ...], dict[str, Any]]] = {
    "read missing": ("redis_read", ("nope",), {"role": "cmp"}),
    "read empty key": ("redis_read", ("",), {"role": "cmp"}),
    "read int key": ("redis_read", (7,), {"role": "cmp"}),
    "write bad role": ("redis_write", ("k", 1), {"role": "a:b"}),
    "write ttl 0": ("redis_write", ("k", 1, 0), {"role": "cmp"}),
    "write ttl float": ("redis_write", ("k", 1, 2.5), {"role": "cmp"}),
    "write set value": ("redis_write", ("k", {1, 2}), {"role": "cmp"}),
    "write nan": ("redis_write", ("k", float("nan")), {"role": "cmp"}),
    "write int dict key": ("redis_write", ("k", {1: 2}), {"role": "cmp"}),
    "write long key": ("redis_write", ("k" * 1025, 1), {"role": "cmp"}),
    "delete empty key": ("redis_delete", ("",), {"role": "cmp"}),
    "exists bad role": ("redis_exists", ("k",), {"role": ""}),
    "get_keys empty pattern": ("redis_get_keys", ("",), {"role": "cmp"}),
    "get_keys int pattern": ("redis_get_keys", (5,), {"role": "cmp"}),
    "clear bad role": ("redis_clear_role_data", ("a b",), {}),
    "write_many bad key": ("redis_write_many", ({"ok": 1, "": 2},), {"role": "cmp"}),
    "write_many bad value": ("redis_write_many", ({"ok": {1, 2}},), {"role": "cmp"}),
    "read_many bad key": ("redis_read_many", (["ok", 3],), {"role": "cmp"}),
    "health bad role": ("redis_health_check", (), {"role": "x:y"}),
}


@pytest.mark.parametrize("name", list(ERROR_CASES))
def test_failures_give_the_same_results_as_the_sync_tools(name: str, raw: redis.Redis) -> None:
    function, args, kwargs = ERROR_CASES[name]
    sync = getattr(tools, function)(*args, **kwargs)
    async_ = asyncio.run(getattr(aio, function)(*args, **kwargs))
    assert sync["success"] is False, sync
    same(sync, async_)
    assert async_["error"] == sync["error"]
    assert raw.dbsize() == 0


def test_disabled_gives_the_same_results(write_config: Callable[..., object]) -> None:
    write_config({"enabled": False})
    sync = tools.redis_write("k", 1, role="cmp")
    async_ = asyncio.run(aio.redis_write("k", 1, role="cmp"))
    assert sync["error_code"] == "disabled"
    same(sync, async_)
    same(tools.redis_health_check(role="cmp"), asyncio.run(aio.redis_health_check(role="cmp")))


@pytest.mark.real_server
def test_server_down_gives_connection_errors_fast_like_the_sync_tools(
    monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., object]
) -> None:
    server = RedisServer()  # a free port with nothing listening
    monkeypatch.setenv("REDIS_URL", server.url)
    write_config({"connection": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}})

    async def calls() -> list[tuple[Result, float]]:
        out = []
        for call in (
            lambda: aio.redis_write("k", 1, role="w"),
            lambda: aio.redis_read("k", role="w"),
            lambda: aio.redis_health_check(role="w"),
            lambda: aio.redis_read_many(["a"], role="w"),
        ):
            started = time.monotonic()
            result = await call()
            out.append((result, time.monotonic() - started))
        return out

    with strict_loops():
        for result, elapsed in asyncio.run(calls()):
            assert result["success"] is False, result
            assert result["error_code"] == "connection", result
            assert elapsed < 0.5 + 0.4, f"took {elapsed:.2f} s"
    sync = tools.redis_read("k", role="w")
    async_ = asyncio.run(aio.redis_read("k", role="w"))
    assert set(sync) == set(async_)
    assert {k: v for k, v in sync.items() if k not in ("error", "message")} == {
        k: v for k, v in async_.items() if k not in ("error", "message")
    }


def test_role_defaults_the_same_way_without_role(
    monkeypatch: pytest.MonkeyPatch, physical: Callable[[str], str]
) -> None:
    monkeypatch.setenv("ROLEREDIS_ROLE", "envrole")
    reset()
    same(tools.redis_write("k", 1), asyncio.run(aio.redis_write("k", 1)))
    same(tools.redis_read("k"), asyncio.run(aio.redis_read("k")))
    with roleredis.acting_as("ctx"):
        same(tools.redis_write("k", 2), asyncio.run(aio.redis_write("k", 2)))
        same(tools.redis_read("k"), asyncio.run(aio.redis_read("k")))

    async def in_context() -> Result:
        with roleredis.acting_as("ctx"):
            return await aio.redis_write("k2", 2)

    assert asyncio.run(in_context())["prefixed_key"] == physical("ctx:k2")


# --------------------------------------------------------------------------- AsyncRoleStore


def test_async_role_store_does_every_operation(
    raw: redis.Redis, physical: Callable[[str], str]
) -> None:
    async def main() -> None:
        store = aio.AsyncRoleStore("timer")
        assert store.role == "timer"
        assert store.full_key("state") == physical("timer:state")
        written = await store.write("state", {"ticking": True}, ttl=60)
        assert written.full_key == physical("timer:state") and written.ttl == 60
        entry = await store.read("state")
        assert entry.value == {"ticking": True} and 50 <= entry.ttl <= 60
        assert await store.exists("state") is True
        assert await store.exists("nope") is False
        many = await store.write_many({"a": 1, "b": [2]})
        assert sorted(many.keys) == ["a", "b"]
        read_many = await store.read_many(["a", "b", "c"])
        assert read_many.values == {"a": 1, "b": [2]} and read_many.missing == ["c"]
        assert sorted(await store.keys()) == ["a", "b", "state"]
        assert await store.keys("st*") == ["state"]
        with pytest.raises(NotFoundError):
            await store.read("nope")
        with pytest.raises(InvalidArgumentError):
            await store.write("", 1)
        assert await store.delete("a") is True
        assert await store.delete("a") is False
        health = await store.health()
        assert health.latency_ms >= 0 and health.redis_version
        usage = await store.pool_usage()
        assert set(usage) >= {"max", "in_use", "idle"}
        assert await store.clear() == 2
        assert await store.keys() == []

    with strict_loops():
        asyncio.run(main())
    assert raw.dbsize() == 0


def test_async_role_store_shares_data_with_the_sync_tools() -> None:
    tools.redis_write("from_sync", [1, 2], role="shared")

    async def main() -> Any:
        store = aio.AsyncRoleStore("shared")
        await store.write("from_async", {"x": 1})
        return (await store.read("from_sync")).value

    assert asyncio.run(main()) == [1, 2]
    assert tools.redis_read("from_async", role="shared")["value"] == {"x": 1}
    assert roleredis.RoleStore("shared").read("from_async").value == {"x": 1}


def test_async_role_store_refuses_a_bad_role() -> None:
    with pytest.raises(InvalidArgumentError):
        aio.AsyncRoleStore("a:b")
    with pytest.raises(InvalidArgumentError):
        aio.AsyncRoleStore("")


@pytest.mark.not_cluster(
    "gives AsyncRoleStore a plain redis.asyncio.Redis of the standalone server, whatever the "
    "backend: a client of one server, which a cluster does not offer"
)
def test_async_role_store_with_a_client_of_its_own(redis_server: RedisServer) -> None:
    async def main() -> Any:
        client = redis.asyncio.Redis.from_url(redis_server.url)
        try:
            store = aio.AsyncRoleStore("own", client=client)
            await store.write("k", "v")
            return (await store.read("k")).value
        finally:
            await client.aclose()

    with strict_loops():
        assert asyncio.run(main()) == "v"


# --------------------------------------------------------------------------- same functions


@pytest.mark.parametrize("name", ["redis_write_async", "redis_read_async", "redis_flush"])
def test_fire_and_forget_functions_are_the_same_objects(name: str) -> None:
    assert getattr(aio, name) is getattr(tools, name)
    assert getattr(aio, name) is getattr(roleredis, name)
    assert name in aio.__all__


SAMPLE_CALLS: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {
    "redis_write": (("k", 1), {"role": "sig"}),
    "redis_read": (("k",), {"role": "sig"}),
    "redis_get_keys": (("*",), {"role": "sig"}),
    "redis_delete": (("k",), {"role": "sig"}),
    "redis_exists": (("k",), {"role": "sig"}),
    "redis_health_check": ((), {"role": "sig"}),
    "redis_clear_role_data": (("sig",), {}),
    "redis_write_many": (({"k": 1},), {"role": "sig"}),
    "redis_read_many": ((["k"],), {"role": "sig"}),
}


@pytest.mark.parametrize("name", list(SAMPLE_CALLS))
def test_every_sync_tool_has_an_awaitable_of_the_same_name_and_signature(name: str) -> None:
    import inspect

    function = getattr(aio, name)
    assert name in aio.__all__
    args, kwargs = SAMPLE_CALLS[name]
    made = function(*args, **kwargs)
    try:
        assert inspect.iscoroutine(made), (name, made)  # await aio.redis_write(...)
    finally:
        made.close()  # not awaited, on purpose
    sync_params = inspect.signature(getattr(tools, name)).parameters
    async_params = inspect.signature(function).parameters
    assert [(p.name, p.kind, p.default) for p in sync_params.values()] == [
        (p.name, p.kind, p.default) for p in async_params.values()
    ]


@pytest.mark.parametrize("name", list(SAMPLE_CALLS))
def test_a_call_cancelled_before_it_starts_leaves_no_warning(name: str) -> None:
    # asyncio.wait_for() with a timeout that has run out, or a task cancelled at once: the
    # coroutine never runs, and nothing inside it may complain ("never awaited") later.
    args, kwargs = SAMPLE_CALLS[name]

    async def main() -> None:
        task = asyncio.ensure_future(getattr(aio, name)(*args, **kwargs))
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    with strict_loops():
        asyncio.run(main())


def test_fire_and_forget_from_inside_a_coroutine() -> None:
    async def main() -> Result:
        for n in range(100):
            assert aio.redis_write_async(f"k{n}", n, role="ff")["success"] is True
        return aio.redis_flush(timeout=10)

    with strict_loops():
        assert asyncio.run(main())["success"] is True
    assert tools.redis_read("k99", role="ff")["value"] == 99


# --------------------------------------------------------------------------- event loops


async def _work(role: str, count: int) -> list[Result]:
    out = []
    for n in range(count):
        out.append(await aio.redis_write(f"k{n}", {"n": n}, role=role))
        out.append(await aio.redis_read(f"k{n}", role=role))
    return out


def test_asyncio_run_twice_in_a_row() -> None:
    with strict_loops():
        first = asyncio.run(_work("twice", 20))
        second = asyncio.run(_work("twice", 20))
        third = asyncio.run(aio.redis_get_keys(role="twice"))
    assert all(r["success"] is True for r in first + second), [
        r for r in first + second if not r["success"]
    ]
    assert third["count"] == 20


def test_asyncio_run_many_times_with_every_function() -> None:
    async def everything(n: int) -> list[Result]:
        return [
            await aio.redis_write("k", n, role="many"),
            await aio.redis_read("k", role="many"),
            await aio.redis_exists("k", role="many"),
            await aio.redis_get_keys(role="many"),
            await aio.redis_write_many({"a": n}, role="many"),
            await aio.redis_read_many(["a"], role="many"),
            await aio.redis_health_check(role="many"),
            await aio.redis_delete("k", role="many"),
            await aio.redis_clear_role_data("many"),
        ]

    with strict_loops():
        for n in range(5):
            results = asyncio.run(everything(n))
            assert all(r["success"] is True for r in results), results


def test_loops_in_four_threads_at_the_same_time() -> None:
    errors: list[BaseException] = []
    results: dict[int, list[Result]] = {}
    barrier = threading.Barrier(4)

    async def worker(t: int) -> list[Result]:
        barrier.wait()
        role = f"loop{t}"
        out = await _work(role, 50)  # 100 operations one after another
        # and 100 at once: more than max_connections, so some must wait for a connection
        out += await asyncio.gather(
            *(aio.redis_write(f"g{n}", n, role=role) for n in range(50)),
            *(aio.redis_read(f"k{n}", role=role) for n in range(50)),
        )
        return out

    def run(t: int) -> None:
        try:
            results[t] = asyncio.run(worker(t))
        except BaseException as exc:
            errors.append(exc)

    with strict_loops():
        threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert errors == []
    for t in range(4):
        assert len(results[t]) == 200
        failed = [r for r in results[t] if r["success"] is not True]
        assert failed == [], failed[:3]
        assert tools.redis_get_keys(role=f"loop{t}")["count"] == 100


def test_many_concurrent_tasks_in_one_loop_wait_for_a_connection(
    write_config: Callable[..., object],
) -> None:
    # redis-py's asyncio pool raises "Too many connections" unless it blocks: 300 tasks at
    # once over max_connections 4 must all succeed.
    write_config({"pool": {"max_connections": 4}})

    async def main() -> list[Result]:
        return await asyncio.gather(
            *(aio.redis_write(f"k{n}", n, role="burst") for n in range(300))
        )

    with strict_loops():
        results = asyncio.run(main())
    assert [r for r in results if r["success"] is not True] == []
    assert tools.redis_get_keys(role="burst")["count"] == 300


@pytest.mark.real_server
def test_an_ended_loop_is_not_kept_alive() -> None:
    async def main() -> asyncio.AbstractEventLoop:
        await aio.redis_write("k", 1, role="gc")
        return asyncio.get_running_loop()

    refs = []
    with strict_loops():
        for _ in range(3):
            refs.append(weakref.ref(asyncio.run(main())))
        gc.collect()
    alive = [r for r in refs if r() is not None]
    assert alive == [], f"{len(alive)} closed event loops (and their clients) are still referenced"


def test_a_loop_closed_by_hand_after_shutdown_asyncgens_leaves_nothing_open() -> None:
    with strict_loops():
        for n in range(2):
            loop = asyncio.new_event_loop()
            try:
                result = loop.run_until_complete(aio.redis_write("k", n, role="manual"))
                assert result["success"] is True, result
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()
            del loop


def test_aclose_closes_the_loop_client_and_the_next_call_opens_a_new_one() -> None:
    async def main() -> list[Result]:
        first = await aio.redis_write("k", 1, role="ac")
        await aio.aclose()
        second = await aio.redis_read("k", role="ac")
        return [first, second]

    with strict_loops():
        first, second = asyncio.run(main())
    assert first["success"] is True and second["value"] == 1


@pytest.mark.real_server
def test_reset_between_runs_takes_the_new_settings(
    monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer
) -> None:
    other = RedisServer().start()
    try:
        with strict_loops():
            assert asyncio.run(aio.redis_write("k", "first", role="rs"))["success"] is True
            monkeypatch.setenv("REDIS_URL", other.url)
            reset()
            assert asyncio.run(aio.redis_write("k", "second", role="rs"))["success"] is True
        client = other.client()
        try:
            assert client.get("rs:k") == b'"second"'
        finally:
            client.close()
    finally:
        reset()
        other.stop()
    client = redis_server.client()
    try:
        assert client.get("rs:k") == b'"first"'
    finally:
        client.close()


# --------------------------------------------------------------------------- role detection

TIMER_MODULE = """
import asyncio
from roleredis import aio

async def on_tick(n):
    result = await aio.redis_write("state", {"tick": n})
    await asyncio.sleep(0)  # after a suspension the role is still found
    read = await aio.redis_read("state")
    return result, read

async def keys():
    return await aio.redis_get_keys()
"""

TIMER_GATHER_MODULE = """
import asyncio
from roleredis import aio

async def on_tick_gathered():
    return await asyncio.gather(
        aio.redis_write("g1", 1),
        aio.redis_write("g2", 2),
    )

async def on_tick_task():
    return await asyncio.create_task(aio.redis_write("t1", 1))
"""


def test_role_is_detected_from_an_async_def_under_roles(
    role_module: MakeModule, raw: redis.Redis, physical: Callable[[str], str]
) -> None:
    timer = role_module("timer", "async_lifecycle", TIMER_MODULE)
    written, read = asyncio.run(timer.on_tick(1))
    assert written["success"] is True, written
    assert written["prefixed_key"] == physical("timer:state")
    assert written["role"] == "timer"
    assert read["value"] == {"tick": 1}
    assert asyncio.run(timer.keys())["keys"] == ["state"]
    assert raw.keys() == [b"timer:state"]


def test_role_is_detected_for_coroutines_gathered_or_made_tasks_in_a_role_module(
    role_module: MakeModule, raw: redis.Redis, physical: Callable[[str], str]
) -> None:
    # asyncio.gather()/create_task() run the coroutine in a task of its own, whose frames do
    # not include the role's function: the role must be taken when the coroutine is made.
    timer = role_module("timer", "async_gather", TIMER_GATHER_MODULE)
    gathered = asyncio.run(timer.on_tick_gathered())
    tasked = asyncio.run(timer.on_tick_task())
    assert [r["prefixed_key"] for r in gathered] == [physical("timer:g1"), physical("timer:g2")]
    assert tasked["prefixed_key"] == physical("timer:t1")
