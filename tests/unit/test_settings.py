"""The settings value objects: each group refuses a bad value where it is given, names it, and
keeps secrets out of its repr; the flat names of earlier versions keep working."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from roleredis.settings import (
    IGNORED,
    BreakerSettings,
    ConnectionSettings,
    EncryptionSettings,
    KeySettings,
    McpSettings,
    PoolSettings,
    SerializationSettings,
    Settings,
    TlsSettings,
    WriterSettings,
)

import roleredis
from roleredis.foundation.config import load_settings
from roleredis.foundation.errors import ConfigError

SECRET = "pw-9f8e7d"

BAD: list[tuple[type[Any], str, Any, str]] = [
    (ConnectionSettings, "port", "x", "redis.connection.port"),
    (ConnectionSettings, "port", 70000, "redis.connection.port"),
    (ConnectionSettings, "db", -1, "redis.connection.db"),
    (ConnectionSettings, "host", "", "redis.connection.host"),
    (ConnectionSettings, "url", "http://example.com", "redis.url"),
    (ConnectionSettings, "socket_timeout", 0, "redis.connection.socket_timeout"),
    (ConnectionSettings, "retry_on_timeout", "maybe", "redis.connection.retry_on_timeout"),
    (TlsSettings, "enabled", "maybe", "redis.connection.ssl"),
    (TlsSettings, "cert_reqs", "sometimes", "redis.connection.ssl_cert_reqs"),
    (PoolSettings, "max_connections", 0, "redis.pool.max_connections"),
    (PoolSettings, "timeout", -1, "redis.pool.timeout"),
    (KeySettings, "default_ttl", 0, "redis.key_management.default_ttl"),
    (KeySettings, "max_ttl", True, "redis.key_management.max_ttl"),
    (KeySettings, "default_role", "a:b", "redis.key_management.default_role"),
    (KeySettings, "role", "my role", "ROLEREDIS_ROLE"),
    (WriterSettings, "max_pending", 0, "redis.async.max_pending"),
    (WriterSettings, "drain_timeout", "soon", "redis.async.drain_timeout"),
    (BreakerSettings, "failures", 1, "redis.breaker.failures"),
    (BreakerSettings, "cooldown", float("inf"), "redis.breaker.cooldown"),
    (SerializationSettings, "compression", "lzma", "redis.serialization.compression"),
    (
        SerializationSettings,
        "compression_threshold",
        -1,
        "redis.serialization.compression_threshold",
    ),
    (SerializationSettings, "max_value_bytes", 0, "redis.serialization.max_value_bytes"),
    (EncryptionSettings, "roles", "vault", "redis.encryption.roles"),
    (McpSettings, "header_timeout", 0, "redis.mcp.header_timeout"),
    (McpSettings, "max_connections", 0, "redis.mcp.max_connections"),
]


@pytest.mark.parametrize(("group", "field", "value", "name"), BAD)
def test_each_group_refuses_a_bad_value_naming_it(
    group: type[Any], field: str, value: Any, name: str
) -> None:
    with pytest.raises(ConfigError) as info:
        group(**{field: value})
    assert f"invalid setting {name}:" in str(info.value)
    assert info.value.error_code == "config"


def test_groups_are_frozen_and_normalized() -> None:
    pool = PoolSettings(max_connections="4", timeout=2)  # text from the environment is fine
    assert (pool.max_connections, pool.timeout) == (4, 2.0)
    assert isinstance(pool.timeout, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        pool.timeout = 1.0  # type: ignore[misc]
    assert dataclasses.replace(pool, max_connections=8).max_connections == 8
    with pytest.raises(ConfigError, match=r"redis.pool.max_connections"):
        dataclasses.replace(pool, max_connections=0)


def test_default_ttl_above_max_ttl_refused_on_construction() -> None:
    with pytest.raises(ConfigError, match=r"default_ttl .100. is larger than"):
        KeySettings(default_ttl=100, max_ttl=50)
    with pytest.raises(ConfigError, match=r"default_ttl .100. is larger than"):
        Settings(default_ttl=100, max_ttl=50)


def test_flat_names_construct_read_and_replace() -> None:
    s = Settings(port=6390, async_max_pending=7, ssl_cert_reqs="none")
    assert (s.port, s.connection.port) == (6390, 6390)
    assert (s.async_max_pending, s.writer.max_pending) == (7, 7)
    assert (s.ssl_cert_reqs, s.tls.cert_reqs) == ("none", "none")
    changed = s.replace(max_connections=3, breaker_cooldown=1)
    assert (changed.max_connections, changed.breaker_cooldown) == (3, 1.0)
    assert changed.port == 6390  # the rest is kept
    same = dataclasses.replace(s, async_max_age=9)
    assert (same.async_max_age, same.async_max_pending) == (9.0, 7)
    with pytest.raises(ConfigError, match=r"redis.async.max_age"):
        s.replace(async_max_age=0)
    with pytest.raises(TypeError, match=r"no_such_setting"):
        Settings(no_such_setting=1)


def test_groups_and_flat_names_together() -> None:
    s = Settings(pool=PoolSettings(max_connections=4), pool_timeout=9)
    assert (s.max_connections, s.pool_timeout) == (4, 9.0)
    assert s.replace(pool=PoolSettings()).max_connections == 10
    with pytest.raises(ConfigError, match=r"pool"):
        Settings(pool=WriterSettings())  # type: ignore[arg-type]


def test_settings_refuse_bad_values_naming_them() -> None:
    with pytest.raises(ConfigError, match=r"invalid setting redis.connection.port: .*'x'"):
        Settings(port="x")
    with pytest.raises(ConfigError, match=r"invalid setting redis.enabled"):
        Settings(enabled="perhaps")


def test_group_reprs_hide_secrets() -> None:
    url = f"redis://user:{SECRET}@host:6379/0"
    connection = ConnectionSettings(url=url, password=SECRET)
    encryption = EncryptionSettings(key=SECRET, old_keys=(SECRET, SECRET + "2"))
    for shown in (repr(connection), str(connection), repr(encryption), f"{encryption}"):
        assert SECRET not in shown
    assert "***" in repr(connection) and "***" in repr(encryption)
    assert connection.password == SECRET  # the real value stays inside
    assert connection.as_dict(redact=False)["url"] == url
    s = Settings(connection=connection, encryption=encryption)
    assert SECRET not in repr(s)
    assert SECRET not in repr({f.name: getattr(s, f.name) for f in dataclasses.fields(s)})
    assert set(s.secrets()) >= {SECRET, SECRET + "2"}


def test_provenance_and_loaded_values_go_into_groups() -> None:
    s = load_settings(environ={"REDIS_PORT": "6390", "ROLEREDIS_ENCRYPTION_OLD_KEYS": "a, b"})
    assert s.source("port") == "env:REDIS_PORT"
    assert s.source("host") == "default"
    assert s.connection.port == 6390
    assert s.encryption.old_keys == ("a", "b")
    assert s.replace(host="h").source("port") == "env:REDIS_PORT"


def test_as_dict_keeps_the_flat_names_in_order() -> None:
    names = list(Settings().as_dict())
    assert names[:4] == ["enabled", "url", "host", "port"]
    assert names[-2:] == ["use_env_overrides", "config_path"]
    assert {"async_max_pending", "breaker_failures", "encryption_old_keys", "pool_timeout"} <= set(
        names
    )
    assert len(names) == len(set(names)) == len(Settings.FLAT) + 3


def test_ignored_settings_are_accepted_and_say_why() -> None:
    s = Settings(retry_on_timeout=False, decode_responses=False)
    assert (s.retry_on_timeout, s.decode_responses) == (False, False)
    assert set(IGNORED) == {"retry_on_timeout", "decode_responses"}
    assert all(IGNORED.values())


def test_settings_still_importable_from_the_package() -> None:
    assert roleredis.Settings is Settings


def test_a_mistyped_flat_name_gets_the_closest_names() -> None:
    with pytest.raises(TypeError) as info:
        Settings(max_conections=4)
    assert "did you mean max_connections?" in str(info.value)
