"""The batch types every runner reads: a call, a batch that says how it must be sent, and the
calls whose error reply is their reply. The operations of :mod:`roleredis.core` yield them; the
runners of :mod:`roleredis.transport` send them (both layers import them from here).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["READABLE", "Batch", "Call", "Lenient", "Pause", "lenient"]

#: One redis-py call: method name and positional arguments, as in ``client.set(k, v, ex)``.
Call = tuple[str, tuple[Any, ...]]

#: A call no redis-py method has: ``EXISTS key`` whose refusal by the server (NOPERM) comes
#: back as the reply (a PermissionDeniedError object) instead of failing the batch, so that
#: one batch can ask, key by key, which keys the connection's ACL user may read (the runners
#: know it).
READABLE = "readable"


class Lenient(str):
    """The name of a call whose error reply is its reply (the :class:`RoleRedisError` it
    stands for) instead of failing its batch: housekeeping (a trim, a deletion, a dead
    letter) that rides in the round trip of a read or an ack, whose failure must never fail a
    call whose read or ack the server already carried out. Made by :func:`lenient`; the
    runners know it.

    >>> call = lenient("xtrim", "k", "MINID", "5-0")
    >>> call, type(call[0]).__name__
    (('xtrim', ('k', 'MINID', '5-0')), 'Lenient')
    """

    __slots__ = ()


def lenient(name: str, *args: Any) -> Call:
    """The call ``name(*args)`` as a :class:`Lenient` one."""
    return (Lenient(name), args)


class Batch(list[Call]):
    """A batch that says how it must be sent; a plain list is an ordinary batch.

    ``repeatable`` False: the batch must not be carried out twice (a mail send: XADD is not
    idempotent), so a reply lost after it was written is reported as ``unknown_outcome``
    instead of retried. ``wait``: seconds a blocking command in it may wait on the server,
    added to the read timeout for this call only.

    >>> b = Batch([("xlen", ("k",))], repeatable=False)
    >>> b, b.repeatable, b.wait
    ([('xlen', ('k',))], False, 0.0)
    """

    __slots__ = ("repeatable", "wait")

    def __init__(self, calls: Iterable[Call], *, repeatable: bool = True, wait: float = 0.0):
        super().__init__(calls)
        self.repeatable = repeatable
        self.wait = wait


class Pause(Batch):
    """No call at all: the driver waits ``wait`` seconds in the caller (``time.sleep``, or
    ``asyncio.sleep`` on a loop) and resumes the operation with no replies. How an operation
    that tries again later (a lease acquire with ``wait``) stays one generator for the sync
    and the async driver.

    >>> pause = Pause(0.05)
    >>> pause, pause.wait
    ([], 0.05)
    """

    __slots__ = ()

    def __init__(self, seconds: float) -> None:
        super().__init__((), wait=seconds)
