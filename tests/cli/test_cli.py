"""The ``roleredis`` command, driven as a user drives it: one subprocess per invocation
(``python -m roleredis ...``), against the session's throwaway redis-server or the embedded
memory:// backend. Every subcommand, every error path (no server, bad URL, REDIS_PORT=abc, an
invalid role, a missing key, a bad --ttl, a refused confirmation), --json output parsed, and
never a traceback (checked on every run by the ``cli`` fixture).

Exit codes: 0 done, 1 the operation failed, 2 bad usage or configuration.
"""

from __future__ import annotations

import base64
import filecmp
import json
import os
import pty
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import redis
import typer.main

from roleredis.cli import app, role_usage
from roleredis.core.store import RoleStore
from roleredis.testing import RedisServer, free_port

from .conftest import Cli, Job, assert_error

ROOT = Path(__file__).resolve().parents[2]
SUBCOMMANDS = ("health", "roles", "keys", "get", "set", "del", "ttl", "clear", "config", "demo")
#: Commands that serve a protocol on stdout (JSON-RPC) rather than print a result: no --json.
SERVERS = frozenset({"mcp"})


# --------------------------------------------------------------------------- the command itself


def test_every_subcommand_has_json() -> None:
    def leaves(command: Any, path: str) -> list[tuple[str, Any]]:
        children = getattr(command, "commands", None)
        if not children:
            return [(path, command)]
        return [pair for name, child in children.items() for pair in leaves(child, name)]

    group = typer.main.get_command(app)
    assert set(SUBCOMMANDS) | {"bench"} <= set(group.commands)  # type: ignore[attr-defined]
    assert set(group.commands) >= SERVERS  # type: ignore[attr-defined]
    for name, command in leaves(group, "roleredis"):
        if name in SERVERS:
            continue
        options = {opt for param in command.params for opt in param.opts}
        assert "--json" in options, name


def test_help(cli: Cli) -> None:
    helped = cli("--help")
    assert helped.returncode == 0, helped
    for name in SUBCOMMANDS:
        assert name in helped.stdout
    assert "Exit codes" in helped.stdout


# --------------------------------------------------------------------------- keys and values


def test_set_get_ttl_keys_del(cli: Cli, raw: redis.Redis) -> None:
    forecast, text, quoted = cli.many(
        ("set", "weather", "forecast", '{"sky": "clear", "high_c": 21.5}', "--ttl", "60", "--json"),
        ("set", "weather", "greeting", "hello world", "--ttl", "-1"),
        ("set", "weather", "label", '"123"'),
    )
    assert forecast.returncode == 0, forecast
    assert forecast.json() == {
        "role": "weather",
        "key": "forecast",
        "prefixed_key": "weather:forecast",
        "ttl": 60,
        "stored_as": "json",
        "size": len(b'{"sky":"clear","high_c":21.5}'),
    }
    assert raw.get("weather:forecast") == b'{"sky":"clear","high_c":21.5}'
    assert 0 < raw.ttl("weather:forecast") <= 60
    assert text.lines == ["wrote weather:greeting (text, no expiry)"], text
    assert quoted.lines == ["wrote weather:label (JSON string, no expiry)"], quoted

    RoleStore("weather").write("blob", b"\x00\xffpng")  # bytes, written by a program
    got, got_json, got_str, blob, blob_json, ttl_never, listed, matching, empty = cli.many(
        ("get", "weather", "forecast"),
        ("get", "weather", "forecast", "--json"),
        ("get", "weather", "label", "--json"),
        ("get", "weather", "blob"),
        ("get", "weather", "blob", "--json"),
        ("ttl", "weather", "greeting"),
        ("keys", "weather"),
        ("keys", "weather", "f*", "--json"),
        ("keys", "nobody"),
    )
    assert got.lines == ['{"sky": "clear", "high_c": 21.5}'], got
    body = got_json.json()
    assert body["value"] == {"sky": "clear", "high_c": 21.5}
    assert body["encoding"] == "json" and 0 < body["ttl"] <= 60
    assert got_str.json()["value"] == "123"  # the str "123" stays a str
    assert blob.lines == [repr(b"\x00\xffpng")], blob
    assert blob_json.json()["encoding"] == "base64"
    assert base64.b64decode(blob_json.json()["value"]) == b"\x00\xffpng"
    assert ttl_never.lines == ["-1"], ttl_never
    assert listed.lines == ["blob", "forecast", "greeting", "label"], listed
    assert listed.stderr == ""
    assert matching.json() == {
        "role": "weather",
        "pattern": "f*",
        "keys": ["forecast"],
        "count": 1,
    }
    assert empty.returncode == 0 and empty.stdout == "" and "no keys" in empty.stderr, empty

    deleted = cli("del", "weather", "greeting")
    assert deleted.returncode == 0 and deleted.lines == ["deleted weather:greeting"], deleted
    again = cli("del", "weather", "greeting", "--json")  # did not exist: still exit 0
    assert again.returncode == 0 and again.json()["deleted"] is False, again
    assert raw.exists("weather:greeting") == 0
    assert raw.exists("weather:forecast") == 1


