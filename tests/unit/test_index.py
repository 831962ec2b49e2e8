"""roleredis.core.index: the role key index's calls (driven by hand), and its glob matcher compared
with a real server's SCAN MATCH on the same keys."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from roleredis.core import index, ops
from roleredis.foundation.errors import InvalidArgumentError
from roleredis.foundation.keys import INTERNAL_PREFIX, Keyspace, validate_role
from roleredis.testing import RedisServer
from roleredis.transport.writer.plan import plan_batch as _plan
from roleredis.transport.writer.plan import queued

IDX = "__roleredis__:{weather}:index"


def scope(**kw: Any) -> ops.Scope:
    return ops.Scope(Keyspace("weather"), index=True, **kw)


def run(op: Any, *replies: list[Any]) -> tuple[list[list[Any]], Any]:
    batches = [next(op)]
    for reply in replies:
        try:
            batches.append(op.send(reply))
        except StopIteration as done:
            return batches, done.value
    raise AssertionError("operation still running")


# --------------------------------------------------------------------------- naming


def test_internal_keys_carry_the_roles_hash_tag_under_a_reserved_prefix() -> None:
    ks = Keyspace("weather")
    assert index.index_key(ks) == IDX
    assert ks.internal_key("mail") == "__roleredis__:{weather}:mail"
    assert Keyspace("weather", auto_prefix=False).internal_key("index") == IDX
    assert ks.internal_pattern() == "__roleredis__:{weather}:*"


@pytest.mark.parametrize("role", ["__roleredis__", "__x", "__"])
def test_roles_starting_with_two_underscores_are_reserved(role: str) -> None:
    with pytest.raises(InvalidArgumentError, match="reserved"):
        validate_role(role)
    assert validate_role("_x") == "_x"


def test_without_a_prefix_a_key_cannot_reach_the_internal_keys() -> None:
    with pytest.raises(InvalidArgumentError, match="reserved"):
        Keyspace("weather", auto_prefix=False).full_key(IDX)
    # with a prefix it is an ordinary key of the role: weather:__roleredis__:...
    assert Keyspace("weather").full_key(IDX) == "weather:" + IDX


def test_a_roles_scan_pattern_cannot_match_internal_keys() -> None:
    ks = Keyspace("weather")
    for pattern in ("*", "*index", "?*", "[_]*"):
        match = ks.scan_pattern(pattern).encode()
        assert not index.glob_match(match, IDX.encode())
        assert not index.glob_match(match, (INTERNAL_PREFIX + "{weather}:x").encode())


# --------------------------------------------------------------------------- write paths


def test_write_sends_zadd_set_zadd_in_one_batch() -> None:
    batches, written = run(ops.write(scope(), "k", 1), [1, True, 0])
    zadd = ("zadd", (IDX, "GT", "+inf", "k"))
    assert batches == [[zadd, ("set", ("weather:k", b"1")), zadd]]
    assert written.ttl == -1


def test_write_with_ttl_scores_the_expiry_in_ms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index, "now_ms", lambda: 1_000_000)
    batches, _ = run(ops.write(scope(), "k", 1, 60), [0, True, 0])
    assert batches[0][0] == batches[0][2] == ("zadd", (IDX, "GT", 1_060_000, "k"))


def test_write_many_adds_every_member_in_one_zadd_before_and_after() -> None:
    batches, _ = run(ops.write_many(scope(), {"a": 1, "b": 2}), [2, True, True, 0])
    zadd = ("zadd", (IDX, "GT", "+inf", "a", "+inf", "b"))
    assert batches[0][0] == batches[0][3] == zadd


def test_a_spread_cluster_sends_the_last_zadd_in_a_round_trip_of_its_own() -> None:
    batches, _ = run(
        ops.write_many(scope(index_apart=True), {"a": 1}, replicas=1), [1, True, 1], [0]
    )
    zadd = ("zadd", (IDX, "GT", "+inf", "a"))
    assert batches[0] == [zadd, ("set", ("weather:a", b"1")), ("wait", (1, 1000))]
    assert batches[1] == [zadd]
    batches, _ = run(ops.write(scope(index_apart=True), "k", 1), [1, True], [0])
    assert [len(batch) for batch in batches] == [2, 1]


def test_delete_sends_zrem_then_unlink() -> None:
    batches, deleted = run(ops.delete(scope(), "k"), [1, 1])
    assert batches == [[("zrem", (IDX, "k")), ("unlink", ("weather:k",))]]
    assert deleted is True


def test_index_off_sends_the_same_calls_as_before() -> None:
    off = ops.Scope(Keyspace("weather"))
    batches, _ = run(ops.write(off, "k", 1), [True])
    assert batches == [[("set", ("weather:k", b"1"))]]
    assert ops.prepare_write(off, "k", 1, None).index is None


def test_the_writer_adds_one_zadd_per_run_of_a_roles_writes() -> None:
    def item(role: str, key: str, ttl: int | None) -> tuple[Any, ...]:
        prepared = ops.prepare_write(ops.Scope(Keyspace(role), index=True), key, 1, ttl)
        return queued(prepared.call, 0.0, prepared.index)

    items = [item("weather", "a", None), item("weather", "b", None), item("weather", "t", 60)]
    expiry = items[2][2][1][2]
    items.append(item("timer", "c", None))
    commands, plan = _plan(items)
    weather = ("ZADD", IDX, "GT", "+inf", "a", "+inf", "b", expiry, "t")
    timer = ("ZADD", "__roleredis__:{timer}:index", "GT", "+inf", "c")
    assert commands == [
        weather,
        ("MSET", "weather:a", b"1", "weather:b", b"1"),
        ("SET", "weather:t", b"1", "EX", 60),
        weather,
        timer,
        ("SET", "timer:c", b"1"),
        timer,
    ]
    # the first ZADD has a plan entry of its own; the MSET's reply settles a and b, the SET's
    # t (and the last ZADD's reply goes with it)
    assert [count for _, count in plan] == [1, 1, 2, 1, 2]
    assert [len(owner) for owner, _ in plan if type(owner) is list] == [2, 1, 1]


def test_the_writer_plan_is_unchanged_with_the_index_off() -> None:
    off = ops.Scope(Keyspace("weather"))
    items = [queued(ops.prepare_write(off, k, 1, None).call, 0.0) for k in ("a", "b")]
    commands, plan = _plan(items)
    assert commands == [("MSET", "weather:a", b"1", "weather:b", b"1")]
    assert [count for _, count in plan] == [1]


# --------------------------------------------------------------------------- listing


def test_an_untrusted_index_falls_back_to_scan() -> None:
    op = ops.list_keys(scope(), "*")
    first = next(op)
    assert first[-1] == ("zscore", (IDX, ""))
    assert op.send([0, None]) == [("scan", (0, "weather:*", ops.SCAN_COUNT))]


def test_a_trusted_listing_prunes_filters_and_checks_existence() -> None:
    op = ops.list_keys(scope(), "s*")
    next(op)
    prune, members = op.send([0, b"inf"])
    assert prune[0] == "zremrangebyscore" and members == ("zrange", (IDX, 0, -1))
    checks = op.send([0, [b"", b"s1", b"s2", b"x", b"s3"]])
    assert checks == [("exists", ("weather:s1",)), ("exists", ("weather:s2",)),
                      ("exists", ("weather:s3",))]  # fmt: skip
    # s2 is gone: dropped from the index, then looked at again
    assert op.send([1, 0, 1]) == [("zrem", (IDX, "s2")), ("exists", ("weather:s2",))]
    with pytest.raises(StopIteration) as done:
        op.send([1, 0])
    assert done.value.value == ["s1", "s3"]


def test_a_key_that_comes_back_during_the_check_is_indexed_again() -> None:
    op = ops.list_keys(scope(), "*")
    next(op)
    op.send([0, b"inf"])
    op.send([0, [b"k"]])
    op.send([0])
    assert op.send([1, 1]) == [("zadd", (IDX, "GT", "+inf", "k"))]


def test_a_trusted_clear_removes_members_before_unlinking() -> None:
    op = ops.clear(scope())
    first = next(op)
    assert first[-3:] == [("zscore", (IDX, "")), ("zcard", (IDX,)), ("zrange", (IDX, 0, 999))]
    batch = op.send([0, b"inf", 3, [b"", b"a", b"b"]])
    assert batch[:2] == [("zrem", (IDX, "a", "b")), ("unlink", ("weather:a", "weather:b"))]
    with pytest.raises(StopIteration) as done:
        op.send([2, 2, [b""]])
    assert done.value.value == 2


def test_a_scan_clear_trusts_the_index_afterwards() -> None:
    op = ops.clear(scope())
    next(op)
    assert op.send([0, None, 0, []]) == [("scan", (0, "weather:*", ops.SCAN_COUNT))]
    batch = op.send([(0, [b"weather:a"])])
    assert batch == [("zrem", (IDX, "a")), ("unlink", (b"weather:a",))]
    assert op.send([1, 1]) == [("zadd", (IDX, "+inf", ""))]


def test_reindex_scores_each_key_by_its_pttl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index, "now_ms", lambda: 5_000)
    op = ops.reindex(scope())
    assert next(op)[-1] == ("scan", (0, "weather:*", ops.SCAN_COUNT))
    ttls = op.send([0, (7, [b"weather:a", b"weather:b", b"weather:c"])])
    assert ttls == [("pttl", ("weather:a",)), ("pttl", ("weather:b",)), ("pttl", ("weather:c",))]
    batch = op.send([-1, 2000, -2])
    assert batch == [("zadd", (IDX, "GT", "+inf", "a", 7000, "b")),
                     ("scan", (7, "weather:*", ops.SCAN_COUNT))]  # fmt: skip
    assert op.send([2, (0, [])]) == [("zadd", (IDX, "+inf", ""))]
    with pytest.raises(StopIteration) as done:
        op.send([1])
    assert done.value.value == 2


# --------------------------------------------------------------------------- glob


@pytest.fixture(scope="module")
def server() -> Iterator[redis.Redis]:
    with RedisServer() as running:
        client = running.client()
        yield client
        client.close()


PATTERNS = [
    "*", "?", "a*", "*a", "a?c", "[abc]", "[^abc]", "[a-c]x", "[c-a]x", "[^a-c]*", "\\*",
    "a\\?", "[\\]]", "[\\^a]", "[", "[a", "[^", "a[", "a[b-", "[a-]", "[]", "[]a]", "\\",
    "a\\", "**a**", "*a*b*", "a*b?c", "[[]", "[*]", "[?]*", "[a-z0-9]*", "h[ae]llo",
    "h[^e]llo", "h[a-b]llo", "*\\[*", "[-a]", "[a-c-e]", "é*", "[é]", "[\x80-\xff]*",
    "[\x01-\x7f]", "x*y*z", "*.*", "?*?", "a**?",
]  # fmt: skip
STRINGS = [
    "a", "b", "c", "x", "ax", "bx", "cx", "dx", "abc", "aXc", "*", "a?", "a*", "]", "^", "[",
    "\\", "a\\", "ab", "ba", "aab", "hello", "hallo", "hbllo", "hxllo", "a[b", "-", "d", "e",
    "é", "éa", "\x80", "x.y", "xyz", "xaybz", "[*]", "aaa", "a.b.c", "abxbc",
]  # fmt: skip


def _scan_match(client: redis.Redis, pattern: bytes) -> set[bytes]:
    return set(client.scan_iter(match=pattern, count=1000))


def test_glob_match_agrees_with_scan_match(server: redis.Redis) -> None:
    keys = [s.encode("utf-8", "surrogateescape") for s in STRINGS]
    server.flushdb()
    server.mset({k: 1 for k in keys})
    for text in PATTERNS:
        pattern = text.encode("utf-8")
        expected = _scan_match(server, pattern)
        got = {k for k in keys if index.glob_match(pattern, k)}
        assert got == expected, (text, sorted(got ^ expected))
    server.flushdb()


def test_glob_match_agrees_with_scan_match_on_random_patterns(server: redis.Redis) -> None:
    rng = random.Random(7)
    alphabet = b"ab*?[]^-\\c\xe9"
    keys = {bytes(rng.choice(b"abc-^[]\\*?\xe9") for _ in range(rng.randint(1, 5)))
            for _ in range(300)}  # fmt: skip
    server.flushdb()
    server.mset({k: 1 for k in keys})
    for _ in range(400):
        pattern = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 7)))
        expected = _scan_match(server, pattern)
        got = {k for k in keys if index.glob_match(pattern, k)}
        assert got == expected, (pattern, sorted(got ^ expected))
    server.flushdb()


def test_glob_match_with_the_role_prefix_as_listing_uses_it() -> None:
    ks = Keyspace("we[a]ther")  # not a valid role; the prefix is glob-escaped all the same
    match = ks.scan_pattern("s*").encode()
    assert index.glob_match(match, b"we[a]ther:session")
    assert not index.glob_match(match, b"weather:session")
