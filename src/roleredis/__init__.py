"""roleredis: each role (agent) of a multi-role Python program gets its own corner of Redis.

>>> from roleredis import redis_write, redis_read, acting_as
>>> with acting_as("weather"):
...     redis_write("forecast", {"sky": "clear"}, ttl=60)["prefixed_key"]
...     redis_read("forecast")["value"]
'weather:forecast'
{'sky': 'clear'}
"""

import sys as _sys

from .admin import acl
from .core.store import RoleStore
from .faces import aio, tools
from .faces.agents.calls import call_tool
from .faces.agents.schemas import tool_schemas
from .faces.caching import ainvalidate_tags, cache_bypass, cached, invalidate_tags
from .faces.serving import serve
from .faces.tools import (
    budget,
    lease,
    redis_ack,
    redis_acquire,
    redis_clear_role_data,
    redis_dead_letters,
    redis_delete,
    redis_exists,
    redis_flush,
    redis_get_keys,
    redis_give_back,
    redis_health_check,
    redis_publish,
    redis_read,
    redis_read_async,
    redis_read_events,
    redis_read_many,
    redis_receive,
    redis_release,
    redis_renew,
    redis_replay_dead_letters,
    redis_reply,
    redis_report,
    redis_request,
    redis_send,
    redis_send_async,
    redis_take,
    redis_touch,
    redis_write,
    redis_write_async,
    redis_write_many,
)
from .foundation import settings
from .foundation.config import Settings, load_settings
from .foundation.errors import (
    ConfigError,
    ConnectionFailedError,
    DisabledError,
    HeldError,
    InternalError,
    InvalidArgumentError,
    LostError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    ResponderError,
    RoleRedisError,
    SerializationError,
    TimeoutError,
)
from .runtime import reset
from .table import metrics
from .table import tracing as otel
from .table.roles import RoleExecutor, acting_as, carry_role

# the public paths of modules that live in layer folders: the same module objects, so that
# patch("roleredis.tools._get_redis_client") patches what the tools call
_sys.modules[__name__ + ".tools"] = tools
_sys.modules[__name__ + ".aio"] = aio
_sys.modules[__name__ + ".settings"] = settings
_sys.modules[__name__ + ".otel"] = otel

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ConnectionFailedError",
    "DisabledError",
    "HeldError",
    "InternalError",
    "InvalidArgumentError",
    "LostError",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "ResponderError",
    "RoleExecutor",
    "RoleRedisError",
    "RoleStore",
    "SerializationError",
    "Settings",
    "TimeoutError",
    "acl",
    "acting_as",
    "ainvalidate_tags",
    "aio",
    "budget",
    "cache_bypass",
    "cached",
    "call_tool",
    "carry_role",
    "invalidate_tags",
    "lease",
    "load_settings",
    "metrics",
    "otel",
    "redis_ack",
    "redis_acquire",
    "redis_clear_role_data",
    "redis_dead_letters",
    "redis_delete",
    "redis_exists",
    "redis_flush",
    "redis_get_keys",
    "redis_give_back",
    "redis_health_check",
    "redis_publish",
    "redis_read",
    "redis_read_async",
    "redis_read_events",
    "redis_read_many",
    "redis_receive",
    "redis_release",
    "redis_renew",
    "redis_replay_dead_letters",
    "redis_reply",
    "redis_report",
    "redis_request",
    "redis_send",
    "redis_send_async",
    "redis_take",
    "redis_touch",
    "redis_write",
    "redis_write_async",
    "redis_write_many",
    "reset",
    "serve",
    "tool_schemas",
]