def test_values_that_are_not_json_are_stored_as_text(cli: Cli) -> None:
    results = cli.many(
        ("set", "notes", "broken", '{"a": 1', "--json"),  # bad JSON: the text as given
        ("set", "notes", "huge", "1e999", "--json"),  # JSON, but no finite float
        ("set", "notes", "forced", "123", "--text", "--json"),
        ("set", "notes", "dash", "--json", "--", "-5"),  # a VALUE starting with '-'
    )
    assert [r.json()["stored_as"] for r in results] == ["text", "text", "text", "json"]
    store = RoleStore("notes")
    assert store.read("broken").value == '{"a": 1'
    assert store.read("huge").value == "1e999"
    assert store.read("forced").value == "123"
    assert store.read("dash").value == -5


# --------------------------------------------------------------------------- error paths


def test_error_paths_are_one_line_with_the_right_exit_code(cli: Cli, raw: redis.Redis) -> None:
    raw.hset("timer:h", "a", 1)
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    no_url = {"REDIS_URL": None}
    cases: list[tuple[Job, int, tuple[str, ...]]] = [
        # no server: the operation failed
        (Job(("get", "weather", "k"), {"REDIS_URL": dead}), 1, ("[connection]", dead[-7:-2])),
        (Job(("--url", dead, "roles")), 1, ("[connection]",)),
        # bad URL, bad settings: configuration
        (Job(("--url", "http://example.com", "get", "w", "k")), 2, ("not a Redis URL", "[config]")),
        (Job(("keys", "w"), {"REDIS_URL": "redis://localhost:abc"}), 2, ("URL", "[config]")),
        (Job(("keys", "w"), {**no_url, "REDIS_PORT": "abc"}), 2, ("REDIS_PORT", "[config]")),
        (Job(("demo",), {**no_url, "REDIS_PORT": "abc"}), 2, ("REDIS_PORT",)),
        # invalid role names and keys: usage
        (Job(("get", "a:b", "k")), 2, ("invalid role name", "':'", "[invalid_argument]")),
        (Job(("set", "", "k", "1")), 2, ("invalid role name", "empty")),
        (Job(("acl", "provision", "a:b")), 2, ("invalid role name",)),
        # bad --ttl: usage
        (Job(("set", "weather", "k", "1", "--ttl", "0")), 2, ("ttl", "[invalid_argument]")),
        (Job(("set", "weather", "k", "1", "--ttl", "abc")), 2, ("--ttl",)),
        # the command line itself: usage
        (Job(("frobnicate",)), 2, ("frobnicate",)),
        (Job(("get", "weather")), 2, ("KEY", "roleredis get --help")),
        # a missing key, a key another client wrote as a hash: the operation failed
        (Job(("get", "weather", "nope")), 1, ("'nope' not found", "[not_found]")),
        (Job(("ttl", "weather", "nope")), 1, ("[not_found]",)),
        (Job(("get", "timer", "h")), 1, ("WRONGTYPE",)),
    ]
    results = cli.many(*(job for job, _, _ in cases))
    for (_, exit_code, needles), ran in zip(cases, results, strict=True):
        assert_error(ran, exit_code, *needles)
    assert raw.exists("weather:k") == 0  # nothing was written by the refused sets


def test_health_json_reports_a_failed_check_too(cli: Cli) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    ran = cli("health", "--json", env={"REDIS_URL": dead})
    assert ran.returncode == 1
    body = ran.json()
    assert body["connected"] is False and body["error_code"] == "connection"
    assert len(ran.stderr.splitlines()) == 1 and ran.stderr.startswith("error: ")


# --------------------------------------------------------------------------- clear


