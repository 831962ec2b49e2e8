"""``@cached``: a function's results cached in the calling role's corner of Redis, safe under a
stampede, with tags, stale-while-revalidate, sliding expiry and a local tier; and
:func:`invalidate_tags`. The logic is :mod:`roleredis.core.caching`'s flows (one generator for
sync and async functions), driven here; keys are :mod:`roleredis.core.cachekeys`'; the local
tier is :mod:`roleredis.core.localtier`.

>>> from roleredis import acting_as
>>> calls = []
>>> @cached(ttl=60)
... def square(n):
...     calls.append(n)
...     return n * n
>>> with acting_as("maths"):
...     square(4), square(4), square(n=4)
(16, 16, 16)
>>> calls
[4]
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from ..core import cachekeys, caching, localtier
from ..foundation.errors import RoleRedisError
from ..table import cachestats, calls
from . import tools
from .cachecontrol import ASYNC_SKIP, SYNC_SKIP, Begun, CacheControl, Store, adrive, drive

__all__ = ["CacheControl", "ainvalidate_tags", "cache_bypass", "cached", "invalidate_tags"]

F = TypeVar("F", bound=Callable[..., Any])

_bypass: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "roleredis_cache_bypass", default=False
)


@contextlib.contextmanager
def cache_bypass() -> Iterator[None]:
    """Calls of cached functions in this block (this thread or task) neither read nor write
    the cache: the per-call opt-out (a model call that must be fresh, a tool with side
    effects this time).

    >>> with cache_bypass():
    ...     pass
    """
    token = _bypass.set(True)
    try:
        yield
    finally:
        _bypass.reset(token)


def cached(
    ttl: float = 300,
    *,
    key: Any = None,
    tags: Any = (),
    stale: float = 0,
    local: int = 0,
    sliding: bool = False,
    max_bytes: int | None = None,
) -> Callable[[F], F]:
    """Cache the decorated function's results (sync or ``async def``) for ``ttl`` seconds in
    the calling role's corner of Redis (the role of the call, resolved in the caller: ``role``
    is whoever calls, as for the tools).

    ``key``: which arguments name an entry: None (all, bound to the signature with defaults
    applied; ``self``/``cls`` left out), a sequence of parameter names (``self`` included if
    named), or a callable taking the function's arguments and returning a JSON-like value.
    ``tags``: str tags (or a callable taking the arguments and returning them) that
    :func:`invalidate_tags` drops the entry by. ``stale``: seconds an expired entry is still
    served while one caller refreshes it in the background. ``local``: keep up to that many
    entries in this process (dropped when any process changes or invalidates them).
    ``sliding``: every read renews the entry's life. ``max_bytes``: a result stored larger is
    returned but not cached.

    A result the codec cannot store exactly (a tuple, a set, NaN ...) is returned and not
    cached, with one warning per function; arguments that have no canonical form are not
    cached; exceptions never are. ``f.cache`` is its :class:`CacheControl`; ``f.uncached``
    the function itself.
    """

    def decorate(func: F) -> F:
        control = CacheControl(func, ttl, key, tags, stale, local, sliding, max_bytes)
        wrapper = _async_wrapper(control) if control.is_async else _sync_wrapper(control)
        functools.update_wrapper(wrapper, func)
        wrapper.cache = control  # type: ignore[attr-defined]
        wrapper.uncached = func  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def _sync_wrapper(control: CacheControl) -> Callable[..., Any]:
    func = control.func
    bind = control.bind
    begin = control.begin
    quick = control.quick
    quick_begin = control.quick_begin

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _bypass.get():
            return func(*args, **kwargs)
        store = tools.role_store(None, SYNC_SKIP)
        # a call seen before: its local entry or its plan by its arguments, nothing bound
        begun = quick_begin(store, args) if quick and not kwargs else None
        if begun is None:
            begun = begin(store, bind(args, kwargs), args, kwargs)
        if not isinstance(begun, Begun):
            return begun[0] if begun else func(*args, **kwargs)
        # the flow's first step sent here: a hit needs no flow (see caching.served_entry)
        fetched: list[Any] | RoleRedisError | None = None
        if begun.local is not None:
            fetched = begun.tracked()
        if fetched is None:
            try:
                fetched = store.send_batch(caching.fetch_calls(begun.plan))
            except RoleRedisError as exc:
                fetched = exc
        served = control.hit(store, begun, fetched)
        if served is None:
            flow = control.lookup(store, begun, fetched)
            served = drive(flow, store, lambda: func(*args, **kwargs))
        return control.finish(store, begun, served, args, kwargs)

    return wrapper


def _async_wrapper(control: CacheControl) -> Callable[..., Any]:
    func = control.func

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _bypass.get():
            return await func(*args, **kwargs)
        store = calls.async_store(None, skip=ASYNC_SKIP)
        begun = control.quick_begin(store, args) if control.quick and not kwargs else None
        if begun is None:
            begun = control.begin(store, control.bind(args, kwargs), args, kwargs)
        if not isinstance(begun, Begun):
            return begun[0] if begun else await func(*args, **kwargs)
        fetched: list[Any] | RoleRedisError | None = None
        if begun.local is not None and begun.local.follower.mode == "tracking":
            # a tracked read is a blocking one: in a worker thread
            fetched = await asyncio.to_thread(begun.tracked)
        if fetched is None:
            try:
                fetched = await store.send_batch(caching.fetch_calls(begun.plan))
            except RoleRedisError as exc:
                fetched = exc
        served = control.hit(store, begun, fetched)
        if served is None:
            flow = control.lookup(store, begun, fetched)
            served = await adrive(flow, store, lambda: func(*args, **kwargs))
        return control.finish(store, begun, served, args, kwargs)

    return wrapper


def _tag_keys(store: Store, tags: Iterable[Any]) -> list[str]:
    keyspace = store.scope.keyspace
    return list(dict.fromkeys(cachekeys.tag_key(keyspace, tag) for tag in tags))


def invalidate_tags(*tags: str, role: str | None = None) -> int:
    """Drop every entry of the calling role (``role=``: that role) tagged with any of ``tags``,
    in Redis and in every process's local tier; how many entries there were. Tags are the
    role's own: another role's entries are never reached.

    >>> invalidate_tags("user:42", role="maths")
    0
    """
    store = tools.role_store(role, SYNC_SKIP)
    gone, keys = store.run(caching.drop_tags(store.scope, _tag_keys(store, tags)))
    localtier.invalidated_here(store, keys)
    cachestats.count(store.role, "invalidations", len(tags))
    return gone


async def ainvalidate_tags(*tags: str, role: str | None = None) -> int:
    """:func:`invalidate_tags`, awaitable."""
    store = calls.async_store(role, skip=ASYNC_SKIP)
    gone, keys = await store.run(caching.drop_tags(store.scope, _tag_keys(store, tags)))
    localtier.invalidated_here(tools.role_store(store.role), keys)
    cachestats.count(store.role, "invalidations", len(tags))
    return gone
