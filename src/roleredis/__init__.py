"""roleredis: each role (agent) of a multi-role Python program gets its own corner of Redis.

>>> from roleredis import redis_write, redis_read, acting_as
>>> with acting_as("weather"):
...     redis_write("forecast", {"sky": "clear"}, ttl=60)["prefixed_key"]
...     redis_read("forecast")["value"]
'weather:forecast'
{'sky': 'clear'}
"""

from . import acl, aio, metrics
from .agent import call_tool, tool_schemas
from .config import Settings, load_settings
from .errors import (
    ConfigError,
    ConnectionFailedError,
    DisabledError,
    InternalError,
    InvalidArgumentError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    RoleRedisError,
    SerializationError,
    TimeoutError,
)
from .roles import RoleExecutor, acting_as, carry_role
from .runtime import reset
from .store import RoleStore
from .tools import (
    redis_ack,
    redis_clear_role_data,
    redis_dead_letters,
    redis_delete,
    redis_exists,
    redis_flush,
    redis_get_keys,
    redis_health_check,
    redis_publish,
    redis_read,
    redis_read_async,
    redis_read_events,
    redis_read_many,
    redis_receive,
    redis_replay_dead_letters,
    redis_send,
    redis_send_async,
    redis_write,
    redis_write_async,
    redis_write_many,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ConnectionFailedError",
    "DisabledError",
    "InternalError",
    "InvalidArgumentError",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "RoleExecutor",
    "RoleRedisError",
    "RoleStore",
    "SerializationError",
    "Settings",
    "TimeoutError",
    "acl",
    "acting_as",
    "aio",
    "call_tool",
    "carry_role",
    "load_settings",
    "metrics",
    "redis_ack",
    "redis_clear_role_data",
    "redis_dead_letters",
    "redis_delete",
    "redis_exists",
    "redis_flush",
    "redis_get_keys",
    "redis_health_check",
    "redis_publish",
    "redis_read",
    "redis_read_async",
    "redis_read_events",
    "redis_read_many",
    "redis_receive",
    "redis_replay_dead_letters",
    "redis_send",
    "redis_send_async",
    "redis_write",
    "redis_write_async",
    "redis_write_many",
    "reset",
    "tool_schemas",
]
