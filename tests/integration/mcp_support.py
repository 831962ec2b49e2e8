"""Driving ``roleredis mcp`` as MCP clients do: the SDK's client held open on an event loop of
its own (one server process for many tests), raw newline-delimited JSON-RPC over a
subprocess's pipes, and the environment a client configuration gives the server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import queue
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx2
import yaml
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client

from roleredis.testing import RedisServer

#: How long one exchange with a server process may take before the test fails (not a timing
#: assertion: a hung server would otherwise hang the suite).
WAIT = 30.0
ROLE = "planner"
#: The headers of a raw streamable-HTTP request (the Accept header clients send).
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
#: A raw JSON-RPC initialize request, as a client's first message.
HELLO = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw-http", "version": "1"},
    },
}


def server_env(server: RedisServer, **more: str) -> dict[str, str]:
    """The environment a client configuration gives the server: the machine's, less any
    REDIS_* / ROLEREDIS_* of the test run's own, plus REDIS_URL at the throwaway server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "ROLEREDIS_"))}
    return {**env, "REDIS_URL": server.url, **more}


def mcp_command(*args: str) -> list[str]:
    """The command an MCP client's configuration runs: ``python -m roleredis mcp ...``."""
    return [sys.executable, "-m", "roleredis", "mcp", *args]


class HeldClient:
    """The SDK's :class:`Client`, opened once on an event loop in a thread of its own and
    used from the (synchronous) tests until :meth:`close`."""

    def __init__(self, make: Callable[[], AbstractAsyncContextManager[Client]]) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._stop: asyncio.Event | None = None
        self._ready: asyncio.Future[Client] = self.loop.create_future()
        self._held = asyncio.run_coroutine_threadsafe(self._hold(make), self.loop)
        try:
            self.client: Client = asyncio.run_coroutine_threadsafe(self._wait(), self.loop).result(
                WAIT
            )
        except BaseException:
            self.close()
            raise

    async def _wait(self) -> Client:
        return await self._ready

    async def _hold(self, make: Callable[[], AbstractAsyncContextManager[Client]]) -> None:
        # the client's task groups must be entered and left in the same task: this one
        self._stop = asyncio.Event()
        try:
            async with make() as client:
                self._ready.set_result(client)
                await self._stop.wait()
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
            raise

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(WAIT)

    def call(self, name: str, arguments: dict[str, Any]) -> Any:
        return self.run(self.client.call_tool(name, arguments))

    def close(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        with contextlib.suppress(Exception):
            self._held.result(WAIT)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT)
        self.loop.close()


