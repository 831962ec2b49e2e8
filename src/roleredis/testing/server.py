"""Throwaway ``redis-server`` processes for tests.

:class:`RedisServer` starts a private ``redis-server`` on 127.0.0.1, on a free port (never 6379
unless asked for explicitly), with its own temporary data directory, and gives tests the
controls they need to simulate failures: stop (SIGTERM), kill (SIGKILL), pause (SIGSTOP),
resume (SIGCONT) and restart on the same port with the same data.

It uses only the standard library and redis-py, and never touches a server it did not start.

Example::

    with RedisServer() as server:
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        server.kill()
        server.restart()
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import redis

__all__ = ["RedisServer", "RedisServerError", "free_port"]

_HOST = "127.0.0.1"
_FORBIDDEN_PORTS = frozenset({6379})
_LOG_NAME = "redis.log"
_OUTPUT_NAME = "redis.out"
_TAIL_LINES = 30


class RedisServerError(RuntimeError):
    """A throwaway redis-server could not be started or controlled."""


# Servers still running (or holding a data dir) are stopped when the interpreter exits, so an
# interrupted test run leaves no redis-server processes or temporary directories behind.
_live: weakref.WeakSet[RedisServer] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    for server in list(_live):
        with contextlib.suppress(Exception):
            server.stop()


def free_port(host: str = _HOST) -> int:
    """Return a TCP port on ``host`` that is free right now (never 6379)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in _FORBIDDEN_PORTS:
            return port
    raise RedisServerError("could not find a free TCP port")  # pragma: no cover


