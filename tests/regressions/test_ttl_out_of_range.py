"""Issue 8, item 5: a TTL longer than Redis accepts.

``ttl=2**62`` or ``10**20`` used to pass validation: the sync call failed as ``internal``
("invalid expire time") and redis_write_async reported success while the writer had the write
refused later. A TTL above :data:`roleredis.foundation.ttl.MAX_TTL` (10**15 s) is now refused at
the call
with invalid_argument, before max_ttl is applied; a default_ttl or max_ttl above it is a config
error.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

import roleredis
from roleredis import aio
from roleredis.foundation.config import load_settings
from roleredis.foundation.errors import ConfigError
from roleredis.foundation.ttl import MAX_TTL

pytestmark = [pytest.mark.integration, pytest.mark.backends("redis", "memory")]

TOO_LONG = (MAX_TTL + 1, 2**62, 10**20, 2**64)


@pytest.fixture(autouse=True)
def _env(roleredis_env: Any) -> None:
    """A clean environment at the session's server (or the embedded backend)."""


def _config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **key_management: Any) -> None:
    path = tmp_path / "ttl.yaml"
    path.write_text(yaml.safe_dump({"redis": {"key_management": key_management}}))
    monkeypatch.setenv("ROLEREDIS_CONFIG", str(path))
    roleredis.reset()


@pytest.mark.parametrize("ttl", TOO_LONG)
def test_too_long_a_ttl_is_refused_at_the_call(ttl: int) -> None:
    for result in (
        roleredis.redis_write("k", 1, ttl=ttl, role="r"),
        roleredis.redis_write_async("k", 1, ttl=ttl, role="r"),
        roleredis.redis_write_many({"k": 1}, ttl=ttl, role="r"),
        asyncio.run(aio.redis_write("k", 1, ttl=ttl, role="r")),
    ):
        assert result["success"] is False, result
        assert result["error_code"] == "invalid_argument", result
        assert str(MAX_TTL) in result["error"]
    flushed = roleredis.redis_flush(timeout=10)
    assert (flushed["success"], flushed["lost"]) == (True, 0)
    assert roleredis.redis_exists("k", role="r")["exists"] is False
    assert roleredis.redis_health_check(role="r")["background"]["failed"] == 0


def test_the_longest_ttl_accepted_is_kept_exactly() -> None:
    assert roleredis.redis_write("k", 1, ttl=MAX_TTL, role="r")["success"]
    assert MAX_TTL - 2 <= roleredis.redis_read("k", role="r")["ttl"] <= MAX_TTL
    assert roleredis.redis_write_async("j", 1, ttl=MAX_TTL, role="r")["success"]
    assert roleredis.redis_flush(timeout=10)["lost"] == 0
    assert roleredis.redis_read("j", role="r")["ttl"] > MAX_TTL - 5


def test_refused_before_max_ttl_is_applied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _config(tmp_path, monkeypatch, max_ttl=3600)
    result = roleredis.redis_write("k", 1, ttl=10**20, role="r")
    assert result["error_code"] == "invalid_argument", result  # not lowered to 3600
    lowered = roleredis.redis_write("k", 1, ttl=MAX_TTL, role="r")
    assert lowered["success"] and lowered["ttl"] == 3600


@pytest.mark.parametrize("name", ["default_ttl", "max_ttl"])
def test_a_configured_ttl_beyond_the_bound_is_a_config_error(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _config(tmp_path, monkeypatch, **{name: MAX_TTL + 1})
    result = roleredis.redis_write("k", 1, role="r")
    assert result["error_code"] == "config", result
    assert name in result["error"] and str(MAX_TTL) in result["error"]
    with pytest.raises(ConfigError):
        load_settings(environ={"ROLEREDIS_CONFIG": str(tmp_path / "ttl.yaml")})
    _config(tmp_path, monkeypatch, **{name: MAX_TTL})
    assert roleredis.redis_write("k", 1, role="r")["success"]
