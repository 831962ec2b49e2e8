"""The process's one writer: started on first use, drained at exit.

:func:`writer` starts it (given :func:`roleredis.runtime.writer`'s settings and breaker) and
installs the exit drain: atexit, multiprocessing's finalizers in a child, and SIGTERM in a pool
worker (:func:`_drain_on_sigterm`); a forked child forgets its parent's writer (its thread did
not survive the fork) and SIGTERM watch. :func:`flush`, :func:`stats`, :func:`closing` and
:func:`current_pending` ask the one writer without starting it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable

from ...foundation import lifecycle
from .thread import STOP_GRACE, Writer

__all__ = ["current_writer", "flush", "stats", "writer"]

_writer: Writer | None = None
_lock = threading.Lock()
_atexit_installed = False
#: the process has begun its exit drain (at exit, or on SIGTERM in a pool worker); a second
#: caller waits for the first to finish
_draining = False
_drained = threading.Event()
_exit_lock = threading.Lock()
#: the pipe whose write end is the signal wakeup fd, read by the SIGTERM watcher (see
#: _drain_on_sigterm); None where no watcher runs
_sigterm_watch: tuple[int, int] | None = None
#: what the Python-level SIGTERM handler writes to that pipe (no signal has this number)
_SIGTERM_SEEN = 0xFF


def writer(start: Callable[[], Writer]) -> Writer:
    """The process's writer, made by ``start()`` and started on first use
    (:func:`roleredis.runtime.writer` gives it the process's settings and breaker)."""
    global _writer, _atexit_installed
    current = _writer
    if current is None:
        with _lock:
            if _writer is None:
                _writer = start()
                if not _atexit_installed:
                    atexit.register(_drain_at_exit)
                    _atexit_installed = True
                _drain_in_multiprocessing_child()
            current = _writer
    return current


def current_writer() -> Writer | None:
    """The writer if one has started, else None (never starts one)."""
    return _writer


def flush(timeout: float | None = None) -> tuple[bool, int, int, int]:
    """Wait for every write queued so far (see :meth:`Writer.flush`)."""
    current = _writer
    if current is None:
        return True, 0, 0, 0
    return current.flush(timeout)


def closing() -> bool:
    """Whether the writer has begun shutting down (it then takes no more work)."""
    current = _writer
    return current is not None and current.closing()


def current_pending() -> int:
    current = _writer
    return current.pending() if current is not None else 0


def stats() -> dict[str, int]:
    """Counters of the fire-and-forget writer (all zero before it starts)."""
    current = _writer
    if current is None:
        return {"pending": 0, "written": 0, "given_up": 0, "failed": 0, "batches": 0}
    return current.stats()


def _drain_in_multiprocessing_child() -> None:
    # A multiprocessing child ends with os._exit() after running multiprocessing's own
    # finalizers, never atexit: drain there too. (Only if multiprocessing is in use at all.)
    mp = sys.modules.get("multiprocessing")
    if mp is None or mp.parent_process() is None:
        return
    import multiprocessing.util

    multiprocessing.util.Finalize(None, _drain_at_exit, exitpriority=100)
    if mp.current_process().daemon:
        _drain_on_sigterm()


def _drain_on_sigterm() -> None:
    """A daemonic child (a Pool's worker) is ended by SIGTERM (``Pool.__exit__`` calls
    ``terminate()``), which runs no finalizer: drain on it, then end as SIGTERM would.

    Only where the handler is still the default (one of the program's own is never replaced)
    and no one listens on the signal wakeup fd (an event loop's own signal handling), and only
    from the main thread (the only one Python lets set either): a writer first started in
    another thread of the worker leaves SIGTERM alone (README: flush at the end of a task).

    The drain is not run by the Python-level handler: Python runs that in the main thread only
    once it gets back to Python code, and a pool worker's main thread may sit in a lock for
    ever (its parent holds the task queue's lock while terminating it); nor could the handler
    take any lock the thread it interrupted might hold. The interpreter's C-level handler
    writes the signal's number to the wakeup fd from whatever thread the kernel picked; a
    thread of ours reads it, drains, and ends the process.
    """
    global _sigterm_watch
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return
    read, write = os.pipe()
    os.set_blocking(write, False)
    previous = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    if previous != -1:  # someone else's: put it back, leave SIGTERM alone
        signal.set_wakeup_fd(previous)
        os.close(read)
        os.close(write)
        return
    _sigterm_watch = (read, write)
    signal.signal(signal.SIGTERM, _on_sigterm)
    threading.Thread(
        target=_watch_for_sigterm, args=(read,), name="roleredis-sigterm", daemon=True
    ).start()


def _on_sigterm(signum: int, frame: object) -> None:
    """The Python-level handler (in the main thread, when it runs): the wakeup fd has told the
    watcher already, unless someone took the fd over since; tell it here too (os.write takes
    no lock)."""
    watch = _sigterm_watch
    if watch is not None:
        with contextlib.suppress(OSError):
            os.write(watch[1], bytes([_SIGTERM_SEEN]))


def _watch_for_sigterm(read: int) -> None:
    while True:
        try:
            got = os.read(read, 64)
        except OSError:
            return
        if not got:
            return
        if signal.SIGTERM in got or _SIGTERM_SEEN in got:  # other handled signals: not ours
            break
    try:
        _drain_at_exit()
    finally:
        os._exit(128 + signal.SIGTERM)  # as a shell reports a SIGTERM; no finalizer, like it


def _drain_at_exit() -> None:
    global _draining
    with _exit_lock:
        first, _draining = not _draining, True
    if not first:  # another thread drains (at exit, or on SIGTERM): wait for it to finish
        current = _writer
        if current is not None:
            _drained.wait(current.settings.async_drain_timeout + 2 * STOP_GRACE + 0.5)
        return
    try:
        current = _writer
        if current is not None:
            current.close(current.settings.async_drain_timeout)
    finally:
        _drained.set()


def _forget_sigterm_watch() -> None:
    """In a forked child: the watcher thread did not survive the fork, and the pipe is the
    parent's (its watcher would read the child's SIGTERM): give SIGTERM its default back."""
    global _sigterm_watch
    watch, _sigterm_watch = _sigterm_watch, None
    if watch is None:
        return
    if signal.getsignal(signal.SIGTERM) is _on_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    previous = signal.set_wakeup_fd(-1)
    if previous != watch[1]:  # not ours any more
        signal.set_wakeup_fd(previous)
    for fd in watch:
        os.close(fd)


def _on_reset(forked: bool) -> None:
    global _writer, _lock, _draining, _drained, _exit_lock
    if forked:  # the thread did not survive the fork; the parent sends what was queued
        _writer = None
        _lock = threading.Lock()
        _draining, _drained, _exit_lock = False, threading.Event(), threading.Lock()
        _forget_sigterm_watch()
        return
    current, _writer = _writer, None
    if current is not None:
        current.close(current.settings.async_drain_timeout)


lifecycle.on_reset(_on_reset)
