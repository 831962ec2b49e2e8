"""The idioms of tests written for the guide's original module, one by one (issue 9).

Mock-based, in the original suite's style: patch ``_get_calling_role``, ``_get_redis_client``
and ``REDIS_AVAILABLE`` in ``roleredis.tools``, give a ``Mock`` the return values the original
module's calls expect, and assert the calls it made.
"""

import json
import os
from typing import ClassVar
from unittest.mock import Mock, patch

import pytest
import redis
from roleredis.tools import (
    _get_calling_role,
    _prefix_key,
    _unprefix_key,
    acting_as,
    redis_clear_role_data,
    redis_delete,
    redis_exists,
    redis_get_keys,
    redis_health_check,
    redis_read,
    redis_read_async,
    redis_write,
    redis_write_async,
)

import roleredis
from roleredis import tools

CLIENT = "roleredis.tools._get_redis_client"
ROLE = "roleredis.tools._get_calling_role"


class TestPrefixHelpers:
    def test_prefix_with_role(self):
        assert _prefix_key("forecast", "weather") == "weather:forecast"

    def test_prefix_asks_the_patched_role(self):
        with patch(ROLE, return_value="timer") as who:
            assert _prefix_key("alarm") == "timer:alarm"
        who.assert_called_once_with()

    def test_unprefix_with_role(self):
        assert _unprefix_key("weather:forecast", "weather") == "forecast"

    def test_unprefix_asks_the_patched_role(self):
        with patch(ROLE, return_value="timer"):
            assert _unprefix_key("timer:alarm") == "alarm"

    def test_unprefix_leaves_another_prefix_alone(self):
        assert _unprefix_key("other:k", "weather") == "other:k"
        assert _unprefix_key("weatherman:k", "weather") == "weatherman:k"

    def test_calling_role_falls_back_to_the_default(self):
        # this file is not under roles/<name>/, and no role is set
        assert _get_calling_role() == "unknown"

    def test_calling_role_keeps_the_order(self, monkeypatch):
        monkeypatch.setenv("ROLEREDIS_ROLE", "from_env")
        roleredis.reset()
        assert _get_calling_role() == "from_env"
        with acting_as("acting"):
            assert _get_calling_role() == "acting"


class TestPatchedRoleDecides:
    @patch(CLIENT)
    @patch(ROLE)
    def test_every_tool_uses_the_patched_role(self, mock_get_role, mock_get_client):
        mock_get_role.return_value = "patched"
        client = Mock()
        mock_get_client.return_value = client
        client.set.return_value = True
        client.get.return_value = '"v"'
        client.ttl.return_value = -1
        client.exists.return_value = 1
        client.delete.return_value = 1
        client.scan.return_value = (0, ["patched:k"])

        assert redis_write("k", "v")["prefixed_key"] == "patched:k"
        assert redis_read("k")["prefixed_key"] == "patched:k"
        assert redis_exists("k")["prefixed_key"] == "patched:k"
        assert redis_get_keys()["role"] == "patched"
        assert redis_delete("k")["prefixed_key"] == "patched:k"
        assert redis_clear_role_data()["role"] == "patched"
        assert redis_write_async("k", 1)["prefixed_key"] == "patched:k"
        assert redis_read_async("k")["prefixed_key"] == "patched:k"
        assert roleredis.redis_flush(timeout=5)["success"] is True

    @patch(CLIENT)
    @patch(ROLE, return_value="patched")
    def test_role_argument_and_acting_as_order(self, mock_get_role, mock_get_client):
        mock_get_client.return_value = Mock(**{"set.return_value": True})
        assert redis_write("k", 1, role="explicit")["prefixed_key"] == "explicit:k"
        # acting_as is part of what _get_calling_role decides; patched, the patch decides
        with acting_as("acting"):
            assert redis_write("k", 1)["prefixed_key"] == "patched:k"

    @patch(CLIENT)
    @patch(ROLE, return_value="not a role!")
    def test_an_invalid_patched_role_is_refused(self, mock_get_role, mock_get_client):
        result = redis_write("k", 1)
        assert result["success"] is False
        assert result["error_code"] == "invalid_argument"
        mock_get_client.return_value.set.assert_not_called()