def _tail(path: Path, lines: int = _TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class RedisServer:
    """A private redis-server process on 127.0.0.1 with a temporary data directory.

    Args:
        port: TCP port to listen on; ``None`` picks a free one (never 6379). The port is fixed
            for the life of the object, so :meth:`restart` comes back on the same one.
        appendonly: turn on the append-only file (fsync on every write), so data survives
            :meth:`kill` and :meth:`restart`. Without it, persistence is off (``--save ""``).
        password: set ``requirepass``; :attr:`url` does not contain it (use :attr:`password`).
        extra_args: further ``redis-server`` arguments, e.g. ``("--rename-command", "KEYS", "")``.
            They come last, so they override the defaults above.
        executable: the ``redis-server`` program (a name looked up on PATH, or a path).
        startup_timeout: seconds to wait for the server to answer PING.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        appendonly: bool = False,
        password: str | None = None,
        extra_args: Sequence[str] = (),
        executable: str = "redis-server",
        startup_timeout: float = 10.0,
    ) -> None:
        if isinstance(extra_args, str):
            raise TypeError("extra_args must be a sequence of strings, not a str")
        self._port_given = port is not None
        self._port = port if port is not None else free_port()
        self.appendonly = appendonly
        self.password = password
        self.extra_args: tuple[str, ...] = tuple(extra_args)
        self.executable = executable
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._data_dir: Path | None = None
        self._paused = False

    # ------------------------------------------------------------------ properties

    @property
    def host(self) -> str:
        """The address the server listens on (always 127.0.0.1)."""
        return _HOST

    @property
    def port(self) -> int:
        """The TCP port (the same across restarts)."""
        return self._port

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0`` (without the password)."""
        return self.url_for(0)

    def url_for(self, db: int = 0) -> str:
        """The URL of database ``db`` on this server (without the password)."""
        return f"redis://{_HOST}:{self._port}/{db}"

    @property
    def data_dir(self) -> Path | None:
        """The temporary data directory, or ``None`` before the first start / after stop."""
        return self._data_dir

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs (or is paused), else ``None``."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    @property
    def running(self) -> bool:
        """Whether the process exists and has not exited (a paused server counts as running)."""
        return self._process is not None and self._process.poll() is None

    @property
    def paused(self) -> bool:
        """Whether the server is stopped with SIGSTOP."""
        return self._paused and self.running

    @property
    def log_path(self) -> Path | None:
        """The server's log file, inside :attr:`data_dir`."""
        return None if self._data_dir is None else self._data_dir / _LOG_NAME

    def log_tail(self, lines: int = _TAIL_LINES) -> str:
        """The last ``lines`` lines of the server's log and console output."""
        if self._data_dir is None:
            return ""
        parts = [
            _tail(self._data_dir / _LOG_NAME, lines),
            _tail(self._data_dir / _OUTPUT_NAME, lines),
        ]
        return "\n".join(p for p in parts if p)

    def __repr__(self) -> str:
        state = "paused" if self.paused else "running" if self.running else "stopped"
        return f"<RedisServer {_HOST}:{self._port} {state}>"

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> RedisServer:
        """Start the server and wait until it answers PING. Returns ``self``.

        Reuses the data directory left by :meth:`kill` or :meth:`restart`; creates a new one
        otherwise. Raises :class:`RedisServerError` (with the log tail) if it does not come up.
        """
        if self.running:
            raise RedisServerError(f"{self!r} is already running")
        attempts = 1 if self._port_given else 3
        for attempt in range(attempts):
            try:
                self._start_once()
                return self
            except RedisServerError as exc:
                in_use = "Address already in use" in str(exc)
                if not in_use or attempt == attempts - 1:
                    raise
                # Someone took our free port between choosing and binding: pick another.
                self._port = free_port()
        raise AssertionError("unreachable")  # pragma: no cover

    def _command(self, executable: str, data_dir: Path) -> list[str]:
        args = [
            executable,
            "--port",
            str(self._port),
            "--bind",
            _HOST,
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
            "--dir",
            str(data_dir),
            "--logfile",
            _LOG_NAME,
            "--databases",
            "16",
        ]
        if self.appendonly:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--save", "", "--appendonly", "no"]
        if self.password is not None:
            args += ["--requirepass", self.password]
        args += list(self.extra_args)
        return args

    def _start_once(self) -> None:
        executable = shutil.which(self.executable)
        if executable is None:
            raise RedisServerError(
                f"redis-server executable {self.executable!r} not found on PATH; "
                "install Redis (e.g. `apt-get install redis-server`) to run these tests"
            )
        created = self._data_dir is None
        if self._data_dir is None:
            self._data_dir = Path(tempfile.mkdtemp(prefix=f"roleredis-{self._port}-"))
        _live.add(self)
        data_dir = self._data_dir
        with open(data_dir / _OUTPUT_NAME, "ab") as output:
            self._process = subprocess.Popen(
                self._command(executable, data_dir),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=data_dir,
                start_new_session=True,
            )
        self._paused = False
        try:
            self._wait_for_ping()
        except RedisServerError:
            self._terminate(signal.SIGKILL)
            if created:
                self._remove_data_dir()
            raise

    def _wait_for_ping(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            process = self._process
            assert process is not None
            if process.poll() is not None:
                raise RedisServerError(
                    f"redis-server on port {self._port} exited with code {process.returncode} "
                    f"during startup; log tail:\n{self.log_tail()}"
                )
            try:
                if self.ping(timeout=0.5):
                    return
            except redis.RedisError as exc:
                last_error = exc
            time.sleep(0.02)
        raise RedisServerError(
            f"redis-server on port {self._port} did not answer PING within "
            f"{self.startup_timeout} s (last error: {last_error!r}); log tail:\n{self.log_tail()}"
        )

    def ping(self, timeout: float = 1.0) -> bool:
        """PING the server once; ``True`` on PONG. Raises redis-py's errors otherwise."""
        client = redis.Redis(
            host=_HOST,
            port=self._port,
            password=self.password,
            protocol=2,  # AUTH, not HELLO: works on a server started without HELLO too
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
        )
        try:
            return bool(client.ping())
        finally:
            client.close()

    def client(self, db: int = 0, **kwargs: object) -> redis.Redis:
        """A new plain redis-py client for database ``db`` (the caller closes it)."""
        return redis.Redis(
            host=_HOST,
            port=self._port,
            db=db,
            password=self.password,
            **kwargs,  # type: ignore[arg-type]
        )

    def _terminate(self, sig: signal.Signals, timeout: float = 10.0) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, sig)
                if self._paused and sig != signal.SIGKILL:
                    # A stopped process only acts on SIGTERM once it runs again.
                    os.kill(process.pid, signal.SIGCONT)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait()
        else:
            process.wait()
        self._process = None
        self._paused = False

    def stop(self, *, keep_data: bool = False) -> None:
        """SIGTERM the server, wait for it to exit, and remove the data directory.

        With ``keep_data=True`` the directory stays, for a later :meth:`start`. Safe to call
        when the server is not running (it then only cleans up).
        """
        self._terminate(signal.SIGTERM)
        if not keep_data:
            self._remove_data_dir()
            _live.discard(self)

    def kill(self) -> None:
        """SIGKILL the server (a crash) and wait for it. The data directory stays."""
        self._terminate(signal.SIGKILL)

    def pause(self) -> None:
        """SIGSTOP the server: connections stay open but nothing is answered."""
        process = self._require_running()
        os.kill(process.pid, signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """SIGCONT a paused server."""
        process = self._require_running()
        os.kill(process.pid, signal.SIGCONT)
        self._paused = False

    def restart(self) -> RedisServer:
        """Stop the server if it runs (SIGTERM), then start it again on the same port with the
        same data directory. Returns ``self``."""
        self._terminate(signal.SIGTERM)
        return self.start()

    def _require_running(self) -> subprocess.Popen[bytes]:
        process = self._process
        if process is None or process.poll() is not None:
            raise RedisServerError(f"{self!r} is not running")
        return process

    def _remove_data_dir(self) -> None:
        if self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None

    # ------------------------------------------------------------------ context manager

    def __enter__(self) -> RedisServer:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
