"""The demo program: two roles write the same key name into one Redis and never collide.

Shared by ``roleredis demo`` (with the roles in :mod:`roleredis.demo.roles`) and by
``examples/agents/main.py`` (with the roles of the example's own ``roles/`` directory). Each
role is a module with the functions of ``roles/<name>/lifecycle.py``; neither passes a role:
roleredis detects it from the directory the module lies in.

Which Redis it uses (:func:`backend`): the configured one (REDIS_URL, REDIS_HOST, REDIS_PORT,
REDIS_DB, ROLEREDIS_CONFIG or ./config.yaml); with nothing configured, or (when asked to fall
back) with the configured server not reachable, a throwaway redis-server on a free port if the
``redis-server`` program exists, else the embedded ``memory://`` backend. A server you run is
only ever used when you configured it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import secrets
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

from .. import runtime
from ..foundation.errors import (
    ConfigError,
    ConnectionFailedError,
    RoleRedisError,
    TimeoutError,
    map_redis_errors,
)
from ..foundation.settings import (
    ConnectionSettings,
    EncryptionSettings,
    KeySettings,
    Settings,
    is_configured,
)
from ..table.roles import acting_as, role_from_path
from ..transport.connection import describe

__all__ = ["Backend", "DemoFailed", "backend", "main", "run"]

MEMORY_URL = "memory://"
#: Role names of a run on a shared server start with this (then a run id, then the role).
DEMO_PREFIX = "roleredis-demo-"


def new_run_id() -> str:
    """A random id that makes this run's role names its own (8 hex digits)."""
    return secrets.token_hex(4)


class DemoFailed(Exception):
    """A step of the demo failed; ``error_code`` is roleredis's code for the failure."""

    def __init__(self, message: str, error_code: str) -> None:
        super().__init__(message)
        self.error_code = error_code


@dataclasses.dataclass(frozen=True)
class Backend:
    """The Redis the demo runs on.

    ``kind``: ``configured`` (the Redis you configured), ``throwaway`` (a redis-server started
    for this run) or ``memory`` (the embedded in-process backend). ``url`` never holds a
    password. ``unreachable`` says why the configured Redis was not used, if one was.
    """

    kind: str
    url: str
    unreachable: str | None = None

    @property
    def shared(self) -> bool:
        """A server the user configured, which may hold their data (not memory://): the demo
        then runs under role names of its own (see :func:`run`)."""
        return self.kind == "configured" and not self.url.startswith(MEMORY_URL)

    def describe(self) -> str:
        """One line saying which backend the demo uses, and why."""
        if self.kind == "configured":
            if self.url.startswith(MEMORY_URL):
                return f"using the embedded backend {self.url} (in this process), as configured"
            return f"using the configured Redis at {self.url}"
        what = (
            f"a throwaway redis-server at {self.url}"
            if self.kind == "throwaway"
            else f"the embedded backend {self.url} (in this process; redis-server is not installed)"
        )
        why = (
            f"the configured Redis is not reachable ({self.unreachable})"
            if self.unreachable
            else "no Redis configured"
        )
        return f"{why}: using {what}"

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _unreachable(settings: Settings) -> str | None:
    """None if the configured Redis answers PING, else why not (a connection failure)."""
    if settings.url is not None and settings.url.startswith(MEMORY_URL):
        return None
    try:
        with map_redis_errors():
            runtime.sync_client().ping()
    except (ConnectionFailedError, TimeoutError) as exc:
        return str(exc)
    return None


