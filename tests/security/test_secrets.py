"""Issue 5, section 3: the password and stored values never leak.

Against a password-protected redis-server (``--requirepass``) started here, every operation
(sync tools, RoleStore, fire-and-forget writes and callback reads, roleredis.aio,
AsyncRoleStore, the health check) and every error path (wrong password, password in the URL,
server down, server paused, bad configuration, bad values) runs with a recognisable password and
a recognisable value, with every logger at DEBUG. Everything that comes out is searched:

- log records (caplog: every logger, every thread), stdout and stderr at the file-descriptor
  level (capfd), and the output of the ``roleredis`` command run as a subprocess;
- every result dict, except the ``value`` / ``values`` fields of successful reads;
- every exception the typed core raises: str, repr, and the whole formatted chain;
- repr / str of Settings, ``_get_redis_config()``, the clients and the stores.

The real password may appear only in ``_get_redis_config()["password"]`` (the guide's contract)
and ``Settings.password``. The secrets are built from pieces so that no line of source code (which
a traceback may quote) holds them whole.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import logging
import os
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

import roleredis
from roleredis import aio, runtime, tools
from roleredis.foundation.config import load_settings
from roleredis.foundation.errors import RoleRedisError
from roleredis.testing import RedisServer
from roleredis.testing.server import free_port
from roleredis.transport.connection import build_async_client, describe

from .operations import run_aio, run_sync

PASSWORD = "pw-" + "SECRET-7d1f"
WRONG_PASSWORD = "pw-" + "SECRET-WRONG-2c4e"
VALUE_TEXT = "value-" + "SECRET-93ab"
# What is searched for: distinctive tails (a hyphen never occurs in the hex of probe keys).
NEEDLES = {
    "password": "SECRET-7d1f",
    "wrong password": "SECRET-WRONG-2c4e",
    "value": "SECRET-93ab",
}
PASSWORD_NEEDLES = ("password", "wrong password")
VALUE = {"secret": VALUE_TEXT, "nested": [VALUE_TEXT, {"deep": VALUE_TEXT}], "n": 7}
BYTES_VALUE = VALUE_TEXT.encode()
ROLE = "secrets"

WriteConfig = Callable[[Any], Path]


# --------------------------------------------------------------------------- capturing


class Evidence:
    """Everything that came out of the code under test, as labelled text."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, str, bool]] = []  # (label, text, may hold the value)

    def add(self, label: str, text: str, *, may_hold_value: bool = False) -> None:
        self.texts.append((label, text, may_hold_value))

    def result(self, label: str, obj: Any) -> None:
        """A result (dict, list, dataclass outcome or exception), minus read values."""
        if isinstance(obj, BaseException):
            self.exception(label, obj)
            return
        self.add(label, repr(_without_read_values(obj)))

    def exception(self, label: str, exc: BaseException) -> None:
        self.add(f"{label} str", str(exc))
        self.add(f"{label} repr", repr(exc))
        self.add(f"{label} chain", "".join(traceback.format_exception(exc)))

    def results(self, prefix: str, results: dict[str, Any]) -> None:
        for name, obj in results.items():
            self.result(f"{prefix}:{name}", obj)

    def leaks(self, needles: tuple[str, ...] = tuple(NEEDLES)) -> list[str]:
        found = []
        for label, text, may_hold_value in self.texts:
            for needle_name in needles:
                if needle_name == "value" and may_hold_value:
                    continue
                at = text.find(NEEDLES[needle_name])
                if at >= 0:
                    snippet = text[max(0, at - 120) : at + 60].replace("\n", "\\n")
                    found.append(f"{needle_name} in {label}: ...{snippet}...")
        return found


