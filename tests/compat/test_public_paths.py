"""Issue 19, item 2: the public paths outlive the move into layer folders. ``roleredis.tools``,
``roleredis.aio`` and ``roleredis.settings`` are the very module objects that live in
``faces/`` and ``foundation/`` (aliases in ``sys.modules``, not re-exporting shims), so every
hook the migration page (docs/migration.md) documents, patched through the old path,
takes effect."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path
from unittest.mock import Mock, patch

import pytest

import roleredis
import roleredis.testing
from roleredis.faces import aio, tools
from roleredis.foundation import settings
from roleredis.table import tracing


@pytest.mark.parametrize(
    ("public", "real"),
    [
        ("roleredis.tools", tools),
        ("roleredis.aio", aio),
        ("roleredis.settings", settings),
        ("roleredis.otel", tracing),
    ],
)
def test_the_public_path_is_the_same_module(public: str, real: object) -> None:
    assert importlib.import_module(public) is real  # import roleredis.tools, ...
    assert sys.modules[public] is real
    assert getattr(roleredis, public.split(".")[1]) is real


def test_names_import_from_the_public_paths() -> None:
    from roleredis.aio import redis_write as awaitable
    from roleredis.settings import Settings
    from roleredis.tools import _get_redis_client, redis_write

    assert redis_write is tools.redis_write and awaitable is aio.redis_write
    assert Settings is roleredis.Settings and _get_redis_client is tools._get_redis_client
    assert roleredis.testing.RedisServer is not None


def test_redis_available_patched_through_the_old_path() -> None:
    with patch("roleredis.tools.REDIS_AVAILABLE", False):
        result = roleredis.redis_write("k", 1, role="weather")
    assert result["success"] is False and result["error_code"] == "disabled"


def test_client_and_calling_role_patched_through_the_old_path() -> None:
    client = Mock()
    with (
        patch("roleredis.tools._get_redis_client", return_value=client),
        patch("roleredis.tools._get_calling_role", return_value="patched"),
    ):
        result = roleredis.tools.redis_write("k", "v")
    assert result["success"] is True and result["prefixed_key"] == "patched:k"
    assert client.set.call_args.args[0] == "patched:k"


def test_redis_config_patched_through_the_old_path() -> None:
    with patch("roleredis.tools._get_redis_config", return_value={"host": "patched"}):
        assert tools._get_redis_config() == {"host": "patched"}


@pytest.mark.parametrize("module", ["roleredis", "roleredis.cli", "roleredis.bench"])
def test_python_dash_m_paths_run(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "usage" in (done.stdout + done.stderr).lower()


def test_prefix_helpers_patched_through_the_old_path() -> None:
    """The original's ``_prefix_key`` / ``_unprefix_key``, which tests call through the module:
    a patch through the old path is what ``roleredis.tools`` hands out."""
    with (
        patch("roleredis.tools._prefix_key", return_value="patched:k") as prefix,
        patch("roleredis.tools._unprefix_key", return_value="k") as unprefix,
    ):
        assert roleredis.tools._prefix_key("k", "weather") == "patched:k"
        assert roleredis.tools._unprefix_key("weather:k", "weather") == "k"
        assert tools._prefix_key is prefix and tools._unprefix_key is unprefix
    assert tools._prefix_key("k", "weather") == "weather:k"  # put back


def test_every_hook_the_migration_page_names_is_patched_here() -> None:
    """The hooks docs/migration.md documents (``_get_redis_client``, ``REDIS_AVAILABLE``, ...)
    are each patched through ``roleredis.tools`` by a test of this file."""
    root = Path(__file__).resolve().parents[2]
    page = (root / "docs" / "migration.md").read_text(encoding="utf-8")
    hooks = set(re.findall(r"`(_[a-z_]+|REDIS_AVAILABLE)\b", page))
    assert {"_get_redis_client", "_get_calling_role", "REDIS_AVAILABLE"} <= hooks
    source = Path(__file__).read_text(encoding="utf-8")
    missing = {hook for hook in hooks if f'"roleredis.tools.{hook}"' not in source}
    assert not missing, missing
