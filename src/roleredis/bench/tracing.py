"""Tracing (issue 25): the caller's own CPU time (``time.thread_time``) per
``redis_write_async`` with no tracer provider (roleredis never imports OpenTelemetry then)
and with the SDK's provider configured (fire-and-forget calls make no span by default; the
writer's batches do, on its own thread), in interleaved rounds, each figure the median of
its rounds with their spread (max - min)."""

from __future__ import annotations

import statistics
import time
from typing import Any

from .report import Row


def _burst(value: Any, calls: int) -> float:
    """The calling thread's CPU seconds per redis_write_async over ``calls`` calls."""
    import roleredis

    started = time.thread_time()
    for i in range(calls):
        roleredis.redis_write_async(f"t{i}", value, role="bench")
    spent = (time.thread_time() - started) / calls
    roleredis.redis_flush(60)
    return spent


def tracing_rows(value: Any, *, rounds: int = 3, calls: int = 5000) -> list[Row]:
    """Two rows: thread_time per call without and with a tracer provider (the SDK's, with
    no exporter: what the calls cost, not an exporter's network). Without the SDK
    installed, the second row says so."""
    from ..table import tracing as otel

    try:
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError:
        provider = None
    else:
        provider = TracerProvider()
    without: list[float] = []
    with_provider: list[float] = []
    _burst(value, calls)  # warm: the writer started, the store made
    for _ in range(max(5, rounds * 3)):  # interleaved: drift of the machine hits both
        otel.use(None)
        without.append(_burst(value, calls))
        if provider is not None:
            otel.use(provider)
            with_provider.append(_burst(value, calls))
    otel.use(None)
    rows = [_row("no tracer provider", without)]
    if provider is None:
        rows.append(
            Row(
                "redis_write_async thread_time, with a provider",
                0.0,
                None,
                "SDK not installed",
                "us/call",
            )
        )
    else:
        rows.append(_row("a tracer provider set (SDK)", with_provider))
        provider.shutdown()
    return rows


def _row(what: str, times: list[float]) -> Row:
    middle = statistics.median(times) * 1e6
    spread = (max(times) - min(times)) * 1e6
    return Row(
        f"caller thread_time per redis_write_async, {what} (spread {spread:.2f} us)",
        middle,
        None,
        "measured",
        "us/call",
    )
