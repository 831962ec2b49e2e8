"""Function calling against a real server (issue 13): every agent tool round-trips through
``roleredis.call_tool`` and ``roleredis.aio.call_tool``, and nothing a model sends reaches
data its role may not read: not a ``role`` argument, not ``from_role`` without a grant, not a
path-like or internal-looking key.
"""

from __future__ import annotations

import asyncio
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
    creds = roleredis.acl.provision(ROLE)
    try:
        roleredis.acl.grant(ROLE, OWNER, "shared:*")
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
        roleredis.acl.revoke(ROLE)
