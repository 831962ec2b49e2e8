"""Issue 5, section 4: opt-in encryption at rest (AES-GCM, keys from the environment, key ids
for rotation) and compression above a threshold; both round-trip exactly, plain stays plain."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis

from roleredis import redis_read, redis_read_many, redis_write, redis_write_many, reset
from roleredis.core.codec import ENVELOPE_MAGIC
from roleredis.core.crypto import generate_key

pytestmark = pytest.mark.backends("redis", "memory")

VALUES: list[Any] = [
    "text-SECRET",
    "123",
    {"nested": [1, 2.5, None, True, "x" * 50]},
    b"\x00\xffbinary",
    2**80,
    [],
]


@pytest.fixture
def key_a(monkeypatch: pytest.MonkeyPatch) -> str:
    key = generate_key()
    monkeypatch.setenv("ROLEREDIS_ENCRYPTION_KEY", key)
    reset()
    return key


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_encrypt_true_round_trips_and_hides_the_value(
    key_a: str, raw: redis.Redis, value: Any
) -> None:
    assert redis_write("secret", value, role="vault", encrypt=True)["success"] is True
    stored = raw.get("vault:secret")
    assert stored is not None and stored.startswith(ENVELOPE_MAGIC + b"e")
    assert b"SECRET" not in stored
    back = redis_read("secret", role="vault")["value"]
    assert back == value and type(back) is type(value)


def test_plain_writes_stay_plain_json(key_a: str, raw: redis.Redis) -> None:
    assert redis_write("open", {"a": 1}, role="vault")["success"] is True
    assert raw.get("vault:open") == b'{"a":1}'


def test_roles_listed_in_config_are_encrypted(
    key_a: str, raw: redis.Redis, write_config: Callable[..., object]
) -> None:
    write_config({"encryption": {"roles": ["vault"]}})
    redis_write("k", "v", role="vault")
    redis_write("k", "v", role="public")
    redis_write_many({"m1": 1, "m2": 2}, role="vault")
    assert raw.get("vault:k").startswith(ENVELOPE_MAGIC + b"e")  # type: ignore[union-attr]
    assert raw.get("vault:m1").startswith(ENVELOPE_MAGIC + b"e")  # type: ignore[union-attr]
    assert raw.get("public:k") == b'"v"'
    assert redis_read_many(["m1", "m2"], role="vault")["values"] == {"m1": 1, "m2": 2}
    # encrypt=False overrides the role's setting
    redis_write("plain", "v", role="vault", encrypt=False)
    assert raw.get("vault:plain") == b'"v"'


def test_keys_rotate_through_old_keys(
    key_a: str, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis_write("old", {"v": 1}, role="vault", encrypt=True)
    key_b = generate_key()
    monkeypatch.setenv("ROLEREDIS_ENCRYPTION_KEY", key_b)
    monkeypatch.setenv("ROLEREDIS_ENCRYPTION_OLD_KEYS", f"{generate_key()},{key_a}")
    reset()
    assert redis_read("old", role="vault")["value"] == {"v": 1}
    redis_write("new", {"v": 2}, role="vault", encrypt=True)
    # the new value carries key B's id: readable with B alone, not with A alone
    monkeypatch.delenv("ROLEREDIS_ENCRYPTION_OLD_KEYS")
    reset()
    assert redis_read("new", role="vault")["value"] == {"v": 2}
    result = redis_read("old", role="vault")
    assert result["error_code"] == "serialization"
    assert "ROLEREDIS_ENCRYPTION_OLD_KEYS" in result["error"]


def test_wrong_key_tampering_and_moving_give_serialization_never_garbage(
    key_a: str, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis_write("k", "precious", role="vault", encrypt=True)
    stored = raw.get("vault:k")
    assert stored is not None
    # tampered: flip one byte of the ciphertext
    raw.set("vault:t", stored[:-1] + bytes([stored[-1] ^ 1]))
    tampered = redis_read("t", role="vault")
    assert tampered["success"] is False and tampered["error_code"] == "serialization"
    assert "value" not in tampered
    # moved: the same sealed bytes under another key do not open (the key is bound in)
    raw.set("vault:moved", stored)
    assert redis_read("moved", role="vault")["error_code"] == "serialization"
    # no key at all
    monkeypatch.delenv("ROLEREDIS_ENCRYPTION_KEY")
    reset()
    missing = redis_read("k", role="vault")
    assert missing["error_code"] == "serialization"
    assert "ROLEREDIS_ENCRYPTION_KEY" in missing["error"]
    # a different key
    monkeypatch.setenv("ROLEREDIS_ENCRYPTION_KEY", generate_key())
    reset()
    assert redis_read("k", role="vault")["error_code"] == "serialization"


def test_encrypt_without_a_key_is_refused_and_nothing_is_written(raw: redis.Redis) -> None:
    result = redis_write("k", "v", role="vault", encrypt=True)
    assert result["success"] is False and result["error_code"] == "config"
    assert "ROLEREDIS_ENCRYPTION_KEY" in result["error"]
    assert raw.exists("vault:k") == 0


def test_bad_key_and_key_in_file_are_config_errors(
    monkeypatch: pytest.MonkeyPatch, write_config: Callable[..., object]
) -> None:
    monkeypatch.setenv("ROLEREDIS_ENCRYPTION_KEY", "too-short")
    reset()
    result = redis_write("k", "v", role="vault", encrypt=True)
    assert result["error_code"] == "config"
    assert "ROLEREDIS_ENCRYPTION_KEY" in result["error"]
    monkeypatch.delenv("ROLEREDIS_ENCRYPTION_KEY")
    write_config({"encryption": {"key": generate_key()}})
    result = redis_write("k", "v", role="vault")
    assert result["error_code"] == "config"
    assert "must not be stored in a config file" in result["error"]


@pytest.mark.parametrize("value", [*VALUES, "y" * 5000, {"rows": list(range(2000))}], ids=repr)
def test_compression_above_the_threshold_round_trips(
    raw: redis.Redis, write_config: Callable[..., object], value: Any
) -> None:
    write_config({"serialization": {"compression_threshold": 100}})
    assert redis_write("k", value, role="zip")["success"] is True
    stored = raw.get("zip:k")
    assert stored is not None
    back = redis_read("k", role="zip")["value"]
    assert back == value and type(back) is type(value)


def test_compression_only_above_the_threshold(
    raw: redis.Redis, write_config: Callable[..., object]
) -> None:
    write_config({"serialization": {"compression_threshold": 100}})
    redis_write("small", "x" * 10, role="zip")
    redis_write("big", "x" * 5000, role="zip")
    assert raw.get("zip:small") == b'"' + b"x" * 10 + b'"'
    big = raw.get("zip:big")
    assert big is not None and big.startswith(ENVELOPE_MAGIC) and len(big) < 200


def test_compressed_and_encrypted_together(
    key_a: str, raw: redis.Redis, write_config: Callable[..., object]
) -> None:
    write_config({"serialization": {"compression_threshold": 100}})
    value = {"text": "z" * 10_000}
    redis_write("both", value, role="vault", encrypt=True)
    stored = raw.get("vault:both")
    assert stored is not None and stored.startswith(ENVELOPE_MAGIC + b"e") and len(stored) < 500
    assert redis_read("both", role="vault")["value"] == value