def test_clear_asks_and_a_refusal_deletes_nothing(cli: Cli, raw: redis.Redis) -> None:
    raw.mset({"weather:a": b"1", "weather:b": b"2", "weather:c": b"3", "weatherman:x": b"4"})

    refused = cli("clear", "weather", input="n\n")
    assert_error(refused, 1, "not confirmed", "nothing deleted")
    no_answer = cli("clear", "weather")  # stdin is empty: nobody to ask
    assert_error(no_answer, 2, "--yes")
    assert raw.dbsize() == 4

    confirmed = cli("clear", "weather", input="y\n")
    assert confirmed.returncode == 0, confirmed
    assert confirmed.lines == ["deleted 3 keys of role weather"]
    assert raw.dbsize() == 1 and raw.exists("weatherman:x")

    raw.set("weather:d", b"1")
    forced = cli("clear", "weather", "--yes", "--json")
    assert forced.json() == {"role": "weather", "deleted_count": 1}
    nothing = cli("clear", "weather")  # no keys: nothing to ask
    assert nothing.returncode == 0 and "nothing deleted" in nothing.stdout, nothing
    assert raw.exists("weatherman:x")


def test_reindex_indexes_a_roles_keys_and_trusts_the_index(cli: Cli, raw: redis.Redis) -> None:
    raw.mset({"weather:a": b"1", "weather:b": b"2", "weatherman:x": b"4"})
    raw.expire("weather:b", 100)
    done = cli("reindex", "weather", "--json")
    assert done.returncode == 0, done
    assert done.json() == {"role": "weather", "indexed_count": 2}
    index = dict(raw.zrange("__roleredis__:{weather}:index", 0, -1, withscores=True))
    assert set(index) == {b"", b"a", b"b"}  # "" marks it trusted
    assert index[b"a"] == float("inf") and index[b"b"] != float("inf")
    assert cli("reindex", "weather").lines == ["indexed 2 keys of role weather"]
    assert_error(cli("reindex", "__roleredis__"), 2, "reserved")


# --------------------------------------------------------------------------- health, roles


def test_health(cli: Cli, redis_url: str) -> None:
    shown, as_json = cli.many(("health",), ("health", "--json", "--role", "probe"))
    assert shown.returncode == 0, shown
    assert shown.lines[0] == "connected"
    assert redis_url in shown.stdout and "latency" in shown.stdout and "pool" in shown.stdout
    body = as_json.json()
    assert body["connected"] is True and body["role"] == "probe"
    assert body["mode"] == "standalone" and body["latency_ms"] >= 0
    assert set(body["background"]) >= {"pending", "written", "given_up", "failed"}
    assert set(body["pool"]) == {"max", "in_use", "idle"}


def test_roles(cli: Cli, raw: redis.Redis) -> None:
    raw.mset(
        {
            "weather:a": b"1",
            "weather:b": b"x" * 1000,
            "timer:x": b"1",
            "plain": b"1",
            "bad role:x": b"1",
        }
    )
    shown, as_json = cli.many(("roles",), ("roles", "--json"))
    assert shown.returncode == 0, shown
    for text in ("weather", "timer", "(no role)", "total"):
        assert text in shown.stdout
    body = as_json.json()
    by_role = {row["role"]: row for row in body["roles"]}
    assert set(by_role) == {"timer", "weather"}
    assert by_role["weather"]["keys"] == 2 and by_role["timer"]["keys"] == 1
    assert by_role["weather"]["memory_bytes"] > 1000 > by_role["timer"]["memory_bytes"] > 0
    assert body["no_role"]["keys"] == 2
    assert body["total"]["keys"] == 5 and body["memory_measured"] is True


def test_role_usage_without_memory_usage() -> None:
    """The embedded backend (fakeredis) has no MEMORY USAGE: counted, memory not measured."""
    import fakeredis

    client = fakeredis.FakeRedis()
    client.mset({f"weather:{i}": b"1" for i in range(2500)} | {"x": b"1", "é:y": b"1"})
    usage, measured = role_usage(client)
    assert not measured
    assert usage["weather"][0] == 2500 and usage["(no role)"][0] == 2


# --------------------------------------------------------------------------- config


def test_config_shows_values_and_sources(
    cli: Cli, write_config: Callable[[Mapping[str, Any]], Path], redis_url: str
) -> None:
    path = write_config({"key_management": {"default_ttl": 300}})
    env = {"REDIS_PASSWORD": "s3cret-pw"}
    shown, as_json = cli.many(
        Job(("config",), env), Job(("--url", redis_url, "config", "--json"), env)
    )
    assert shown.returncode == 0, shown
    assert "s3cret-pw" not in shown.stdout + shown.stderr
    assert f"connects to: {redis_url}" in shown.stdout
    assert str(path) in shown.stdout
    body = as_json.json()
    assert "s3cret-pw" not in as_json.stdout
    settings = body["settings"]
    assert settings["password"] == {"value": "***", "source": "env:REDIS_PASSWORD"}
    assert settings["default_ttl"] == {"value": 300, "source": f"file:{path}"}
    assert settings["url"] == {"value": redis_url, "source": "option:--url"}
    assert settings["port"]["source"] == "default"
    assert body["config_file"] == str(path)