@contextlib.contextmanager
def _pointed_at(url: str) -> Iterator[None]:
    """Point roleredis at ``url`` only (settings handed to the runtime), then undo that.

    Nothing of the configured server applies (its config file, REDIS_USERNAME, REDIS_PASSWORD,
    ``use_env_overrides: false``); what is about the caller, not the server, is kept: the role
    of ROLEREDIS_ROLE and the encryption keys. The environment is neither read nor written.
    """
    current = runtime.settings()
    kept = ("role", "encryption_key", "encryption_old_keys")
    pointed = Settings(
        connection=ConnectionSettings(url=url),
        keys=KeySettings(role=current.role),
        encryption=EncryptionSettings(
            key=current.encryption_key, old_keys=current.encryption_old_keys
        ),
        sources={"url": "option:the demo's own server"}
        | {name: current.source(name) for name in kept if current.source(name) != "default"},
    )
    previous = runtime.overridden()
    runtime.use_settings(pointed)
    try:
        yield
    finally:
        runtime.use_settings(previous)


@contextlib.contextmanager
def backend(*, fallback_when_unreachable: bool) -> Iterator[Backend]:
    """Choose the Redis for the demo (see the module docstring) and point roleredis at it.

    Raises :class:`ConfigError` (and the other roleredis errors) for a bad configuration,
    :class:`DemoFailed` when nothing can be used.
    """
    settings = runtime.settings()
    unreachable: str | None = None
    if is_configured(settings):
        if not fallback_when_unreachable:
            yield Backend("configured", describe(settings))
            return
        unreachable = _unreachable(settings)
        if unreachable is None:
            yield Backend("configured", describe(settings))
            return

    from ..testing import RedisServer, RedisServerError

    try:
        server = RedisServer().start()
    except RedisServerError as exc:
        not_started = str(exc).splitlines()[0]
    else:
        try:
            with _pointed_at(server.url):
                yield Backend("throwaway", server.url, unreachable)
        finally:
            server.stop()
        return

    with _pointed_at(MEMORY_URL):
        try:
            runtime.sync_client()
        except ConfigError as exc:
            raise DemoFailed(
                f"no Redis to run on: {unreachable or 'none is configured'}; no redis-server "
                f"could be started ({not_started}); and the embedded memory:// backend is not "
                f"available ({exc}). Set REDIS_URL=redis://host:port/db or install redis-server",
                "connection",
            ) from None
        try:
            yield Backend("memory", MEMORY_URL, unreachable)
        finally:
            with contextlib.suppress(Exception):
                from ..transport.connection import forget_memory_server

                forget_memory_server("")


class _Role:
    """Calls into one role's module, as that role.

    The role is detected from the module's directory (``roles/<name>/``), as in a program laid
    out like the guide. Where detection would not give ``name`` (ROLEREDIS_ROLE is set, and it
    comes before detection; or the module lies elsewhere) the call is made inside
    ``acting_as(name)``, which gives the same keys.
    """

    def __init__(self, label: str, module: ModuleType, run_id: str | None) -> None:
        self.label = label  # what the demo calls it: weather, timer
        self.name = f"{DEMO_PREFIX}{run_id}.{label}" if run_id else label
        self.module = module

    def _as_role(self) -> contextlib.AbstractContextManager[Any]:
        detected = role_from_path(os.path.abspath(self.module.__file__ or ""))
        if detected == self.name and runtime.settings().role is None:
            return contextlib.nullcontext()
        return acting_as(self.name)

    def __call__(self, function: str, *args: Any, **kwargs: Any) -> Any:
        with self._as_role():
            return getattr(self.module, function)(*args, **kwargs)


def _check(result: dict[str, Any]) -> dict[str, Any]:
    """The result if it succeeded; else stop the demo with its error (results never raise)."""
    if not result["success"]:
        raise DemoFailed(f"{result['error']} [{result['error_code']}]", result["error_code"])
    return result