@contextlib.asynccontextmanager
async def http_client(
    url: str, headers: dict[str, str], hooks: dict[str, list[Any]] | None = None
) -> AsyncIterator[Client]:
    """The SDK's client over streamable HTTP, sending ``headers`` with every request."""
    async with (
        httpx2.AsyncClient(headers=headers, timeout=WAIT, event_hooks=hooks) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


class RawStdio:
    """A server process spoken to in raw newline-delimited JSON-RPC on its stdin/stdout."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.lines: queue.Queue[bytes] = queue.Queue()
        self.seen: list[bytes] = []  # every line the server wrote on stdout
        self.err: list[bytes] = []  # what it wrote on stderr
        self._next_id = 0
        self._readers = [
            threading.Thread(target=self._read, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        self.err.extend(self.process.stderr)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.seen.append(line)
            self.lines.put(line)
        self.lines.put(b"")

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        self.process.stdin.flush()

    def notify(self, method: str, params: dict[str, Any] | None = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, **({"params": params} if params else {})})

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a request and return its response (notifications the server sends meanwhile
        are skipped)."""
        self._next_id += 1
        ident = self._next_id
        extra = {"params": params} if params is not None else {}
        self.send({"jsonrpc": "2.0", "id": ident, "method": method, **extra})
        deadline = time.monotonic() + WAIT
        while True:
            line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            if not line:
                raise AssertionError(f"the server closed stdout: {self.stderr()}")
            message = json.loads(line)
            if message.get("id") == ident:
                return message  # type: ignore[no-any-return]

    def close(self) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            return self.process.wait(WAIT)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            for reader in self._readers:
                reader.join(WAIT)
            for stream in (self.process.stdout, self.process.stderr):
                if stream is not None:
                    stream.close()

    def stderr(self) -> str:
        return b"".join(self.err).decode(errors="replace")


def wait_for_port(port: int, process: subprocess.Popen[bytes], host: str = "127.0.0.1") -> None:
    """Until the server listens on ``host:port`` (or fails if the process ends first)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode() if process.stderr else ""
            raise AssertionError(f"the server exited with {process.returncode}: {err}")
        with contextlib.suppress(OSError), socket.create_connection((host, port), 0.2):
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port} after {WAIT} s")


class Served:
    """A server process, and (once it has ended) what it wrote on stderr."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.stderr = ""


def mcp_config(directory: Path, **mcp: Any) -> str:
    """A config.yaml in ``directory`` with ``mcp`` as its ``redis.mcp`` section (its path, for
    ROLEREDIS_CONFIG)."""
    path = directory / "roleredis-mcp.yaml"
    path.write_text(yaml.safe_dump({"redis": {"mcp": mcp}}), encoding="utf-8")
    return str(path)


@contextlib.contextmanager
def http_server(
    port: int, env: dict[str, str], *args: str, open_files: int | None = None
) -> Iterator[Served]:
    """``roleredis mcp --transport http --port PORT`` as a process, until the block ends;
    with ``open_files``, as under ``ulimit -n OPEN_FILES``."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    process = subprocess.Popen(
        mcp_command("--role", ROLE, "--transport", "http", "--port", str(port), *args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=None if open_files is None else limit,  # a syscall: nothing to deadlock on
    )
    served = Served(process)
    host = args[args.index("--host") + 1] if "--host" in args else "127.0.0.1"
    try:
        wait_for_port(port, process, host)
        yield served
    finally:
        process.terminate()
        try:
            _, err = process.communicate(timeout=WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
        served.stderr = err.decode(errors="replace")


def mail_and_events_round_trip(
    call: Callable[[str, dict[str, Any]], dict[str, Any]], peer: str
) -> None:
    """The five mail and event tools through a server of role ROLE (``call(name, arguments)``
    gives a tool's structured content), with ``peer``, another role, played by the test
    process: a message each way (the ids round trip, acked), an event each way (no grant)."""
    import roleredis

    sent = call("redis_send", {"to_role": peer, "message": {"ask": peer}})
    assert sent["success"] and sent["from"] == ROLE and sent["to"] == peer, sent
    got = roleredis.redis_receive(count=10, role=peer)
    assert [(m["from"], m["body"], m["id"]) for m in got["messages"]] == [
        (ROLE, {"ask": peer}, sent["id"])
    ]
    assert roleredis.redis_ack([sent["id"]], role=peer)["acked"] == 1
    answer = roleredis.redis_send(ROLE, {"answer": peer}, role=peer)
    received = call("redis_receive", {"count": 10, "block_ms": 5000})
    assert received["success"] and received["truncated"] is False, received
    assert [(m["from"], m["body"], m["deliveries"]) for m in received["messages"]] == [
        (peer, {"answer": peer}, 1)
    ]
    assert received["messages"][0]["id"] == answer["id"]
    assert call("redis_ack", {"ids": [answer["id"]]})["acked"] == 1
    assert call("redis_receive", {})["messages"] == []
    published = call("redis_publish", {"topic": peer, "event": {"n": 1}})
    own = call("redis_read_events", {"from_role": ROLE, "topic": peer, "after": "0"})
    assert [(e["id"], e["event"]) for e in own["events"]] == [(published["id"], {"n": 1})]
    theirs = roleredis.redis_publish("news", {"by": peer}, role=peer)
    read = call("redis_read_events", {"from_role": peer, "topic": "news", "count": 10})
    assert [(e["id"], e["from"], e["event"]) for e in read["events"]] == [
        (theirs["id"], peer, {"by": peer})
    ]
    assert read["last_id"] == theirs["id"] and read["truncated"] is False