def _without_read_values(obj: Any) -> Any:
    if isinstance(obj, dict):
        is_read = obj.get("success") is True
        return {
            k: (
                "<read value>"
                if is_read and k in ("value", "values", "events", "messages")
                else _without_read_values(v)
            )
            for k, v in obj.items()
        }
    if isinstance(obj, list):
        return [_without_read_values(v) for v in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
        for name in ("value", "values"):
            if name in fields:
                fields[name] = "<read value>"
        return f"{type(obj).__name__}({fields!r})"
    return obj


@pytest.fixture
def evidence(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> Iterator[Evidence]:
    """Every logger at DEBUG, all output captured; after the test, the logs and output are
    added to the evidence and searched (the test itself searches what it added)."""
    caplog.set_level(logging.DEBUG)
    saved: dict[str, tuple[int, bool]] = {}
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            saved[name] = (logger.level, logger.disabled)
            logger.setLevel(logging.DEBUG)
            logger.disabled = False
    found = Evidence()
    try:
        yield found
    finally:
        for name, (level, disabled) in saved.items():
            logger = logging.getLogger(name)
            logger.setLevel(level)
            logger.disabled = disabled


def _finish(evidence: Evidence, caplog: pytest.LogCaptureFixture, capfd: Any) -> None:
    """Add the logs and the captured output to the evidence; assert that nothing leaked."""
    roleredis.reset()  # the writer drains (and logs what it gives up) before the search
    out, err = capfd.readouterr()
    evidence.add("stdout", out)
    evidence.add("stderr", err)
    evidence.add("logs", caplog.text)
    for record in caplog.records:
        evidence.add(f"log record {record.name}", record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            evidence.exception(f"log record {record.name} exc_info", record.exc_info[1])
    assert caplog.records, "the logs were not captured at all (the search would prove nothing)"
    leaks = evidence.leaks()
    assert leaks == [], "secrets leaked:\n" + "\n".join(leaks)


@pytest.fixture(scope="module")
def secret_server() -> Iterator[RedisServer]:
    """A throwaway redis-server with ``requirepass`` (the recognisable password)."""
    server = RedisServer(password=PASSWORD)
    server.start()
    try:
        yield server
    finally:
        if server.paused:
            server.resume()
        server.stop()


@pytest.fixture
def secret_env(
    secret_server: RedisServer, monkeypatch: pytest.MonkeyPatch, write_config: WriteConfig
) -> Iterator[RedisServer]:
    """REDIS_URL at the password-protected server, REDIS_PASSWORD the right password."""
    if secret_server.paused:
        secret_server.resume()
    monkeypatch.setenv("REDIS_URL", secret_server.url)
    monkeypatch.setenv("REDIS_PASSWORD", PASSWORD)
    write_config(
        {
            "connection": {"socket_connect_timeout": 0.5, "socket_timeout": 1},
            "async": {"drain_timeout": 0.5, "max_age": 1},
        }
    )
    yield secret_server
    roleredis.reset()
    client = secret_server.client()
    try:
        client.flushdb()
    finally:
        client.close()


def _describe_everything(evidence: Evidence, label: str) -> None:
    """repr / str of every object that holds the settings or a client."""
    settings = runtime.settings()
    evidence.add(f"{label} repr(Settings)", repr(settings))
    evidence.add(f"{label} str(Settings)", str(settings))
    evidence.add(f"{label} Settings.as_dict()", repr(settings.as_dict()))
    evidence.add(f"{label} describe()", describe(settings))
    info = tools._get_redis_config()
    evidence.add(f"{label} repr(_get_redis_config())", repr(info))
    evidence.add(f"{label} str(_get_redis_config())", str(info))
    evidence.add(f"{label} format(_get_redis_config())", f"{info}")
    rest = {k: v for k, v in info.items() if k != "password"}
    evidence.add(f"{label} _get_redis_config() but password", repr(rest))
    client = runtime.sync_client()
    evidence.add(f"{label} repr(sync client)", repr(client))
    evidence.add(f"{label} repr(sync pool)", repr(client.connection_pool))
    store = roleredis.RoleStore(ROLE)
    evidence.add(f"{label} repr(RoleStore)", repr(store))
    evidence.add(f"{label} repr(AsyncRoleStore)", repr(aio.AsyncRoleStore(ROLE)))

    async def async_client_repr() -> str:
        made = build_async_client(settings)
        try:
            return repr(made) + repr(made.connection_pool)
        finally:
            await made.aclose()

    evidence.add(f"{label} repr(async client)", asyncio.run(async_client_repr()))


# --------------------------------------------------------------------------- the tests


def test_every_operation_with_the_right_password_leaks_nothing(
    secret_env: RedisServer,
    evidence: Evidence,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    sync = run_sync(ROLE, VALUE)
    evidence.results("sync", sync)
    failed = {k: v for k, v in sync.items() if isinstance(v, dict) and not v.get("success")}
    assert set(failed) == {"read_missing"}, f"the password did not work: {failed}"
    assert sync["read"]["value"] == VALUE  # the read works (and its value is not searched)
    bytes_write = roleredis.redis_write("bytes", BYTES_VALUE, role=ROLE)
    evidence.result("bytes write", bytes_write)
    evidence.result("bytes read", roleredis.redis_read("bytes", role=ROLE))
    asyncs = run_aio(ROLE, VALUE)
    evidence.results("aio", asyncs)
    assert asyncs["read"]["success"] is True, asyncs["read"]
    _describe_everything(evidence, "right password")
    info = tools._get_redis_config()
    assert info["password"] == PASSWORD, "the guide's _get_redis_config() keeps the real password"
    assert runtime.settings().password == PASSWORD
    # the server holds the value (it went through), only outputs must not show it
    evidence.result("write kept", roleredis.redis_write("kept", VALUE, role=ROLE))
    client = secret_env.client()
    try:
        stored = client.get(f"{ROLE}:kept")
        assert isinstance(stored, bytes) and VALUE_TEXT.encode() in stored
    finally:
        client.close()
    _finish(evidence, caplog, capfd)


@pytest.mark.parametrize("form", ["userinfo", "username-and-password"])
def test_a_password_inside_redis_url_leaks_nothing(
    secret_env: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    evidence: Evidence,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    form: str,
) -> None:
    """REDIS_URL=redis://:PASSWORD@host:port/0 (the environment may hold a URL with one)."""
    user = "default" if form == "username-and-password" else ""
    monkeypatch.delenv("REDIS_PASSWORD")
    monkeypatch.setenv(
        "REDIS_URL", f"redis://{user}:{quote(PASSWORD)}@127.0.0.1:{secret_env.port}/0"
    )
    roleredis.reset()
    sync = run_sync(ROLE, VALUE)
    evidence.results("sync", sync)
    assert sync["write"]["success"] is True, sync["write"]
    evidence.results("aio", run_aio(ROLE, VALUE))
    _describe_everything(evidence, "password in URL")
    _finish(evidence, caplog, capfd)


def test_a_wrong_password_leaks_neither_password(
    secret_env: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    evidence: Evidence,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REDIS_PASSWORD", WRONG_PASSWORD)
    roleredis.reset()
    sync = run_sync(ROLE, VALUE, flush_timeout=0.5)
    evidence.results("sync", sync)
    assert sync["write"]["error_code"] == "permission", sync["write"]
    assert sync["health"]["connected"] is False
    asyncs = run_aio(ROLE, VALUE)
    evidence.results("aio", asyncs)
    assert asyncs["write"]["error_code"] == "permission", asyncs["write"]
    with pytest.raises(roleredis.PermissionDeniedError) as raised:
        roleredis.RoleStore(ROLE).write("k", VALUE)
    evidence.exception("RoleStore.write", raised.value)
    _describe_everything(evidence, "wrong password")
    # the same wrong password inside the URL
    monkeypatch.delenv("REDIS_PASSWORD")
    monkeypatch.setenv(
        "REDIS_URL", f"redis://:{quote(WRONG_PASSWORD)}@127.0.0.1:{secret_env.port}/0"
    )
    roleredis.reset()
    evidence.results("url sync", run_sync(ROLE, VALUE, flush_timeout=0.5))
    evidence.results("url aio", run_aio(ROLE, VALUE))
    _describe_everything(evidence, "wrong password in URL")
    _finish(evidence, caplog, capfd)


def test_no_server_leaks_nothing(
    secret_env: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    evidence: Evidence,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Nothing listens on the port: connection errors, with the password in env or in URL."""
    port = free_port()
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{port}/0")
    roleredis.reset()
    sync = run_sync(ROLE, VALUE, flush_timeout=0.3)
    evidence.results("env password", sync)
    assert sync["write"]["error_code"] == "connection", sync["write"]
    evidence.results("env password aio", run_aio(ROLE, VALUE))
    with pytest.raises(roleredis.ConnectionFailedError) as raised:
        roleredis.RoleStore(ROLE).read("k1")
    evidence.exception("RoleStore.read", raised.value)
    monkeypatch.delenv("REDIS_PASSWORD")
    monkeypatch.setenv("REDIS_URL", f"redis://:{quote(PASSWORD)}@127.0.0.1:{port}/0")
    roleredis.reset()
    evidence.results("url password", run_sync(ROLE, VALUE, flush_timeout=0.3))
    evidence.results("url password aio", run_aio(ROLE, VALUE))
    _describe_everything(evidence, "no server")
    _finish(evidence, caplog, capfd)


def test_a_paused_server_leaks_nothing(
    secret_env: RedisServer,
    write_config: WriteConfig,
    evidence: Evidence,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Timeouts (the server is SIGSTOPped) with the password set."""
    write_config(
        {
            "connection": {"socket_connect_timeout": 0.3, "socket_timeout": 0.2},
            "async": {"drain_timeout": 0.3, "max_age": 0.5},
        }
    )
    assert roleredis.redis_write("k1", VALUE, role=ROLE)["success"] is True
    secret_env.pause()
    try:
        results: dict[str, Any] = {
            "write": roleredis.redis_write("k2", VALUE, role=ROLE),
            "read": roleredis.redis_read("k1", role=ROLE),
            "read_many": roleredis.redis_read_many(["k1"], role=ROLE),
            "health": roleredis.redis_health_check(role=ROLE),
            "write_async": roleredis.redis_write_async("k3", VALUE, role=ROLE),
            "flush": roleredis.redis_flush(timeout=0.3),
        }

        async def via_aio() -> list[dict[str, Any]]:
            return [
                await aio.redis_write("k4", VALUE, role=ROLE),
                await aio.redis_read("k1", role=ROLE),
            ]

        results["aio"] = asyncio.run(via_aio())
        evidence.results("paused", results)
        assert results["read"]["error_code"] == "timeout", results["read"]
        roleredis.reset()  # the writer gives up its write while the server is still paused
    finally:
        secret_env.resume()
    _finish(evidence, caplog, capfd)


BAD_VALUES: dict[str, Any] = {
    "set": {VALUE_TEXT},
    "tuple": (VALUE_TEXT, 1),
    "nested tuple": {"a": [(VALUE_TEXT,)]},
    "bytes inside a list": [BYTES_VALUE],
    "bytearray": bytearray(BYTES_VALUE),
    "str subclass": type("Secretive", (str,), {})(VALUE_TEXT),
    "object": type("Opaque", (), {"__repr__": lambda self: VALUE_TEXT})(),
    "non-str dict key": {(VALUE_TEXT,): 1},
    "bytes dict key": {BYTES_VALUE: 1},
    "int dict key next to a secret": {1: VALUE_TEXT},
    "nan next to a secret": {"x": float("nan"), "s": VALUE_TEXT},
    "lone surrogate": VALUE_TEXT + "\ud800",
    "too deep": [VALUE_TEXT],  # made deep below
}


def _deep(levels: int) -> Any:
    value: Any = VALUE_TEXT
    for _ in range(levels):
        value = [value]
    return value


BAD_VALUES["too deep"] = _deep(5000)


@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_a_refused_value_is_not_echoed(
    secret_env: RedisServer,
    evidence: Evidence,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    case: str,
) -> None:
    """A value roleredis refuses (serialization): the error says what kind of thing and
    where, never the value itself; not in the result, the log, or the typed exception."""
    bad = BAD_VALUES[case]
    results: dict[str, Any] = {
        "write": roleredis.redis_write("k", bad, role=ROLE),
        "write_many": roleredis.redis_write_many({"k": bad}, role=ROLE),
        "write_async": roleredis.redis_write_async("k", bad, role=ROLE),
        "aio": asyncio.run(aio.redis_write("k", bad, role=ROLE)),
    }
    for name, result in results.items():
        assert result["success"] is False, (name, result)
        assert result["error_code"] == "serialization", (name, result)
    evidence.results(case, results)
    with pytest.raises(roleredis.SerializationError) as raised:
        roleredis.RoleStore(ROLE).write("k", bad)
    evidence.exception("RoleStore.write", raised.value)
    _finish(evidence, caplog, capfd)


@pytest.mark.parametrize(
    "case",
    [
        "password in the YAML",
        "password under connection",
        "password in the YAML url",
        "bad REDIS_PORT",
        "bad port in REDIS_URL",
        "bad scheme in REDIS_URL",
        "broken REDIS_URL",
        "bad YAML value",
        "YAML syntax error next to a password",
    ],
)
def test_bad_configuration_leaks_nothing(
    secret_env: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    write_config: WriteConfig,
    evidence: Evidence,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    case: str,
) -> None:
    """Every configuration error, with the password around: in REDIS_PASSWORD, in the URL, or
    (refused) in the file. The error names the setting, never the secret."""
    port = secret_env.port
    secret_url = f"redis://:{quote(PASSWORD)}@127.0.0.1"
    if case == "password in the YAML":
        write_config({"password": PASSWORD})
    elif case == "password under connection":
        write_config({"connection": {"password": PASSWORD}})
    elif case == "password in the YAML url":
        monkeypatch.delenv("REDIS_URL")
        write_config({"url": f"{secret_url}:{port}/0"})
    elif case == "bad REDIS_PORT":
        monkeypatch.delenv("REDIS_URL")
        monkeypatch.setenv("REDIS_PORT", "not-a-port")
    elif case == "bad port in REDIS_URL":
        monkeypatch.setenv("REDIS_URL", f"{secret_url}:notaport/0")
    elif case == "bad scheme in REDIS_URL":
        monkeypatch.setenv("REDIS_URL", f"http://:{quote(PASSWORD)}@127.0.0.1:{port}/0")
    elif case == "broken REDIS_URL":
        monkeypatch.setenv("REDIS_URL", f"redis://:{quote(PASSWORD)}@[::1:{port}/0")
    elif case == "bad YAML value":
        write_config({"connection": {"socket_timeout": "soon"}})
    elif case == "YAML syntax error next to a password":
        # a broken file that also (wrongly) holds a password: the parse error must not quote it
        write_config(f"redis:\n  password: {PASSWORD}\n  connection: [unclosed\n")
    roleredis.reset()
    try:  # some of these are found only when the client is made
        evidence.add("load_settings", repr(load_settings()))
    except Exception as exc:
        evidence.exception("load_settings", exc)
    results: dict[str, Any] = {
        "write": roleredis.redis_write("k", VALUE, role=ROLE),
        "read": roleredis.redis_read("k", role=ROLE),
        "health": roleredis.redis_health_check(role=ROLE),
        "write_async": roleredis.redis_write_async("k", VALUE, role=ROLE),
        "aio": asyncio.run(aio.redis_read("k", role=ROLE)),
    }
    evidence.results(case, results)
    for name, result in results.items():
        assert result["success"] is False, (name, result)
        assert result["error_code"] in ("config", "invalid_argument"), (name, result)
    try:
        _describe_everything(evidence, case)
    except RoleRedisError as exc:
        evidence.exception("describe", exc)
    try:
        tools._get_redis_config()
    except Exception as exc:
        evidence.exception("_get_redis_config", exc)
    _finish(evidence, caplog, capfd)


# --------------------------------------------------------------------------- the command

_HAS_CLI = importlib.util.find_spec("roleredis.cli") is not None
CLI_CASES = [
    ("config", ("config",), True),
    ("config --json", ("config", "--json"), True),
    ("health --json", ("health", "--json"), True),
    ("set", ("set", ROLE, "cli", f'"{VALUE_TEXT}"'), True),
    ("keys", ("keys", ROLE), True),
    ("get --json", ("get", ROLE, "cli", "--json"), True),  # prints the value
    ("wrong password: health", ("health",), False),
    ("wrong password: set", ("set", ROLE, "cli", f'"{VALUE_TEXT}"'), False),
    ("password in URL: config", ("config",), True),
    ("password in --url: health", ("health",), True),
    ("bad URL: config", ("config",), False),
    ("no server: health", ("health",), False),
]


def _cli_command(
    server: RedisServer, case: str, argv: tuple[str, ...]
) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "ROLEREDIS_"))}
    env.update(
        REDIS_URL=server.url,
        REDIS_PASSWORD=PASSWORD,
        PYTHONWARNINGS="always",
        PYTHONUNBUFFERED="1",
        COLUMNS="200",
    )
    port = server.port
    options: list[str] = []
    if case.startswith("wrong password"):
        env["REDIS_PASSWORD"] = WRONG_PASSWORD
    elif case.startswith("password in URL"):
        del env["REDIS_PASSWORD"]
        env["REDIS_URL"] = f"redis://:{quote(PASSWORD)}@127.0.0.1:{port}/0"
    elif case.startswith("password in --url"):
        del env["REDIS_PASSWORD"]
        del env["REDIS_URL"]
        options = ["--url", f"redis://:{quote(PASSWORD)}@127.0.0.1:{port}/0"]
    elif case.startswith("bad URL"):
        env["REDIS_URL"] = f"redis://:{quote(PASSWORD)}@127.0.0.1:notaport/0"
    elif case.startswith("no server"):
        env["REDIS_URL"] = f"redis://:{quote(PASSWORD)}@127.0.0.1:{free_port()}/0"
    return [sys.executable, "-m", "roleredis", "--verbose", *options, *argv], env


@pytest.fixture(scope="module")
def cli_runs(
    secret_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every CLI case, run once, all at the same time (each is a separate process)."""
    client = secret_server.client()
    try:
        client.set(f"{ROLE}:cli", f'"{VALUE_TEXT}"')  # something to read
    finally:
        client.close()
    cwd = tmp_path_factory.mktemp("cli")
    running: dict[str, tuple[list[str], subprocess.Popen[str]]] = {}
    for case, argv, _ in CLI_CASES:
        command, env = _cli_command(secret_server, case, argv)
        running[case] = (
            command,
            subprocess.Popen(
                command,
                env=env,
                cwd=cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
    done: dict[str, subprocess.CompletedProcess[str]] = {}
    for case, (command, process) in running.items():
        try:
            out, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            err += "\n[killed after 60 s]"
        done[case] = subprocess.CompletedProcess(command, process.returncode, out, err)
    client = secret_server.client()
    try:
        client.flushdb()
    finally:
        client.close()
    return done


@pytest.mark.parametrize(("case", "argv", "should_work"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_the_command_leaks_nothing(
    cli_runs: dict[str, subprocess.CompletedProcess[str]],
    case: str,
    argv: tuple[str, ...],
    should_work: bool,
) -> None:
    """``python -m roleredis --verbose ...`` as a user runs it (the library's logs at DEBUG on
    stderr, warnings shown), with the password in the environment, in REDIS_URL or in --url.
    Exit code 0 is required where the command should work, 1 or 2 where it cannot, and never a
    traceback (checked only if src/roleredis/cli.py exists; the output is searched either
    way)."""
    done = cli_runs[case]
    evidence = Evidence()
    reads_value = argv[0] == "get" and should_work
    evidence.add(f"{case} stdout", done.stdout, may_hold_value=reads_value)
    evidence.add(f"{case} stderr", done.stderr, may_hold_value=reads_value)
    leaks = evidence.leaks()
    assert leaks == [], "secrets leaked:\n" + "\n".join(leaks)
    if _HAS_CLI:
        output = f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        assert "Traceback" not in done.stderr, output
        if should_work:
            assert done.returncode == 0, output
        else:
            assert done.returncode in (1, 2), output