def run(
    weather_module: ModuleType,
    timer_module: ModuleType,
    out: Callable[[str], None] = print,
    *,
    run_id: str | None = None,
) -> dict[str, Any]:
    """Run the demo steps, printing each through ``out``; return what happened as a dict.

    Without ``run_id`` the roles are ``weather`` and ``timer``, detected from the directory
    of each lifecycle.py (on a server of the demo's own). With one (on a server the user
    configured) they are ``roleredis-demo-<run_id>.weather`` and ``...timer``, so the demo
    never reads, overwrites or deletes a user's weather: or timer: keys. Either way it ends by
    deleting, by name, the keys it wrote, and nothing else.

    Raises :class:`DemoFailed` on the first failure (e.g. Redis not reachable).
    """
    weather = _Role("weather", weather_module, run_id)
    timer = _Role("timer", timer_module, run_id)
    both = (weather, timer)
    report: dict[str, Any] = {"roles": {role.label: role.name for role in both}}

    # Health first: if Redis is not there, say so in one line instead of failing six times.
    health = weather("health")
    if not health["success"]:
        down = health["error_code"] in ("connection", "timeout")
        what = "Redis is not reachable" if down else "cannot use Redis"
        raise DemoFailed(f"{what}: {health['error']}", health["error_code"])
    server = f"Redis {health['redis_version']} ({health['mode']})"
    if health["mode"] == "embedded":
        server = f"{health['redis_version']} (embedded)"
    out(f"{server} is up, {health['latency_ms']} ms")
    report["redis"] = {
        "version": health["redis_version"],
        "mode": health["mode"],
        "latency_ms": health["latency_ms"],
    }

    # Both roles write a key named "state". Neither passes a role: each is detected from the
    # directory its lifecycle.py lives in, so the two land under different prefixes.
    report["written"] = []
    for result in (
        _check(weather("save_forecast", "Paris", sky="clear", high_c=21.5)),
        _check(timer("start_timer", "tea", seconds=180)),
    ):
        out(f"wrote {result['key']!r} as {result['prefixed_key']} (ttl {result['ttl']} s)")
        report["written"].append(
            {"key": result["key"], "prefixed_key": result["prefixed_key"], "ttl": result["ttl"]}
        )

    # Reading "state" back gives each role its own value.
    report["state"] = {}
    for role, label in ((weather, "weather reads state:"), (timer, "timer reads state:  ")):
        value = _check(role("load_state"))["value"]
        out(f"{label} {value}")
        report["state"][role.label] = value

    # Each role lists only its own keys, shown without the prefix.
    report["keys"] = {}
    for role in both:
        listed = _check(role("keys"))
        out(f"{role.label} has {listed['count']} keys: {', '.join(listed['keys'])}")
        report["keys"][role.label] = listed["keys"]

    out("stored in Redis:")
    report["stored"] = {}
    for role in both:
        for result in role("stored"):
            _check(result)
            out(f"  {result['prefixed_key']} = {result['value']}")
            report["stored"][result["prefixed_key"]] = result["value"]

    # Clean up: delete, by name, the keys this run wrote (never "every key of the role").
    report["deleted"] = {}
    for role in both:
        deleted = [
            _check(result)["deleted"] for result in role("forget", report["keys"][role.label])
        ]
        out(f"deleted what {role.label} wrote: {sum(deleted)} keys")
        report["deleted"][role.label] = sum(deleted)
    return report


def main(weather_module: ModuleType, timer_module: ModuleType) -> int:
    """Run the demo as a program (examples/agents/main.py): 0 done, 1 with one error line.

    Uses the configured Redis as is (an unreachable one is reported, not replaced); with none
    configured, a throwaway redis-server (or the embedded backend), announced in the first line.
    """
    # Every failure comes back in a result, and the demo prints it; roleredis's own warning
    # log lines would only say the same thing again.
    logging.getLogger("roleredis").setLevel(logging.ERROR)
    try:
        with backend(fallback_when_unreachable=False) as chosen:
            if chosen.kind != "configured":
                print(f"({chosen.describe()})")
            run(weather_module, timer_module, run_id=new_run_id() if chosen.shared else None)
    except DemoFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except RoleRedisError as exc:
        print(f"error: cannot use Redis: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader went away (`| head`): nothing left to say
        sys.stderr.close()
        return 1
    return 0
