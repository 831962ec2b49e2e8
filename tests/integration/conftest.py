"""Integration-test helpers. Every test here runs in the clean environment of
``roleredis_env`` (tests/conftest.py): REDIS_URL at the throwaway server, a tmp cwd,
``roleredis.reset()`` around the test, FLUSHDB after it."""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import socket
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
import redis

_module_ids = itertools.count()


@pytest.fixture(autouse=True)
def _clean_roleredis(roleredis_env: object) -> None:
    """Autouse: REDIS_URL at the throwaway server, tmp cwd, reset() around, FLUSHDB after."""


# --------------------------------------------------------------------------- role modules


@pytest.fixture
def role_module(tmp_path: Path) -> Iterator[Callable[..., ModuleType]]:
    """``role_module("weather", "lifecycle", source)``: write ``source`` to
    ``tmp_path/roles/weather/lifecycle.py``, import it and return the module.

    ``role_dir`` may be any path under ``tmp_path`` (e.g. ``"lib"`` for a file outside roles/),
    given as ``root=...``.
    """
    names: list[str] = []

    def make(role_dir: str, name: str, source: str, *, root: str = "roles") -> ModuleType:
        path = tmp_path / root / role_dir / f"{name}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        module_name = f"_roleredis_test_mod_{next(_module_ids)}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        names.append(module_name)
        spec.loader.exec_module(module)
        return module

    yield make
    for module_name in names:
        sys.modules.pop(module_name, None)


# --------------------------------------------------------------------------- server probes


@pytest.fixture
def commandstats(raw: redis.Redis) -> Callable[[], dict[str, int]]:
    """Reset the server's command statistics now; the returned function reads them as
    ``{"keys": calls, "scan": calls, ...}`` (commands the server has seen since)."""
    raw.config_resetstat()

    def read() -> dict[str, int]:
        info = raw.info("commandstats")
        out: dict[str, int] = {}
        for name, stats in info.items():
            command = name.removeprefix("cmdstat_").lower()
            out[command] = int(stats["calls"])
        return out

    return read


class DelayProxy:
    """A TCP proxy to ``127.0.0.1:target_port`` that holds every client->server chunk for
    ``delay`` seconds: N round trips then cost at least N * delay."""

    def __init__(self, target_port: int, delay: float) -> None:
        self.target_port = target_port
        self.delay = delay
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False
        accept = threading.Thread(target=self._accept_loop, daemon=True)
        accept.start()
        self._threads.append(accept)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _accept_loop(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                if self._closed:
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
                for src, dst, delay in ((client, upstream, self.delay), (upstream, client, 0.0)):
                    thread = threading.Thread(
                        target=self._pump, args=(src, dst, delay), daemon=True
                    )
                    thread.start()
                    self._threads.append(thread)

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, delay: float) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                with contextlib.suppress(OSError):
                    dst.shutdown(socket.SHUT_WR)
                return
            if delay:
                time.sleep(delay)
            try:
                dst.sendall(data)
            except OSError:
                return

    def close(self) -> None:
        with self._lock:
            self._closed = True
            sockets = list(self._sockets)
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(timeout=5)


@pytest.fixture
def delay_proxy(redis_server: object) -> Iterator[Callable[[float], DelayProxy]]:
    """``delay_proxy(seconds) -> DelayProxy`` in front of the session's throwaway server."""
    proxies: list[DelayProxy] = []

    def make(delay: float) -> DelayProxy:
        proxy = DelayProxy(redis_server.port, delay)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()


class Blackhole:
    """A local TCP port whose accept queue is full: connecting to it hangs (SYNs are dropped),
    like a host that is down or firewalled."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(0)
        self.port: int = self._listener.getsockname()[1]
        self._fillers: list[socket.socket] = []
        for _ in range(4):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", self.port))
            self._fillers.append(filler)
        time.sleep(0.05)

    def close(self) -> None:
        for sock in self._fillers:
            sock.close()
        self._listener.close()


@pytest.fixture
def blackhole() -> Iterator[Blackhole]:
    hole = Blackhole()
    yield hole
    hole.close()
