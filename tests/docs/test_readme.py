"""The README's examples run, so they never rot: each ```python block is executed (the role
examples as files under roles/<name>/, the plugin example as a real pytest run)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
FILE_MARK = re.compile(r"^# ((?:roles|tests)/[\w/]+\.py)\s*$", re.MULTILINE)


def blocks() -> list[str]:
    return BLOCK.findall(README.read_text(encoding="utf-8"))


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "ROLEREDIS_"))}
    env["REDIS_URL"] = "memory://readme"
    env["PYTHONPATH"] = str(tmp_path)
    return env


def _run(code: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args] if args else [sys.executable, "-c", code],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_readme_has_the_examples_this_file_runs() -> None:
    found = blocks()
    assert len(found) >= 4
    assert any(FILE_MARK.search(b) for b in found)


@pytest.mark.parametrize("index", range(len(blocks())))
def test_readme_block_runs(index: int, tmp_path: Path) -> None:
    code = blocks()[index]
    files = FILE_MARK.split(code)
    if len(files) > 1:  # "# roles/x/y.py" ... "# tests/test_y.py" ...: a small project
        for path, body in zip(files[1::2], files[2::2], strict=True):
            target = tmp_path / path
            target.parent.mkdir(parents=True, exist_ok=True)
            for parent in target.relative_to(tmp_path).parents:
                if str(parent) != "." and parent.parts[0] == "roles":
                    (tmp_path / parent / "__init__.py").touch()
            target.write_text(textwrap.dedent(body))
        if (tmp_path / "tests").exists():
            done = _run("", tmp_path, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests")
            assert done.returncode == 0, done.stdout + done.stderr
            return
    if "in roles/weather/lifecycle.py" in code:  # a role's code: run it from a role's file
        module = tmp_path / "roles" / "weather" / "lifecycle.py"
        module.parent.mkdir(parents=True)
        module.write_text(code)
        done = _run("", tmp_path, str(module))
    else:
        runnable = code.replace("...", "pass")
        if "async def lifecycle" in runnable:
            runnable += "\nimport asyncio\nprint(asyncio.run(lifecycle()))\n"
        done = _run(runnable, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    for marker, expected in EXPECTED.items():
        if marker in code:
            assert expected in done.stdout, (expected, done.stdout)


# what the examples promise in their comments, checked in what they print
EXPECTED = {
    'print(result["value"], result["ttl"])': "{'sky': 'clear', 'temp': 21.5} 3600",
    "async def lifecycle": "{'sky': 'clear'}",
    "roleredis.call_tool(call": "Saved. planner:plan",
    'print(got["value"], got["role"], got["from_role"])': "{'sky': 'clear'} beta alpha\n"
    "['shared:forecast']\npermission",
    "async def watch": "[('weather', {'level': 3, 'area': 'north'})]\n0 True\n{'level': 1}",
    "redis_receive(count=10": "weather {'task': 'forecast', 'region': 'north'} 1",
    'settings=Settings(url="memory://archive")': "{'sky': 'rain'} False",
}


def test_the_mcp_client_configurations_are_json_that_starts_the_server() -> None:
    found = [
        json.loads(block)
        for block in re.findall(r"```json\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    ]
    servers = [s for config in found for s in config["mcpServers"].values()]
    stdio = [s for s in servers if "command" in s]
    http = [s for s in servers if "url" in s]
    assert stdio and http
    for server in stdio:
        assert server["command"] == "roleredis" and server["args"][:2] == ["mcp", "--role"]
        assert "REDIS_URL" in server["env"]
    for server in http:
        assert server["url"].endswith("/mcp")
        assert server["headers"]["Authorization"].startswith("Bearer ")
