"""The agent tools' definitions: what a role's model may call, for function calling and MCP.

A model never chooses the role: the program does (``call_tool(..., role="planner")``,
``roleredis mcp --role planner``). Each agent tool is a row of :data:`AGENT_TOOLS`: the
parameters a model may pass (never ``role``), each with its JSON Schema, and what the
dispatcher must watch (values to size, a list to cut, a ``from_role`` to check against the
grants). The rest comes from the library itself: the description from the operation table
(:data:`roleredis.table.rows.TABLE`), which parameters exist, their defaults and which are required
from the tool's signature in :mod:`roleredis.tools`. A row whose tool does not exist yet, or a
parameter the tool does not take yet, is simply not offered; it lights up when the tool does.

:func:`tool_schemas` gives the definitions in OpenAI's shapes (Chat Completions, Responses) or
Anthropic's; :func:`roleredis.faces.agents.calls.call_tool`
(and :func:`~roleredis.faces.agents.calls.acall_tool`, which :mod:`roleredis.aio` offers as
``call_tool``) validates what a model sent and runs the tool; neither needs the ``mcp`` extra.
:mod:`roleredis.faces.agents.mcp_server`
serves the same definitions over MCP.

>>> [s["function"]["name"] for s in tool_schemas(tools=["redis_write"])]
['redis_write']
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Literal

from ...foundation.keys import MAX_KEY_BYTES
from ...table import rows
from .. import tools
from .validation import Schema

__all__ = [
    "AGENT_TOOLS",
    "MCP_TOKEN_VARIABLE",
    "STYLES",
    "AgentTool",
    "available",
    "describe",
    "input_schema",
    "tool_schemas",
]

#: The environment variable holding the bearer token of ``roleredis mcp --transport http``.
MCP_TOKEN_VARIABLE = "ROLEREDIS_MCP_TOKEN"

Result = dict[str, Any]

# --- parameter schemas ------------------------------------------------------------------------

#: Any JSON value (an explicit list: some providers want a ``type`` on every property).
_ANY_JSON = ("string", "number", "integer", "boolean", "object", "array", "null")


def _p(kind: str | tuple[str, ...], description: str, **more: Any) -> Schema:
    return MappingProxyType(
        {"type": list(kind) if isinstance(kind, tuple) else kind, "description": description} | more
    )


_KEY = _p(
    "string",
    "The key's name inside the role's own namespace (the role prefix is added for you; a "
    "colon is just part of the name). At most 1024 bytes in UTF-8.",
    minLength=1,
    maxLength=MAX_KEY_BYTES,
)
_OWN_ROLE = (
    "Another role whose keys to read instead of your own; allowed only where that role has "
    "granted you read access (else error_code 'permission'). Omit to use your own keys."
)
_ROLE_NAME = dict(minLength=1, maxLength=64)


_MSG_ID = {"type": "string", "minLength": 1}
_LEASE_NAME = _p(
    "string",
    "The lease's name (1-64 characters of A-Z a-z 0-9 _ . -), e.g. 'nightly-report'.",
    minLength=1,
    maxLength=64,
)
_LEASE_TTL = _p("number", "Seconds the lease lasts unless renewed.", minimum=0.01, maximum=3600)
_LEASE_TOKEN = _p("string", "The token redis_acquire returned.", minLength=1, maxLength=128)


def _count(items: str) -> Schema:
    return _p("integer", f"The most {items} to return.", minimum=1, maximum=1000)


def _block_ms(waited: str) -> Schema:
    return _p(
        "integer",
        f"Milliseconds to wait for {waited}; 0 returns at once.",
        minimum=0,
        maximum=60_000,
    )


@dataclasses.dataclass(frozen=True)
class AgentTool:
    """One agent tool: the parameters a model may pass and what the dispatcher watches."""

    #: the tool's function name in :mod:`roleredis.tools` and :mod:`roleredis.aio`
    name: str
    #: parameter name -> JSON Schema (type and a description a model can act on), in order
    params: Mapping[str, Schema]
    #: added to the operation table's description, for the model
    note: str = ""
    #: the model's own description, where the table's speaks of what only Python can pass
    #: (bytes: a model sends JSON); replaces the table's
    description: str = ""
    #: parameters holding a value, message or event (sized against the limits)
    sized: tuple[str, ...] = ()
    #: the result's list that may be cut when the result is too large
    listed: str | None = None
    #: a field of a listed item that becomes the result's ``cursor`` field when it is cut
    cursor: tuple[str, str] | None = None
    #: ``from_role`` reads another role's keys: only as far as a grant allows
    granted: bool = False
    #: the tool's keyword taking a byte budget for its list: the tool itself returns no more
    #: than fits (what it leaves out is not lost: see redis_receive's max_bytes)
    budget: str | None = None


AGENT_TOOLS: tuple[AgentTool, ...] = (
    AgentTool(
        "redis_write",
        {
            "key": _KEY,
            "value": _p(
                _ANY_JSON,
                "The JSON value to store (object, array, string, number, boolean or null).",
            ),
            "ttl": _p(
                ("integer", "null"),
                "Seconds until the key expires (at least 1); omit or null for the configured "
                "default.",
                minimum=1,
            ),
        },
        description=("Write a JSON value under the role's key, with an optional TTL in seconds."),
        sized=("value",),
    ),
    AgentTool(
        "redis_read",
        {"key": _KEY, "from_role": _p("string", _OWN_ROLE, **_ROLE_NAME)},
        note="A missing key gives success false with error_code 'not_found'.",
        granted=True,
    ),
    AgentTool(
        "redis_get_keys",
        {
            "pattern": _p(
                "string",
                "A glob pattern over key names: * any characters, ? one character, [abc] "
                "one of them. Default: every key.",
                minLength=1,
            ),
            "from_role": _p("string", _OWN_ROLE, **_ROLE_NAME),
        },
        listed="keys",
        granted=True,
    ),
    AgentTool("redis_delete", {"key": _KEY}),
    AgentTool(
        "redis_exists",
        {"key": _KEY, "from_role": _p("string", _OWN_ROLE, **_ROLE_NAME)},
        granted=True,
    ),
    AgentTool(
        "redis_send",
        {
            "to_role": _p("string", "The role to send the message to.", **_ROLE_NAME),
            "message": _p(_ANY_JSON, "The message body: any JSON value."),
        },
        note="The recipient sees you as the sender and acknowledges it with redis_ack.",
        description=(
            "Send a message (any JSON value) to another role's inbox; at least once, in order."
        ),
        sized=("message",),
    ),
    AgentTool(
        "redis_receive",
        {
            "count": _count("messages"),
            "block_ms": _block_ms("a message when none is waiting"),
        },
        note=(
            "Acknowledge each message you have handled with redis_ack(ids); one not "
            "acknowledged comes back later. With truncated true, more messages are waiting: "
            "call redis_receive again to get them."
        ),
        listed="messages",
        budget="max_bytes",
    ),
    AgentTool(
        "redis_ack",
        {
            "ids": _p(
                "array",
                "The id of each message handled, as redis_receive gave it.",
                items={"type": "string", "minLength": 1},
                minItems=1,
                maxItems=1000,
            ),
        },
    ),
    AgentTool(
        "redis_request",
        {
            "to_role": _p("string", "The role to ask.", **_ROLE_NAME),
            "body": _p(_ANY_JSON, "The request: any JSON value."),
            "timeout": _p(
                "number",
                "Seconds to wait for the answer (default 30, at most 60); past it, "
                "error_code 'timeout'.",
                exclusiveMinimum=0,
                maximum=60,
            ),
        },
        note=(
            "The result's reply is the other role's answer and 'from' who answered, as the "
            "server vouches. error_code 'responder_error' carries its error in reply_error."
        ),
        description=(
            "Ask another role (any JSON value) and wait for its answer; the server vouches "
            "for who answered."
        ),
        sized=("body",),
    ),
    AgentTool(
        "redis_reply",
        {
            "id": _p(
                "string",
                "The id of a request (reply_expected true) as redis_receive gave it.",
                minLength=1,
            ),
            "body": _p(_ANY_JSON, "The answer: any JSON value. Omit when giving an error."),
            "error": _p(
                "string",
                "Instead of an answer: what went wrong, in a sentence.",
                minLength=1,
                maxLength=1000,
            ),
        },
        note="It acknowledges the request too: do not redis_ack it as well.",
        sized=("body",),
    ),
    AgentTool(
        "redis_publish",
        {
            "topic": _p("string", "The topic to publish on, e.g. 'forecast'.", minLength=1),
            "event": _p(_ANY_JSON, "The event: any JSON value."),
        },
        note="Every role may read it with redis_read_events.",
        description="Publish an event (any JSON value) to the role's own log for a topic.",
        sized=("event",),
    ),
    AgentTool(
        "redis_read_events",
        {
            "from_role": _p("string", "The role that published the events.", **_ROLE_NAME),
            "topic": _p("string", "The topic.", minLength=1),
            "after": _p(
                "string",
                "Return events after this id: '0' for all, or the last_id a previous call "
                "returned.",
                minLength=1,
            ),
            "count": _count("events"),
            "block_ms": _block_ms("an event when none is new"),
        },
        note="Needs no grant. Pass the returned last_id as 'after' to read on.",
        listed="events",
        cursor=("id", "last_id"),
    ),
    AgentTool(
        "redis_touch",
        {
            "ids": _p(
                "array",
                "The id of each message still being handled.",
                items=_MSG_ID,
                minItems=1,
                maxItems=1000,
            )
        },
        note="Call it within each visibility timeout while a long task runs.",
    ),
    AgentTool(
        "redis_acquire",
        {
            "name": _LEASE_NAME,
            "ttl": _LEASE_TTL,
            "wait": _p(
                "number",
                "Seconds to wait if another holds it; 0 fails at once.",
                minimum=0,
                maximum=30,
            ),
        },
        note=(
            "Keep the token: renew with redis_renew before ttl runs out, release with "
            "redis_release when done. error_code 'held': another holds it (retry_after)."
        ),
    ),
    AgentTool(
        "redis_renew",
        {"name": _LEASE_NAME, "token": _LEASE_TOKEN, "ttl": _LEASE_TTL},
        note="error_code 'lost': it is no longer yours; stop the work it protects.",
    ),
    AgentTool("redis_release", {"name": _LEASE_NAME, "token": _LEASE_TOKEN}),
)

BY_NAME = {tool.name: tool for tool in AGENT_TOOLS}
_DESCRIPTIONS = {op.tool: op.description for op in rows.TABLE}


# --- the definitions, from the table and the signatures -----------------------------------------


@dataclasses.dataclass(frozen=True)
class Bound:
    """An agent tool whose function exists: its schema as offered now."""

    tool: AgentTool
    function: Callable[..., Result]
    description: str
    schema: dict[str, Any]
    #: the keyword taking the list's byte budget, if the function takes it (see AgentTool)
    budget: str | None = None


_bound: dict[str, Bound] = {}


def bind(tool: AgentTool) -> Bound | None:
    """``tool`` as offered now (cached per function), or None while its function does not exist."""
    function = getattr(tools, tool.name, None)
    if function is None:
        return None
    known = _bound.get(tool.name)
    if known is not None and known.function is function:
        return known
    signature = inspect.signature(function)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, schema in tool.params.items():
        parameter = signature.parameters.get(name)
        if parameter is None:  # the tool does not take it (yet)
            continue
        properties[name] = dict(schema)
        if parameter.default is parameter.empty:
            required.append(name)
            continue
        properties[name]["default"] = parameter.default
        kinds = schema["type"]
        if parameter.default is None and "null" not in kinds:  # null: "as if omitted"
            properties[name]["type"] = (
                [kinds, "null"] if isinstance(kinds, str) else [*kinds, "null"]
            )
    description = (
        tool.description
        or _DESCRIPTIONS.get(tool.name)
        or (inspect.getdoc(function) or "").split("\n")[0]
    )
    if tool.note:
        description = f"{description} {tool.note}"
    schema = {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }
    budget = tool.budget if tool.budget in signature.parameters else None
    bound = _bound[tool.name] = Bound(tool, function, description, schema, budget)
    return bound


def available() -> list[str]:
    """The agent tools that exist in this version of roleredis, in table order.

    >>> available()[:3]
    ['redis_write', 'redis_read', 'redis_get_keys']
    """
    return [tool.name for tool in AGENT_TOOLS if bind(tool) is not None]


def _chosen(names: Iterable[str] | None) -> list[Bound]:
    if names is None:
        return [b for b in map(bind, AGENT_TOOLS) if b is not None]
    if isinstance(names, str):
        raise TypeError("tools must be a list of tool names, not one str")
    chosen = []
    for name in names:
        bound = bind(BY_NAME[name]) if name in BY_NAME else None
        if bound is None:
            raise ValueError(f"no agent tool {name!r}; available: {', '.join(available())}")
        chosen.append(bound)
    return chosen


def input_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of agent tool ``name``'s arguments (a fresh copy).

    >>> schema = input_schema("redis_delete")
    >>> schema["required"], schema["additionalProperties"]
    (['key'], False)
    """
    return json.loads(json.dumps(_chosen([name])[0].schema))  # type: ignore[no-any-return]


