"""Function calling against a real server (issue 13): every agent tool round-trips through
``roleredis.call_tool`` and ``roleredis.aio.call_tool``, and nothing a model sends reaches
data its role may not read: not a ``role`` argument, not ``from_role`` without a grant, not a
path-like or internal-looking key.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import redis

import roleredis
from roleredis import aio

pytestmark = [pytest.mark.integration, pytest.mark.backends("redis", "memory")]

ROLE = "planner"
OWNER = "owner"
SECRET = {"launch_code": 1234}


def call(name: str, arguments: Any) -> dict[str, Any]:
    return roleredis.call_tool(name, arguments, role=ROLE)


def test_every_key_tool_round_trips(raw: redis.Redis) -> None:
    value = {"steps": ["a", "b"], "n": 1.5, "ok": True, "none": None}
    written = call("redis_write", {"key": "plan", "value": value, "ttl": 60})
    assert written["success"] and written["prefixed_key"].endswith("planner:plan")
    assert call("redis_write", json.dumps({"key": "note", "value": "hi"}))["success"]
    read = call("redis_read", '{"key": "plan"}')
    assert read["value"] == value and 0 < read["ttl"] <= 60
    listed = call("redis_get_keys", {"pattern": "*"})
    assert sorted(listed["keys"]) == ["note", "plan"] and listed["truncated"] is False
    assert call("redis_get_keys", {})["count"] == 2
    assert call("redis_exists", {"key": "plan"})["exists"] is True
    assert call("redis_delete", {"key": "plan"})["deleted"] is True
    assert call("redis_exists", {"key": "plan"})["exists"] is False
    missing = call("redis_read", {"key": "plan"})
    assert missing["error_code"] == "not_found" and missing["value"] is None
    assert json.loads(raw.get("planner:note") or b"null") == "hi"


def test_the_asyncio_face_round_trips() -> None:
    async def run() -> list[dict[str, Any]]:
        return [
            await aio.call_tool("redis_write", {"key": "k", "value": [1, 2]}, role=ROLE),
            await aio.call_tool("redis_read", '{"key": "k"}', role=ROLE),
            await aio.call_tool("redis_get_keys", None, role=ROLE),
            await aio.call_tool("redis_read", {"key": "k", "role": OWNER}, role=ROLE),
        ]

    wrote, read, listed, refused = asyncio.run(run())
    assert wrote["success"] and read["value"] == [1, 2] and listed["keys"] == ["k"]
    assert refused["error_code"] == "invalid_argument"


@pytest.fixture
def owners_secret() -> None:
    roleredis.redis_write("secret", SECRET, role=OWNER)
    roleredis.redis_write("shared:doc", SECRET, role=OWNER)


def _leaks(result: Mapping[str, Any]) -> bool:
    """Whether ``result`` carries the owner's data (its value, or its key names)."""
    text = json.dumps(result)
    return "1234" in text or "secret" in json.dumps(result.get("keys", []))


@pytest.mark.usefixtures("owners_secret")
@pytest.mark.parametrize(
    "arguments",
    [
        {"key": "secret", "role": OWNER},
        {"key": "secret", "prefixed_key": "owner:secret"},
        {"key": "../owner:secret"},
        {"key": "owner:secret"},
        {"key": "/owner:secret"},
        {"key": "..\\owner:secret"},
        {"key": "{owner}:secret"},
        {"key": "__roleredis__:{owner}:secret"},
        {"key": "*"},
        {"key": "owner:*"},
    ],
)
def test_no_key_a_model_sends_reads_another_roles_data(arguments: dict[str, Any]) -> None:
    for name in ("redis_read", "redis_exists"):
        result = call(name, arguments)
        assert not _leaks(result), result
        assert result.get("exists") is not True
        assert result["success"] is False or result.get("exists") is False


@pytest.mark.usefixtures("owners_secret")
@pytest.mark.parametrize("pattern", ["*", "../*", "owner:*", "*secret*", "../owner:*", "[o]*"])
def test_no_pattern_lists_another_roles_keys(pattern: str) -> None:
    result = call("redis_get_keys", {"pattern": pattern})
    assert result["success"] is True and result["keys"] == []


def test_path_like_keys_stay_inside_the_role(raw: redis.Redis, physical: Any) -> None:
    for key in ("../owner:secret", "owner:secret", "__roleredis__:{owner}:mail:x"):
        assert call("redis_write", {"key": key, "value": "mine"})["success"]
        assert raw.get(physical(f"planner:{key}")) is not None
    assert raw.exists(physical("owner:secret")) == 0
    assert roleredis.redis_read("secret", role=OWNER)["error_code"] == "not_found"


