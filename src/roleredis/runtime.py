"""The process-wide defaults: settings loaded once, one shared sync client, and reset.

Nothing here runs at import but one registration with ``os.register_at_fork``: settings are
read and the client is made on first use. In a forked child every lock and per-process object of
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

from .breaker import Breaker
from .breaker import after_fork as _breakers_after_fork
from .config import Settings, load_settings
from .connection import after_fork as _connection_after_fork
from .connection import build_client, close_client
from .errors import DisabledError, forget_secrets, register_secrets
from .executor import after_fork as _executor_after_fork

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
    "use_settings",
]

log = logging.getLogger("roleredis.runtime")

_lock = threading.RLock()
_settings: Settings | None = None
#: Settings given to use_settings(), or a function that loads them on first use.
SettingsGiven = Settings | Callable[[], Settings]
_override: SettingsGiven | None = None
_breaker: Breaker | None = None  # set by use_settings(): wins over environment and file
_client: Any = None
_hooks: list[Callable[[bool], None]] = []


def enabled_settings(given: Settings | None = None) -> Settings:
    """``given`` (default: the process's settings), or DisabledError if Redis is disabled."""
    current = given if given is not None else settings()
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


def sync_client() -> Any:
    """The shared sync redis-py client (made on first use; opens no connection by itself)."""
    global _client
    client = _client
    if client is None:
        with _lock:
            if _client is None:
                _client = build_client(settings())
            client = _client
    return client


def breaker() -> Breaker:
    """The process's circuit breaker for the configured server (made on first use)."""
    global _breaker
    current = _breaker
    if current is None:
        with _lock:
            if _breaker is None:
                s = settings()
                _breaker = Breaker(s.breaker_failures, s.breaker_cooldown)
            current = _breaker
    return current


def current_client() -> Any:
    """The shared sync client if it has been made, else None (never makes one)."""
    return _client


def on_reset(hook: Callable[[bool], None]) -> None:
    """Call ``hook(forked)`` on :func:`reset` (False) and in a forked child (True)."""
    _hooks.append(hook)


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
    """Forget the settings and close the shared clients; the next call starts afresh.

    Call it after changing the environment or config file at run time, and in tests.

    >>> import roleredis
    >>> roleredis.reset()
    """
    global _settings, _client, _breaker
    with _lock:
        for hook in list(_hooks):
            hook(False)
        client, _client, _settings, _breaker = _client, None, None, None
    if client is not None:
        close_client(client)
    forget_secrets()  # last: what the hooks logged while closing was still scrubbed


def _after_fork() -> None:
    global _settings, _client, _lock, _breaker
    _lock = threading.RLock()  # a parent thread may have held it at fork time
    _client = None
    _settings = None
    _breaker = None
    _connection_after_fork()
    _breakers_after_fork()
    _executor_after_fork()
    for hook in list(_hooks):
        try:
            hook(True)
        except Exception:  # never let cleanup break the child
            log.exception("roleredis: reset hook failed after fork")


# Registered at import (not when a client is first made): a process that only ever used the
# writer or the metrics must reset their locks in a forked child too.
os.register_at_fork(after_in_child=_after_fork)
