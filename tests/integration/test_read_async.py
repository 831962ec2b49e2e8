"""Issue 3, section 4: redis_read_async(key, callback=None, *, role=None).

The callback gets exactly the dict redis_read returns; an exception in it is logged and harms
nothing; it runs on the caller's event loop if there was one (on the writer thread, with a
warning, if that loop has closed), else on the writer thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from roleredis import (
    redis_flush,
    redis_read,
    redis_read_async,
    redis_write,
    redis_write_async,
    reset,
)
from roleredis.testing import RedisServer

pytestmark = pytest.mark.backends("redis", "memory")

WRITER_THREAD = "roleredis-writer"


class Catcher:
    """A callback that records what it got, where it ran, and signals."""

    def __init__(self) -> None:
        self.results: list[dict[str, Any]] = []
        self.thread: threading.Thread | None = None
        self.ident: int | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.loop_error: BaseException | None = None
        self.done = threading.Event()

    def __call__(self, result: dict[str, Any]) -> None:
        self.thread = threading.current_thread()
        self.ident = threading.get_ident()
        try:
            self.loop = asyncio.get_running_loop()
        except RuntimeError as exc:
            self.loop_error = exc
        self.results.append(result)
        self.done.set()

    def wait(self, timeout: float = 10.0) -> dict[str, Any]:
        assert self.done.wait(timeout), "the callback was not called"
        return self.results[0]


@pytest.fixture
def own_server(
    monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., object]
) -> Iterator[RedisServer]:
    server = RedisServer().start()
    monkeypatch.setenv("REDIS_URL", server.url)
    write_config(
        {
            "connection": {"socket_connect_timeout": 0.5, "socket_timeout": 1},
            "async": {"drain_timeout": 1},
        }
    )
    try:
        yield server
    finally:
        if server.paused:
            server.resume()
        reset()
        server.stop()


# --------------------------------------------------------------------------- the result


def test_read_async_returns_at_once_with_the_guide_fields() -> None:
    result = redis_read_async("user_session", Catcher(), role="web")
    assert result["success"] is True, result
    assert result["async"] is True
    assert result["callback"] is True
    assert result["key"] == "user_session"
    assert result["prefixed_key"] == "web:user_session"
    assert isinstance(result["message"], str) and result["message"]
    no_callback = redis_read_async("user_session", role="web")
    assert no_callback["success"] is True
    assert no_callback["callback"] is False
    assert redis_flush(timeout=5)["success"] is True


@pytest.mark.parametrize(
    "value",
    [{"user_id": 123, "tags": ["a"]}, "123", "null", None, True, 0, 1.25, b"\x00\xff", []],
    ids=repr,
)
def test_callback_receives_exactly_what_redis_read_returns(value: Any) -> None:
    assert redis_write("present", value, role="web")["success"] is True
    catcher = Catcher()
    redis_read_async("present", catcher, role="web")
    got = catcher.wait()
    expected = redis_read("present", role="web")
    assert got == expected
    assert type(got["value"]) is type(value)
    assert list(got) == list(expected)  # same fields, same order


def test_callback_for_a_key_with_ttl_matches_redis_read() -> None:
    redis_write("ttl", "x", ttl=3600, role="web")
    catcher = Catcher()
    redis_read_async("ttl", catcher, role="web")
    got = catcher.wait()
    expected = redis_read("ttl", role="web")
    assert {k: v for k, v in got.items() if k != "ttl"} == {
        k: v for k, v in expected.items() if k != "ttl"
    }
    assert 3590 <= got["ttl"] <= 3600


def test_callback_for_a_missing_key_matches_redis_read() -> None:
    catcher = Catcher()
    redis_read_async("missing", catcher, role="web")
    got = catcher.wait()
    expected = redis_read("missing", role="web")
    assert expected["success"] is False and expected["error_code"] == "not_found"
    assert got == expected
    assert list(got) == list(expected)


def test_callback_for_a_value_another_client_stored_matches_redis_read(
    redis_server: RedisServer,
) -> None:
    client = redis_server.client()
    try:
        client.set("web:plain", "plain text from another client")
    finally:
        client.close()
    catcher = Catcher()
    redis_read_async("plain", catcher, role="web")
    assert catcher.wait() == redis_read("plain", role="web")


def test_invalid_read_async_is_reported_at_once_and_the_callback_never_runs() -> None:
    for kwargs, code in (
        ({"key": ""}, "invalid_argument"),
        ({"key": 7}, "invalid_argument"),
        ({"key": "k" * 1025}, "invalid_argument"),
        ({"key": "k", "role": "a:b"}, "invalid_argument"),
    ):
        catcher = Catcher()
        call = {"role": "web", **kwargs}
        result = redis_read_async(call.pop("key"), catcher, **call)
        assert result["success"] is False, (kwargs, result)
        assert result["error_code"] == code, (kwargs, result)
        assert redis_flush(timeout=5)["success"] is True
        assert not catcher.done.wait(0.05), f"callback ran for {kwargs}"
    not_callable = redis_read_async("k", callback="print", role="web")  # type: ignore[arg-type]
    assert not_callable["success"] is False
    assert not_callable["error_code"] == "invalid_argument"


# --------------------------------------------------------------------------- callback errors


def test_exception_in_a_callback_is_logged_and_the_writer_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="roleredis")
    raised = threading.Event()

    def bad(result: dict[str, Any]) -> None:
        raised.set()
        raise RuntimeError("boom in the callback")

    redis_write("k", 1, role="web")
    for _ in range(3):
        assert redis_read_async("k", bad, role="web")["success"] is True
    assert raised.wait(10)
    assert redis_flush(timeout=5)["success"] is True

    logged = [
        r
        for r in caplog.records
        if r.name.startswith("roleredis")
        and r.exc_info is not None
        and "boom in the callback" in str(r.exc_info[1])
    ]
    assert len(logged) == 3, [r.getMessage() for r in caplog.records]
    assert all(r.levelno >= logging.WARNING for r in logged)

    # the writer still writes and reads
    for i in range(100):
        redis_write_async(f"after{i}", i, role="web")
    catcher = Catcher()
    redis_read_async("after99", catcher, role="web")
    assert catcher.wait()["value"] == 99
    assert redis_flush(timeout=5)["success"] is True
    assert redis_read("after0", role="web")["value"] == 0


def test_callback_that_raises_base_exception_subclass_does_not_kill_the_writer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # SystemExit/KeyboardInterrupt raised by a callback must not end the writer thread.
    caplog.set_level(logging.WARNING, logger="roleredis")

    def bad(result: dict[str, Any]) -> None:
        raise SystemExit(3)

    redis_write("k", 1, role="web")
    redis_read_async("k", bad, role="web")
    assert redis_flush(timeout=2)["success"] is True
    redis_write_async("later", 2, role="web")
    flushed = redis_flush(timeout=2)
    assert flushed["success"] is True, flushed
    assert redis_read("later", role="web")["value"] == 2


def test_a_callback_may_queue_more_work_and_calling_flush_there_does_not_hang() -> None:
    redis_write("a", "b", role="web")
    redis_write("b", "c", role="web")
    chain: list[Any] = []
    flush_results: list[dict[str, Any]] = []
    done = threading.Event()

    def third(result: dict[str, Any]) -> None:
        chain.append(result["value"])
        done.set()

    def second(result: dict[str, Any]) -> None:
        chain.append(result["value"])
        redis_write_async("from_callback", 1, role="web")
        redis_read_async("from_callback", third, role="web")

    def first(result: dict[str, Any]) -> None:
        chain.append(result["value"])
        # a flush here would wait for the thread that runs this callback: it must not hang
        flush_results.append(redis_flush(timeout=2))
        redis_read_async(result["value"], second, role="web")

    started = time.monotonic()
    redis_read_async("a", first, role="web")
    assert done.wait(10), chain
    assert chain == ["b", "c", 1]
    assert time.monotonic() - started < 1.5, "flush inside a callback blocked the writer"
    assert len(flush_results) == 1 and isinstance(flush_results[0], dict)
    assert redis_flush(timeout=5)["success"] is True


# --------------------------------------------------------------------------- where it runs


def test_callback_runs_on_the_writer_thread_outside_an_event_loop() -> None:
    redis_write("k", "v", role="web")
    catcher = Catcher()
    redis_read_async("k", catcher, role="web")
    assert catcher.wait()["value"] == "v"
    assert catcher.thread is not None
    assert catcher.thread.name == WRITER_THREAD
    assert catcher.thread is not threading.current_thread()
    assert catcher.loop is None  # no event loop there


def test_callback_runs_on_the_event_loop_of_a_caller_inside_a_running_loop() -> None:
    redis_write("k", {"from": "loop"}, role="web")
    seen: dict[str, Any] = {}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        seen["loop"] = loop
        seen["ident"] = threading.get_ident()
        arrived = asyncio.Event()
        catcher = Catcher()

        def callback(result: dict[str, Any]) -> None:
            catcher(result)
            arrived.set()  # an asyncio.Event: only safe on the loop's own thread

        assert redis_read_async("k", callback, role="web")["success"] is True
        await asyncio.wait_for(arrived.wait(), 10)
        seen["catcher"] = catcher

    def in_thread() -> None:
        asyncio.run(main())

    # in a thread of its own, so that "the loop's thread" is neither main nor the writer
    thread = threading.Thread(target=in_thread, name="loop-thread")
    thread.start()
    thread.join(15)
    catcher = seen["catcher"]
    assert catcher.results[0] == redis_read("k", role="web")
    assert catcher.ident == seen["ident"]
    assert catcher.thread is not None and catcher.thread.name == "loop-thread"
    assert catcher.loop is seen["loop"], catcher.loop_error


def test_callback_runs_on_the_main_thread_loop_under_asyncio_run() -> None:
    redis_write("k", 5, role="web")

    async def main() -> Catcher:
        catcher = Catcher()
        arrived = asyncio.Event()
        redis_read_async("k", lambda r: (catcher(r), arrived.set()), role="web")
        await asyncio.wait_for(arrived.wait(), 10)
        assert catcher.loop is asyncio.get_running_loop()
        return catcher

    catcher = asyncio.run(main())
    assert catcher.ident == threading.get_ident()
    assert catcher.results[0]["value"] == 5


def test_callbacks_of_two_loops_in_two_threads_go_to_their_own_loop() -> None:
    redis_write("k", 1, role="web")
    outcome: dict[int, tuple[int, int | None, bool]] = {}

    async def main(n: int) -> None:
        arrived = asyncio.Event()
        catchers = [Catcher() for _ in range(20)]
        left = [len(catchers)]

        def make(c: Catcher) -> Callable[[dict[str, Any]], None]:
            def callback(result: dict[str, Any]) -> None:
                c(result)
                left[0] -= 1
                if not left[0]:
                    arrived.set()

            return callback

        for c in catchers:
            redis_read_async("k", make(c), role="web")
        await asyncio.wait_for(arrived.wait(), 10)
        loop = asyncio.get_running_loop()
        outcome[n] = (
            threading.get_ident(),
            catchers[0].ident,
            all(c.ident == threading.get_ident() and c.loop is loop for c in catchers),
        )

    threads = [threading.Thread(target=asyncio.run, args=(main(n),)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert set(outcome) == {0, 1}
    for ident, callback_ident, all_on_loop in outcome.values():
        assert callback_ident == ident
        assert all_on_loop


@pytest.mark.real_server
def test_callback_of_a_loop_that_has_closed_runs_on_the_writer_thread_with_a_warning(
    own_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="roleredis")
    assert redis_write("k", {"late": True}, role="web")["success"] is True
    catcher = Catcher()
    own_server.pause()  # the reply cannot come before the loop is gone
    try:

        async def main() -> asyncio.AbstractEventLoop:
            assert redis_read_async("k", catcher, role="web")["success"] is True
            return asyncio.get_running_loop()

        loop = asyncio.run(main())
        assert loop.is_closed()
        assert not catcher.done.is_set()
        time.sleep(0.1)
    finally:
        own_server.resume()
    result = catcher.wait(10)
    assert catcher.thread is not None and catcher.thread.name == WRITER_THREAD
    assert result == redis_read("k", role="web")
    warnings = [
        r
        for r in caplog.records
        if r.name.startswith("roleredis")
        and r.levelno == logging.WARNING
        and "loop" in r.getMessage().lower()
    ]
    assert warnings, [r.getMessage() for r in caplog.records]


@pytest.mark.real_server
def test_read_async_while_the_server_is_down_reports_the_failure_to_the_callback(
    own_server: RedisServer,
) -> None:
    own_server.kill()
    catcher = Catcher()
    started = time.monotonic()
    assert redis_read_async("k", catcher, role="web")["success"] is True
    result = catcher.wait(10)
    assert time.monotonic() - started < 3
    assert result["success"] is False
    assert result["error_code"] in ("connection", "timeout"), result
    assert result["key"] == "k"
    assert result["prefixed_key"] == "web:k"
    own_server.start()
