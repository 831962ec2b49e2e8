"""The guide's two test examples, as tests: "Unit Testing with Mocks" (patch target
``roleredis.tools._get_redis_client``) and "Integration Testing" (without the skip: it fails
if the server is down)."""

from __future__ import annotations

from unittest.mock import Mock, patch

import pytest
from roleredis.tools import redis_delete, redis_health_check, redis_read, redis_write

pytestmark = pytest.mark.backends("redis", "memory")


def test_redis_operations() -> None:
    with patch("roleredis.tools._get_redis_client") as mock_client:
        mock_redis = Mock()
        mock_client.return_value = mock_redis

        # Test write
        mock_redis.set.return_value = True
        result = redis_write("test_key", "test_value")
        assert result["success"] is True

        # Test read
        mock_redis.get.return_value = "test_value"
        mock_redis.ttl.return_value = 3600
        result = redis_read("test_key")
        assert result["success"] is True
        assert result["value"] == "test_value"


def test_redis_integration() -> None:
    # The guide skips when Redis is unavailable; here an unavailable server is a failure.
    health = redis_health_check()
    assert health["success"], health

    # Test full workflow
    test_data = {"test": True}

    # Write
    write_result = redis_write("integration_test", test_data, ttl=60)
    assert write_result["success"]

    # Read
    read_result = redis_read("integration_test")
    assert read_result["success"]
    assert read_result["value"] == test_data

    # Cleanup
    redis_delete("integration_test")
    assert redis_read("integration_test")["error_code"] == "not_found"
