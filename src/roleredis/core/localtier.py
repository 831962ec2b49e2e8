"""The local tier of the cache: up to N entries of a cached function in process memory (LRU,
:class:`LocalCache`), dropped when any process changes or invalidates them.

Each role's local caches in a process share one :class:`Follower`: a thread that follows the
role's cache invalidation log (:func:`roleredis.core.caching.follow`, XREAD BLOCK on a stream
every write and invalidation of a function with a local tier appends to) and drops what it
names. The stream works on every backend (a single server, Sentinel, a Cluster, the embedded
one), needs no command beyond the role's own keys, and shows other roles nothing (the log is
an internal key of the role, readable by its user alone).

What keeps the tier true:

- nothing is kept while the follower is not *live*: live from when it knows the log's newest
  id (every invalidation after that is one it will read) until a read of the log fails (the
  connection dropped, the server went away): then every local cache of the role is emptied
  and the follower starts again from the newest id;
- a read racing an invalidation never leaves a stale entry: a caller notes the follower's
  ``epoch`` before it reads the entry from Redis, and keeps the value only if the epoch is
  the same afterwards (every batch of invalidations and every drop raises it), under the
  follower's lock, which the follower holds while it drops;
- an entry is kept no longer than it is fresh in Redis.

A forked child starts with no follower and empty local caches.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from ..foundation import lifecycle
from ..foundation.errors import RoleRedisError
from . import caching

if TYPE_CHECKING:
    from .store import RoleStore

__all__ = ["Follower", "LocalCache", "follower_for", "invalidated_here"]

log = logging.getLogger("roleredis.cache")

#: How long one read of the log waits on the server for an invalidation (it returns at once
#: when one comes), milliseconds; a stopped follower ends within it.
BLOCK_MS = 1000
#: Seconds between tries after the log could not be read.
RETRY = (0.05, 0.2, 0.5, 1.0, 2.0)
#: Seconds a stopping follower is waited for.
WAKE_JOIN = 2.0


class LocalCache:
    """One function's entries in this process, for one role: canonical arguments -> (value,
    entry key, monotonic time until which it is fresh), at most ``size``, least recently
    used first out."""

    __slots__ = ("__weakref__", "_by_key", "entries", "follower", "size")

    def __init__(self, size: int, follower: Follower) -> None:
        self.size = size
        self.follower = follower
        self.entries: collections.OrderedDict[bytes, tuple[Any, str, float]] = (
            collections.OrderedDict()
        )
        self._by_key: dict[str, bytes] = {}
        follower.attach(self)

    def get(self, args: bytes) -> tuple[Any, str, float] | None:
        """The fresh local entry of ``args``, or None (no lock: a dict look-up)."""
        found = self.entries.get(args)
        if found is None:
            return None
        if found[2] <= time.monotonic():
            self.drop_keys((found[1],))
            return None
        try:
            self.entries.move_to_end(args)
        except KeyError:  # dropped meanwhile by the follower
            return None
        return found

    def fill(self, args: bytes, key: str, value: Any, fresh_for: float, seen: int) -> bool:
        """Keep ``value`` for ``fresh_for`` seconds if no invalidation came since the epoch
        ``seen`` (noted before the entry was read) and the follower is live."""
        follower = self.follower
        with follower.lock:
            if seen < 0 or follower.epoch != seen:
                return False
            self.entries[args] = (value, key, time.monotonic() + fresh_for)
            self.entries.move_to_end(args)
            self._by_key[key] = args
            while len(self.entries) > self.size:
                _, (_, old, _) = self.entries.popitem(last=False)
                self._by_key.pop(old, None)
        return True

    def drop_keys(self, keys: Any) -> None:
        """Forget the entries of these entry keys (the caller holds the follower's lock, or
        forgets only what has expired)."""
        by_key, entries = self._by_key, self.entries
        for key in keys:
            args = by_key.pop(key, None)
            if args is not None:
                entries.pop(args, None)

    def clear(self) -> None:
        self.entries.clear()
        self._by_key.clear()


class Follower:
    """The thread that follows one role's cache invalidation log for this process's local
    caches of that role (see the module's docstring)."""

    def __init__(self, store: RoleStore) -> None:
        self.store = store
        self.lock = threading.Lock()
        #: raised by every batch of invalidations and every drop of the tier
        self.epoch = 0
        self.live = False
        self.stopped = False
        self.drops = 0  # times the tier was emptied because the log could not be read
        self._caches: weakref.WeakSet[LocalCache] = weakref.WeakSet()
        self._thread = threading.Thread(
            target=self._follow, name=f"roleredis-cache-{store.role}", daemon=True
        )
        self._thread.start()

    def attach(self, cache: LocalCache) -> None:
        with self.lock:
            self._caches.add(cache)

    def seen(self) -> int:
        """The epoch to note before reading an entry from Redis; -1 while not live (then
        nothing read may be kept)."""
        return self.epoch if self.live else -1

    def invalidated(self, keys: Any) -> None:
        """Drop ``keys`` from every local cache of the role (and raise the epoch)."""
        with self.lock:
            self.epoch += 1
            for cache in list(self._caches):
                cache.drop_keys(keys)

    def _drop_all(self) -> None:
        with self.lock:
            self.live = False
            self.epoch += 1
            self.drops += 1
            for cache in list(self._caches):
                cache.clear()

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
                self._drop_all()
                after = None
                if not failures:
                    log.warning(
                        "cache of role %s: its invalidation log could not be read (%s): the "
                        "local tier is emptied and kept empty until it can be again",
                        store.role,
                        exc,
                    )
                time.sleep(RETRY[min(failures, len(RETRY) - 1)])
                failures += 1
            except Exception:  # never a silent dead follower with a tier still trusted
                log.exception("cache of role %s: the invalidation follower failed", store.role)
                self._drop_all()
                self.stopped = True
        with self.lock:
            self.live = False

    def stop(self) -> None:
        """Stop following, and wait (briefly) for the thread to end before the client closes:
        an entry without keys appended to the log ends its blocked read at once."""
        self.stopped = True
        self._drop_all()
        if not self._thread.is_alive():
            return
        with contextlib.suppress(RoleRedisError):  # gone: the read ends with the client
            self.store.run(caching.wake(self.store.scope))
        self._thread.join(WAKE_JOIN)


_lock = threading.Lock()
_followers: dict[tuple[int, str], Follower] = {}


def follower_for(store: RoleStore) -> Follower:
    """This process's follower of ``store``'s role on ``store``'s client (started now if
    there is none)."""
    key = (id(store.client), store.role)
    found = _followers.get(key)
    if found is not None and not found.stopped:
        return found
    with _lock:
        found = _followers.get(key)
        if found is None or found.stopped:
            found = _followers[key] = Follower(store)
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
    else:
        for follower in list(_followers.values()):
            follower.stop()
    _followers.clear()


lifecycle.on_reset(_forget)
