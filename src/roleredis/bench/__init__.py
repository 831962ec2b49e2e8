"""Benchmarks: roleredis against raw redis-py doing the same work, on a throwaway
redis-server (``roleredis bench``, ``python -m roleredis.bench``, ``benchmarks/run.py``).

One module per benchmark family, and the parts they share:

- ``run``: :func:`main` (the command line) and :func:`run_all` (every family in order);
- ``report``: a benchmark's :class:`Row` (target, verdict), the best-of-N timers, the
  machine line and the output (Markdown table or JSON);
- ``single``: sync redis_write and redis_read vs a raw redis-py loop;
- ``batches``: redis_write_many and redis_read_many(1000) vs redis-py pipelines;
- ``fire_and_forget``: redis_write_async's throughput and caller time, what recording
  metrics costs a call, memory per pending write;
- ``aio``: roleredis.aio's write and read vs redis.asyncio;
- ``mail``: redis_send, redis_receive + redis_ack, redis_send_async vs raw stream commands;
- ``requests``: redis_request answered by serve vs raw ping-pong over lists: round trip
  p50/p99, requests/s of 4 requester processes (``--requests``);
- ``index``: the role key index's write cost and listing/clearing vs SCAN (``--index``);
- ``cluster``: the same on a local Redis Cluster, memory per key, listing (``--cluster``).
"""

from .mail import mail_rows
from .report import Row
from .run import main, run_all

__all__ = ["Row", "mail_rows", "main", "run_all"]
