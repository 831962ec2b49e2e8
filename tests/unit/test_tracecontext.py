"""The W3C trace context of an entry's ``c`` field (roleredis.foundation.tracecontext), and
that roleredis itself imports nothing of OpenTelemetry while the application does not use it
(issue 25)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from roleredis.foundation import tracecontext
from roleredis.foundation.tracecontext import MAX_FIELD, TRACESTATE_MAX, field, parse

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize("raw", [PARENT, PARENT.encode()])
def test_a_traceparent_is_read(raw: str | bytes) -> None:
    assert parse(raw) == {"traceparent": PARENT}


def test_a_tracestate_is_kept_when_well_formed() -> None:
    assert parse(f"{PARENT},congo=t61rcWkgMzE, rojo=00f067aa0ba902b7") == {
        "traceparent": PARENT,
        "tracestate": "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7",
    }
    assert parse(f"{PARENT},tenant@vendor=x") == {
        "traceparent": PARENT,
        "tracestate": "tenant@vendor=x",
    }


@pytest.mark.parametrize(
    "state",
    ["UPPER=x", "a", "a=", "=x", "a=x,y", ",".join(f"k{i}=v" for i in range(33)), "a=\x00"],
)
def test_a_bad_tracestate_alone_is_dropped(state: str) -> None:
    assert parse(f"{PARENT},{state}") == {"traceparent": PARENT}


@pytest.mark.parametrize(
    "raw",
    [
        None,
        1,
        "",
        "x" * 55,
        PARENT.upper(),
        PARENT.replace("00-", "01-", 1),
        PARENT.replace("00-", "ff-", 1),
        "00-" + "0" * 32 + "-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-" + "0" * 16 + "-01",
        PARENT + "-extra",
        " " + PARENT,
        PARENT + ",a=" + "x" * (MAX_FIELD - len(PARENT)),
        b"\xff" * 55,
        PARENT.encode() + b"\xff",
    ],
)
def test_anything_else_is_dropped(raw: object) -> None:
    assert parse(raw) is None


def test_the_field_keeps_a_tracestate_within_its_bound() -> None:
    assert field(PARENT, "a=1") == f"{PARENT},a=1"
    assert field(PARENT, "a=" + "x" * TRACESTATE_MAX) == PARENT
    assert parse(field(PARENT, "a=1")) == {"traceparent": PARENT, "tracestate": "a=1"}


def test_nothing_outgoing_by_default() -> None:
    assert tracecontext.OUTGOING.get() is None
    assert tracecontext.HOOKS.batch is None


# The child records every import of an opentelemetry module that a frame of roleredis's own
# package asks for (builtins.__import__ sees `import x` and `from x import y`, whether the
# module is loaded already or not), while redis-py is free to import what it likes: with the
# API installed redis 8.2 imports opentelemetry modules itself, so "is it in sys.modules"
# says nothing. The operations of every family run, sync, async and fire-and-forget.
CHILD = textwrap.dedent(
    """
    import builtins, json, os, sys
    import roleredis
    package = os.path.dirname(roleredis.__file__)
    asked = []
    real_import = builtins.__import__

    def watching(name, globals=None, locals=None, fromlist=(), level=0):
        if name.startswith("opentelemetry") and level == 0:
            caller = sys._getframe(1).f_code.co_filename
            if caller.startswith(package):
                asked.append([name, caller])
        return real_import(name, globals, locals, fromlist, level)

    builtins.__import__ = watching
    import asyncio
    from roleredis import aio, otel, tools
    for i in range(3):
        assert tools.redis_write("k", {"i": i}, role="planner")["success"]
        assert tools.redis_read("k", role="planner")["success"]
        assert tools.redis_write_async("q", i, role="planner")["success"]
        assert tools.redis_send("worker", i, role="planner")["success"]
        assert tools.redis_publish("news", i, role="planner")["success"]
    flushed = tools.redis_flush(timeout=10)
    assert flushed["success"] and flushed["pending"] == 0 and flushed["lost"] == 0
    got = tools.redis_receive(10, 0, role="worker")
    assert got["count"] == 3
    carried = sum("trace" in m for m in got["messages"])
    with otel.handling(got["messages"][0]):
        pass
    assert tools.redis_read_events("planner", "news", role="worker")["count"] == 3
    assert asyncio.run(aio.redis_write("k", 1, role="planner"))["success"]
    print(json.dumps({"asked": asked, "off": otel.GATE.tracer is None, "carried": carried}))
    """
)


def test_roleredis_imports_nothing_of_opentelemetry_while_unused() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD],
        env={"REDIS_URL": "memory://otel-unused", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == {"asked": [], "off": True, "carried": 0}


def test_the_watch_sees_an_import_of_ours() -> None:
    """The check above can fail: the same child, with a provider set, records our imports."""
    child = CHILD.replace(
        "builtins.__import__ = watching",
        "builtins.__import__ = watching\n"
        "from opentelemetry import trace\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "trace.set_tracer_provider(TracerProvider())",
    )
    proc = subprocess.run(
        [sys.executable, "-c", child],
        env={"REDIS_URL": "memory://otel-used", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["off"] is False and report["carried"] == 3
    assert any(name == "opentelemetry" for name, _ in report["asked"])
