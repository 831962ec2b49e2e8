"""Issue 2, section 2: who is calling. role= > acting_as() > ROLEREDIS_ROLE > the nearest
calling frame under roles/<name>/ (not roles/shared_tools/) > the default role, with one
warning. Resolved in the caller's thread; never from frame locals."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from types import ModuleType

import pytest
import redis

from roleredis import (
    acting_as,
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

MakeModule = Callable[..., ModuleType]

pytestmark = pytest.mark.backends("redis", "memory")

WRITER = """
from roleredis import redis_write, redis_read, redis_get_keys

def save(key, value):
    return redis_write(key, value)

def load(key):
    return redis_read(key)

def keys():
    return redis_get_keys()
"""


def test_explicit_role_wins_over_everything(
    monkeypatch: pytest.MonkeyPatch, role_module: MakeModule, raw: redis.Redis
) -> None:
    monkeypatch.setenv("ROLEREDIS_ROLE", "envrole")
    module = role_module(
        "weather",
        "lifecycle",
        """
        from roleredis import redis_write, acting_as

        def save():
            with acting_as("ctxrole"):
                return redis_write("k", 1, role="explicit")
        """,
    )
    result = module.save()
    assert result["success"] is True, result
    assert result["prefixed_key"] == "explicit:k"
    assert result["role"] == "explicit"
    assert raw.keys() == [b"explicit:k"]


def test_acting_as_wins_over_env_and_path(
    monkeypatch: pytest.MonkeyPatch, role_module: MakeModule
) -> None:
    monkeypatch.setenv("ROLEREDIS_ROLE", "envrole")
    module = role_module("weather", "lifecycle", WRITER)
    with acting_as("timer"):
        assert module.save("k", 1)["prefixed_key"] == "timer:k"
    assert module.save("k", 1)["prefixed_key"] == "envrole:k"


def test_env_role_wins_over_path(monkeypatch: pytest.MonkeyPatch, role_module: MakeModule) -> None:
    module = role_module("weather", "lifecycle", WRITER)
    assert module.save("k", 1)["prefixed_key"] == "weather:k"
    monkeypatch.setenv("ROLEREDIS_ROLE", "envrole")
    reset()  # the environment is read once, until reset()
    assert module.save("k", 1)["prefixed_key"] == "envrole:k"
    assert redis_write("k2", 1)["prefixed_key"] == "envrole:k2"


def test_acting_as_context_manager_nests_and_restores() -> None:
    with acting_as("outer"):
        assert redis_write("k", 1)["role"] == "outer"
        with acting_as("inner"):
            assert redis_write("k", 1)["role"] == "inner"
        assert redis_write("k", 1)["role"] == "outer"
    assert redis_write("k", 1)["role"] == "unknown"


def test_acting_as_as_decorator() -> None:
    @acting_as("timer")
    def tick() -> dict:
        return redis_write("tick", 1)

    assert tick()["prefixed_key"] == "timer:tick"
    assert redis_write("tick", 1)["prefixed_key"] == "unknown:tick"


def test_acting_as_is_inherited_by_asyncio_tasks() -> None:
    async def job() -> dict:
        await asyncio.sleep(0)
        return redis_write("from_task", 1)

    async def main() -> tuple[dict, dict]:
        with acting_as("timer"):
            task = asyncio.create_task(job())
        # the task was created inside the block: it keeps the role after the block ends
        in_task = await task
        outside = await asyncio.create_task(job())
        return in_task, outside

    in_task, outside = asyncio.run(main())
    assert in_task["prefixed_key"] == "timer:from_task"
    assert outside["prefixed_key"] == "unknown:from_task"


def test_acting_as_decorates_coroutine_functions() -> None:
    @acting_as("timer")
    async def job() -> dict:
        await asyncio.sleep(0)
        return redis_write("k", 1)

    assert asyncio.run(job())["prefixed_key"] == "timer:k"


@pytest.mark.parametrize("bad", ["", "a:b", "a*", "a?", "a[b]", "a b", "x" * 65, "wëather"])
def test_acting_as_refuses_invalid_role_names(bad: str) -> None:
    with pytest.raises(ValueError):
        acting_as(bad)


# --------------------------------------------------------------------------- path detection


def test_role_is_detected_from_the_file_under_roles(
    role_module: MakeModule, raw: redis.Redis
) -> None:
    weather = role_module("weather", "lifecycle", WRITER)
    timer = role_module("timer", "lifecycle", WRITER)
    assert weather.save("forecast", {"by": "weather"})["prefixed_key"] == "weather:forecast"
    assert timer.save("forecast", {"by": "timer"})["prefixed_key"] == "timer:forecast"
    # same key name, no collision
    assert sorted(raw.keys()) == [b"timer:forecast", b"weather:forecast"]
    assert weather.load("forecast")["value"] == {"by": "weather"}
    assert timer.load("forecast")["value"] == {"by": "timer"}
    assert weather.keys()["keys"] == ["forecast"]
    assert weather.keys()["role"] == "weather"


def test_nearest_role_frame_wins(role_module: MakeModule) -> None:
    helper = role_module("weather", "helpers", WRITER)
    caller = role_module(
        "timer",
        "lifecycle",
        f"""
        import sys
        helper = sys.modules[{helper.__name__!r}]

        def via_weather_helper():
            return helper.save("k", 1)
        """,
    )
    assert caller.via_weather_helper()["prefixed_key"] == "weather:k"


def test_helper_outside_roles_is_attributed_to_its_role_caller(role_module: MakeModule) -> None:
    lib = role_module("util", "cache", WRITER, root="lib")
    caller = role_module(
        "weather",
        "lifecycle",
        f"""
        import sys
        lib = sys.modules[{lib.__name__!r}]

        def run():
            return lib.save("k", 1)
        """,
    )
    assert caller.run()["prefixed_key"] == "weather:k"
    # called from the test itself (no roles/ frame at all): the default role
    assert lib.save("k", 1)["prefixed_key"] == "unknown:k"


def test_shared_tools_is_not_a_role(role_module: MakeModule) -> None:
    shared = role_module("shared_tools", "redis_tools", WRITER)
    caller = role_module(
        "weather",
        "lifecycle",
        f"""
        import sys
        shared = sys.modules[{shared.__name__!r}]

        def run():
            return shared.save("k", 1)
        """,
    )
    assert caller.run()["prefixed_key"] == "weather:k"
    assert shared.save("k", 1)["prefixed_key"] == "unknown:k"


def test_a_local_variable_named_role_never_changes_the_prefix(role_module: MakeModule) -> None:
    module = role_module(
        "weather",
        "lifecycle",
        """
        from roleredis import redis_write

        def save():
            role = "evil"
            agent_role = "evil"
            return redis_write("k", role)
        """,
    )
    assert module.save()["prefixed_key"] == "weather:k"

    role = "evil"  # a local in the test's own frame
    result = redis_write("k", role)
    assert result["prefixed_key"] == "unknown:k"
    with acting_as("timer"):
        assert redis_write("k", role)["prefixed_key"] == "timer:k"


def test_module_level_variable_named_role_is_ignored(role_module: MakeModule) -> None:
    module = role_module(
        "weather",
        "lifecycle",
        """
        from roleredis import redis_write

        role = "evil"
        ROLE = "evil"

        def save():
            return redis_write("k", 1)
        """,
    )
    assert module.save()["prefixed_key"] == "weather:k"


def test_every_function_uses_the_detected_role(role_module: MakeModule) -> None:
    module = role_module(
        "weather",
        "lifecycle",
        """
        from roleredis import (
            redis_write, redis_read, redis_exists, redis_delete, redis_get_keys,
            redis_write_many, redis_read_many, redis_health_check, redis_clear_role_data,
        )

        def run():
            out = {}
            out["write"] = redis_write("a", 1)
            out["read"] = redis_read("a")
            out["exists"] = redis_exists("a")
            out["write_many"] = redis_write_many({"b": 2, "c": 3})
            out["read_many"] = redis_read_many(["a", "b", "c"])
            out["keys"] = redis_get_keys()
            out["health"] = redis_health_check()
            out["delete"] = redis_delete("a")
            out["clear"] = redis_clear_role_data()
            return out
        """,
    )
    redis_write("a", "timer's", role="timer")
    out = module.run()
    assert out["write"]["prefixed_key"] == "weather:a"
    assert out["read"]["value"] == 1
    assert out["exists"]["exists"] is True
    assert out["read_many"]["values"] == {"a": 1, "b": 2, "c": 3}
    assert out["keys"]["role"] == "weather"
    assert out["keys"]["keys"] == ["a", "b", "c"]
    assert out["health"]["role"] == "weather"
    assert out["delete"]["deleted"] is True
    assert out["clear"]["role"] == "weather"
    assert out["clear"]["deleted_count"] == 2
    assert redis_read("a", role="timer")["value"] == "timer's"


def test_every_function_honours_role_argument(raw: redis.Redis) -> None:
    with acting_as("ctx"):
        assert redis_write("a", 1, role="w")["prefixed_key"] == "w:a"
        assert redis_read("a", role="w")["value"] == 1
        assert redis_exists("a", role="w")["exists"] is True
        assert redis_write_many({"b": 2}, role="w")["success"] is True
        assert redis_read_many(["a", "b"], role="w")["values"] == {"a": 1, "b": 2}
        assert redis_get_keys(role="w")["keys"] == ["a", "b"]
        assert redis_health_check(role="w")["role"] == "w"
        assert redis_delete("a", role="w")["deleted"] is True
        assert redis_clear_role_data(role="w")["deleted_count"] == 1
        assert redis_get_keys()["keys"] == []
    assert raw.dbsize() == 0


# --------------------------------------------------------------------------- default role


def test_default_role_is_unknown_with_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="roleredis")
    for _ in range(3):
        assert redis_write("k", 1)["prefixed_key"] == "unknown:k"
    redis_read("k")
    warnings = [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name.split(".")[0] == "roleredis"
    ]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "unknown" in warnings[0].getMessage()


def test_no_warning_when_the_role_is_known(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="roleredis")
    redis_write("k", 1, role="weather")
    with acting_as("timer"):
        redis_write("k", 1)
    assert not [r for r in caplog.records if r.name.split(".")[0] == "roleredis"]


def test_default_role_comes_from_config(write_config: Callable[..., object]) -> None:
    write_config({"key_management": {"default_role": "fallback"}})
    assert redis_write("k", 1)["prefixed_key"] == "fallback:k"


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "bad", ["", "a:b", "weather:", ":x", "a*", "a?", "a[b]", "a b", "x" * 65, "wëather", "a/b"]
)
def test_invalid_role_names_are_refused(bad: str, raw: redis.Redis) -> None:
    for result in (
        redis_write("k", 1, role=bad),
        redis_read("k", role=bad),
        redis_get_keys(role=bad),
        redis_clear_role_data(bad),
    ):
        assert result["success"] is False
        assert result["error_code"] == "invalid_argument"
    assert raw.dbsize() == 0


@pytest.mark.parametrize("good", ["a", "x" * 64, "A-z_0.9", "weather", "role-1.v2"])
def test_valid_role_names_are_accepted(good: str, raw: redis.Redis) -> None:
    result = redis_write("k", 1, role=good)
    assert result["success"] is True, result
    assert raw.exists(f"{good}:k") == 1


def test_invalid_env_role_is_refused(monkeypatch: pytest.MonkeyPatch, raw: redis.Redis) -> None:
    monkeypatch.setenv("ROLEREDIS_ROLE", "bad:role")
    result = redis_write("k", 1)
    assert result["success"] is False
    assert result["error_code"] == "invalid_argument"
    assert "ROLEREDIS_ROLE" in result["error"]
    assert raw.dbsize() == 0


def test_a_role_cannot_reach_into_another_roles_keys() -> None:
    redis_write("secret", "timer only", role="timer")
    assert redis_read("secret", role="weather")["error_code"] == "not_found"
    assert redis_read("timer:secret", role="weather")["error_code"] == "not_found"
    assert redis_get_keys("*", role="weather")["keys"] == []
    assert redis_delete("secret", role="weather")["deleted"] is False
    assert redis_read("secret", role="timer")["value"] == "timer only"


# --------------------------------------------------------------------------- threads


def test_detection_happens_in_the_callers_thread(role_module: MakeModule) -> None:
    module = role_module(
        "weather",
        "lifecycle",
        """
        import threading
        from roleredis import redis_write

        def write_from_thread(key):
            out = []
            thread = threading.Thread(target=lambda: out.append(redis_write(key, 1)))
            thread.start()
            thread.join()
            return out[0]
        """,
    )
    assert module.write_from_thread("t")["prefixed_key"] == "weather:t"


def test_acting_as_is_per_thread(raw: redis.Redis) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        try:
            with acting_as(f"r{i}"):
                barrier.wait()
                for n in range(50):
                    result = redis_write(f"k{n}", i)
                    assert result["prefixed_key"] == f"r{i}:k{n}", result
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for i in range(8):
        keys = redis_get_keys(role=f"r{i}")["keys"]
        assert len(keys) == 50
        assert redis_read("k7", role=f"r{i}")["value"] == i
    assert raw.dbsize() == 400


def test_detection_cost_does_not_grow_with_stack_depth(role_module: MakeModule) -> None:
    # The original walked the whole stack with inspect and read frame locals: ~24 us at 40
    # frames. Here: a cache per code object, about a microsecond. 20 us leaves a wide margin.
    module = role_module(
        "weather",
        "deep",
        """
        import time
        from roleredis.table import roles

        def nest(depth, fn):
            if depth == 0:
                return fn()
            return nest(depth - 1, fn)

        def measure(calls):
            assert roles.current() == "weather"
            started = time.perf_counter()
            for _ in range(calls):
                roles.current()
            return (time.perf_counter() - started) / calls

        def measure_deep(depth, calls):
            return nest(depth, lambda: measure(calls))
        """,
    )
    # role frame 40 helper frames above the call: the walk must not cost per frame much
    helper = role_module(
        "util",
        "chain",
        """
        from roleredis.table import roles

        def chain(depth):
            if depth == 0:
                return roles.current()
            return chain(depth - 1)
        """,
        root="lib",
    )
    caller = role_module(
        "weather",
        "entry",
        f"""
        import sys, time
        helper = sys.modules[{helper.__name__!r}]

        def run(calls):
            assert helper.chain(40) == "weather"
            started = time.perf_counter()
            for _ in range(calls):
                helper.chain(40)
            return (time.perf_counter() - started) / calls
        """,
    )
    shallow = module.measure_deep(5, 20000)
    deep = module.measure_deep(40, 20000)
    assert shallow < 20e-6, f"{shallow * 1e6:.1f} us per detection"
    assert deep < 20e-6, f"{deep * 1e6:.1f} us per detection at depth 40"
    # 40 plain Python calls cost a few us by themselves; detection must add little on top
    through_helpers = caller.run(2000)
    assert through_helpers < 60e-6, f"{through_helpers * 1e6:.1f} us through 40 helper frames"
