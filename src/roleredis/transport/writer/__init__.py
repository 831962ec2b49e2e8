"""The fire-and-forget writer: one thread per process that batches queued work into pipelines.

Callers validate and encode (so a bad value is reported to them, never lost here); the writer
only packs and sends. Work is applied in queue order, so writes made by one thread land in the
order they were made, and a read queued after them sees them. While Redis is down the batch in
hand is kept and retried (at least every 2 s), the outage logged once as it begins and once as
it ends; a write is given up only when it has waited longer than ``async.max_age`` or at exit
after ``async.drain_timeout``, and every one given up is counted and logged (at exit by the
closing thread itself if the writer is stuck on a hung server). The exit drain runs at exit, in
multiprocessing's finalizers in a child, and on SIGTERM in a pool worker (see
:func:`process._drain_on_sigterm`). A
batch on which the server closes a new connection while still answering PING holds a write it
refuses (a value over its proto-max-bulk-len): the batch is halved until that write is found,
which alone is given up (counted as failed, logged with its key and size); the others land.
Nothing starts before the first fire-and-forget call.

With ``async.wait_replicas: N`` each batch ends with ``WAIT N async.wait_timeout`` on the
connection(s) that carried it (on a cluster, one per node that carried part of it: see
roleredis.transport.cluster). Writes of a batch that fewer than N replicas acknowledged landed on
the
primary only: they are not counted as written but kept and sent again (SET, MSET and the
index's ZADD GT are idempotent) until replicated, or given up (counted, logged) once older
than ``async.max_age``, like writes held through an outage.

Failures are judged by the one retry policy (:meth:`RetryPolicy.for_writer`) and reported to the
process's breaker, which the writer consults without obeying: it never stops retrying queued
writes because the breaker is open (it waits the longest backoff instead of hammering), its
failures are counted there (the health check shows them) without opening it by themselves (no
caller waits on the writer), and a batch that gets through closes it. Ages, backoff and the exit
drain read an injectable ``clock``; the wait between retries is an injectable ``pause``.

The package's modules, top to bottom (each imports only those below it):

- ``process.py``: the process's one writer (started on first use), its exit drain (atexit,
  multiprocessing's finalizers, SIGTERM in a pool worker) and its reset in a forked child;
  ``flush``, ``stats``, ``closing``, ``current_pending`` for the faces.
- ``thread.py``: :class:`Writer`, the queue and the thread that empties it: batches, sends,
  retries, outage logging, replication waits, halving a batch the server refuses, the close.
- ``ledger.py``: what is queued besides writes (``ReadRequest``, ``Flush``) and ``Ledger``, the
  writer's accounting: settling a batch's replies, giving up, read callbacks.
- ``plan.py``: ``queued``, a write as the queue holds it (one flat tuple: name, time queued,
  index update, packed bytes, arguments), and ``plan_batch``, the I/O-free planning of a batch
  (MSET runs, the index's ZADDs around a role's writes, packed sends).

Every module logs to ``roleredis.background`` (the name users and tests filter on).
"""
