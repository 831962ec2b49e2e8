"""Plain SETs merged into MSETs, and their replies spread back (:func:`merged_sets`,
:func:`spread`): a pure transformation of a batch that the sync and the async runners share
(:mod:`roleredis.transport.executor`, :mod:`roleredis.transport.aexecutor`). I/O-free."""

from __future__ import annotations

import itertools
from typing import Any

from ..foundation.batch import Call
from .connection import Route

__all__ = ["MERGED_RUN", "merged_sets", "spread"]

#: Runs shorter than this stay SETs (an MSET saves nothing on two or three).
MERGED_RUN = 4


def merged_sets(batch: list[Call], route: Any) -> tuple[list[Call], list[int] | None]:
    """``batch`` with each run of plain SETs (no TTL, not lenient) made one MSET, and how many
    calls of ``batch`` each call of the result stands for (None: nothing was merged, the batch
    is returned as it is). For a single server only (``route`` a :class:`Route`): a Cluster's
    keys may sit in different slots.

    What the server does is the same, only in one command: a run of SETs pipelined on one
    connection, or MSET (atomic besides), with one reply that :func:`spread` hands to each.
    This is what a write_many of 1,000 keys without a TTL sends (the writer merges its queued
    writes the same way).

    >>> calls, runs = merged_sets([("set", (f"k{i}", b"1")) for i in range(4)], Route(None))
    >>> calls, runs
    ([('mset', ('k0', b'1', 'k1', b'1', 'k2', b'1', 'k3', b'1'))], [4])
    >>> merged_sets([("get", ("k",)), ("ttl", ("k",))], Route(None))[1] is None
    True
    """
    if len(batch) < MERGED_RUN or type(route) is not Route:
        return batch, None
    calls: list[Call] = []
    runs: list[int] = []
    run: list[Any] = []
    merged = False
    for call in batch:
        name, args = call
        if name == "set" and type(name) is str and len(args) == 2:
            run.append(args)
            continue
        if run:
            merged = _close_run(run, calls, runs) or merged
            run = []
        calls.append(call)
        runs.append(1)
    if run:
        merged = _close_run(run, calls, runs) or merged
    return (calls, runs) if merged else (batch, None)


def _close_run(run: list[Any], calls: list[Call], runs: list[int]) -> bool:
    if len(run) < MERGED_RUN:
        calls.extend(("set", args) for args in run)
        runs.extend([1] * len(run))
        return False
    calls.append(("mset", tuple(itertools.chain.from_iterable(run))))
    runs.append(len(run))
    return True


def spread(replies: list[Any], runs: list[int]) -> list[Any]:
    """The replies of a batch from those of its merged calls (see :func:`merged_sets`): an
    MSET's (True once its callback read OK) stands for each SET it merged.

    >>> spread([True, 5], [3, 1])
    [True, True, True, 5]
    """
    out: list[Any] = []
    for reply, count in zip(replies, runs, strict=True):
        if count == 1:
            out.append(reply)
        else:
            out.extend([reply] * count)
    return out
