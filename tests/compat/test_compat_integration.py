"""Against the session's throwaway redis-server (never 6379), in the original suite's style:
the role patched, the tools called without ``role=``, the result dicts checked; plus a look at
what lands in Redis, and at which client path is taken."""

import os
from unittest.mock import patch

import pytest
import redis
from roleredis.tools import (
    redis_clear_role_data,
    redis_delete,
    redis_exists,
    redis_get_keys,
    redis_health_check,
    redis_read,
    redis_write,
)

import roleredis
from roleredis import tools
from roleredis.testing import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def raw(original_environment):
    client = original_environment.server.client()
    yield client
    client.close()


@patch("roleredis.tools._get_calling_role")
def test_full_workflow_with_the_role_patched(mock_get_role, raw):
    mock_get_role.return_value = "integration_test"
    assert redis_health_check()["success"] is True

    data = {"timestamp": "2024-01-01", "test": True}
    assert redis_write("integration_test_key", data, ttl=60)["success"] is True
    assert redis_write("plain", "text")["success"] is True

    read = redis_read("integration_test_key")
    assert read["success"] is True
    assert read["value"] == data
    assert 0 < read["ttl"] <= 60
    assert redis_exists("integration_test_key")["exists"] is True
    assert redis_get_keys("integration_*")["keys"] == ["integration_test_key"]

    # README, "what still differs": a str is stored as JSON (with its quotes), and a key
    # without expiry reads back with ttl -1 (the original gave None)
    assert raw.get("integration_test:plain") == b'"text"'
    assert redis_read("plain")["ttl"] == -1

    delete = redis_delete("integration_test_key")
    assert delete["success"] is True and delete["deleted"] is True
    missing = redis_read("integration_test_key")
    assert missing["success"] is False
    assert missing["value"] is None
    assert missing["error_code"] == "not_found"

    assert redis_clear_role_data("integration_test")["deleted_count"] == 1
    assert raw.keys("integration_test:*") == []


class RecordingRedis(redis.Redis):
    """A genuine redis-py client that records the per-command methods called on it."""

    called: list[str]

    def __getattribute__(self, name):
        if name in {"set", "setex", "get", "ttl", "delete", "unlink", "exists", "scan", "keys"}:
            object.__getattribute__(self, "called").append(name)
        return object.__getattribute__(self, name)


def test_a_genuine_redis_client_keeps_the_fast_path(original_environment, raw):
    client = RecordingRedis.from_url(original_environment.server.url)
    client.called = []
    try:
        with patch("roleredis.tools._get_redis_client", return_value=client):
            assert redis_write("k", {"a": 1}, ttl=30, role="w")["success"] is True
            assert redis_read("k", role="w")["value"] == {"a": 1}
            assert redis_get_keys(role="w")["keys"] == ["k"]
            assert redis_delete("k", role="w")["deleted"] is True
        assert client.called == []  # packed on one connection, never method by method
    finally:
        client.close()
    assert raw.exists("w:k") == 0


def test_tools_keep_the_cached_settings_until_reset(original_environment):
    assert redis_write("k", 1, role="w")["success"] is True
    dead_port = free_port()
    with patch.dict(os.environ, {"REDIS_PORT": str(dead_port)}):
        assert tools._get_redis_config()["port"] == dead_port  # what the environment says now
        assert redis_write("k", 2, role="w")["success"] is True  # what the tools still use
        roleredis.reset()
        failed = redis_write("k", 3, role="w")
        assert failed["success"] is False and failed["error_code"] == "connection"
    roleredis.reset()
    assert redis_read("k", role="w")["value"] == 2


def test_a_missing_key_has_value_none_sync_and_in_the_callback(original_environment):
    got = []
    assert redis_read("nothing", role="w")["value"] is None
    assert roleredis.redis_read_async("nothing", callback=got.append, role="w")["success"]
    assert roleredis.redis_flush(timeout=5)["success"] is True
    assert got == [redis_read("nothing", role="w")]
    assert got[0]["value"] is None and got[0]["error_code"] == "not_found"
