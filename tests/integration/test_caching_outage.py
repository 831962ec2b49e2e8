"""A cached call while Redis is gone: computed without the cache, never failed (the hit path
sends the entry's read itself, so its failure must still reach the flow, sync and async)."""

from __future__ import annotations

import asyncio

import yaml

from roleredis import acting_as, cached, metrics

from ..conftest import RoleredisEnv


def test_a_cached_call_without_redis_is_computed_and_counted(
    roleredis_env: RoleredisEnv,
) -> None:
    config = roleredis_env.tmp_path / "quick.yaml"
    quick = {"redis": {"connection": {"socket_connect_timeout": 0.2}}}
    config.write_text(yaml.safe_dump(quick), encoding="utf-8")
    roleredis_env.monkeypatch.setenv("ROLEREDIS_CONFIG", str(config))
    roleredis_env.reset()
    computed: list[int] = []

    @cached(ttl=60)
    def square(n: int) -> int:
        computed.append(n)
        return n * n

    @cached(ttl=60)
    async def cube(n: int) -> int:
        computed.append(-n)
        return n * n * n

    with acting_as("outage"):
        assert square(3) == 9  # stored while Redis is there
        roleredis_env.server.stop()
        try:
            assert square(3) == 9 and square(4) == 16
            assert asyncio.run(cube(2)) == 8
        finally:
            roleredis_env.server.start()  # the session's server, for the tests after this one
    assert computed == [3, 3, 4, -2]
    assert metrics.snapshot()["cache"]["outage"]["failures"] == 3