class TestRedisNotAvailable:
    CALLS: ClassVar = {
        "redis_write": lambda: redis_write("k", 1),
        "redis_read": lambda: redis_read("k"),
        "redis_get_keys": lambda: redis_get_keys(),
        "redis_delete": lambda: redis_delete("k"),
        "redis_exists": lambda: redis_exists("k"),
        "redis_health_check": lambda: redis_health_check(),
        "redis_clear_role_data": lambda: redis_clear_role_data("weather"),
        "redis_write_async": lambda: redis_write_async("k", 1),
        "redis_read_async": lambda: redis_read_async("k"),
        "redis_write_many": lambda: roleredis.redis_write_many({"k": 1}),
        "redis_read_many": lambda: roleredis.redis_read_many(["k"]),
    }

    @pytest.mark.parametrize("name", sorted(CALLS))
    @patch(CLIENT)
    @patch("roleredis.tools.REDIS_AVAILABLE", False)
    def test_every_tool_fails_disabled(self, mock_get_client, name):
        result = self.CALLS[name]()
        assert result["success"] is False
        assert result["error_code"] == "disabled"
        assert "Redis not available" in result["error"]
        mock_get_client.assert_not_called()

    def test_restored_after_the_patch(self):
        with patch("roleredis.tools.REDIS_AVAILABLE", False):
            assert redis_write("k", 1, role="w")["success"] is False
        assert tools.REDIS_AVAILABLE is True
        assert redis_write("k", 1, role="w")["success"] is True


