"""Every roleredis operation, run once each, for the TLS and secrets tests.

``run_sync`` and ``run_aio`` call every tool (and the RoleStore / AsyncRoleStore methods) on
one role and return ``{name: result}``. Nothing here asserts: the callers decide what each
result must be (success over TLS, a clean refusal with a wrong CA, ...).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from roleredis.aio import AsyncRoleStore

import roleredis
from roleredis import aio
from roleredis.foundation.errors import RoleRedisError

Results = dict[str, Any]


def _store_call(results: Results, name: str, call: Any) -> None:
    """Run a typed-core call: its value, or the RoleRedisError it raised, goes in results."""
    try:
        results[name] = call()
    except RoleRedisError as exc:
        results[name] = exc


def run_sync(role: str, value: Any, *, flush_timeout: float = 5.0) -> Results:
    """Every sync tool and RoleStore method on ``role``, writing ``value``."""
    out: Results = {}
    out["write"] = roleredis.redis_write("k1", value, ttl=300, role=role)
    out["write_no_ttl"] = roleredis.redis_write("k2", value, role=role)
    out["read"] = roleredis.redis_read("k1", role=role)
    out["read_missing"] = roleredis.redis_read("missing", role=role)
    out["exists"] = roleredis.redis_exists("k1", role=role)
    out["get_keys"] = roleredis.redis_get_keys("k*", role=role)
    out["write_many"] = roleredis.redis_write_many({"m1": value, "m2": [value]}, role=role)
    out["read_many"] = roleredis.redis_read_many(["m1", "m2", "nope"], role=role)
    out["delete"] = roleredis.redis_delete("k2", role=role)
    out["health"] = roleredis.redis_health_check(role=role)
    out["send"] = roleredis.redis_send(role, value, role=role)
    out["receive"] = roleredis.redis_receive(10, 50, role=role)
    ids = [m["id"] for m in out["receive"].get("messages", [])]
    out["ack"] = roleredis.redis_ack(ids, role=role)
    out["dead_letters"] = roleredis.redis_dead_letters(role=role)
    out["replay_dead_letters"] = roleredis.redis_replay_dead_letters(role=role)
    out["send_async"] = roleredis.redis_send_async(role, value, role=role)
    out["write_async"] = roleredis.redis_write_async("a1", value, role=role)
    got: list[dict[str, Any]] = []
    done = threading.Event()

    def callback(result: dict[str, Any]) -> None:
        got.append(result)
        done.set()

    out["read_async"] = roleredis.redis_read_async("a1", callback=callback, role=role)
    out["flush"] = roleredis.redis_flush(timeout=flush_timeout)
    done.wait(flush_timeout)
    out["read_async_callback"] = got[0] if got else None
    out["read_after_async"] = roleredis.redis_read("a1", role=role)
    out["publish"] = roleredis.redis_publish("news", value, role=role)
    out["read_events"] = roleredis.redis_read_events(role, "news", role=role)
    out["read_events_waiting"] = roleredis.redis_read_events(
        role, "news", after="$", block_ms=20, role=role
    )
    try:
        store = roleredis.RoleStore(role)
    except RoleRedisError as exc:
        out["store"] = exc
    else:
        _store_call(out, "store.write", lambda: store.write("s1", value))
        _store_call(out, "store.read", lambda: store.read("s1"))
        _store_call(out, "store.keys", lambda: store.keys())
        _store_call(out, "store.exists", lambda: store.exists("s1"))
        _store_call(out, "store.delete", lambda: store.delete("s1"))
        _store_call(out, "store.health", store.health)
    out["clear"] = roleredis.redis_clear_role_data(role)
    return out


async def _run_aio(role: str, value: Any) -> Results:
    out: Results = {}
    out["write"] = await aio.redis_write("k1", value, ttl=300, role=role)
    out["read"] = await aio.redis_read("k1", role=role)
    out["read_missing"] = await aio.redis_read("missing", role=role)
    out["exists"] = await aio.redis_exists("k1", role=role)
    out["get_keys"] = await aio.redis_get_keys("*", role=role)
    out["write_many"] = await aio.redis_write_many({"m1": value, "m2": [value]}, role=role)
    out["read_many"] = await aio.redis_read_many(["m1", "m2", "nope"], role=role)
    out["delete"] = await aio.redis_delete("k1", role=role)
    out["health"] = await aio.redis_health_check(role=role)
    out["publish"] = await aio.redis_publish("news", value, role=role)
    out["read_events"] = await aio.redis_read_events(role, "news", role=role)
    out["read_events_waiting"] = await aio.redis_read_events(
        role, "news", after="$", block_ms=20, role=role
    )
    out["send"] = await aio.redis_send(role, value, role=role)
    out["receive"] = await aio.redis_receive(10, 50, role=role)
    ids = [m["id"] for m in out["receive"].get("messages", [])]
    out["ack"] = await aio.redis_ack(ids, role=role)
    out["dead_letters"] = await aio.redis_dead_letters(role=role)
    out["replay_dead_letters"] = await aio.redis_replay_dead_letters(role=role)
    out["gather"] = await asyncio.gather(
        *(aio.redis_write(f"g{i}", value, role=role) for i in range(5))
    )
    store = AsyncRoleStore(role)
    for name, make in (
        ("store.write", lambda: store.write("s1", value)),
        ("store.read", lambda: store.read("s1")),
        ("store.keys", lambda: store.keys()),
        ("store.read_many", lambda: store.read_many(["s1"])),
        ("store.health", store.health),
    ):
        try:
            out[name] = await make()
        except RoleRedisError as exc:
            out[name] = exc
    out["clear"] = await aio.redis_clear_role_data(role)
    return out


def run_aio(role: str, value: Any) -> Results:
    """Every roleredis.aio tool and AsyncRoleStore method on ``role``, in a fresh loop."""
    return asyncio.run(_run_aio(role, value))


def failures(results: Results) -> dict[str, Any]:
    """The entries that did not succeed (result dicts with success False, or exceptions)."""
    bad: dict[str, Any] = {}
    for name, result in results.items():
        failed_dict = isinstance(result, dict) and result.get("success") is not True
        if isinstance(result, BaseException) or failed_dict:
            bad[name] = result
        elif isinstance(result, list) and all(isinstance(r, dict) for r in result):
            bad.update(
                {f"{name}[{i}]": r for i, r in enumerate(result) if r.get("success") is not True}
            )
    return bad
