"""The shipped pytest plugin (issue 4, section 3): a role's own tests run its unchanged code
against roleredis_memory / roleredis_server, with no mocks.

Each test writes a small project (a role under roles/<name>/ and its test file) into a temp
dir and runs pytest on it in a subprocess, as a role author would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROLE = """
from roleredis import redis_get_keys, redis_read, redis_write, redis_write_async, redis_flush

def remember(city, sky):
    return redis_write(f"forecast:{city}", {"sky": sky}, ttl=60)

def recall(city):
    result = redis_read(f"forecast:{city}")
    return result["value"] if result["success"] else None

def log_async(n):
    for i in range(n):
        redis_write_async(f"log:{i}", i)
    return redis_flush(timeout=10)

def known():
    return redis_get_keys("forecast:*")["keys"]
"""

TESTS = """
import asyncio
import pytest
from roles.weather import lifecycle
from roleredis import aio

@pytest.fixture(params=["roleredis_memory", "roleredis_server"])
def backend(request):
    return request.getfixturevalue(request.param)

def test_role_code_runs_unchanged(backend):
    assert lifecycle.remember("paris", "clear")["prefixed_key"] == "weather:forecast:paris"
    assert lifecycle.recall("paris") == {"sky": "clear"}
    assert backend.client.get("weather:forecast:paris") == b'{"sky":"clear"}'
    assert backend.keys() == ["weather:forecast:paris"]

def test_each_test_starts_empty(backend):
    assert backend.keys() == []
    assert lifecycle.known() == []

def test_async_writes_and_aio(backend):
    assert lifecycle.log_async(50)["success"] is True
    assert len(backend.keys("weather:log:*")) == 50

    async def main():
        return await aio.redis_read("log:7", role="weather")

    assert asyncio.run(main())["value"] == 7

def test_memory_ignores_the_environment(roleredis_memory):
    assert roleredis_memory.url.startswith("memory://")
    assert lifecycle.remember("rome", "rain")["success"] is True
"""


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "roles" / "weather").mkdir(parents=True)
    (root / "roles" / "__init__.py").write_text("")
    (root / "roles" / "weather" / "__init__.py").write_text("")
    (root / "roles" / "weather" / "lifecycle.py").write_text(textwrap.dedent(ROLE))
    (root / "tests").mkdir()
    (root / "tests" / "test_weather.py").write_text(textwrap.dedent(TESTS))
    # a config.yaml and environment pointing at a server that does not exist: the fixtures
    # must not use them (a role author's machine may have anything configured)
    (root / "config.yaml").write_text("redis:\n  connection:\n    host: 192.0.2.1\n")
    return root


def test_role_tests_use_the_fixtures_with_no_mocks(tmp_path: Path) -> None:
    root = _project(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "ROLEREDIS_"))}
    env["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens there
    env["PYTHONPATH"] = str(root)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "7 passed" in done.stdout, done.stdout