class TestMockCalls:
    @pytest.fixture(params=["Mock()", "Mock(spec=redis.Redis)"])
    def mock_client(self, request):
        client = Mock() if request.param == "Mock()" else Mock(spec=redis.Redis)
        with patch(CLIENT, return_value=client), patch(ROLE, return_value="test_role"):
            yield client

    def test_write_with_ttl_calls_setex(self, mock_client):
        mock_client.setex.return_value = True
        result = redis_write("k", {"a": 1}, ttl=60)
        assert result["success"] is True
        assert result["ttl"] == 60
        mock_client.setex.assert_called_once_with("test_role:k", 60, json.dumps({"a": 1}))
        mock_client.set.assert_not_called()

    def test_write_without_ttl_calls_set(self, mock_client):
        mock_client.set.return_value = True
        data = {"user_id": 123, "tags": ["a", "b"], "nested": {"x": 1.5}}
        assert redis_write("k", data)["success"] is True
        mock_client.set.assert_called_once_with("test_role:k", json.dumps(data))
        mock_client.setex.assert_not_called()

    def test_numbers_are_stored_as_the_original_stored_them(self, mock_client):
        mock_client.set.return_value = True
        redis_write("n", 123)
        mock_client.set.assert_called_once_with("test_role:n", "123")

    def test_bytes_stay_bytes(self, mock_client):
        mock_client.set.return_value = True
        redis_write("b", b"\x00raw")
        (key, sent), _ = mock_client.set.call_args
        assert key == "test_role:b"
        assert isinstance(sent, bytes) and sent.endswith(b"\x00raw")

    def test_a_falsy_reply_is_a_failed_write(self, mock_client):
        mock_client.set.return_value = False
        result = redis_write("k", 1)
        assert result["success"] is False
        assert result["error_code"] == "internal"

    def test_an_unset_reply_counts_as_success(self, mock_client):
        # a Mock's return value, never set, is a Mock: truthy, as the original took it
        assert redis_write("k", 1)["success"] is True

    def test_a_raised_error_is_in_the_result(self, mock_client):
        mock_client.setex.side_effect = Exception("Connection failed")
        result = redis_write("k", 1, ttl=5)
        assert result["success"] is False
        assert "Connection failed" in result["error"]

    def test_delete_calls_delete(self, mock_client):
        mock_client.delete.return_value = 1
        result = redis_delete("k")
        assert result["success"] is True
        assert result["deleted"] is True
        mock_client.delete.assert_called_once_with("test_role:k")
        mock_client.unlink.assert_not_called()

    def test_delete_of_a_missing_key(self, mock_client):
        mock_client.delete.return_value = 0
        assert redis_delete("k")["deleted"] is False

    @pytest.mark.parametrize("reply", [1, 0])
    def test_exists_calls_exists(self, mock_client, reply):
        mock_client.exists.return_value = reply
        assert redis_exists("k")["exists"] is bool(reply)
        mock_client.exists.assert_called_once_with("test_role:k")

    @pytest.mark.parametrize("stored", ['{"a": 1}', b'{"a": 1}', '{"a":1}'])
    def test_read_accepts_str_and_bytes(self, mock_client, stored):
        mock_client.get.return_value = stored
        mock_client.ttl.return_value = 30
        result = redis_read("k")
        assert result["success"] is True
        assert result["value"] == {"a": 1}
        assert result["ttl"] == 30
        mock_client.get.assert_called_once_with("test_role:k")

    def test_read_of_plain_text_written_by_the_original(self, mock_client):
        mock_client.get.return_value = "test_value"
        mock_client.ttl.return_value = 3600
        assert redis_read("k")["value"] == "test_value"

    def test_read_of_a_missing_key_has_value_none(self, mock_client):
        mock_client.get.return_value = None
        result = redis_read("nonexistent_key")
        assert result["success"] is False
        assert result["value"] is None
        assert "not found" in result["message"].lower()
        assert result["error_code"] == "not_found"

    def test_get_keys_with_str_and_bytes_replies(self, mock_client):
        mock_client.scan.return_value = (0, ["test_role:session:1", b"test_role:session:2"])
        result = redis_get_keys("session:*")
        assert result["keys"] == ["session:1", "session:2"]
        mock_client.scan.assert_called_once_with(0, match="test_role:session:*", count=1000)
        mock_client.keys.assert_not_called()

    def test_clear_deletes_what_scan_found(self, mock_client):
        mock_client.scan.return_value = (0, ["test_role:key1", "test_role:key2"])
        mock_client.delete.return_value = 2
        result = redis_clear_role_data()
        assert result["deleted_count"] == 2
        mock_client.delete.assert_called_once_with("test_role:key1", "test_role:key2")

    def test_health_check_as_the_guide_sets_the_mock(self, mock_client):
        mock_client.set.return_value = True
        mock_client.get.return_value = "test"
        mock_client.delete.return_value = 1
        mock_client.info.return_value = {
            "redis_version": "6.2.0",
            "used_memory_human": "1.2M",
            "connected_clients": 5,
        }
        result = redis_health_check()
        assert result["success"] is True, result
        assert result["connected"] is True
        assert result["redis_version"] == "6.2.0"
        assert result["used_memory_human"] == "1.2M"
        (probe, seconds, value), _ = mock_client.setex.call_args
        assert probe.startswith("test_role:") and 0 < seconds <= 30 and value == "test"
        mock_client.delete.assert_called_once_with(probe)

    def test_health_check_fails_when_the_probe_reads_back_wrong(self, mock_client):
        mock_client.get.return_value = "something else"
        mock_client.info.return_value = {"redis_version": "6.2.0"}
        result = redis_health_check()
        assert result["success"] is False
        assert result["connected"] is False

    def test_connection_error_from_the_client_factory(self, mock_client):
        with patch(CLIENT, side_effect=Exception("Connection refused")):
            result = redis_write("k", 1)
        assert result["success"] is False
        assert "Connection refused" in result["error"]


class TestRedisConfig:
    @patch.dict(
        os.environ,
        {
            "REDIS_HOST": "test-host",
            "REDIS_PORT": "6380",
            "REDIS_DB": "1",
            "REDIS_PASSWORD": "test-password",
        },
    )
    def test_config_from_env(self):
        config = tools._get_redis_config()
        assert config["host"] == "test-host"
        assert config["port"] == 6380
        assert config["db"] == 1
        assert config["password"] == "test-password"
        assert "test-password" not in repr(config)

    def test_config_is_read_at_call_time_not_cached(self):
        assert redis_write("k", 1, role="w")["success"] is True  # settings now cached
        cached_port = tools._get_redis_config()["port"]
        with patch.dict(os.environ, {"REDIS_PORT": "6390"}):
            assert tools._get_redis_config()["port"] == 6390
        assert tools._get_redis_config()["port"] == cached_port

    def test_config_yaml_is_read_at_call_time(self, original_environment):
        assert tools._get_redis_config()["db"] == 0
        path = original_environment.tmp_path / "config.yaml"
        path.write_text("redis:\n  connection:\n    db: 5\n", encoding="utf-8")
        assert tools._get_redis_config()["db"] == 5
