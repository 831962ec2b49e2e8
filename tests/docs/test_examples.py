"""Every example of the README and of the documentation site runs, so none can rot.

Each ```python block runs in a process of its own (roleredis keeps process-wide settings, a
writer thread and clients; a fresh process per block is what a reader who copies one gets), in
a fresh directory, against the session's throwaway redis-server, emptied before each block.
What the block says it prints (``# >`` lines) is what it must print. The conventions are in
tests/docs/blocks.py.

Why not pytest-examples: it runs blocks inside the test process (shared roleredis state between
blocks) and cannot run a block as a role's file (roles/<name>/...) or as a small project whose
tests pytest runs; it would also impose its own formatting checks on the pages.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis

from roleredis.testing import RedisServer

from .blocks import ROOT, Block, all_blocks, pages

FILE_MARK = r"^# ((?:roles|tests)/[\w/]+\.py)\s*$"
ROLE_FILE = "# in roles/"

BLOCKS = all_blocks()
PYTHON = [b for b in BLOCKS if b.language == "python"]
COMMANDS = [b for b in BLOCKS if b.language == "bash" and b.is_roleredis_commands]


@pytest.fixture
def server(redis_server: RedisServer) -> RedisServer:
    client = redis.Redis.from_url(redis_server.url)
    try:
        client.flushdb()
    finally:
        client.close()
    return redis_server


def _env(tmp_path: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "ROLEREDIS_"))}
    env["REDIS_URL"] = url
    env["PYTHONPATH"] = str(tmp_path)
    # the venv's roleredis command, whichever way pytest was started
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def _run(args: list[str], tmp_path: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=tmp_path,
        env=_env(tmp_path, url),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _write_project(code: str, tmp_path: Path) -> None:
    """``# roles/x/y.py`` ... ``# tests/test_y.py`` ...: a small project, laid out on disk."""
    parts = re.split(FILE_MARK, code, flags=re.MULTILINE)
    for path, body in zip(parts[1::2], parts[2::2], strict=True):
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        for parent in target.relative_to(tmp_path).parents:
            if str(parent) != "." and parent.parts[0] == "roles":
                (tmp_path / parent / "__init__.py").touch()
        target.write_text(textwrap.dedent(body))


def run_python_block(block: Block, tmp_path: Path, url: str) -> subprocess.CompletedProcess[str]:
    code = block.code
    first = code.lstrip().splitlines()[0]
    if first.startswith(ROLE_FILE):  # a role's code: run it from that role's file
        relative = first[len("# in ") :].split(":")[0].strip()
        _write_project(f"# {relative}\n{code}", tmp_path)
        return _run([sys.executable, relative], tmp_path, url)
    if first.startswith("# roles/") or first.startswith("# tests/"):
        _write_project(code, tmp_path)
        if (tmp_path / "tests").exists():
            return _run(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                tmp_path,
                url,
            )
    return _run([sys.executable, "-c", code], tmp_path, url)


def test_the_pages_have_the_examples_this_file_runs() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in pages()}
    assert {"README.md", "docs/getting-started.md", "docs/messaging/mail.md"} <= names
    assert len(PYTHON) >= 20
    assert any(b.expected_output for b in PYTHON)
    assert any(b.code.lstrip().startswith(ROLE_FILE) for b in PYTHON)
    assert COMMANDS
    assert any(b.on_cluster for b in PYTHON)


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.name)
def test_every_marker_says_why(block: Block) -> None:
    if block.marker is not None and not block.on_cluster:
        assert block.syntax_only_reason, (
            f"{block.name}: an example marker must read '<!-- example: cluster -->' or "
            "'<!-- example: syntax-only (what it needs that a test machine lacks) -->', "
            f"not {block.marker!r}"
        )


@pytest.mark.parametrize("block", PYTHON, ids=lambda b: b.name)
def test_python_block(
    block: Block, tmp_path: Path, server: RedisServer, request: pytest.FixtureRequest
) -> None:
    if block.syntax_only_reason:
        compile(block.code, block.name, "exec")
        return
    url = request.getfixturevalue("redis_cluster").url if block.on_cluster else server.url
    done = run_python_block(block, tmp_path, url)
    assert done.returncode == 0, f"{block.name} failed:\n{done.stdout}{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    expected = block.expected_output
    if expected is not None and "pytest" not in done.args:
        assert done.stdout.splitlines() == expected, f"{block.name} printed:\n{done.stdout}"


@pytest.mark.parametrize("block", COMMANDS, ids=lambda b: b.name)
def test_roleredis_command_block(block: Block, tmp_path: Path, server: RedisServer) -> None:
    if block.syntax_only_reason:
        done = _run(["bash", "-n", "-c", block.code], tmp_path, server.url)
    else:
        done = _run(["bash", "-e", "-c", block.code], tmp_path, server.url)
    assert done.returncode == 0, f"{block.name} failed:\n{done.stdout}{done.stderr}"


def test_the_mcp_client_configurations_are_json_that_starts_the_server() -> None:
    found = [json.loads(b.code) for b in BLOCKS if b.language == "json" and "mcpServers" in b.code]
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


def test_the_examples_directory_runs() -> None:
    """examples/ is run by tests of its own (the demo's roles, the MCP exchange): every script
    there is named by one of them, and every file of it compiles."""
    tests = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("test_*.py"))
    examples = sorted((ROOT / "examples").rglob("*.py"))
    assert examples
    for path in examples:
        compile(path.read_text(encoding="utf-8"), str(path), "exec")
        if path.parent.name == "agents":  # a script a user runs
            assert f'"{path.name}"' in tests, f"no test runs {path.relative_to(ROOT)}"
