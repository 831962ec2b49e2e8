"""Who is calling: the role whose namespace an operation works in.

In this order: an explicit ``role=``; ``with acting_as("weather"):``; the ``ROLEREDIS_ROLE``
environment variable (read with the other settings: on first use and after ``reset()``); the
nearest calling frame whose file lies under ``roles/<name>/`` (but not
``roles/shared_tools/``); else the configured default role (``unknown``), with one warning.

Detection runs in the caller's thread, at call time, and costs about a microsecond once warm: it
looks only at code objects (cached), never at frame locals and never through ``inspect.stack()``.

Threads: a ``ThreadPoolExecutor`` worker does not see the ``acting_as`` of the code that submitted
to it (Python copies no context variables into pool workers; ``asyncio.to_thread`` does, and
``loop.run_in_executor`` does not). :class:`RoleExecutor` (a ``ThreadPoolExecutor`` that runs
each task in a copy of the submitter's context) and :func:`carry_role` (wraps one function) carry
the calling role across, and the role of a submitter under ``roles/<name>/`` too.

>>> with acting_as("weather"):
...     current()
'weather'
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from ..foundation.config import Settings
from ..foundation.keys import validate_role

__all__ = ["RoleExecutor", "acting_as", "carry_role", "current", "role_from_path"]

log = logging.getLogger("roleredis.roles")

_acting: contextvars.ContextVar[str | None] = contextvars.ContextVar("roleredis_role", default=None)
# the role of the roles/<name>/ frames that handed work to another thread (RoleExecutor,
# carry_role): that thread's own frames come first, as the frames nearer the call would in one
_handed: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "roleredis_handed_role", default=None
)
_SEPARATORS = re.compile(r"[\\/]")
_NOT_ROLES = frozenset({"shared_tools", "__pycache__"})
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
# the packaged demo's roles are roles like any other (roleredis's own files never are)
_DEMO_ROLES = os.path.join(_PACKAGE_DIR, "demo", "roles") + os.sep
_MAX_DEPTH = 200
# source file name -> its role, or "" when the file is not under roles/<name>/. The role depends
# on the file name alone, so this is exact (code objects would not do as keys: they compare
# equal across files when their code is the same) and a str key's hash is cached.
_by_file: dict[str, str] = {}
_MAX_FILES = 100_000
_warned_default = False
#: True inside :func:`without_default_warning`: a call that is no role's data access
_unwarned: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "roleredis_unwarned", default=False
)

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")


def role_from_path(filename: str) -> str:
    """The role a source file belongs to, or "" if it is not under ``roles/<name>/``.

    >>> role_from_path("/app/roles/weather/lifecycle.py")
    'weather'
    >>> role_from_path("/app/roles/shared_tools/redis_tools.py")
    ''
    """
    if filename.startswith(_PACKAGE_DIR) and not filename.startswith(_DEMO_ROLES):
        return ""
    # the innermost roles/<name>/ wins: roles/weather/vendor/roles/timer/x.py is timer's
    parts = _SEPARATORS.split(filename)
    at = len(parts) - 3  # "roles", a name, and at least the file itself after them
    while at >= 0 and parts[at] != "roles":
        at -= 1
    if at < 0:
        return ""
    name = parts[at + 1]
    if name in _NOT_ROLES:
        return ""
    try:
        return validate_role(name)
    except ValueError:
        log.warning("directory roles/%s/ is not a valid role name; ignoring it", name[:80])
        return ""


def _from_frames(skip: int = 2) -> str:
    """The role of the nearest frame, from ``skip`` frames above this function, whose file is
    under ``roles/<name>/``; "" if none (a few tenths of a microsecond per frame walked)."""
    frame: Any = sys._getframe(skip)
    get = _by_file.get
    for _ in range(_MAX_DEPTH):
        if frame is None:
            return ""
        filename = frame.f_code.co_filename
        role = get(filename)
        if role is None:
            role = role_from_path(filename)
            if len(_by_file) < _MAX_FILES:
                _by_file[filename] = role
        if role:
            return role
        frame = frame.f_back
    return ""


def _process_settings() -> Settings:
    """runtime.settings(), bound on first use (runtime imports this module: no import cycle at
    load, and no import statement on every call, which costs more than the whole lookup)."""
    global _process_settings
    from ..runtime import settings

    _process_settings = settings
    return settings()


def current(explicit: str | None = None, settings: Settings | None = None, skip: int = 0) -> str:
    """The role for a call made now, from this thread; raises InvalidArgumentError if invalid.

    ``settings`` (default: the process-wide ones) supply ROLEREDIS_ROLE and the default role.
    ``skip``: frames above the caller's that are the library's own, not looked at (the path
    walk starts at the user's frame: each frame walked costs a few tenths of a microsecond).

    >>> current("timer")
    'timer'
    """
    if explicit is not None:
        return validate_role(explicit)
    acting = _acting.get()
    if acting is not None:
        return acting
    if settings is None:
        settings = _process_settings()
    if settings.role is not None:
        return settings.role
    found = _from_frames(2 + skip) or _handed.get()
    if found:
        return found
    global _warned_default
    if not _warned_default and not _unwarned.get():
        _warned_default = True
        log.warning(
            "no role given or detected; using the default role %r. Pass role=, use "
            "acting_as(), set ROLEREDIS_ROLE, or call from a file under roles/<name>/. In a "
            "thread pool, acting_as() does not reach the workers: use roleredis.RoleExecutor "
            "or roleredis.carry_role(fn)",
            settings.default_role,
        )
    return settings.default_role


class acting_as:
    """Make ``role`` the calling role inside a ``with`` block or a decorated function.

    A context variable: asyncio tasks and ``asyncio.to_thread`` inherit it; threads and
    ``ThreadPoolExecutor`` workers (``loop.run_in_executor`` included) do not: submit to a
    :class:`RoleExecutor`, or wrap the function in :func:`carry_role`.

    >>> @acting_as("timer")
    ... def tick():
    ...     return current()
    >>> tick()
    'timer'
    """

    def __init__(self, role: str) -> None:
        self.role = validate_role(role)
        self._tokens: list[contextvars.Token[str | None]] = []

    def __enter__(self) -> str:
        self._tokens.append(_acting.set(self.role))
        return self.role

    def __exit__(self, *exc: object) -> None:
        _acting.reset(self._tokens.pop())

    def __call__(self, func: F) -> F:
        role = self.role
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with _scoped(role):
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _scoped(role):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def carry_role(func: Callable[P, R]) -> Callable[P, R]:
    """``func``, run as the role calling ``carry_role`` now, in whatever thread calls it.

    Carries the ``acting_as`` role, and the role of the caller's ``roles/<name>/`` file (the
    worker's own frames still come first, as they would in one thread). The wrapper holds the
    role alone, not a context: many threads may run it at once (``pool.map``).

    >>> from concurrent.futures import ThreadPoolExecutor
    >>> with ThreadPoolExecutor() as pool, acting_as("worker"):
    ...     pool.submit(carry_role(current)).result()
    'worker'
    """
    acting = _acting.get()
    handed = _from_frames(2) or _handed.get()
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            with _carried(acting, handed):
                return await func(*args, **kwargs)

        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with _carried(acting, handed):
            return func(*args, **kwargs)

    return wrapper


class RoleExecutor(ThreadPoolExecutor):
    """A ``ThreadPoolExecutor`` whose tasks run as the role that submitted them.

    Each task runs in its own copy of the submitter's context (``contextvars.copy_context()``,
    as ``asyncio.to_thread`` does; one copy per task, since a context cannot be entered by two
    threads at once), so ``acting_as`` reaches it, and so does the role of a submitter under
    ``roles/<name>/``. ``map``, ``loop.run_in_executor(executor, ...)`` and
    ``loop.set_default_executor(RoleExecutor())`` go through ``submit`` and carry it too.

    >>> with RoleExecutor(max_workers=2) as pool, acting_as("worker"):
    ...     list(pool.map(lambda _: current(), range(3)))
    ['worker', 'worker', 'worker']
    """

    def submit(self, fn: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> Future[R]:
        context = contextvars.copy_context()
        handed = _from_frames(2) or _handed.get()
        if handed:
            context.run(_handed.set, handed)

        def task() -> R:
            return context.run(fn, *args, **kwargs)

        return super().submit(task)


@contextmanager
def _carried(acting: str | None, handed: str | None) -> Iterator[None]:
    """The carried roles, for the time of one call (a role not carried leaves the thread's)."""
    tokens = [(var, var.set(role)) for var, role in ((_acting, acting), (_handed, handed)) if role]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


@contextmanager
def _scoped(role: str) -> Iterator[None]:
    token = _acting.set(role)
    try:
        yield
    finally:
        _acting.reset(token)


@contextmanager
def without_default_warning() -> Iterator[None]:
    """Resolve roles inside without the default-role warning: for a call that touches no
    role's data (a health check's probe keys), falling back to the default role is no mistake
    worth a warning. The warning stays due for the next call that is a role's data access."""
    token = _unwarned.set(True)
    try:
        yield
    finally:
        _unwarned.reset(token)


def forget_warning(forked: bool = False) -> None:
    """Let the default-role warning be logged once more (after ``roleredis.reset()``)."""
    global _warned_default
    _warned_default = False


def _reset_for_tests() -> None:
    forget_warning()
    _by_file.clear()
