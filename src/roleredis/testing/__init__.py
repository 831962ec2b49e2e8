"""Test helpers for code that uses roleredis: throwaway redis-server processes."""

from roleredis.testing.clock import FakeClock
from roleredis.testing.server import RedisServer, RedisServerError, free_port

__all__ = ["FakeClock", "RedisServer", "RedisServerError", "free_port"]
