"""Issue 18, item 3: roles did not cross threads. ``with acting_as("worker"):`` did not reach
``ThreadPoolExecutor`` workers (Python copies no context variables into them): their writes
landed under ``unknown:`` with one warning that did not say why. ``RoleExecutor`` runs each task
in a copy of the submitter's context, ``carry_role(fn)`` carries the calling role into any
thread, and the default-role warning names both."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType

import pytest
import redis

from roleredis import RoleExecutor, acting_as, carry_role, redis_read, redis_write

from ..integration.conftest import role_module

__all__ = ["role_module"]

pytestmark = pytest.mark.backends("redis")

COUNT = 40


def _write(i: int) -> dict:
    return redis_write(f"k{i}", i)


def _landed(raw: redis.Redis) -> set[bytes]:
    return set(raw.keys())


def test_role_executor_carries_acting_as(raw: redis.Redis) -> None:
    with RoleExecutor(max_workers=4) as pool, acting_as("worker"):
        results = list(pool.map(_write, range(COUNT)))
        single = pool.submit(redis_read, "k3").result()
    assert all(r["success"] and r["role"] == "worker" for r in results), results
    assert single["value"] == 3 and single["prefixed_key"] == "worker:k3", single
    assert _landed(raw) == {f"worker:k{i}".encode() for i in range(COUNT)}


def test_carry_role_in_a_plain_pool_many_threads_at_once(raw: redis.Redis) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        with acting_as("worker"):
            write = carry_role(_write)  # one wrapper, run by 8 threads at once
        results = list(pool.map(write, range(COUNT)))
    assert {r["role"] for r in results} == {"worker"}, results
    assert _landed(raw) == {f"worker:k{i}".encode() for i in range(COUNT)}


def test_run_in_executor_with_a_role_executor(raw: redis.Redis) -> None:
    async def main() -> list[dict]:
        loop = asyncio.get_running_loop()
        with RoleExecutor(max_workers=4) as pool:
            with acting_as("worker"):
                jobs = [loop.run_in_executor(pool, _write, i) for i in range(COUNT)]
            return list(await asyncio.gather(*jobs))

    results = asyncio.run(main())
    assert {r["role"] for r in results} == {"worker"}, results
    assert _landed(raw) == {f"worker:k{i}".encode() for i in range(COUNT)}


def test_asyncio_to_thread_already_carries_it(raw: redis.Redis) -> None:
    async def main() -> dict:
        with acting_as("worker"):
            return await asyncio.to_thread(_write, 1)

    assert asyncio.run(main())["prefixed_key"] == "worker:k1"


def test_the_role_of_a_submitter_under_roles_is_carried(
    role_module: Callable[..., ModuleType], raw: redis.Redis
) -> None:
    # the worker runs _write (a file outside roles/): in one thread the nearest roles/ frame
    # would be the submitter's; a timer function keeps its own role, as it would in one thread
    timer = role_module(
        "timer",
        "tick",
        "from roleredis import redis_write\ndef tick():\n    return redis_write('t', 1)\n",
    )
    weather = role_module(
        "weather",
        "lifecycle",
        """
        from roleredis import RoleExecutor, carry_role
        from concurrent.futures import ThreadPoolExecutor

        def run(write, tick):
            with RoleExecutor(max_workers=2) as pool:
                first = pool.submit(write, 1).result()
                own = pool.submit(tick).result()
            with ThreadPoolExecutor(max_workers=2) as pool:
                second = pool.submit(carry_role(write), 2).result()
            return first, own, second
        """,
    )
    first, own, second = weather.run(_write, timer.tick)
    assert (first["role"], own["role"], second["role"]) == ("weather", "timer", "weather")
    assert _landed(raw) == {b"weather:k1", b"timer:t", b"weather:k2"}


def test_a_plain_pool_still_falls_back_and_the_warning_says_what_to_do(
    raw: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="roleredis")
    with ThreadPoolExecutor(max_workers=2) as pool, acting_as("worker"):
        result = pool.submit(_write, 1).result()
    assert result["prefixed_key"] == "unknown:k1"
    warnings = [r.getMessage() for r in caplog.records if r.name == "roleredis.roles"]
    assert len(warnings) == 1, warnings
    assert "RoleExecutor" in warnings[0] and "carry_role" in warnings[0], warnings


def test_carry_role_wraps_a_coroutine_function_run_in_another_thread(raw: redis.Redis) -> None:
    async def job(i: int) -> dict:
        await asyncio.sleep(0)
        return _write(i)

    with acting_as("worker"):
        carried = carry_role(job)
    with ThreadPoolExecutor(max_workers=2) as pool:
        result = pool.submit(asyncio.run, carried(7)).result()
    assert result["prefixed_key"] == "worker:k7", result
    assert _landed(raw) == {b"worker:k7"}


def test_a_carried_role_does_not_erase_the_workers_own(raw: redis.Redis) -> None:
    # carry_role made where no role was set carries none: the thread's acting_as stays
    plain = carry_role(_write)

    def worker() -> dict:
        with acting_as("own"):
            return plain(1)

    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(worker).result()["prefixed_key"] == "own:k1"
