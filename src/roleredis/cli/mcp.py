"""``roleredis mcp --role ROLE``: the role's agent tools for an MCP client (stdio or HTTP)."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from ..faces.agents.schemas import MCP_TOKEN_VARIABLE as TOKEN_VARIABLE
from ..foundation.errors import ConfigError
from ..foundation.keys import validate_role
from .app import EXIT_USAGE, CliError, app, connecting


@app.command(name="mcp")
def serve_mcp(
    role: Annotated[
        str,
        typer.Option(
            "--role",
            metavar="ROLE",
            help="The role whose tools are served; the model cannot choose another.",
            show_default=False,
        ),
    ],
    transport: Annotated[
        str,
        typer.Option(
            "--transport",
            metavar="stdio|http",
            help="stdio (the client starts this command) "
            "or http (streamable HTTP at /mcp, shared by several agents).",
        ),
    ] = "stdio",
    host: Annotated[str, typer.Option("--host", help="The address http listens on.")] = (
        "127.0.0.1"
    ),
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="The port http listens on.")
    ] = 8000,
    no_auth: Annotated[
        bool,
        typer.Option("--no-auth", help="http without a bearer token (loopback addresses only)."),
    ] = False,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar=TOKEN_VARIABLE,
            hidden=True,  # documented as the variable: a command line is visible to others
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve ROLE's agent tools (redis_write, redis_read, ...; mail and events where this
    version has them) over the Model Context Protocol.

    stdio: JSON-RPC on stdin/stdout, as an MCP client's configuration starts it. http: needs
    ROLEREDIS_MCP_TOKEN, which every request must send as 'Authorization: Bearer <token>',
    unless --no-auth is given on a loopback address. Needs the mcp extra:
    pip install "roleredis[mcp]".
    """
    chosen: Literal["stdio", "http"]
    if transport not in ("stdio", "http"):
        raise CliError(f"--transport must be stdio or http, got {transport!r}", EXIT_USAGE)
    chosen = "stdio" if transport == "stdio" else "http"
    role = validate_role(role)
    required = None
    if chosen == "http":
        required = _http_token(host, token, no_auth)
    elif no_auth:
        raise CliError("--no-auth applies to --transport http only", EXIT_USAGE)
    from ..faces.agents import mcp_server

    missing = mcp_server.sdk_missing()
    if missing is not None:
        raise CliError(missing, EXIT_USAGE, "config")
    settings = connecting("mcp", role)
    if chosen == "stdio":
        mcp_server.run_stdio(role)
    else:
        mcp_server.run_http(role, host=host, port=port, token=required, settings=settings)


def _http_token(host: str, token: str | None, no_auth: bool) -> str | None:
    from ..faces.agents.mcp_server import check_http_options

    try:
        return check_http_options(host, token, no_auth)
    except ConfigError as exc:
        raise CliError(str(exc), EXIT_USAGE, "config") from None
