"""One role's agent tools served over the Model Context Protocol (``roleredis mcp --role R``).

Built on the official SDK's :class:`mcp.server.mcpserver.MCPServer` (the ``mcp`` extra:
``pip install "roleredis[mcp]"``), with the tools :mod:`roleredis.faces.agents.schemas` defines: the
input
schema a client sees is exactly the agent definition's (``additionalProperties: false``), and
the raw arguments reach :func:`roleredis.faces.agents.calls.acall_tool` untouched, so an argument
the schema
does not declare is refused (``isError``) rather than silently dropped as the SDK's own
signature-based validation would. Results are the tools' dicts, as structured content and as
JSON text, with ``isError`` when ``success`` is false. The role is the server's, fixed when it
starts; no tool takes one.

Over stdio, stdout carries only JSON-RPC (every log goes to stderr). Over streamable HTTP (path
``/mcp``) every request must carry ``Authorization: Bearer <token>`` (401 otherwise), unless
the server was started with no token on a loopback address.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import hmac
import ipaddress
import json
import logging
import sys
import time
from typing import TYPE_CHECKING, Any

from ...foundation.errors import ConfigError
from ...foundation.keys import validate_role
from ...foundation.tracecontext import field, parse
from ...table.tracing import continuing
from . import calls, schemas

if TYPE_CHECKING:
    from mcp.server.auth.provider import AccessToken
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.tools import Tool
    from mcp.server.transport_security import TransportSecuritySettings
    from mcp.types import CallToolResult

    from ...foundation.settings import Settings

__all__ = [
    "TOKEN_VARIABLE",
    "BearerToken",
    "Gate",
    "build",
    "check_http_options",
    "connection_limit",
    "is_loopback",
    "make_tool",
    "role_tool",
    "run_http",
    "run_stdio",
    "sdk_missing",
]

#: The environment variable holding the HTTP transport's bearer token.
TOKEN_VARIABLE = schemas.MCP_TOKEN_VARIABLE

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
    """A tool's result (plain JSON data already: see
    :func:`roleredis.faces.agents.calls.call_tool`) as MCP
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
    :func:`roleredis.faces.agents.calls.acall_tool` (the SDK's own validation, from a signature,
    would
    drop an undeclared argument instead of refusing it)."""
    from mcp.server.mcpserver.tools import Tool

    class RoleTool(Tool):
        role: str = ""

        async def run(
            self, arguments: dict[str, Any], context: Any, convert_result: bool = False
        ) -> Any:
            carrier, fallback = client_trace(context)
            with continuing(carrier, unless_current=fallback):
                return _as_mcp(await calls.acall_tool(self.name, arguments, role=self.role))

    return RoleTool


def client_trace(context: Any) -> tuple[dict[str, str] | None, bool]:
    """The trace context a client sent with a tool call, checked like an entry's (see
    ``foundation.tracecontext.parse``), and whether it is only a fallback. The ``traceparent`` /
    ``tracestate`` headers of a streamable HTTP request come first; else the request's
    ``_meta`` (what the MCP SDK's client sends), which the SDK's own middleware continues when
    the application's global provider records its span: a fallback, used only when no valid
    span is current (a provider handed to ``roleredis.otel.use``, or an API whose no-op
    tracer drops the parent). None on stdio without ``_meta``, or when malformed."""
    try:
        request_context = context.request_context
        headers: Any = getattr(request_context.request, "headers", None) or {}
        parent = headers.get("traceparent")
        if isinstance(parent, str):
            state = headers.get("tracestate")
            return parse(field(parent, state if isinstance(state, str) else "")), False
        meta = request_context.meta  # a dict in the SDK 2.x (a model in others)
        extra = meta if isinstance(meta, dict) else getattr(meta, "model_extra", None) or {}
    except Exception:  # no request context (a tool run outside a request): nothing to continue
        return None, False
    parent, state = extra.get("traceparent"), extra.get("tracestate")
    if not isinstance(parent, str):
        return None, False
    return parse(field(parent, state if isinstance(state, str) else "")), True


def make_tool(name: str, role: str) -> Tool:
    """Agent tool ``name`` of ``role`` for the SDK, its input schema exactly the agent
    definition's."""
    made = role_tool().from_function(
        _unused, name=name, description=schemas.describe(name), structured_output=False
    )
    return made.model_copy(update={"parameters": schemas.input_schema(name), "role": role})


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
    names = schemas.available()
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


def run_http(
    role: str, *, host: str, port: int, token: str | None, settings: Settings | None = None
) -> None:
    """Serve ``role``'s tools over streamable HTTP at ``http://host:port/mcp``, connections
    bounded by ``settings`` (mcp.header_timeout, mcp.max_connections; default: the settings
    in use): see :class:`Gate`."""
    import uvicorn

    if settings is None:
        from ...runtime import enabled_settings

        settings = enabled_settings()
    shown = f"[{host}]" if ":" in host else host
    _logs_to_stderr()  # before the SDK's server, whose log set-up then does nothing
    server = build(role, token=token, url=f"http://{shown}:{port}/mcp")
    limit, lowered = connection_limit(settings.mcp_max_connections, settings.max_connections)
    gate = Gate(settings.mcp_header_timeout, limit)
    app = server.streamable_http_app(host=host, transport_security=_rebinding_guard(shown))
    config = uvicorn.Config(
        gate.app(app),
        host=host,
        port=port,
        log_config=None,
        log_level="warning",
        loop="asyncio",
        http=gate.protocol(),
        proxy_headers=False,  # the gate knows a request's connection by its addresses
        timeout_graceful_shutdown=_SHUTDOWN_GRACE,
    )
    print(
        f"roleredis mcp: role {role} at http://{shown}:{port}/mcp"
        + ("" if token else " (no authentication: loopback only)"),
        file=sys.stderr,
        flush=True,
    )
    if lowered is not None:
        log.warning("%s", lowered)
    asyncio.run(gate.serve(uvicorn.Server(config)))


#: How long a stopping HTTP server waits for requests in flight (an SSE stream never ends).
_SHUTDOWN_GRACE = 5
#: Descriptors kept for everything but client connections: Redis connections beyond the pool
#: (pub/sub, blocking reads), log and module files.
_SPARE_FILES = 32
#: What a connection past mcp.max_connections gets before it is closed.
_BUSY_TEXT = b"too many connections (mcp.max_connections)"
_BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(_BUSY_TEXT), _BUSY_TEXT)
)
#: What a failed accept() says when the process or system has no descriptor left.
_OUT_OF = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


