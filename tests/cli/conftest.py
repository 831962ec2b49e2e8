"""Helpers to drive the ``roleredis`` command as a user does: ``python -m roleredis ...`` in a
subprocess, in the clean environment of ``roleredis_env`` (tests/conftest.py): REDIS_URL at the
session's throwaway redis-server (never 6379), no other REDIS_*/ROLEREDIS_* variable, a fresh
tmp cwd, and db 0 flushed after the test.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

Env = Mapping[str, "str | None"]


@dataclasses.dataclass
class Ran:
    """What one run of the command did."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()

    def __str__(self) -> str:
        return (
            f"roleredis {' '.join(self.args)} -> {self.returncode}\n"
            f"stdout: {self.stdout!r}\nstderr: {self.stderr!r}"
        )


def environment(changes: Env | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("FORCE_COLOR", None)
    for name, value in (changes or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run_cli(
    *args: str,
    env: Env | None = None,
    input: str | None = None,
    stderr: Any = subprocess.PIPE,
    timeout: float = 60,
) -> Ran:
    """``roleredis ARGS`` in a subprocess. stdin is empty (/dev/null) unless ``input`` is given;
    nothing it prints on stderr may be a traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "roleredis", *args],
        env=environment(env),
        cwd=os.getcwd(),
        input=input,
        stdin=None if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        timeout=timeout,
    )
    ran = Ran(tuple(args), proc.returncode, proc.stdout, proc.stderr or "")
    assert "Traceback" not in ran.stderr, str(ran)
    return ran


@dataclasses.dataclass(frozen=True)
class Job:
    """One run of the command, for :meth:`Cli.many`."""

    args: tuple[str, ...]
    env: Env | None = None
    input: str | None = None


class Cli:
    """``cli(*args, env=..., input=...)`` runs the command once; ``cli.many(...)`` runs several
    independent commands at the same time (each given as a tuple of args or a :class:`Job`)."""

    def __call__(self, *args: str, env: Env | None = None, input: str | None = None) -> Ran:
        return run_cli(*args, env=env, input=input)

    @staticmethod
    def job(*args: str, env: Env | None = None, input: str | None = None) -> Job:
        return Job(args, env, input)

    def many(self, *jobs: Job | Sequence[str]) -> list[Ran]:
        todo = [job if isinstance(job, Job) else Job(tuple(job)) for job in jobs]
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = [
                pool.submit(run_cli, *job.args, env=job.env, input=job.input) for job in todo
            ]
            return [future.result() for future in futures]


@pytest.fixture
def cli(roleredis_env: object) -> Cli:
    """Run ``roleredis`` against the session's throwaway server (see the module docstring)."""
    return Cli()


def assert_error(ran: Ran, exit_code: int, *needles: str) -> str:
    """The run failed with ``exit_code`` and exactly one ``error: ...`` line on stderr that
    contains every needle; nothing on stdout. Returns the line."""
    assert ran.returncode == exit_code, str(ran)
    assert ran.stdout == "", str(ran)
    lines = ran.stderr.splitlines()
    assert len(lines) == 1, str(ran)
    assert lines[0].startswith("error: "), str(ran)
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in the error line\n{ran}"
    return lines[0]