def describe(name: str) -> str:
    """The description a model is given for agent tool ``name``."""
    return _chosen([name])[0].description


#: The shapes :func:`tool_schemas` gives.
STYLES = ("openai", "openai_responses", "anthropic")


def tool_schemas(
    style: Literal["openai", "openai_responses", "anthropic"] = "openai",
    tools: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """The agent tools as function definitions for a model's API.

    ``style="openai"`` (Chat Completions):
    ``{"type": "function", "function": {name, description, parameters}}``;
    ``style="openai_responses"`` (the Responses API, flat):
    ``{"type": "function", name, description, parameters}``;
    ``style="anthropic"``: ``{name, description, input_schema}``. ``tools``: the names to offer
    (default: every available tool). No tool takes a role: the program gives it to
    :func:`call_tool`.

    >>> tool_schemas("anthropic", ["redis_delete"])[0]["input_schema"]["properties"]["key"]["type"]
    'string'
    >>> sorted(tool_schemas("openai_responses", ["redis_delete"])[0])
    ['description', 'name', 'parameters', 'type']
    """
    if style not in STYLES:
        raise ValueError(f"style must be one of {', '.join(map(repr, STYLES))}, got {style!r}")
    out: list[dict[str, Any]] = []
    for bound in _chosen(tools):
        name, description = bound.tool.name, bound.description
        schema = input_schema(name)
        if style == "openai":
            function = {"name": name, "description": description, "parameters": schema}
            out.append({"type": "function", "function": function})
        elif style == "openai_responses":
            out.append(
                {"type": "function", "name": name, "description": description, "parameters": schema}
            )
        else:
            out.append({"name": name, "description": description, "input_schema": schema})
    return out