@pytest.mark.usefixtures("owners_secret")
@pytest.mark.parametrize("name", ["redis_read", "redis_exists", "redis_get_keys"])
@pytest.mark.parametrize("owner", [OWNER, "../owner", "owner:x"])
def test_from_role_without_a_grant_is_refused(name: str, owner: str) -> None:
    """No sharing: section and not the role's ACL user: refused (permission), although the
    Python API would allow it; a name that is no role: invalid_argument."""
    arguments: dict[str, Any] = {"from_role": owner}
    if name != "redis_get_keys":
        arguments["key"] = "secret"
    result = call(name, arguments)
    assert result["success"] is False and not _leaks(result)
    assert result["error_code"] == ("permission" if owner == OWNER else "invalid_argument")
    allowed = getattr(roleredis, name)(**arguments, role=ROLE)  # the Python API, for contrast
    assert allowed["success"] is (owner == OWNER)


def test_values_over_the_limit_are_refused_and_not_written(
    write_config: Callable[[Mapping[str, Any]], Path], raw: redis.Redis, physical: Any
) -> None:
    write_config({"mcp": {"max_value_bytes": 1000}})
    refused = call("redis_write", {"key": "big", "value": "x" * 1000})
    assert refused["error_code"] == "invalid_argument"
    assert "over the limit of 1000 bytes (mcp.max_value_bytes)" in refused["error"]
    assert raw.exists(physical("planner:big")) == 0
    assert call("redis_write", {"key": "big", "value": "x" * 990})["success"]


def test_a_long_listing_is_cut_to_the_result_limit(
    write_config: Callable[[Mapping[str, Any]], Path],
) -> None:
    write_config({"mcp": {"max_result_bytes": 2000}})
    roleredis.redis_write_many({f"item:{i:03d}": i for i in range(300)}, role=ROLE)
    result = call("redis_get_keys", {"pattern": "item:*"})
    assert result["truncated"] is True and 0 < result["count"] == len(result["keys"]) < 300
    assert len(json.dumps(result, separators=(",", ":")).encode()) <= 2000
    assert set(result["keys"]) < {f"item:{i:03d}" for i in range(300)}
    whole = roleredis.redis_read("item:001", role=ROLE)
    assert whole["value"] == 1


@pytest.mark.usefixtures("owners_secret")
def test_a_sharing_section_grants_exactly_its_keys(
    write_config: Callable[[Mapping[str, Any]], Path],
) -> None:
    write_config({"redis": {}, "sharing": {ROLE: {"read": [f"{OWNER}:shared:*"]}}})
    got = call("redis_read", {"key": "shared:doc", "from_role": OWNER})
    assert got["value"] == SECRET and got["from_role"] == OWNER and got["role"] == ROLE
    assert call("redis_exists", {"key": "shared:doc", "from_role": OWNER})["exists"] is True
    assert call("redis_get_keys", {"from_role": OWNER})["keys"] == ["shared:doc"]
    for arguments in (
        {"key": "secret", "from_role": OWNER},
        {"key": "../secret", "from_role": OWNER},
        {"key": "shared:doc", "from_role": "someone"},
    ):
        refused = call("redis_read", arguments)
        assert refused["error_code"] == "permission" and not _leaks(refused), arguments


