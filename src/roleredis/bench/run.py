"""Benchmarks: roleredis against raw redis-py doing the same work, in one process, on one
throwaway redis-server. Ratios are roleredis / raw (above 1: roleredis is faster).

Run ``python benchmarks/run.py`` (or ``python -m roleredis.bench``). It starts its own
redis-server on a free port and never touches a server you run.
"""

from __future__ import annotations

import argparse
import json

import redis

from .aio import aio_rows
from .batches import batch_rows
from .budgets import budget_rows
from .caching import cache_rows
from .cluster import run_cluster
from .fire_and_forget import fire_and_forget_rows, metrics_row, pending_write_memory
from .index import index_listing, index_write_cost
from .leases import lease_rows
from .limits import limit_rows
from .mail import mail_rows
from .profile import profile_rows
from .report import Row, print_rows
from .requests import request_rows
from .single import single_rows
from .tracing import tracing_rows


def run_all(url: str, *, scale: float = 1.0, rounds: int = 3) -> list[Row]:
    """Every benchmark against the server at ``url``; roleredis is pointed at it too."""
    import roleredis
    from roleredis import runtime
    from roleredis.foundation.config import load_settings

    runtime.use_settings(load_settings(environ={"REDIS_URL": url}, read_file=False))
    # raw clients with the same timeouts as roleredis's defaults: like for like (redis.asyncio
    # pays a task per read for a socket_timeout, which an unbounded client does not)
    r = redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0)
    value = {"user_id": 123, "login_time": "2024-01-01T10:00:00Z", "permissions": ["read"]}
    raw_value = json.dumps(value).encode()

    rows = single_rows(r, value, raw_value, scale=scale, rounds=rounds)
    rows += batch_rows(r, value, raw_value, scale=scale, rounds=rounds)
    fire = fire_and_forget_rows(r, value, raw_value, sync_write=rows[0], scale=scale, rounds=rounds)
    rows += fire
    rows.append(metrics_row(rows[0], fire[-1]))
    rows += tracing_rows(value, rounds=rounds, calls=max(1000, int(5000 * scale)))
    rows += aio_rows(url, value, raw_value, scale=scale, rounds=rounds)
    rows += lease_rows(r, scale=scale, rounds=rounds)
    rows += limit_rows(url, value, scale=scale, rounds=rounds)
    rows += budget_rows(r, scale=scale, rounds=rounds)
    rows += cache_rows(r, scale=scale, rounds=rounds)

    roleredis.redis_clear_role_data("bench")
    for key in r.scan_iter("raw:*", count=1000):
        r.unlink(key)
    r.close()
    runtime.use_settings(None)
    rows.append(pending_write_memory(max(5000, int(50_000 * scale))))
    rows += mail_rows(url, scale=scale, rounds=rounds)
    rows += request_rows(url, scale=scale, rounds=rounds)
    return rows


def run_limits(url: str, *, scale: float = 1.0, rounds: int = 3) -> list[Row]:
    """Only the limit rows (issue 26), against the server at ``url``."""
    from roleredis import runtime
    from roleredis.foundation.config import load_settings

    runtime.use_settings(load_settings(environ={"REDIS_URL": url}, read_file=False))
    value = {"user_id": 123, "login_time": "2024-01-01T10:00:00Z", "permissions": ["read"]}
    try:
        return limit_rows(url, value, scale=scale, rounds=rounds)
    finally:
        runtime.use_settings(None)


def run_profile(url: str, *, scale: float = 1.0) -> list[Row]:
    """Only the single-call profile (issue 26, item 3), against the server at ``url``."""
    from roleredis import runtime
    from roleredis.foundation.config import load_settings

    runtime.use_settings(load_settings(environ={"REDIS_URL": url}, read_file=False))
    value = {"user_id": 123, "login_time": "2024-01-01T10:00:00Z", "permissions": ["read"]}
    try:
        return profile_rows(value, calls=max(2000, int(20_000 * scale)))
    finally:
        runtime.use_settings(None)


