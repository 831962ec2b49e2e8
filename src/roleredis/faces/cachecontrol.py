"""What :func:`~roleredis.faces.caching.cached` keeps per function: :class:`CacheControl`
(the checked options, the argument binder, plans per role, local tiers, the steps of a call
before and after its read, ``f.cache``'s invalidate / refresh), the drivers of
:mod:`roleredis.core.caching`'s flows (:func:`drive`, :func:`adrive`) and the background
refreshes of stale-while-revalidate."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
import weakref
from collections.abc import Callable, Hashable
from typing import Any

from ..core import cachekeys, caching, localtier
from ..core.store import AsyncRoleStore, RoleStore
from ..foundation import lifecycle
from ..foundation.batch import Pause
from ..foundation.errors import InvalidArgumentError, RoleRedisError
from ..foundation.keys import Keyspace
from ..table import cachestats, calls, roles
from . import tools

__all__ = ["ASYNC_SKIP", "SYNC_SKIP", "Begun", "CacheControl", "Store", "adrive", "drive"]

log = logging.getLogger("roleredis.cache")

Store = RoleStore | AsyncRoleStore

#: Frames between role_store's _resolve and the caller of a cached function, beyond the
#: tools' own count (a tool and calls.call): the wrapper alone.
SYNC_SKIP = -1
#: Frames between roles.current and the caller of a cached coroutine function: the wrapper.
ASYNC_SKIP = 1

#: Plans kept per function and role (by the canonical arguments; all dropped when full).
_PLANS_KEPT = 1024

_HOW = {
    "hit": "hits",
    "stale": "stale",
    "miss": "misses",
    "waited": "waits",
    "alone": "alone",
    "failed": "failures",
    "refreshed": "refreshes",
}


# --- background refreshes (stale-while-revalidate) -----------------------------------------

_refresh_lock = threading.Lock()
_refresher: roles.RoleExecutor | None = None
_refreshing: set[str] = set()
#: each loop's refresh tasks (kept so they are not collected mid-flight; asyncio.run cancels
#: them when it closes its loop)
_tasks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, set[asyncio.Task[Any]]] = (
    weakref.WeakKeyDictionary()
)


def _forget(forked: bool) -> None:
    global _refresher, _refresh_lock
    if forked:
        _refresh_lock = threading.Lock()
    elif _refresher is not None:
        _refresher.shutdown(wait=False, cancel_futures=True)
    _refresher = None
    _refreshing.clear()


lifecycle.on_reset(_forget)


def _background() -> roles.RoleExecutor:
    global _refresher
    with _refresh_lock:
        if _refresher is None:
            _refresher = roles.RoleExecutor(max_workers=4, thread_name_prefix="roleredis-cache")
        return _refresher


# --- the drivers of a flow ------------------------------------------------------------------


def drive(flow: caching.Flow, store: RoleStore, compute: Callable[[], Any]) -> caching.Served:
    step: Any = next(flow)
    try:
        while True:
            try:
                if type(step) is list:
                    out = store.send_batch(step)
                elif type(step) is caching.Run:
                    out = store.run(step.op)
                elif step is caching.COMPUTE:
                    out = compute()
                else:
                    time.sleep(step.wait)
                    out = None
            except BaseException as exc:
                step = flow.throw(exc)
            else:
                step = flow.send(out)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def adrive(
    flow: caching.Flow, store: AsyncRoleStore, compute: Callable[[], Any]
) -> caching.Served:
    step: Any = next(flow)
    try:
        while True:
            try:
                if type(step) is list:
                    out = await store.send_batch(step)
                elif type(step) is caching.Run:
                    out = await store.run(step.op)
                elif step is caching.COMPUTE:
                    out = await compute()
                elif type(step) is Pause:
                    await asyncio.sleep(step.wait)
                    out = None
            except BaseException as exc:
                step = flow.throw(exc)
            else:
                step = flow.send(out)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


# --- the decorator --------------------------------------------------------------------------


#: The types of defaults that never change.
_IMMUTABLE = frozenset({str, int, float, bool, bytes, type(None)})


def _plain(args: tuple[Any, ...]) -> bool:
    """Whether every one of ``args`` is exactly a str or an int (see ``LocalCache``)."""
    return all(type(arg) is str or type(arg) is int for arg in args)


def _tag_list(tags: Any, args: Any, kwargs: Any) -> list[str]:
    if callable(tags):  # called as the function was
        made = tags(*args, **kwargs)
        return [made] if isinstance(made, str) else list(made)
    return list(tags)


class Begun:
    """A call of a cached function past its local tier: its plan (key, read), its local key
    (see ``localtier.LocalCache``), the local tier and its watch's position when the call
    looked (see ``localtier.LocalCache.fill``)."""

    __slots__ = ("local", "local_key", "plan", "seen")

    def __init__(
        self,
        plan: caching.Plan,
        local_key: Hashable,
        local: localtier.LocalCache | None,
        seen: int,
    ) -> None:
        self.plan = plan
        self.local_key = local_key
        self.local = local
        self.seen = seen

    def tracked(self) -> list[Any] | None:
        """The replies of the entry's read sent on the local tier's tracking reader (changes
        after it reach this process), or None: send it the usual way (then what it finds is
        kept locally only if the watch follows the role's log)."""
        local = self.local
        if local is None or self.seen < 0:
            return None
        watch = local.follower
        if watch.mode != "tracking":
            return None
        plan = self.plan
        replies = watch.read(caching.tracked_calls(plan))
        if replies is not None:
            replies = caching.tracked_replies(plan, replies)
        if replies is None:  # no reader free, or the link broke: not tracked, not kept
            self.seen = -1
        return replies


class CacheControl:
    """What ``f.cache`` offers for a cached function ``f``: :meth:`invalidate` and
    :meth:`refresh` of one call's entry (and awaitable twins), reaching every process of the
    calling role; :meth:`key` names the entry."""

    def __init__(
        self,
        func: Callable[..., Any],
        ttl: float,
        key: Any,
        tags: Any,
        stale: float,
        local: int,
        sliding: bool,
        max_bytes: int | None,
    ) -> None:
        self.func = func
        self.ttl_ms, self.stale_ms = caching.check_life(ttl, stale)
        if isinstance(local, bool) or not isinstance(local, int) or local < 0:
            raise InvalidArgumentError(f"cached: local must be a whole number >= 0, got {local!r}")
        if max_bytes is not None and (
            isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1
        ):
            raise InvalidArgumentError(
                f"cached: max_bytes must be a whole number >= 1, got {max_bytes!r}"
            )
        if not callable(tags):
            if isinstance(tags, str):
                tags = (tags,)
            tags = tuple(tags)
            for tag in tags:
                cachekeys.tag_key(Keyspace("check"), tag)  # checked once, here
        if key is not None and not callable(key):
            if isinstance(key, str):
                key = (key,)
            key = tuple(key)
        self.key_spec = key
        self.tags = tags
        self.local = local
        self.sliding = bool(sliding)
        self.max_bytes = max_bytes
        self.signature = inspect.signature(func)
        params = list(self.signature.parameters.values())
        #: the parameters' names when all are plain (positional or keyword), else None
        self._plain: tuple[str, ...] | None = (
            tuple(p.name for p in params)
            if all(p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD for p in params)
            else None
        )
        self._defaults_of = {p.name: p.default for p in params}
        #: n -> the defaults of the parameters after the first n (None: one of them has
        #: none), for a call of n positional arguments and no keywords: bound in one update
        self._tails: tuple[dict[str, Any] | None, ...] = tuple(
            None
            if any(p.default is inspect.Parameter.empty for p in params[n:])
            else {p.name: p.default for p in params[n:]}
            for n in range(len(params) + 1)
        )
        self.func_id = cachekeys.function_id(func)
        names = list(self.signature.parameters)
        self.skip = names[0] if names and names[0] in ("self", "cls") else None
        self.is_async = inspect.iscoroutinefunction(func)
        self._warned: set[str] = set()
        #: (client id, role) -> the local cache of this function for that role
        self._locals: dict[tuple[int, str], localtier.LocalCache] = {}
        self.logged = bool(local)
        #: whether a call of positional str / int arguments may be looked up (its local entry,
        #: its plan) by those arguments, before any binding (see ``quick_begin``): they name
        #: its entry every time unless a callable ``key=`` names it or a default may change
        #: (a list default appended to), and its plan unless a callable makes its tags
        self.quick = (
            not callable(key)
            and not callable(tags)
            and all(p.default is p.empty or type(p.default) in _IMMUTABLE for p in params)
        )
        #: the store of the last local look-up and its local tier
        self._last: tuple[Any, localtier.LocalCache | None] = (None, None)
        #: role -> (the scope it was made for, the entry_namer of this function in it, the
        #: plans made for it by material, and by the arguments of quick calls)
        self._named: dict[
            str, tuple[Any, Callable[[bytes], str], dict[Hashable, caching.Plan]]
        ] = {}

    # the parts of one call ----------------------------------------------------------------

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments by name, defaults applied, in the signature's order (what
        ``Signature.bind`` + ``apply_defaults`` give; for a signature of plain parameters,
        made directly, at a fifth of the cost; anything unusual goes through ``bind``)."""
        plain = self._plain
        if plain is not None and len(args) <= len(plain):
            if not kwargs:  # the usual call: positional arguments, then the defaults
                tail = self._tails[len(args)]
                if tail is not None:
                    arguments = dict(zip(plain, args, strict=False))
                    arguments.update(tail)
                    return arguments
            arguments = dict(zip(plain, args, strict=False))  # the first len(args) names
            if kwargs:
                for name, value in kwargs.items():
                    if name in arguments or name not in self._defaults_of:
                        break  # a duplicate or unknown name: bind says what is wrong
                    arguments[name] = value
                else:
                    kwargs = {}
            if not kwargs:
                if len(arguments) < len(plain):
                    defaults = self._defaults_of
                    for name in plain:
                        if name not in arguments:
                            value = defaults[name]
                            if value is inspect.Parameter.empty:
                                break  # missing: bind says so
                            arguments[name] = value
                    else:
                        return {name: arguments[name] for name in plain}
                else:
                    return arguments
        bound = self.signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return bound.arguments

    def material(self, arguments: dict[str, Any], args: Any, kwargs: Any) -> bytes:
        """The canonical bytes naming the call (Uncanonical: it is not cached)."""
        spec = self.key_spec
        if spec is None:
            if self.skip is not None:
                arguments = {k: v for k, v in arguments.items() if k != self.skip}
            return cachekeys.canonical_arguments(arguments)
        if callable(spec):
            return cachekeys.canonical(spec(*args, **kwargs))  # called as the function was
        return cachekeys.canonical_arguments({name: arguments[name] for name in spec})

    def plan(self, store: Store, material: bytes, args: Any, kwargs: Any) -> caching.Plan:
        """The plan of the call named by ``material``; without tags made by a callable, a
        pure function of the role's scope and ``material``, so kept (the hit path then hashes
        nothing and makes no object)."""
        scope = store.scope
        named = self._named.get(scope.role)
        if named is None or named[0] is not scope:  # a store of new settings: named again
            named = self._named[scope.role] = (
                scope,
                cachekeys.entry_namer(scope.keyspace, self.func_id),
                {},
            )
        if not callable(self.tags):
            plans = named[2]
            known = plans.get(material)
            if known is None:
                if len(plans) >= _PLANS_KEPT:
                    plans.clear()
                known = plans[material] = self._new_plan(scope.keyspace, named[1](material))
            if self.quick and not kwargs and _plain(args):
                plans[args] = known  # for quick_begin
            return known
        key = named[1](material)
        keyspace = scope.keyspace
        tags = tuple(cachekeys.tag_key(keyspace, t) for t in _tag_list(self.tags, args, kwargs))
        return caching.Plan(
            key, self.ttl_ms, self.stale_ms, tags, self.sliding, self.logged, self.max_bytes
        )

    def _new_plan(self, keyspace: Keyspace, key: str) -> caching.Plan:
        return caching.Plan(
            key,
            self.ttl_ms,
            self.stale_ms,
            tuple(cachekeys.tag_key(keyspace, tag) for tag in self.tags),
            self.sliding,
            self.logged,
            self.max_bytes,
        )

    def wait(self, store: Store) -> float:
        return max(store.settings.cache.wait, 0.01)

    def warn_once(self, what: str, why: str) -> None:
        if what not in self._warned:
            self._warned.add(what)
            log.warning("cached %s: %s", self.func_id, why)

    def local_cache(self, store: Store) -> localtier.LocalCache:
        """This function's local tier for the store's role (made, with the role's watch, on
        first use; made again when the watch stopped: a tracker the server refused is
        followed by a follower of the log)."""
        sync = store if isinstance(store, RoleStore) else tools.role_store(store.role)
        slot = (id(sync.client), sync.role)
        found = self._locals.get(slot)
        if found is None or found.follower.stopped:
            found = self._locals[slot] = localtier.LocalCache(
                self.local, localtier.follower_for(sync)
            )
        # a stopped watch has emptied its caches and never fills them again: a local hit may
        # look in the last store's tier without this check (a miss checks: quick_begin)
        self._last = (store, found)
        return found

    def begin(
        self, store: Store, arguments: dict[str, Any], args: Any, kwargs: Any
    ) -> Begun | tuple[Any, ...]:
        """A call up to its read from Redis (the same for sync and async functions):
        ``(value,)`` for a local hit; ``()`` when its arguments cannot name an entry (warned
        once: the function is called uncached); else what the read and the rest need."""
        try:
            material = self.material(arguments, args, kwargs)
        except cachekeys.Uncanonical as exc:
            self.warn_once("uncanonical", f"a call was not cached: its arguments hold {exc}")
            return ()
        local = None
        seen = -1
        local_key: Hashable = material
        if self.local:
            local = self.local_cache(store)
            if self.quick and not kwargs and _plain(args):
                local_key = args
            hit = local.get(material)
            if hit is not None:
                cachestats.count(store.role, "local_hits")
                return (hit[0],)
            seen = local.follower.seen()
        return Begun(self.plan(store, material, args, kwargs), local_key, local, seen)

    def quick_begin(self, store: Store, args: tuple[Any, ...]) -> Begun | tuple[Any, ...] | None:
        """``begin`` for a call of positional arguments ``args`` (no keywords) that are all
        str or int, without binding them: the local entry (a tuple, its value first) or a
        ``Begun`` with the plan this call was given before (both looked up by ``args``
        itself); None for anything else (then ``begin`` binds and looks). Only for a function
        with ``quick`` set."""
        for arg in args:
            kind = type(arg)
            if kind is not str and kind is not int:
                return None
        local = None
        seen = -1
        if self.local:
            last = self._last
            local = last[1] if last[0] is store else self.local_cache(store)
            found = local.get(args)  # type: ignore[union-attr]
            if found is not None:
                cachestats.count(store.role, "local_hits")
                return found
            if local.follower.stopped:  # type: ignore[union-attr]
                local = self.local_cache(store)  # (a stopped watch's tier is empty)
            seen = local.follower.seen()  # type: ignore[union-attr]
        scope = store.scope
        named = self._named.get(scope.role)
        if named is None or named[0] is not scope:
            return None
        plan = named[2].get(args)
        return None if plan is None else Begun(plan, args, local, seen)

    @staticmethod
    def hit(store: Store, begun: Begun, fetched: list[Any] | RoleRedisError) -> Any:
        """The entry the read found fresh (a ``caching.Served``), or None: the flow goes on."""
        if type(fetched) is not list:
            return None
        return caching.served_entry(store.scope, begun.plan, fetched)

    def lookup(
        self, store: Store, begun: Begun, fetched: list[Any] | RoleRedisError
    ) -> caching.Flow:
        """The rest of a call whose read found no fresh entry (or failed)."""
        return caching.lookup(store.scope, begun.plan, self.wait(store), fetched)

    def finish(
        self, store: Store, begun: Begun, served: caching.Served, args: Any, kwargs: Any
    ) -> Any:
        """Count and keep what was served, start a refresh it calls for; its value."""
        self.served(store, served, begun.local_key, begun.plan, begun.local, begun.seen)
        if served.refresh:
            self.refresh_later(store, begun.plan, args, kwargs)
        return served.value

    def served(
        self,
        store: Store,
        served: caching.Served,
        local_key: Hashable,
        plan: caching.Plan,
        local: localtier.LocalCache | None,
        seen: int,
    ) -> None:
        role = store.scope.keyspace.role
        how = served.how
        cachestats.count(role, _HOW.get(how, how))
        if served.unstored is not None:
            cachestats.count(role, "unstored")
            self.warn_once("unstored", f"a result was returned but not cached ({served.unstored})")
        if local is not None and served.fresh_for > 0:
            local.fill(local_key, plan.key, served.value, served.fresh_for, seen)

    def refresh_later(self, store: Store, plan: caching.Plan, args: Any, kwargs: Any) -> None:
        """Start a background refresh of a stale entry (one per entry per process at once)."""
        if plan.key in _refreshing:
            return
        _refreshing.add(plan.key)
        if isinstance(store, AsyncRoleStore):
            loop = asyncio.get_running_loop()
            task = loop.create_task(self._arefresh(store, plan, args, kwargs))
            kept = _tasks.setdefault(loop, set())
            kept.add(task)
            task.add_done_callback(kept.discard)
        else:
            _background().submit(self._refresh, store, plan, args, kwargs)

    def _refresh(self, store: RoleStore, plan: caching.Plan, args: Any, kwargs: Any) -> None:
        try:
            flow = caching.refresh(store.scope, plan, self.wait(store))
            served = drive(flow, store, lambda: self.func(*args, **kwargs))
            if served.how != "held":
                cachestats.count(store.role, "refreshes")
        except Exception as exc:  # a refresh's failure is the next caller's to see
            log.warning("cached %s: a background refresh failed: %r", self.func_id, exc)
        finally:
            _refreshing.discard(plan.key)

    async def _arefresh(
        self, store: AsyncRoleStore, plan: caching.Plan, args: Any, kwargs: Any
    ) -> None:
        try:
            flow = caching.refresh(store.scope, plan, self.wait(store))
            served = await adrive(flow, store, lambda: self.func(*args, **kwargs))
            if served.how != "held":
                cachestats.count(store.role, "refreshes")
        except Exception as exc:
            log.warning("cached %s: a background refresh failed: %r", self.func_id, exc)
        finally:
            _refreshing.discard(plan.key)

    # what f.cache offers -----------------------------------------------------------------

    def _planned(self, store: Store, args: Any, kwargs: Any) -> caching.Plan:
        arguments = self.bind(args, kwargs)
        try:
            material = self.material(arguments, args, kwargs)
        except cachekeys.Uncanonical as exc:
            raise InvalidArgumentError(f"these arguments are never cached ({exc})") from None
        return self.plan(store, material, args, kwargs)

    def key(self, *args: Any, **kwargs: Any) -> str:
        """The Redis key of the entry of this call for the calling role."""
        return self._planned(tools.role_store(None, SYNC_SKIP), args, kwargs).key

    def invalidate(self, *args: Any, **kwargs: Any) -> bool:
        """Drop the entry of this call, in Redis and in every process's local tier; whether
        there was one."""
        store = tools.role_store(None, SYNC_SKIP)
        plan = self._planned(store, args, kwargs)
        gone = store.run(caching.drop(store.scope, [plan.key]))
        self._dropped_here(store, [plan.key])
        return bool(gone)

    async def ainvalidate(self, *args: Any, **kwargs: Any) -> bool:
        """:meth:`invalidate`, awaitable."""
        store = calls.async_store(None, skip=ASYNC_SKIP)
        plan = self._planned(store, args, kwargs)
        gone = await store.run(caching.drop(store.scope, [plan.key]))
        self._dropped_here(store, [plan.key])
        return bool(gone)

    def refresh(self, *args: Any, **kwargs: Any) -> Any:
        """Compute this call's result now, store it (every process's local tier drops the
        old one) and return it."""
        store = tools.role_store(None, SYNC_SKIP)
        plan = self._planned(store, args, kwargs)
        flow = caching.refresh(store.scope, plan, self.wait(store), force=True)
        served = drive(flow, store, lambda: self.func(*args, **kwargs))
        self._dropped_here(store, [plan.key])
        self.served(store, served, b"", plan, None, -1)
        return served.value

    async def arefresh(self, *args: Any, **kwargs: Any) -> Any:
        """:meth:`refresh`, awaitable (for a coroutine function)."""
        store = calls.async_store(None, skip=ASYNC_SKIP)
        plan = self._planned(store, args, kwargs)
        flow = caching.refresh(store.scope, plan, self.wait(store), force=True)
        served = await adrive(flow, store, lambda: self.func(*args, **kwargs))
        self._dropped_here(store, [plan.key])
        self.served(store, served, b"", plan, None, -1)
        return served.value

    def _dropped_here(self, store: Store, keys: list[str]) -> None:
        """This process sees its own invalidation at once (others through the log)."""
        cachestats.count(store.role, "invalidations", len(keys))
        if self.local:
            self.local_cache(store).follower.invalidated(keys)
