"""A forked child that leaves a lease block its parent entered discarded the lease from the
keeper it was added to: the parent's, whose lock the parent's keeper thread may hold at the
moment of the fork; that lock is never let go in the child, which hung for ever (seen under
load in CI: tests/integration/test_leases.py's fork test timed out). The child now leaves
the parent's keeper alone."""

from __future__ import annotations

import os
import threading

from roleredis.core import keeping
from roleredis.core.holding import Held, Lease


class _Store:
    """Enough of a RoleStore for a block that is already held."""


def test_leaving_in_a_child_does_not_touch_the_parents_keeper() -> None:
    parents = keeping.Keeper()
    block = Lease.__new__(Lease)
    held = Held.__new__(Held)
    held._keeper = parents  # as _hold sets it
    held._pid = -1  # the parent's pid: not this process's
    block.held = held
    lock = threading.Lock()
    lock.acquire()  # as if the parent's keeper thread held it at the fork
    parents._changed = threading.Condition(lock)
    done = threading.Event()

    def leave() -> None:
        block._leave()
        done.set()

    thread = threading.Thread(target=leave, daemon=True)
    thread.start()
    assert done.wait(5), "leaving the block waited on the parent's keeper's lock"
    assert block.held is None and os.getpid() != held._pid