def run_leases(
    url: str, *, scale: float = 1.0, rounds: int = 3, budgets: bool = False
) -> list[Row]:
    """Only the lease benchmark (or, with ``budgets``, the budget one) against ``url``."""
    from roleredis import runtime
    from roleredis.foundation.config import load_settings

    runtime.use_settings(load_settings(environ={"REDIS_URL": url}, read_file=False))
    r = redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0)
    try:
        rows = budget_rows if budgets else lease_rows
        return rows(r, scale=scale, rounds=rounds)
    finally:
        r.close()
        runtime.use_settings(None)


def run_cache(url: str, *, scale: float = 1.0, rounds: int = 3) -> list[Row]:
    """Only the cache rows (issue 24), against the server at ``url``."""
    import roleredis
    from roleredis import runtime
    from roleredis.foundation.config import load_settings

    runtime.use_settings(load_settings(environ={"REDIS_URL": url}, read_file=False))
    r = redis.Redis.from_url(url, socket_timeout=5.0, socket_connect_timeout=5.0)
    try:
        return cache_rows(r, scale=scale, rounds=rounds)
    finally:
        roleredis.redis_clear_role_data("bench")
        r.close()
        runtime.use_settings(None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=1.0, help="work per benchmark (1.0 = full)")
    parser.add_argument("--rounds", type=int, default=3, help="best of N rounds")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--index",
        action="store_true",
        help="only the role key index's benchmarks: write cost on vs off, and listing and "
        "clearing a 10-key role among 1,000,000 keys, index vs SCAN",
    )
    parser.add_argument("--mail", action="store_true", help="only the mail benchmarks (issue 12)")
    parser.add_argument("--leases", action="store_true", help="only the lease benchmark (issue 22)")
    parser.add_argument(
        "--limits",
        action="store_true",
        help="only the limit rows (issue 26): a hand-written client's batched SET, XADD, MSET, "
        "MGET and round trips beside roleredis's, as fractions",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="only the single-call profile (issue 26): CPU per redis_write / redis_read, layer "
        "by layer (run it pinned: taskset -c 0)",
    )
    parser.add_argument(
        "--budgets", action="store_true", help="only the budget benchmark (issue 23)"
    )
    parser.add_argument("--cache", action="store_true", help="only the cache rows (issue 24)")
    parser.add_argument(
        "--requests",
        action="store_true",
        help="only the request/reply benchmarks (issue 21): round trip p50/p99 and requests/s "
        "of 4 requester processes, against raw ping-pong over lists",
    )
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="only the cluster benchmarks: a local cluster of 3 primaries + 3 replicas, "
        "roleredis (both key layouts) beside raw RedisCluster; memory per key; listing costs",
    )
    args = parser.parse_args(argv)
    from ..testing import RedisServer

    if args.cluster:
        server_version, rows = run_cluster(scale=args.scale, rounds=args.rounds)
        print_rows(rows, server_version, as_json=args.json)
        return 0
    with RedisServer() as server:
        server_version = server.client().info("server")["redis_version"]
        if args.index:
            rows = index_write_cost(server.url, scale=args.scale, rounds=args.rounds)
            rows += index_listing(server.url)
        elif args.mail:
            rows = mail_rows(server.url, scale=args.scale, rounds=args.rounds)
        elif args.requests:
            rows = request_rows(server.url, scale=args.scale, rounds=args.rounds)
        elif args.limits:
            rows = run_limits(server.url, scale=args.scale, rounds=args.rounds)
        elif args.profile:
            rows = run_profile(server.url, scale=args.scale)
        elif args.cache:
            rows = run_cache(server.url, scale=args.scale, rounds=args.rounds)
        elif args.budgets:
            rows = run_leases(server.url, scale=args.scale, rounds=args.rounds, budgets=True)
        elif args.leases:
            rows = run_leases(server.url, scale=args.scale, rounds=args.rounds)
        else:
            rows = run_all(server.url, scale=args.scale, rounds=args.rounds)
    print_rows(rows, server_version, as_json=args.json)
    return 0
