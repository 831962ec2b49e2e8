"""An entry with the largest sequence number must not poison the recipient's trims.

Found by an attacker's run (issue 17, item 2): a sender XADDs ``<ms>-18446744073709551615``
into its own channel; the recipient's ack computed the trim's MINID as ``sequence + 1``, which
is 2**64, an id Redis refuses; the deferred XTRIM rode in the next receive's round trip, and
the receive failed with ``internal`` after its XREADGROUP had handed out other senders' mail
(delivered to no one until the visibility timeout, its delivery count raised). Now the MINID
is computed within 64 bits (``<ms+1>-0``), and housekeeping is a lenient call
(``roleredis.core.ops.lenient``): an error reply to it never fails the read or ack it rides with.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from roleredis import RoleStore, redis_ack, redis_receive, redis_send
from roleredis.foundation.keys import Keyspace

pytestmark = pytest.mark.backends("redis", "memory", "cluster")

LARGEST = 2**64 - 1


def test_an_entry_with_the_largest_sequence_poisons_no_trim(raw: Any) -> None:
    beta = RoleStore("beta")
    assert redis_send("beta", "warm up", role="alpha")["success"] is True
    assert redis_send("beta", "warm up", role="carol")["success"] is True
    warm = beta.receive(10)
    beta.ack([m.id for m in warm])
    channel = Keyspace("beta").mail_channel("alpha")
    top = f"9999999999999-{LARGEST}"
    raw.xadd(channel, {"m": "x", "t": "1", "b": '"largest"'}, id=top)
    got = redis_receive(10, role="beta")
    assert [m["body"] for m in got["messages"]] == ["largest"]
    assert redis_ack([m["id"] for m in got["messages"]], role="beta")["acked"] == 1
    # carol's mail comes with the receive that carries the trim: it must be delivered
    assert redis_send("beta", "from carol", role="carol")["success"] is True
    got = redis_receive(10, role="beta")
    assert got["success"] is True, got
    assert [(m["from"], m["body"]) for m in got["messages"]] == [("carol", "from carol")]
    assert redis_ack([m["id"] for m in got["messages"]], role="beta")["acked"] == 1
    json.dumps(got, allow_nan=False)


@pytest.mark.backends("memory")
def test_an_id_past_64_bits_is_invalid_argument(roleredis_env: object) -> None:
    for bad in (f"alpha/{2**64}-0", f"alpha/1-{2**64}"):
        result = redis_ack([bad], role="beta")
        assert result["error_code"] == "invalid_argument", (bad, result)


def test_the_async_runner_keeps_housekeeping_apart_too(raw: Any) -> None:
    from roleredis import aio

    async def main() -> Any:
        await aio.redis_send("beta", "warm up", role="alpha")
        await aio.redis_send("beta", "warm up", role="carol")
        warm = await aio.redis_receive(10, role="beta")
        await aio.redis_ack([m["id"] for m in warm["messages"]], role="beta")
        channel = Keyspace("beta").mail_channel("alpha")
        raw.xadd(channel, {"m": "x", "t": "1", "b": '"largest"'}, id=f"9999999999999-{LARGEST}")
        got = await aio.redis_receive(10, role="beta")
        assert (await aio.redis_ack([m["id"] for m in got["messages"]], role="beta"))["acked"] == 1
        await aio.redis_send("beta", "from carol", role="carol")
        return await aio.redis_receive(10, role="beta")

    got = asyncio.run(main())
    assert got["success"] is True, got
    assert [(m["from"], m["body"]) for m in got["messages"]] == [("carol", "from carol")]


@pytest.mark.backends("redis")
def test_an_error_reply_to_a_lenient_call_is_its_reply(redis_url: str) -> None:
    import redis

    from roleredis.core import ops
    from roleredis.foundation.errors import RoleRedisError
    from roleredis.transport.executor import SyncExecutor

    client = redis.Redis.from_url(redis_url)
    try:
        batch = [ops.lenient("xtrim", "k", "MINID", f"1-{2**64}"), ("xadd", ("k", "*", "f", "v"))]
        trimmed, added = SyncExecutor(client)(batch)
        assert isinstance(trimmed, RoleRedisError) and "Invalid stream ID" in str(trimmed)
        assert added  # the call after it ran, and the batch did not fail
        with pytest.raises(RoleRedisError):  # an ordinary call's error still fails its batch
            SyncExecutor(client)([("xtrim", ("k", "MINID", f"1-{2**64}"))])
    finally:
        client.close()
