"""Issue 8, item 9: library logging.

With no logging configured, Python prints WARNING and above on stderr. What the caller receives
in its result is logged at DEBUG (a failed call printed "write failed (invalid_argument) ..."
although the caller held that failure); what no caller can see (writes given up, the one-time
"no role detected" notice) stays at WARNING or above. And the tools never raise, whatever
warnings filters the application sets.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
import warnings
from typing import Any

import pytest

import roleredis
from roleredis import aio
from roleredis.testing.server import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _env(roleredis_env: Any) -> None:
    """A clean environment at the session's server."""


def _run_unconfigured(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter that configures no logging at all."""
    import os

    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_failures_the_caller_holds_are_not_printed(roleredis_env: Any) -> None:
    done = _run_unconfigured(
        """
        import roleredis
        results = [
            roleredis.redis_write("k", object(), role="r"),
            roleredis.redis_write("k", 1, ttl="soon", role="r"),
            roleredis.redis_read("missing", role="r"),
            roleredis.redis_write("", 1, role="r"),
            roleredis.redis_flush(timeout=-1),
        ]
        assert not any(r["success"] for r in results), results
        print("ok")
        """,
        {"REDIS_URL": roleredis_env.url},
    )
    assert done.stdout.strip() == "ok", done
    assert done.stderr == "", done.stderr


def test_what_no_caller_sees_still_reaches_stderr() -> None:
    config = "redis:\n  async:\n    max_age: 0.2\n    drain_timeout: 0.5\n"
    done = _run_unconfigured(
        f"""
        import pathlib, roleredis
        pathlib.Path("c.yaml").write_text({config!r})
        assert roleredis.redis_write_async("k", 1)["success"]   # no role given, none detected
        print(roleredis.redis_flush(timeout=10)["lost"])
        """,
        {"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "ROLEREDIS_CONFIG": "c.yaml"},
    )
    assert done.stdout.strip() == "1", done
    assert "gave up 1 fire-and-forget writes" in done.stderr, done.stderr
    assert "unknown" in done.stderr  # the one-time "no role detected" notice
    assert "Traceback" not in done.stderr


def test_returned_failures_are_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="roleredis")
    assert roleredis.redis_write("k", 1, ttl=0, role="r")["error_code"] == "invalid_argument"
    assert roleredis.redis_read("missing", role="r")["error_code"] == "not_found"
    failed = [r for r in caplog.records if " failed (" in r.getMessage()]
    assert len(failed) == 2 and all(r.levelno == logging.DEBUG for r in failed)


def test_every_tool_returns_a_dict_under_warnings_as_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    got: list[dict[str, Any]] = []

    def every_tool() -> dict[str, dict[str, Any]]:
        return {
            "write": roleredis.redis_write("k", {"a": 1}, ttl=60, role="r"),
            "read": roleredis.redis_read("k", role="r"),
            "exists": roleredis.redis_exists("k", role="r"),
            "get_keys": roleredis.redis_get_keys(role="r"),
            "write_many": roleredis.redis_write_many({"a": 1}, role="r"),
            "read_many": roleredis.redis_read_many(["a"], role="r"),
            "write_async": roleredis.redis_write_async("b", 2, role="r"),
            "read_async": roleredis.redis_read_async("b", callback=got.append, role="r"),
            "flush": roleredis.redis_flush(timeout=5),
            "health": roleredis.redis_health_check(role="r"),
            "delete": roleredis.redis_delete("k", role="r"),
            "clear": roleredis.redis_clear_role_data("r"),
        }

    async def async_tools() -> list[dict[str, Any]]:
        return [
            await aio.redis_write("k", 1, role="r"),
            await aio.redis_read("k", role="r"),
            await aio.redis_health_check(role="r"),
        ]

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        working = every_tool()
        working_aio = asyncio.run(async_tools())
        monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
        roleredis.reset()
        down = every_tool()
        roleredis.reset()
    assert all(r["success"] for r in working.values()), working
    assert all(r["success"] for r in working_aio), working_aio
    assert all(isinstance(r, dict) for r in down.values())
    assert {down[name]["error_code"] for name in ("write", "read", "health")} == {"connection"}
