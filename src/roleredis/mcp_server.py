"""One role's agent tools served over the Model Context Protocol (``roleredis mcp --role R``).

Built on the official SDK's :class:`mcp.server.mcpserver.MCPServer` (the ``mcp`` extra:
``pip install "roleredis[mcp]"``), with the tools :mod:`roleredis.agent` defines: the input
schema a client sees is exactly the agent definition's (``additionalProperties: false``), and
the raw arguments reach :func:`roleredis.agent.acall_tool` untouched, so an argument the schema
does not declare is refused (``isError``) rather than silently dropped as the SDK's own
signature-based validation would. Results are the tools' dicts, as structured content and as
JSON text, with ``isError`` when ``success`` is false. The role is the server's, fixed when it
starts; no tool takes one.

Over stdio, stdout carries only JSON-RPC (every log goes to stderr). Over streamable HTTP (path
``/mcp``) every request must carry ``Authorization: Bearer <token>`` (401 otherwise), unless
the server was started with no token on a loopback address.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import json
import logging
import sys
from typing import TYPE_CHECKING, Any

from . import agent
from .errors import ConfigError
from .keys import validate_role

if TYPE_CHECKING:
    from mcp.server.auth.provider import AccessToken
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.tools import Tool
    from mcp.server.transport_security import TransportSecuritySettings
    from mcp.types import CallToolResult

__all__ = [
    "TOKEN_VARIABLE",
    "BearerToken",
    "build",
    "check_http_options",
    "is_loopback",
    "make_tool",
    "role_tool",
    "run_http",
    "run_stdio",
    "sdk_missing",
]

#: The environment variable holding the HTTP transport's bearer token.
TOKEN_VARIABLE = agent.MCP_TOKEN_VARIABLE

log = logging.getLogger("roleredis.mcp")


def sdk_missing() -> str | None:
    """Why the MCP SDK cannot be used (how to install it), or None when it can. The SDK is
    imported when a server is built, not with this module (importing it reads files).

    >>> sdk_missing() is None
    True
    """
    try:
        import mcp.server.mcpserver  # noqa: F401
    except ImportError as exc:
        return f'roleredis mcp needs the MCP SDK: pip install "roleredis[mcp]" ({exc})'
    return None


def _as_mcp(data: dict[str, Any]) -> CallToolResult:
    """A tool's result (plain JSON data already: see :func:`roleredis.agent.call_tool`) as MCP
    structured content and JSON text."""
    from mcp.types import CallToolResult, TextContent

    return CallToolResult(
        content=[TextContent(type="text", text=json.dumps(data, ensure_ascii=False))],
        structured_content=data,
        is_error=not data.get("success", False),
    )


async def _unused() -> None:
    """The SDK wants a function per tool; :func:`role_tool`'s class runs the dispatcher instead."""


@functools.cache
def role_tool() -> type[Tool]:
    """The SDK's tool class, made to run the agent dispatcher: an agent tool as the SDK
    registers it, with the role fixed; ``run`` hands the client's raw arguments to
    :func:`roleredis.agent.acall_tool` (the SDK's own validation, from a signature, would
    drop an undeclared argument instead of refusing it)."""
    from mcp.server.mcpserver.tools import Tool

    class RoleTool(Tool):
        role: str = ""

        async def run(
            self, arguments: dict[str, Any], context: Any, convert_result: bool = False
        ) -> Any:
            return _as_mcp(await agent.acall_tool(self.name, arguments, role=self.role))

    return RoleTool


def make_tool(name: str, role: str) -> Tool:
    """Agent tool ``name`` of ``role`` for the SDK, its input schema exactly the agent
    definition's."""
    made = role_tool().from_function(
        _unused, name=name, description=agent.describe(name), structured_output=False
    )
    return made.model_copy(update={"parameters": agent.input_schema(name), "role": role})