@pytest.mark.real_server  # fakeredis drops %R~ rules: only a real server enforces a grant
@pytest.mark.usefixtures("owners_secret")
def test_as_the_readers_acl_user_the_server_decides(
    roleredis_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No sharing: section: through call_tool a from_role read would be refused, but the
    process runs as planner's own ACL user, so what the server grants is what it gets."""
    creds = roleredis.admin.acl.provision(ROLE)
    try:
        roleredis.admin.acl.grant(ROLE, OWNER, "shared:*")
        monkeypatch.setenv("REDIS_USERNAME", creds.username)
        monkeypatch.setenv("REDIS_PASSWORD", creds.password or "")
        roleredis.reset()
        got = call("redis_read", {"key": "shared:doc", "from_role": OWNER})
        assert got["value"] == SECRET
        refused = call("redis_read", {"key": "secret", "from_role": OWNER})
        assert refused["error_code"] == "permission" and not _leaks(refused)
        assert call("redis_get_keys", {"from_role": OWNER})["keys"] == ["shared:doc"]
    finally:
        monkeypatch.delenv("REDIS_USERNAME")
        monkeypatch.delenv("REDIS_PASSWORD")
        roleredis.reset()
        roleredis.admin.acl.revoke(ROLE)


# --------------------------------------------------------------------------- mail and events

SENDER = "courier"


def test_mail_round_trips_between_roles_and_only_the_recipient_acks() -> None:
    """courier sends, planner receives and acks by the ids it was given; owner (another
    role) cannot ack planner's mail with those ids."""
    sent = roleredis.call_tool("redis_send", {"to_role": ROLE, "message": {"n": 1}}, role=SENDER)
    assert sent["success"] and sent["from"] == SENDER and sent["to"] == ROLE
    got = call("redis_receive", {"count": 5})
    assert got["truncated"] is False and got["count"] == 1
    (message,) = got["messages"]
    assert (message["from"], message["body"], message["msg_id"]) == (
        SENDER,
        {"n": 1},
        sent["msg_id"],
    )
    assert message["id"] == sent["id"]  # what send gave is what the recipient acks
    foreign = roleredis.call_tool("redis_ack", {"ids": [message["id"]]}, role=OWNER)
    assert foreign.get("acked", 0) == 0
    assert call("redis_ack", json.dumps({"ids": [message["id"]]}))["acked"] == 1
    assert call("redis_receive", {})["messages"] == []


def test_the_asyncio_face_sends_and_receives() -> None:
    async def run() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        sent = await aio.call_tool("redis_send", {"to_role": ROLE, "message": "hi"}, role=SENDER)
        got = await aio.call_tool("redis_receive", None, role=ROLE)
        acked = await aio.call_tool(
            "redis_ack", {"ids": [m["id"] for m in got["messages"]]}, role=ROLE
        )
        return sent, got, acked

    sent, got, acked = asyncio.run(run())
    assert [m["msg_id"] for m in got["messages"]] == [sent["msg_id"]] and acked["acked"] == 1


def test_events_cross_roles_with_no_grant() -> None:
    """No sharing: section and not the reader's ACL user: key reads from another role are
    refused (above), events are not."""
    published = roleredis.call_tool(
        "redis_publish", {"topic": "plans", "event": {"step": 1}}, role=OWNER
    )
    assert published["success"]
    read = call("redis_read_events", {"from_role": OWNER, "topic": "plans"})
    assert read["success"] and read["truncated"] is False
    assert [(e["from"], e["event"], e["id"]) for e in read["events"]] == [
        (OWNER, {"step": 1}, published["id"])
    ]
    assert read["last_id"] == published["id"]
    later = call(
        "redis_read_events", {"from_role": OWNER, "topic": "plans", "after": read["last_id"]}
    )
    assert later["events"] == []


ESCAPES = [
    "../owner",
    "owner:key",
    "__roleredis__:{owner}:mail:x",
    "{owner}",
    "own*",
    "o?ner",
    "[o]wner",
    "owner/x",
    "",
]


@pytest.mark.parametrize("bad", ESCAPES)
def test_model_supplied_role_and_topic_names_cannot_escape(bad: str, raw: redis.Redis) -> None:
    roleredis.redis_publish("plans", SECRET, role=OWNER)
    before = sorted(raw.keys("*"))
    attempts = [
        ("redis_send", {"to_role": bad, "message": "x"}),
        ("redis_read_events", {"from_role": bad, "topic": "plans"}),
        ("redis_read_events", {"from_role": OWNER, "topic": bad}),
        ("redis_publish", {"topic": bad, "event": "x"}),
    ]
    for name, arguments in attempts:
        result = call(name, arguments)
        assert result["success"] is False, (name, arguments, result)
        assert result["error_code"] == "invalid_argument" and not _leaks(result)
    assert sorted(raw.keys("*")) == before


@pytest.mark.parametrize(
    ("settings", "limit", "named"),
    [
        ({"mcp": {"max_value_bytes": 1000}}, 1000, "mcp.max_value_bytes"),
        (
            {"mcp": {"max_value_bytes": 1000}, "messaging": {"max_message_bytes": 600}},
            600,
            "messaging.max_message_bytes",
        ),
        (
            {"mcp": {"max_value_bytes": 1000}, "serialization": {"max_value_bytes": 500}},
            500,
            "serialization.max_value_bytes",
        ),
    ],
)
def test_messages_and_events_over_the_smallest_limit_are_refused(
    write_config: Callable[[Mapping[str, Any]], Path],
    settings: Mapping[str, Any],
    limit: int,
    named: str,
) -> None:
    write_config(settings)
    big = "x" * limit  # limit + 2 bytes as JSON
    for name, arguments in (
        ("redis_send", {"to_role": ROLE, "message": big}),
        ("redis_publish", {"topic": "big", "event": big}),
    ):
        refused = roleredis.call_tool(name, arguments, role=SENDER)
        assert refused["error_code"] == "invalid_argument", refused
        assert f"over the limit of {limit} bytes ({named})" in refused["error"]
    assert call("redis_receive", {})["messages"] == []
    assert call("redis_read_events", {"from_role": SENDER, "topic": "big"})["events"] == []
    fits = "x" * (limit - 40)
    assert roleredis.call_tool("redis_send", {"to_role": ROLE, "message": fits}, role=SENDER)[
        "success"
    ]
    assert call("redis_receive", {})["messages"][0]["body"] == fits


def _size(result: Mapping[str, Any]) -> int:
    return len(json.dumps(result, separators=(",", ":"), ensure_ascii=False).encode())


def test_a_long_receive_is_cut_and_the_rest_come_next_without_another_delivery(
    write_config: Callable[[Mapping[str, Any]], Path],
) -> None:
    write_config({"mcp": {"max_result_bytes": 2000}})
    sent = [
        roleredis.redis_send(ROLE, {"i": i, "pad": "p" * 150}, role=SENDER)["msg_id"]
        for i in range(20)
    ]
    seen: list[dict[str, Any]] = []
    rounds = 0
    while len(seen) < 20 and rounds < 20:
        rounds += 1
        got = call("redis_receive", {"count": 20})
        assert got["success"] and 0 < got["count"] == len(got["messages"])
        assert _size(got) <= 2000
        assert got["truncated"] is (len(seen) + got["count"] < 20)
        seen += got["messages"]
    assert rounds > 1 and [m["msg_id"] for m in seen] == sent
    assert {m["deliveries"] for m in seen} == {1}
    assert call("redis_ack", {"ids": [m["id"] for m in seen]})["acked"] == 20
    assert call("redis_receive", {})["messages"] == []


def test_a_bytes_message_is_sized_as_its_base64(
    write_config: Callable[[Mapping[str, Any]], Path],
) -> None:
    """A body the Python API sent as bytes is measured as a JSON client gets it (base64)."""
    write_config({"mcp": {"max_result_bytes": 1000}})
    for _ in range(3):
        roleredis.redis_send(ROLE, b"\x00" * 300, role=SENDER)
    got = [call("redis_receive", {"count": 3}) for _ in range(3)]
    assert [(r["count"], r["truncated"]) for r in got] == [(1, True), (1, True), (1, False)]
    assert {
        m["body"] == {"bytes_base64": base64.b64encode(b"\x00" * 300).decode()}
        and m["deliveries"] == 1
        for r in got
        for m in r["messages"]
    } == {True}


def test_the_asyncio_face_cuts_a_receive_the_same_way(
    write_config: Callable[[Mapping[str, Any]], Path],
) -> None:
    """The MCP server runs the asyncio face: a cut receive's rest is the next receive there
    too (the held messages live in the role's AsyncRoleStore)."""
    write_config({"mcp": {"max_result_bytes": 1000}})
    sent = [roleredis.redis_send(ROLE, "m" * 400, role=SENDER)["msg_id"] for _ in range(3)]

    async def run() -> list[dict[str, Any]]:
        return [await aio.call_tool("redis_receive", {"count": 3}, role=ROLE) for _ in range(3)]

    got = asyncio.run(run())
    assert [(r["count"], r["truncated"]) for r in got] == [(1, True), (1, True), (1, False)]
    assert [m["msg_id"] for r in got for m in r["messages"]] == sent


def test_a_long_event_read_is_cut_and_reading_on_gets_the_rest(
    write_config: Callable[[Mapping[str, Any]], Path],
) -> None:
    write_config({"mcp": {"max_result_bytes": 2000}})
    ids = [
        roleredis.redis_publish("log", {"i": i, "pad": "p" * 150}, role=OWNER)["id"]
        for i in range(20)
    ]
    seen: list[str] = []
    after = "0"
    for _ in range(20):
        read = call("redis_read_events", {"from_role": OWNER, "topic": "log", "after": after})
        assert read["success"] and _size(read) <= 2000
        seen += [e["id"] for e in read["events"]]
        after = read["last_id"]
        if not read["truncated"]:
            break
        assert after == read["events"][-1]["id"]
    assert seen == ids
    whole = call("redis_read_events", {"from_role": OWNER, "topic": "log", "count": 1})
    assert whole["events"][0]["event"] == {"i": 0, "pad": "p" * 150}