# --------------------------------------------------------------------------- demo, bench


def test_demo_backends(cli: Cli, redis_url: str, raw: redis.Redis, tmp_path: Path) -> None:
    empty_path = tmp_path / "no-redis-here"
    empty_path.mkdir()
    dead = f"redis://127.0.0.1:{free_port()}/0"
    configured, nothing, unreachable, no_binary, as_json = cli.many(
        Job(("demo",)),
        Job(("demo",), {"REDIS_URL": None}),
        Job(("demo",), {"REDIS_URL": dead}),
        Job(("demo",), {"REDIS_URL": None, "PATH": str(empty_path)}),
        Job(("--url", "memory://", "demo", "--json")),
    )
    for ran in (nothing, unreachable, no_binary):  # a server of its own: roles from the path
        assert ran.returncode == 0, ran
        assert ran.stderr == "", ran
        assert "wrote 'state' as weather:state (ttl 600 s)" in ran.lines
        assert "wrote 'state' as timer:state (ttl 180 s)" in ran.lines
        assert ran.lines[-2:] == [
            "deleted what weather wrote: 2 keys",
            "deleted what timer wrote: 2 keys",
        ]
    # the configured server: role names of its own (see tests/regressions)
    assert configured.returncode == 0 and configured.stderr == "", configured
    assert configured.lines[-2:] == [
        "deleted what weather wrote: 2 keys",
        "deleted what timer wrote: 2 keys",
    ]
    assert configured.lines[0] == f"using the configured Redis at {redis_url}"
    assert configured.lines[1].startswith("Redis ") and " is up, " in configured.lines[1]
    assert nothing.lines[0].startswith("no Redis configured: using a throwaway redis-server at")
    assert unreachable.lines[0].startswith("the configured Redis is not reachable (")
    assert "using a throwaway redis-server at" in unreachable.lines[0]
    assert no_binary.lines[0].startswith(
        "no Redis configured: using the embedded backend memory://"
    )
    assert "(embedded) is up" in no_binary.lines[1]
    body = as_json.json()
    assert body["backend"] == {"kind": "configured", "url": "memory://", "unreachable": None}
    assert body["keys"] == {"weather": ["forecast:paris", "state"], "timer": ["alarm:tea", "state"]}
    assert body["deleted"] == {"weather": 2, "timer": 2}
    assert raw.dbsize() == 0  # the run on the configured server cleaned up after itself


def test_demo_keeps_the_roles_apart_when_roleredis_role_is_set(roleredis_env: Any) -> None:
    """ROLEREDIS_ROLE comes before detection from the path: the demo then acts as each role."""
    import roleredis
    from roleredis.demo import run
    from roleredis.demo.roles.timer import lifecycle as timer
    from roleredis.demo.roles.weather import lifecycle as weather

    roleredis_env.monkeypatch.setenv("ROLEREDIS_ROLE", "someone")
    roleredis.reset()
    report = run(weather, timer, out=lambda line: None)
    assert report["keys"] == {
        "weather": ["forecast:paris", "state"],
        "timer": ["alarm:tea", "state"],
    }
    assert report["deleted"] == {"weather": 2, "timer": 2}


def test_demo_roles_mirror_the_example() -> None:
    package_roles = ROOT / "src" / "roleredis" / "demo" / "roles"
    example_roles = ROOT / "examples" / "agents" / "roles"
    for role in ("weather", "timer"):
        assert filecmp.cmp(
            package_roles / role / "lifecycle.py", example_roles / role / "lifecycle.py", False
        ), f"{role}/lifecycle.py differs between the demo and examples/agents"


def test_bench_json(cli: Cli) -> None:
    ran = cli("bench", "--json", "--scale", "0.01", "--rounds", "1")
    assert ran.returncode == 0, ran
    body = ran.json()
    assert body["results"] and all("ratio" in row for row in body["results"])


