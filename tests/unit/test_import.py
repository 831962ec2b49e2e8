"""Importing roleredis opens no socket, reads no file and starts no thread (issue 2, §6).

Checked in a fresh interpreter: the child installs an audit hook (sys.addaudithook) before the
first roleredis import and reports every socket, file-open and thread-start event that follows.
Nothing relies on a sitecustomize: the hook is set up by the child's own code, after redis-py
(the dependency) is imported: what redis-py does at its own import is not roleredis's.
"""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import roleredis

CHILD = textwrap.dedent(
    """
    import json, sys, threading

    events = []
    WATCHED = {
        "open", "socket.__new__", "socket.connect", "socket.bind", "socket.getaddrinfo",
        "_thread.start_new_thread", "subprocess.Popen", "os.fork", "os.system",
    }

    def hook(event, args):
        if event in WATCHED:
            events.append([event, repr(args[0]) if args else ""])

    # redis-py's own import acts come first, unwatched: with the OpenTelemetry SDK installed
    # (the test extra), redis 8.2 imports its metrics at import, and psutil, under them, reads
    # /proc/stat. That is the dependency's import, not roleredis's.
    import redis

    threads_before = threading.active_count()
    names_before = sorted(t.name for t in threading.enumerate())
    sys.addaudithook(hook)

    import importlib
    for name in sys.argv[1:]:
        importlib.import_module(name)

    print(json.dumps({
        "events": events,
        "threads_before": threads_before,
        "threads_after": threading.active_count(),
        "names_before": names_before,
        "names_after": sorted(t.name for t in threading.enumerate()),
        "loaded": [n for n in sys.argv[1:] if n in sys.modules],
    }))
    """
)

CODE_SUFFIXES = (".py", ".pyc", ".so", ".pyd")


def _modules() -> list[str]:
    """roleredis and every module of its layers (not the benchmark script nor test helpers;
    of the command and the demo, their packages)."""
    names = ["roleredis"]
    for info in pkgutil.walk_packages(roleredis.__path__, "roleredis."):
        top, depth = info.name.split(".")[1], info.name.count(".")
        if top not in {"bench", "testing"} and (top not in {"cli", "demo"} or depth == 1):
            names.append(info.name)
    return names


def _import_in_child(tmp_path: Path, modules: list[str]) -> dict[str, object]:
    # a config file in the cwd and one named by ROLEREDIS_CONFIG: neither may be read
    (tmp_path / "config.yaml").write_text("redis:\n  connection:\n    port: 1\n")
    named = tmp_path / "named.yaml"
    named.write_text("redis:\n  connection:\n    port: 2\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "ROLEREDIS_"))}
    env.update(
        ROLEREDIS_CONFIG=str(named),
        REDIS_URL="redis://127.0.0.1:1/0",
        ROLEREDIS_ROLE="weather",
        PYTHONDONTWRITEBYTECODE="1",
    )
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *modules],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    report: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["loaded"] == modules
    return report


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    return _import_in_child(tmp_path_factory.mktemp("import"), _modules())


def test_modules_found() -> None:
    names = _modules()
    for expected in (
        "roleredis.faces.tools",
        "roleredis.foundation.config",
        "roleredis.core.codec",
        "roleredis.table.roles",
    ):
        assert expected in names


def test_import_opens_no_socket(report: dict[str, object]) -> None:
    events = report["events"]
    assert isinstance(events, list)
    sockets = [e for e in events if e[0].startswith("socket.")]
    assert sockets == []


def test_import_starts_no_thread_or_process(report: dict[str, object]) -> None:
    events = report["events"]
    assert isinstance(events, list)
    assert [
        e
        for e in events
        if e[0] in ("_thread.start_new_thread", "subprocess.Popen", "os.fork", "os.system")
    ] == []
    assert report["threads_after"] == report["threads_before"]
    assert report["names_after"] == report["names_before"]


def test_import_reads_no_file_but_code(report: dict[str, object]) -> None:
    events = report["events"]
    assert isinstance(events, list)
    opened = [e[1] for e in events if e[0] == "open"]
    not_code = [p for p in opened if not p.strip("'\"").endswith(CODE_SUFFIXES)]
    assert not_code == [], f"files other than code were opened at import: {not_code}"
    assert not any("config.yaml" in p or "named.yaml" in p for p in opened)


def test_plain_import_roleredis_alone(tmp_path: Path) -> None:
    report = _import_in_child(tmp_path, ["roleredis"])
    events = report["events"]
    assert isinstance(events, list)
    assert [
        e for e in events if not (e[0] == "open" and e[1].strip("'\"").endswith(CODE_SUFFIXES))
    ] == []
    assert report["threads_after"] == report["threads_before"]


def test_the_check_itself_catches_offenders(tmp_path: Path) -> None:
    """A module that reads config.yaml, opens a socket and starts a thread at import is seen."""
    (tmp_path / "offender.py").write_text(
        textwrap.dedent(
            """
            import socket, threading, time
            open("config.yaml").read()
            socket.socket().close()
            threading.Thread(target=time.sleep, args=(5,), daemon=True).start()
            """
        )
    )
    report = _import_in_child(tmp_path, ["offender"])
    events = report["events"]
    assert isinstance(events, list)
    kinds = {e[0] for e in events}
    assert "socket.__new__" in kinds
    # (the _thread.start_new_thread audit event exists from Python 3.12; the count always works)
    assert any("config.yaml" in e[1] for e in events if e[0] == "open")
    assert report["threads_after"] == report["threads_before"] + 1
