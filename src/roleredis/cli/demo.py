"""``roleredis demo`` and ``roleredis bench``: the example roles and the benchmarks."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from .app import EXIT_FAILED, EXIT_USAGE, CliError, JsonFlag, app, exit_code_for
from .output import emit_json, say


@app.command()
def demo(
    as_json: JsonFlag = False,
    over_mcp: Annotated[
        bool,
        typer.Option(
            "--mcp",
            help="Run the agents' example instead: two roles (planner, worker), each served "
            "by its own 'roleredis mcp' process, exchanging a message and a request (needs the "
            "mcp extra and redis-server; always on a throwaway server).",
        ),
    ] = False,
) -> None:
    """Run the example roles (weather, timer): both write the key "state" without colliding.

    On the configured Redis if it answers; otherwise (nothing configured, or not reachable) on
    a throwaway redis-server, or without redis-server on the embedded memory:// backend. The
    first line says which. On a configured server the roles are named
    roleredis-demo-<run id>.weather and .timer, so your own weather: and timer: keys are never
    touched. At the end it deletes, by name, the keys it wrote, and nothing else.
    """
    if over_mcp:
        _demo_over_mcp(as_json)
        return
    from ..demo.roles.timer import lifecycle as timer
    from ..demo.roles.weather import lifecycle as weather
    from ..demo.runner import DemoFailed, backend, new_run_id, run

    logging.getLogger("roleredis.roles").setLevel(logging.ERROR)
    try:
        with backend(fallback_when_unreachable=True) as chosen:
            run_id = new_run_id() if chosen.shared else None
            if as_json:
                report = run(weather, timer, out=lambda line: None, run_id=run_id)
                emit_json({"backend": chosen.as_dict(), **report})
            else:
                say(chosen.describe())
                run(weather, timer, out=lambda line: say(line), run_id=run_id)
    except DemoFailed as exc:
        # the demo takes no input: only a bad configuration is the user's to fix
        raise CliError(str(exc), exit_code_for(exc.error_code, takes_arguments=False)) from None


def _demo_over_mcp(as_json: bool) -> None:
    from ..demo import over_mcp
    from ..demo.roles.planner import agent as planner
    from ..demo.roles.worker import agent as worker
    from ..demo.runner import DemoFailed

    try:
        if as_json:
            emit_json(over_mcp.run(planner, worker, out=lambda line: None))
        else:
            over_mcp.run(planner, worker, out=lambda line: say(line))
    except DemoFailed as exc:
        raise CliError(str(exc), exit_code_for(exc.error_code, takes_arguments=False)) from None


#: The groups of ``roleredis bench --only`` (each a flag of ``python -m roleredis.bench``).
BENCH_GROUPS = (
    "limits", "profile", "budgets", "cache", "leases", "mail", "requests", "index", "cluster",
)  # fmt: skip


@app.command()
def bench(
    scale: Annotated[
        float,
        typer.Option(
            "--scale", metavar="FACTOR", min=0.001, help="Work per benchmark (1.0 = full)."
        ),
    ] = 1.0,
    rounds: Annotated[
        int, typer.Option("--rounds", metavar="N", min=1, help="Best of N rounds.")
    ] = 3,
    as_json: JsonFlag = False,
    only: Annotated[
        str | None,
        typer.Option(
            "--only",
            metavar="GROUP",
            help="Only one group of rows: " + ", ".join(BENCH_GROUPS) + " (limits: a "
            "hand-written client's batched SET, XADD, MSET, MGET and round trips beside "
            "roleredis's, as fractions).",
        ),
    ] = None,
) -> None:
    """Run the benchmarks (roleredis against raw redis-py) on a throwaway redis-server.

    Needs the redis-server program; never touches a server you run (--url is ignored).
    """
    from .. import bench as benchmarks
    from ..testing import RedisServerError

    if only is not None and only not in BENCH_GROUPS:
        raise CliError(
            f"--only must be one of {', '.join(BENCH_GROUPS)}, got {only!r}",
            EXIT_USAGE,
            "invalid_argument",
        )
    argv = ["--scale", repr(scale), "--rounds", str(rounds)] + (["--json"] if as_json else [])
    argv += [f"--{only}"] if only else []
    try:
        code = benchmarks.main(argv)
    except RedisServerError as exc:
        raise CliError(f"cannot run the benchmarks: {exc}", EXIT_FAILED) from None
    if code:
        raise typer.Exit(code)
