"""The process-wide defaults: settings loaded once, the shared sync clients, and reset.

One sync client and one circuit breaker per connection target
(:func:`~roleredis.transport.connection.target_of`: address, credentials, TLS, pool), made on
first use
and reused: the process's settings are one target (the default client), and a store given
other settings (``RoleStore(role, settings=...)``) gets the client of theirs, so one server's
outage never opens another's breaker. :func:`reset` closes them all.

Nothing here runs at import but one registration with ``os.register_at_fork``: settings are
read and the clients are made on first use. In a forked child every lock and per-process object of
the library is replaced before the child runs on (a lock another parent thread held at fork time
would otherwise stay held forever): this module's own, those of the modules below it (connection,
breaker) and everything registered with :func:`on_reset`. The child makes its own clients and
writer on first use.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from .foundation.config import Settings, load_settings
from .foundation.errors import DisabledError, forget_secrets, register_secrets
from .foundation.lifecycle import hooks, on_reset
from .transport.breaker import Breaker
from .transport.breaker import after_fork as _breakers_after_fork
from .transport.connection import after_fork as _connection_after_fork
from .transport.connection import build_client, close_client, target_of
from .transport.writer import process as writer_process
from .transport.writer.thread import Writer

__all__ = [
    "breaker",
    "current_client",
    "current_settings",
    "enabled_settings",
    "on_reset",
    "overridden",
    "reset",
    "settings",
    "sync_client",
    "target",
    "use_settings",
    "writer",
]

log = logging.getLogger("roleredis.runtime")

_lock = threading.RLock()
_settings: Settings | None = None
#: Settings given to use_settings(), or a function that loads them on first use.
SettingsGiven = Settings | Callable[[], Settings]
_override: SettingsGiven | None = None  # set by use_settings(): wins over environment and file


class Target:
    """The sync client (made on first use) and the circuit breaker of one connection target,
    made from the first settings seen for it (whose ``breaker`` numbers it keeps)."""

    __slots__ = ("_client", "breaker", "settings")

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.breaker = Breaker(settings.breaker_failures, settings.breaker_cooldown)
        self._client: Any = None

    def client(self) -> Any:
        """The target's sync client (made on first use; opens no connection by itself)."""
        client = self._client
        if client is None:
            with _lock:
                if self._client is None:
                    self._client = build_client(self.settings)
                client = self._client
        return client


# target_of(settings) -> its Target; _default: the one of the process's settings
_targets: dict[tuple[Any, ...], Target] = {}
_default: Target | None = None


def target(given: Settings | None = None) -> Target:
    """The :class:`Target` of ``given``'s connection target (default: the process's settings):
    the same one for every settings that connect alike, until :func:`reset`."""
    global _default
    if given is None:
        entry = _default
        if entry is None:
            current = settings()
            with _lock:
                if _default is None:
                    _default = _target_of(current)
                entry = _default
        return entry
    return _target_of(given)


def _target_of(given: Settings) -> Target:
    key = target_of(given)
    entry = _targets.get(key)
    if entry is None:
        with _lock:
            entry = _targets.get(key)
            if entry is None:
                entry = _targets[key] = Target(given)
    return entry


def enabled_settings(given: Settings | None = None) -> Settings:
    """``given`` (default: the process's settings), or DisabledError if Redis is disabled.
    Settings given are scrubbed from error texts from now on, as the process's are."""
    if given is None:
        current = settings()
    else:
        current = given
        register_secrets(*given.secrets())
    if not current.enabled:
        raise DisabledError("Redis is disabled in the configuration (redis.enabled: false)")
    return current


def settings() -> Settings:
    """The effective settings (loaded on first use; raises ConfigError if they are invalid)."""
    global _settings
    current = _settings
    if current is None:
        with _lock:
            if _settings is None:
                _settings = current_settings()
                register_secrets(*_settings.secrets())
            current = _settings
    return current


def current_settings() -> Settings:
    """The settings as they would be loaded now: those of :func:`use_settings` if set (a loader
    given there is called), else the environment and config file read afresh. What
    :func:`settings` loads once; diagnostics call this to see the current state.
    """
    override = _override
    if override is None:
        return load_settings()
    return override() if callable(override) else override


def sync_client(given: Settings | None = None) -> Any:
    """The shared sync redis-py client of ``given``'s connection target (default: the
    process's settings); made on first use, opens no connection by itself."""
    return target(given).client()


def breaker(given: Settings | None = None) -> Breaker:
    """The circuit breaker of ``given``'s connection target (default: the process's
    settings), shared by the sync and async paths (made on first use)."""
    return target(given).breaker


def writer() -> Writer:
    """The process's one fire-and-forget writer: started on first use, on the process's
    settings and the breaker of their connection target (the one the sync path asks)."""
    return writer_process.writer(_start_writer)


def _start_writer() -> Writer:
    given = settings()
    return Writer(given, breaker=breaker(given))


def current_client() -> Any:
    """The default sync client if it has been made, else None (never makes one)."""
    entry = _default
    return None if entry is None else entry._client


def use_settings(settings: SettingsGiven | None) -> None:
    """Make ``settings`` the process's settings instead of environment + file (None: undo).

    For test fixtures and embedding programs; takes effect at once (it implies reset()).
    A function is called on first use, as the environment is read then: what it raises
    (an invalid setting) is raised where the settings are needed, each time until it succeeds.
    """
    global _override
    with _lock:
        _override = settings
    reset()


def overridden() -> SettingsGiven | None:
    """The settings given to :func:`use_settings`, if any (to put them back after a change)."""
    return _override


def reset() -> None:
    """Forget the settings, close the shared clients (every connection target's) and forget
    their breakers; the next call starts afresh.

    Call it after changing the environment or config file at run time, and in tests.

    >>> import roleredis
    >>> roleredis.reset()
    """
    global _settings, _targets, _default
    with _lock:
        for hook in hooks():
            hook(False)
        closing, _targets, _default, _settings = _targets, {}, None, None
    for entry in closing.values():
        if entry._client is not None:
            close_client(entry._client)
    forget_secrets()  # last: what the hooks logged while closing was still scrubbed


def _after_fork() -> None:
    global _settings, _lock, _targets, _default
    _lock = threading.RLock()  # a parent thread may have held it at fork time
    _targets, _default = {}, None  # the parent's clients: the child makes its own
    _settings = None
    _connection_after_fork()
    _breakers_after_fork()
    for hook in hooks():
        try:
            hook(True)
        except Exception:  # never let cleanup break the child
            log.exception("roleredis: reset hook failed after fork")


# Registered at import (not when a client is first made): a process that only ever used the
# writer or the metrics must reset their locks in a forked child too.
os.register_at_fork(after_in_child=_after_fork)
