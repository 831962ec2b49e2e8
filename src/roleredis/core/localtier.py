"""The local tier of the cache: up to N entries of a cached function in process memory (LRU,
:class:`LocalCache`), dropped when any process changes or invalidates them.

Each role's local caches in a process share one :class:`Watch`, which learns of changes in
one of two ways:

- :class:`Tracker` (a real server: standalone, Sentinel, Cluster): the entry's read that may
  fill the tier is sent on a tracking reader, and the server tells this process's listener
  when the key changes, whoever changed it (CLIENT TRACKING in the default mode, REDIRECT to
  a connection subscribed to ``__redis__:invalidate``: :mod:`roleredis.transport.tracking`);
  in a Cluster on the node of the role's slot (every entry of a role is an internal key of
  the role, in its slot, in either key layout);
- :class:`Follower` (the embedded backend, stand-ins, or a server or user that refuses
  CLIENT TRACKING, as a role's ACL user does unless ``acl provision --tracking`` granted it):
  a thread that follows the role's cache invalidation log (:func:`roleredis.core.caching.
  follow`, XREAD BLOCK on a stream every write and invalidation of a function with a local
  tier appends to, in the same round trip) and drops what it names. The log is an internal
  key of the role, readable by its user alone.

What keeps the tier true:

- nothing is kept while the watch is not *live*: live from when it follows changes (the
  listener subscribed; the log's newest id known) until it cannot (a connection of the
  tracking link dropped, a read of the log failed, the server went away, a Sentinel failover
  killed the connections): then every local cache of the role is emptied, and kept empty
  until changes are followed again;
- a read racing an invalidation never leaves a stale entry: a caller notes the watch's
  ``epoch`` before it reads the entry from Redis, and keeps the value only if the epoch is
  the same afterwards (every batch of invalidations and every drop raises it), under the
  watch's lock, which is held while it drops. An invalidation of a change made after the
  read reaches the listener either before the caller keeps the value (the epoch moved: not
  kept) or after (then it drops it);
- an entry is kept no longer than it is fresh in Redis.

A forked child starts with no watch and empty local caches.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import redis
import redis.exceptions as rex

from ..foundation import lifecycle
from ..foundation.errors import RoleRedisError
from ..transport import tracking
from ..transport.cluster import ClusterClient, slot_of
from . import cachekeys, caching

if TYPE_CHECKING:
    from .store import RoleStore

__all__ = [
    "Follower",
    "LocalCache",
    "Tracker",
    "Watch",
    "can_track",
    "follower_for",
    "invalidated_here",
]

log = logging.getLogger("roleredis.cache")

#: How long one read of the log waits on the server for an invalidation (it returns at once
#: when one comes), milliseconds; a stopped follower ends within it.
BLOCK_MS = 1000
#: Seconds between tries after the log could not be read.
RETRY = (0.05, 0.2, 0.5, 1.0, 2.0)
#: Seconds a stopping follower is waited for.
WAKE_JOIN = 2.0


class LocalCache:
    """One function's entries in this process, for one role: local key -> (value, entry key,
    monotonic time until which it is fresh), at most ``size``, least recently used first out.

    A local key is the call's canonical arguments (bytes), or, for a call of positional
    arguments that are all str or int (no bool, no subclass: ``1``, ``True`` and ``1.0`` are
    equal as tuple members, so they never make a local key), the tuple of those arguments
    itself, which names the same entry every time (the decorator looks that up before it binds
    anything: see ``CacheControl.local_hit``). One entry may be kept under both."""

    __slots__ = ("__weakref__", "_by_key", "entries", "follower", "size")

    def __init__(self, size: int, follower: Watch) -> None:
        self.size = size
        self.follower = follower
        self.entries: collections.OrderedDict[Hashable, tuple[Any, str, float]] = (
            collections.OrderedDict()
        )
        #: entry key -> its local keys
        self._by_key: dict[str, list[Hashable]] = {}
        follower.attach(self)

    def get(self, args: Hashable) -> tuple[Any, str, float] | None:
        """The fresh local entry of ``args``, or None (no lock: a dict look-up)."""
        found = self.entries.get(args)
        if found is None:
            return None
        if found[2] <= time.monotonic():
            with self.follower.lock:
                self.drop_keys((found[1],))
            return None
        try:
            self.entries.move_to_end(args)
        except KeyError:  # dropped meanwhile by the follower
            return None
        return found

    def fill(self, args: Hashable, key: str, value: Any, fresh_for: float, seen: int) -> bool:
        """Keep ``value`` for ``fresh_for`` seconds under the local key ``args`` if no
        invalidation came since the epoch ``seen`` (noted before the entry was read) and the
        watch is live."""
        follower = self.follower
        with follower.lock:
            if seen < 0 or follower.epoch != seen:
                return False
            entries = self.entries
            entries[args] = (value, key, time.monotonic() + fresh_for)
            entries.move_to_end(args)
            named = self._by_key.setdefault(key, [])
            if args not in named:
                named.append(args)
            while len(entries) > self.size:
                gone, (_, old, _) = entries.popitem(last=False)
                left = self._by_key.get(old)
                if left is not None:
                    left.remove(gone)
                    if not left:
                        del self._by_key[old]
        return True

    def drop_keys(self, keys: Any) -> None:
        """Forget the entries of these entry keys (the caller holds the watch's lock)."""
        by_key, entries = self._by_key, self.entries
        for key in keys:
            for args in by_key.pop(key, ()):
                entries.pop(args, None)

    def clear(self) -> None:
        self.entries.clear()
        self._by_key.clear()


class Watch:
    """What keeps one role's local caches in this process true, whichever way it learns of
    changes (:class:`Tracker`, :class:`Follower`): the caches, the lock and the epoch (see the
    module's docstring)."""

    #: how it learns of changes (health and tests say so)
    mode = ""

    def __init__(self, store: RoleStore) -> None:
        self.store = store
        self.lock = threading.Lock()
        #: raised by every batch of invalidations and every drop of the tier
        self.epoch = 0
        self.live = False
        self.stopped = False
        self.drops = 0  # times the tier was emptied because changes could not be followed
        self._caches: weakref.WeakSet[LocalCache] = weakref.WeakSet()
        self._thread = threading.Thread(
            target=self._follow, name=f"roleredis-cache-{store.role}", daemon=True
        )

    def attach(self, cache: LocalCache) -> None:
        with self.lock:
            self._caches.add(cache)

    def seen(self) -> int:
        """The epoch to note before reading an entry from Redis; -1 while not live (then
        nothing read may be kept)."""
        return self.epoch if self.live else -1

    def read(self, reads: list[Any]) -> list[Any] | None:
        """The replies of ``reads`` (an entry's read) sent so that changes after it are seen,
        or None: send them the usual way (a follower of the log needs nothing more)."""
        return None

    def invalidated(self, keys: Any) -> None:
        """Drop ``keys`` from every local cache of the role (and raise the epoch)."""
        with self.lock:
            self.epoch += 1
            for cache in list(self._caches):
                cache.drop_keys(keys)

    def emptied(self, *, live: bool = False) -> None:
        """Every local cache of the role emptied (the epoch raised); not live unless ``live``
        (a flush of the database, seen: changes are still followed)."""
        with self.lock:
            self.live = self.live and live
            self.epoch += 1
            if not live:
                self.drops += 1
            for cache in list(self._caches):
                cache.clear()

    def _follow(self) -> None:
        raise NotImplementedError

    def _warn(self, what: str, exc: BaseException) -> None:
        log.warning(
            "cache of role %s: %s (%s): the local tier is emptied and kept empty until it can "
            "be again",
            self.store.role,
            what,
            exc,
        )

    def stop(self) -> None:
        self.stopped = True
        self.emptied()


class Tracker(Watch):
    """Server-assisted: the role's entries are read on tracking readers and the server tells
    this process's listener when one changes (:class:`~roleredis.transport.tracking.
    TrackingLink`, default mode, on the node of the role's slot). ``refused``: why the server
    or the role's user cannot track (then the role's tier follows the log instead)."""

    mode = "tracking"

    def __init__(self, store: RoleStore) -> None:
        super().__init__(store)
        self.link: tracking.TrackingLink | None = None
        self.refused: str | None = None
        self._thread.start()

    def node(self) -> Any:
        """The client of the server the role's entries are on (in a Cluster: the node of the
        role's slot)."""
        client = self.store.client
        if isinstance(client, ClusterClient):  # every entry of a role is in its slot
            return client.for_slot(slot_of(cachekeys.log_key(self.store.scope.keyspace)))
        return client

    def read(self, reads: list[Any]) -> list[Any] | None:
        link = self.link
        if link is None or not self.live:
            return None
        try:
            return link.read(reads)
        except tracking.LinkBroken as exc:
            self._broken(link, exc)
            return None

    def _broken(self, link: tracking.TrackingLink, exc: BaseException) -> None:
        with self.lock:
            if self.link is not link:
                return
            self.link = None
        self.emptied()
        link.close()  # the listener's thread sees it and makes a new link
        log.info("cache of role %s: tracking link lost (%s)", self.store.role, exc)

    def _follow(self) -> None:
        failures = 0
        while not self.stopped:
            link = tracking.TrackingLink(self.node)
            try:
                try:
                    link.open()
                except tracking.LinkBroken:
                    raise
                except rex.ResponseError as exc:  # NOPERM, or no CLIENT TRACKING (Redis < 6)
                    self.refused = str(exc)
                    self.stopped = True
                    # info, not a warning: a role's ACL user is refused unless provisioned
                    # with --tracking, and the log keeps the tier as true
                    log.info(
                        "cache of role %s: the server refused client tracking (%s): the local "
                        "tier follows the role's invalidation log instead",
                        self.store.role,
                        exc,
                    )
                    break
                with self.lock:
                    self.link = link
                    self.epoch += 1
                    self.live = not self.stopped
                failures = 0
                self._listen(link)
            except (OSError, rex.RedisError) as exc:
                if self.stopped:
                    break
                self._forget(link)
                if not failures:
                    self._warn("its invalidation connection could not be kept", exc)
                if isinstance(self.store.client, ClusterClient):
                    self.store.client.stale = True  # the slot may have moved: ask again
                time.sleep(RETRY[min(failures, len(RETRY) - 1)])
                failures += 1
            except Exception:  # never a silent dead listener with a tier still trusted
                log.exception("cache of role %s: the invalidation listener failed", self.store.role)
                self.stopped = True
            finally:
                self._forget(link)
        self.emptied()

    def _forget(self, link: tracking.TrackingLink) -> None:
        with self.lock:
            if self.link is link:
                self.link = None
                self.live = False
        if not link.closed:
            self.emptied()
            link.close()

    def _listen(self, link: tracking.TrackingLink) -> None:
        while not self.stopped:
            got = link.listen()
            if got is None:
                link.check_readers()
            elif got is tracking.FLUSHED:
                self.emptied(live=True)
            else:
                self.invalidated([k.decode("utf-8", "surrogateescape") for k in got])  # type: ignore[attr-defined]

    def stop(self) -> None:
        super().stop()
        link = self.link
        if link is not None:
            link.close()
        if self._thread.is_alive():
            self._thread.join(WAKE_JOIN)


class Follower(Watch):
    """The thread that follows one role's cache invalidation log for this process's local
    caches of that role (see the module's docstring)."""

    mode = "log"

    def __init__(self, store: RoleStore) -> None:
        super().__init__(store)
        self._thread.start()

    def _follow(self) -> None:
        store = self.store
        after: str | None = None
        failures = 0
        while not self.stopped:
            try:
                if after is None:
                    after = store.run(caching.newest(store.scope))
                    with self.lock:
                        self.epoch += 1
                        self.live = True
                after, keys = store.run(caching.follow(store.scope, after, BLOCK_MS))
                if keys:
                    self.invalidated(keys)
                failures = 0
            except RoleRedisError as exc:
                if self.stopped:
                    break
                self.emptied()
                after = None
                if not failures:
                    self._warn("its invalidation log could not be read", exc)
                time.sleep(RETRY[min(failures, len(RETRY) - 1)])
                failures += 1
            except Exception:  # never a silent dead follower with a tier still trusted
                log.exception("cache of role %s: the invalidation follower failed", store.role)
                self.emptied()
                self.stopped = True
        with self.lock:
            self.live = False

    def stop(self) -> None:
        """Stop following, and wait (briefly) for the thread to end before the client closes:
        an entry without keys appended to the log ends its blocked read at once."""
        super().stop()
        if not self._thread.is_alive():
            return
        with contextlib.suppress(RoleRedisError):  # gone: the read ends with the client
            self.store.run(caching.wake(self.store.scope))
        self._thread.join(WAKE_JOIN)


_lock = threading.Lock()
_followers: dict[tuple[int, str], Watch] = {}
#: (client id, role) whose server or user refused tracking: their tiers follow the log
_refused: set[tuple[int, str]] = set()


def can_track(store: RoleStore) -> bool:
    """Whether ``store``'s client is a real server's (standalone, Sentinel, Cluster), which
    may track keys for this process; the embedded backend and stand-ins follow the log."""
    client = store.client
    if isinstance(client, ClusterClient):
        return True
    return type(client) is redis.Redis and store.settings.mode != "memory"


def follower_for(store: RoleStore) -> Watch:
    """What keeps this process's local caches of ``store``'s role on ``store``'s client true
    (started now if there is none): a :class:`Tracker` where the server and the role's user
    can track keys, else a :class:`Follower` of the role's invalidation log."""
    key = (id(store.client), store.role)
    found = _followers.get(key)
    if found is not None and not found.stopped:
        return found
    with _lock:
        found = _followers.get(key)
        if found is None or found.stopped:
            if isinstance(found, Tracker) and found.refused is not None:
                _refused.add(key)
            if key in _refused or not can_track(store):
                found = _followers[key] = Follower(store)
            else:
                found = _followers[key] = Tracker(store)
        return found


def invalidated_here(store: RoleStore, keys: list[str]) -> None:
    """This process's local caches of ``store``'s role drop ``keys`` now (an invalidation made
    here is seen here at once; other processes see it through the log)."""
    found = _followers.get((id(store.client), store.role))
    if found is not None and keys:
        found.invalidated(keys)


def _forget(forked: bool) -> None:
    global _lock
    if forked:  # the threads did not come along; the lock may have been held by one
        _lock = threading.Lock()
        for follower in _followers.values():
            follower.stopped = True
            follower.live = False
            follower.lock = threading.Lock()
            for cache in list(follower._caches):
                cache.clear()
            if isinstance(follower, Tracker):
                follower.link = None  # the parent's connections
    else:
        for follower in list(_followers.values()):
            follower.stop()
    _followers.clear()
    _refused.clear()


lifecycle.on_reset(_forget)