class BearerToken:
    """The SDK's token verifier for one shared secret, compared in constant time."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    async def verify_token(self, token: str) -> AccessToken | None:
        from mcp.server.auth.provider import AccessToken

        if hmac.compare_digest(token.encode(), self._token):
            return AccessToken(token=token, client_id="roleredis", scopes=[])
        return None


def build(
    role: str, *, token: str | None = None, url: str = "http://127.0.0.1/mcp"
) -> MCPServer[Any]:
    """The MCP server of ``role``'s agent tools; with ``token``, its HTTP app asks for it.

    >>> server = build("planner")
    >>> "redis_write" in [tool.name for tool in server._tool_manager.list_tools()]
    True
    """
    from mcp.server.auth.settings import AuthSettings
    from mcp.server.mcpserver import MCPServer

    role = validate_role(role)
    names = agent.available()
    tools = [make_tool(name, role) for name in names]
    auth: dict[str, Any] = {}
    if token is not None:
        auth = {
            "token_verifier": BearerToken(token),
            "auth": AuthSettings(
                issuer_url=url,  # type: ignore[arg-type]  # pydantic converts it
                resource_server_url=url,  # type: ignore[arg-type]
                validate_token_resource=False,
            ),
        }
    return MCPServer(
        name=f"roleredis-{role}",
        instructions=(
            f"The Redis storage of the role {role!r}: keys in the role's own namespace"
            + (", mail between roles" if "redis_send" in names else "")
            + (", events" if "redis_publish" in names else "")
            + ". The role is fixed by this server; no tool takes one."
        ),
        tools=tools,
        log_level="WARNING",
        **auth,
    )


def run_stdio(role: str) -> None:
    """Serve ``role``'s tools on stdin/stdout until the client closes stdin."""
    server = build(role)
    _logs_to_stderr()
    server.run("stdio")


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only (``localhost``, 127.0.0.0/8, ``::1``).

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_http_options(host: str, token: str | None, no_auth: bool) -> str | None:
    """The bearer token the HTTP transport requires (None with ``no_auth``), or ConfigError.

    >>> check_http_options("127.0.0.1", "s3cret", False)
    's3cret'
    >>> try:
    ...     check_http_options("0.0.0.0", None, True)
    ... except ConfigError as exc:
    ...     print(str(exc)[:55])
    --no-auth is allowed on a loopback address only (127.0.
    """
    if no_auth:
        if token:
            raise ConfigError(f"--no-auth and {TOKEN_VARIABLE} are both given: choose one")
        if not is_loopback(host):
            raise ConfigError(
                "--no-auth is allowed on a loopback address only (127.0.0.1, localhost, ::1), "
                f"not {host}: anyone who reaches the port could use the role's data; set "
                f"{TOKEN_VARIABLE} instead"
            )
        return None
    if not token:
        raise ConfigError(
            f"the http transport needs a bearer token: set {TOKEN_VARIABLE} (clients send "
            f"'Authorization: Bearer <token>'), or give --no-auth on a loopback address"
        )
    return token


def run_http(role: str, *, host: str, port: int, token: str | None) -> None:
    """Serve ``role``'s tools over streamable HTTP at ``http://host:port/mcp``."""
    import uvicorn

    shown = f"[{host}]" if ":" in host else host
    server = build(role, token=token, url=f"http://{shown}:{port}/mcp")
    _logs_to_stderr()
    app = server.streamable_http_app(host=host, transport_security=_rebinding_guard(shown))
    config = uvicorn.Config(app, host=host, port=port, log_config=None, log_level="warning")
    print(
        f"roleredis mcp: role {role} at http://{shown}:{port}/mcp"
        + ("" if token else " (no authentication: loopback only)"),
        file=sys.stderr,
        flush=True,
    )
    uvicorn.Server(config).run()


def _rebinding_guard(shown: str) -> TransportSecuritySettings | None:
    """On a loopback address, only requests naming this machine (Host and Origin headers):
    a web page whose name an attacker re-points at 127.x (DNS rebinding) must not reach a
    server that ``--no-auth`` leaves open. The SDK does this by itself only for the exact
    strings 127.0.0.1, localhost and ::1, not for every address :func:`is_loopback` accepts
    (127.0.0.2, 0:0:0:0:0:0:0:1, ...)."""
    from mcp.server.transport_security import TransportSecuritySettings

    if not is_loopback(shown):
        return None
    names = ["127.0.0.1", "localhost", "[::1]", shown]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{name}:*" for name in names],
        allowed_origins=[f"http://{name}:*" for name in names],
    )


def _logs_to_stderr() -> None:
    """Every log line on stderr (stdout is the JSON-RPC channel over stdio)."""
    root = logging.getLogger()
    for handler in root.handlers:
        stream = getattr(handler, "stream", None)
        if stream is sys.stdout:
            root.removeHandler(handler)
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s %(levelname)s: %(message)s"))
        root.addHandler(handler)