def connection_limit(wanted: int, pool: int) -> tuple[int, str | None]:
    """How many connections the HTTP server takes at once: ``wanted`` (mcp.max_connections),
    lowered to what the process's open-file limit leaves after ``pool`` Redis connections and
    a few spare; with the reason when it was lowered. ConfigError when nothing is left.

    >>> connection_limit(100, 10)[0]
    100
    """
    try:
        import resource
    except ImportError:  # not on Windows: no limit to read
        return wanted, None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted, None
    left = soft - pool - _SPARE_FILES
    if left < 1:
        raise ConfigError(
            f"the process may open {soft} files (ulimit -n), too few for {pool} Redis "
            f"connections (pool.max_connections) and any client: raise the limit"
        )
    if left >= wanted:
        return wanted, None
    return left, (
        f"serving at most {left} connections, not mcp.max_connections={wanted}: the process "
        f"may open {soft} files (ulimit -n); raise that limit to serve more"
    )


class Gate:
    """Bounds on the HTTP server's connections, which uvicorn's settings do not give: uvicorn
    closes an idle connection only after a first response, and takes any number of them.

    - A connection must send a request's headers within ``header_timeout`` seconds of opening,
      and again of each response (however slowly it sends bytes), or it is closed. While a
      request runs (a tool call, a live SSE stream with the SDK's pings) it is never cut.
    - At most ``limit`` connections at once: one more is answered 503 and closed at once.

    The ASGI app the gate wraps (:meth:`app`) tells it when a connection's request runs; the
    connection is found by its addresses, which is all an ASGI scope says of it (hence
    ``proxy_headers=False``). :meth:`protocol` is uvicorn's h11 protocol, with the gate's
    checks where a connection opens and closes.
    """

    def __init__(self, header_timeout: float, limit: int) -> None:
        self.header_timeout = header_timeout
        self.limit = limit
        self.open: dict[Any, _Connection] = {}  # by (server, client) address, as in a scope
        self._keys: dict[object, Any] = {}  # the key of each protocol object in self.open
        self._said: dict[str, float] = {}  # when a warning was last logged

    def app(self, inner: Any) -> Any:
        """``inner`` (an ASGI app), telling the gate when each request runs."""

        async def gated(scope: Any, receive: Any, send: Any) -> None:
            watched = None
            if scope["type"] == "http":
                watched = self.open.get((scope.get("server"), scope.get("client")))
            if watched is None:
                return await inner(scope, receive, send)  # type: ignore[no-any-return]
            watched.requests += 1
            watched.disarm()
            try:
                await inner(scope, receive, send)
            finally:
                watched.requests -= 1
                if watched.requests == 0:
                    watched.arm()

        return gated

    def protocol(self) -> type[asyncio.Protocol]:
        """uvicorn's h11 protocol class (``uvicorn.Config(http=...)``), made to go through the
        gate."""
        from uvicorn.protocols.http.h11_impl import H11Protocol
        from uvicorn.protocols.utils import get_local_addr, get_remote_addr

        gate = self

        class GatedH11Protocol(H11Protocol):
            def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
                super().connection_made(transport)
                key = (get_local_addr(transport), get_remote_addr(transport))
                gate.opened(self, key, transport)

            def connection_lost(self, exc: Exception | None) -> None:
                gate.closed(self)
                super().connection_lost(exc)

        return GatedH11Protocol

    def opened(self, protocol: object, key: Any, transport: asyncio.Transport) -> None:
        if len(self.open) >= self.limit:
            transport.write(_BUSY)
            transport.close()
            if self._now_and_then("busy"):
                log.warning(
                    "refusing connections: %d open, mcp.max_connections reached", len(self.open)
                )
            return
        watched = _Connection(protocol, transport, self.header_timeout)
        self.open[key] = watched
        self._keys[protocol] = key
        watched.arm()

    def closed(self, protocol: object) -> None:
        key = self._keys.pop(protocol, None)
        watched = self.open.get(key)
        if watched is not None and watched.protocol is protocol:
            watched.disarm()
            del self.open[key]

    async def serve(self, server: Any) -> None:
        """uvicorn's ``server.serve()`` on this loop, its errors logged by :meth:`loop_error`."""
        asyncio.get_running_loop().set_exception_handler(self.loop_error)
        await server.serve()

    def loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """The event loop's error handler: a connection the system had no descriptor for
        (asyncio stops accepting for a second, then tries again) is one line now and then;
        anything else goes to asyncio's own handler. Never raises: an error here would end
        the loop, and the server with it (the SDK's log handler did, importing a module to
        show a traceback with no descriptor left)."""
        try:
            exc = context.get("exception")
            if isinstance(exc, OSError) and exc.errno in _OUT_OF and "socket" in context:
                if self._now_and_then("out_of_files"):
                    log.warning(
                        "out of descriptors (%s): not accepting connections for a moment; "
                        "mcp.header_timeout closes idle ones, mcp.max_connections bounds them",
                        exc.strerror,
                    )
                return
            loop.default_exception_handler(context)
        except Exception:  # nothing left to report it with
            pass

    def _now_and_then(self, what: str) -> bool:
        """Whether to log warning ``what`` now: at most once every 10 seconds."""
        now = time.monotonic()
        if now - self._said.get(what, -60.0) < 10:
            return False
        self._said[what] = now
        return True


class _Connection:
    """One open connection of a :class:`Gate`: its timer while it owes a request's headers,
    and how many of its requests run."""

    def __init__(self, protocol: object, transport: asyncio.Transport, timeout: float) -> None:
        self.protocol = protocol
        self.transport = transport
        self.timeout = timeout
        self.requests = 0
        self.timer: asyncio.TimerHandle | None = None

    def arm(self) -> None:
        self.disarm()
        if not self.transport.is_closing():
            loop = asyncio.get_running_loop()
            self.timer = loop.call_later(self.timeout, self.transport.abort)

    def disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


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