def test_bench_only_one_group(cli: Cli) -> None:
    ran, wrong = cli.many(
        Job(("bench", "--json", "--only", "budgets", "--scale", "0.01", "--rounds", "1")),
        Job(("bench", "--only", "nope")),
    )
    assert ran.returncode == 0, ran
    rows = ran.json()["results"]
    assert rows and all(row["name"].startswith("budget ") for row in rows), rows
    assert_error(wrong, 2, "--only must be one of limits, profile, budgets", "[invalid_argument]")


# --------------------------------------------------------------------------- embedded backend


def test_commands_on_the_embedded_backend(cli: Cli) -> None:
    """memory:// lives inside one process: health works, a command that needs data from
    another process is refused (exit 2, saying why) instead of answering from an empty one."""
    memory = {"REDIS_URL": "memory://"}
    health, refused = cli.many(
        Job(("health", "--json"), memory), Job(("get", "weather", "k"), memory)
    )
    assert health.returncode == 0 and health.json()["mode"] == "embedded", health
    assert_error(refused, 2, "in-process", "[config]")


# --------------------------------------------------------------------------- large keyspaces


def _run_with_terminal_stderr(*args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run the command with stderr on a pseudo-terminal (stdout a pipe); return what it
    printed on the terminal."""
    controller, terminal = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(controller, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        env = {k: v for k, v in os.environ.items() if k != "FORCE_COLOR"}
        proc = subprocess.run(
            [sys.executable, "-m", "roleredis", *args],
            env=env,
            cwd=os.getcwd(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=terminal,
            text=True,
            timeout=60,
        )
    finally:
        os.close(terminal)
        reader.join(timeout=5)
        os.close(controller)
    return proc, b"".join(chunks).decode("utf-8", "replace")


def test_large_keyspace_progress_on_a_terminal(roleredis_env: object, raw: redis.Redis) -> None:
    total = 12_000
    pipe = raw.pipeline(transaction=False)
    for start in range(0, total, 1000):
        pipe.mset({f"bulk:{i}": b"v" for i in range(start, start + 1000)})
    pipe.execute()

    proc, terminal = _run_with_terminal_stderr("roles", "--json")
    assert proc.returncode == 0, terminal
    assert "Traceback" not in terminal
    body = json.loads(proc.stdout)
    assert body["roles"] == [
        {
            "role": "bulk",
            "keys": total,
            "memory_bytes": body["total"]["memory_bytes"],
            "internal_keys": 0,
            "internal_memory_bytes": 0,
        }
    ]
    assert "scanning" in terminal  # the progress bar, on stderr only

    proc, terminal = _run_with_terminal_stderr("clear", "bulk", "--yes", "--json")
    assert proc.returncode == 0, terminal
    assert json.loads(proc.stdout) == {"role": "bulk", "deleted_count": total}
    assert "clearing bulk" in terminal
    assert raw.dbsize() == 0


def test_roles_on_a_server_without_memory_usage(cli: Cli) -> None:
    with RedisServer(extra_args=("--rename-command", "MEMORY", "")) as server:
        client = server.client()
        client.mset({"weather:a": b"1", "timer:b": b"2"})
        client.close()
        ran = cli("roles", "--json", env={"REDIS_URL": server.url})
    assert ran.returncode == 0, ran
    body = ran.json()
    assert body["memory_measured"] is False
    assert {row["role"]: row["memory_bytes"] for row in body["roles"]} == {
        "timer": None,
        "weather": None,
    }
    assert ran.stderr.splitlines() == [
        "memory not measured: this server does not answer MEMORY USAGE"
    ]


@pytest.mark.backends("redis", "memory", "sentinel", "cluster")
def test_health_shows_the_mode_and_the_nodes(cli: Cli, backend: str) -> None:
    shown, as_json = cli.many(("health",), ("health", "--json"))
    assert shown.returncode == 0 and as_json.returncode == 0, (shown, as_json)
    body = as_json.json()
    mode = {"redis": "standalone", "memory": "embedded"}.get(backend, backend)
    assert body["mode"] == mode
    at = next(i for i, line in enumerate(shown.lines) if line.startswith("nodes "))
    if backend == "memory":
        assert body["nodes"] == []
        assert shown.lines[at].split(None, 1)[1].strip() == "none (in this process)"
        return
    # one line per node, the first on the "nodes" row
    rows = [
        line.removeprefix("nodes").strip() for line in shown.lines[at : at + len(body["nodes"])]
    ]
    assert rows == [f"127.0.0.1:{n['port']} {n['role']}" for n in body["nodes"]]
    assert body["nodes"][0]["role"] == "primary"
    assert f"({mode})" in shown.stdout
    if backend == "cluster":
        assert [n["role"] for n in body["nodes"]].count("replica") == 3
