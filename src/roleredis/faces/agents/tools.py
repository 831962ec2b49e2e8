"""The agent tools: one definition of what a role's model may call, for function calling and MCP.

A model never chooses the role: the program does (``call_tool(..., role="planner")``,
``roleredis mcp --role planner``). Each agent tool is a row of :data:`AGENT_TOOLS`: the
parameters a model may pass (never ``role``), each with its JSON Schema, and what the
dispatcher must watch (values to size, a list to cut, a ``from_role`` to check against the
grants). The rest comes from the library itself: the description from the operation table
(:data:`roleredis.table.face.TABLE`), which parameters exist, their defaults and which are required
from the tool's signature in :mod:`roleredis.tools`. A row whose tool does not exist yet, or a
parameter the tool does not take yet, is simply not offered; it lights up when the tool does.

:func:`tool_schemas` gives the definitions in OpenAI's shapes (Chat Completions, Responses) or
Anthropic's; :func:`call_tool`
(and :func:`acall_tool`, which :mod:`roleredis.aio` offers as ``call_tool``) validates what a
model sent and runs the tool; neither needs the ``mcp`` extra.
:mod:`roleredis.faces.agents.mcp_server`
serves the same definitions over MCP.

>>> [s["function"]["name"] for s in tool_schemas(tools=["redis_write"])]
['redis_write']
>>> call_tool("redis_write", '{"key": "plan", "value": [1, 2]}', role="planner")["prefixed_key"]
'planner:plan'
>>> call_tool("redis_read", {"key": "plan", "role": "other"}, role="planner")["error_code"]
'invalid_argument'
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Callable, Coroutine, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Literal

from ... import runtime
from ...admin.acl import username_for
from ...core import results
from ...core.codec import json_data, json_size
from ...foundation import sharing
from ...foundation.config import Settings
from ...foundation.errors import InvalidArgumentError, PermissionDeniedError
from ...foundation.keys import MAX_KEY_BYTES, validate_role
from ...table import face
from .. import tools

__all__ = [
    "AGENT_TOOLS",
    "KEYWORDS",
    "MCP_TOKEN_VARIABLE",
    "STYLES",
    "AgentTool",
    "acall_tool",
    "available",
    "call_tool",
    "describe",
    "input_schema",
    "size_limit",
    "tool_schemas",
    "validate",
]

#: The environment variable holding the bearer token of ``roleredis mcp --transport http``.
MCP_TOKEN_VARIABLE = "ROLEREDIS_MCP_TOKEN"

Result = dict[str, Any]
Schema = Mapping[str, Any]

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
)

_BY_NAME = {tool.name: tool for tool in AGENT_TOOLS}
_DESCRIPTIONS = {op.tool: op.description for op in face.TABLE}


# --- the definitions, from the table and the signatures -----------------------------------------


@dataclasses.dataclass(frozen=True)
class _Bound:
    """An agent tool whose function exists: its schema as offered now."""

    tool: AgentTool
    function: Callable[..., Result]
    description: str
    schema: dict[str, Any]
    #: the keyword taking the list's byte budget, if the function takes it (see AgentTool)
    budget: str | None = None


_bound: dict[str, _Bound] = {}


def _bind(tool: AgentTool) -> _Bound | None:
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
    bound = _bound[tool.name] = _Bound(tool, function, description, schema, budget)
    return bound


def available() -> list[str]:
    """The agent tools that exist in this version of roleredis, in table order.

    >>> available()[:3]
    ['redis_write', 'redis_read', 'redis_get_keys']
    """
    return [tool.name for tool in AGENT_TOOLS if _bind(tool) is not None]


def _chosen(names: Iterable[str] | None) -> list[_Bound]:
    if names is None:
        return [b for b in map(_bind, AGENT_TOOLS) if b is not None]
    if isinstance(names, str):
        raise TypeError("tools must be a list of tool names, not one str")
    chosen = []
    for name in names:
        bound = _bind(_BY_NAME[name]) if name in _BY_NAME else None
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


# --- validation: the small subset of JSON Schema the definitions use ---------------------------

_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
}
#: The keywords :func:`validate` understands (a test checks the definitions use no other).
KEYWORDS = frozenset(
    {
        "type",
        "description",
        "default",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
    }
)


def validate(schema: Schema, value: Any, where: str = "arguments") -> str | None:
    """What is wrong with ``value`` against ``schema`` (the subset in :data:`KEYWORDS`), or
    None: one sentence a model can act on, naming the argument.

    >>> validate({"type": "integer", "minimum": 1}, 0, "count")
    'count must be at least 1, got 0'
    >>> validate({"type": "integer"}, True, "count")
    'count must be an integer, got a boolean'
    >>> validate({"type": "array", "minItems": 1}, [], "ids")
    'ids must not be empty: give at least one item'
    """
    kinds = schema.get("type")
    if kinds is not None:
        allowed = [kinds] if isinstance(kinds, str) else list(kinds)
        if not any(_TYPES[kind](value) for kind in allowed):
            wanted = " or ".join(_A[kind] for kind in allowed)
            return f"{where} must be {wanted}, got {_a(value)}"
    if isinstance(value, str):
        problem = _count_problem(where, len(value), schema, "minLength", "maxLength", "character")
        if problem is not None:
            return problem
    if _TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{where} must be at least {schema['minimum']}, got {value}"
        if "maximum" in schema and value > schema["maximum"]:
            return f"{where} must be at most {schema['maximum']}, got {value}"
    if isinstance(value, list):
        problem = _count_problem(where, len(value), schema, "minItems", "maxItems", "item")
        if problem is not None:
            return problem
        if "items" in schema:
            for i, item in enumerate(value):
                problem = validate(schema["items"], item, f"{where}[{i}]")
                if problem is not None:
                    return problem
    if isinstance(value, dict) and "properties" in schema:
        return _validate_object(schema, value, where)
    return None


#: How a JSON type is named in a sentence.
_A = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "object": "an object",
    "array": "an array",
    "null": "null",
}


def _a(value: Any) -> str:
    """The JSON type of ``value`` in a sentence: ``an integer``."""
    kind = _json_type(value)
    return _A.get(kind, kind)


def _count_problem(
    where: str, n: int, schema: Schema, least: str, most: str, unit: str
) -> str | None:
    """What is wrong with a length ``n`` (characters of a string, items of an array)."""
    if n < schema.get(least, 0):
        if n == 0:
            return f"{where} must not be empty: give at least {_many(schema[least], unit)}"
        return f"{where} must have at least {_many(schema[least], unit)}, got {n}"
    if most in schema and n > schema[most]:
        return f"{where} must have at most {_many(schema[most], unit)}, got {n}"
    return None


def _many(n: int, unit: str) -> str:
    """``one item``, ``2 items``."""
    return f"one {unit}" if n == 1 else f"{n} {unit}s"


def _validate_object(schema: Schema, value: dict[str, Any], where: str) -> str | None:
    properties: Mapping[str, Schema] = schema["properties"]
    if schema.get("additionalProperties", True) is False:
        extra = [name for name in value if name not in properties]
        if extra:
            accepted = ", ".join(properties) or "none"
            names = ", ".join(repr(name) for name in extra)
            s = "s" if len(extra) > 1 else ""
            verb = "are" if len(extra) > 1 else "is"
            return f"{where}: argument{s} {names} {verb} not accepted (accepted: {accepted})"
    for name in schema.get("required", ()):
        if name not in value:
            return f"{where}: missing required argument {name!r}"
    for name, item in value.items():
        if name in properties:
            problem = validate(properties[name], item, name)
            if problem is not None:
                return problem
    return None


def _json_type(value: Any) -> str:
    for kind in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _TYPES[kind](value):
            return kind
    return type(value).__name__


# --- the dispatcher ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Call:
    """A checked call: what to run, and what to do with its result."""

    bound: _Bound
    role: str
    arguments: dict[str, Any]
    settings: Settings
    #: keys of another role's listing to keep: by the sharing: grants (None: keep all)
    keep: Callable[[str], bool] | None


def _failure(exc: Exception, name: Any, role: Any) -> Result:
    return results.failure(exc, tool=name, role=role)


def _prepare(name: Any, arguments: Any, role: Any) -> _Call | Result:
    """The checked call, or the failure result that stops it before any I/O."""
    try:
        role = validate_role(role)
        if not isinstance(name, str) or name not in _BY_NAME:
            raise InvalidArgumentError(
                f"unknown tool {name!r}; the tools are: {', '.join(available())}"
            )
        bound = _bind(_BY_NAME[name])
        if bound is None:
            raise InvalidArgumentError(
                f"tool {name!r} is not offered by this version of roleredis; "
                f"the tools are: {', '.join(available())}"
            )
        given = _parse(name, arguments)
        problem = validate(bound.schema, given, name)
        if problem is not None:
            raise InvalidArgumentError(problem)
        settings = runtime.enabled_settings()
        for field in bound.tool.sized:
            if field in given:
                _check_size(name, field, given[field], settings)
        keep = None
        owner = given.get("from_role")
        if bound.tool.granted and owner is not None and validate_role(owner) != role:
            keep = _granted(settings, role, owner, name, given)
    except Exception as exc:
        return _failure(exc, name, role)
    return _Call(bound, role, given, settings, keep)


def _parse(name: str, arguments: Any) -> dict[str, Any]:
    if arguments is None:
        return {}
    if isinstance(arguments, str | bytes | bytearray):
        try:
            arguments = json.loads(arguments or "{}")
        except ValueError as exc:
            raise InvalidArgumentError(
                f"{name}: the arguments are not valid JSON ({exc}); send a JSON object"
            ) from None
    if not isinstance(arguments, Mapping):
        raise InvalidArgumentError(
            f"{name}: the arguments must be a JSON object, got {_a(arguments)}"
        )
    if not all(isinstance(k, str) for k in arguments):
        raise InvalidArgumentError(f"{name}: argument names must be strings")
    return dict(arguments)


def size_limit(settings: Settings) -> tuple[int, str]:
    """The largest value, message or event a model may send, and the setting that sets it.

    >>> size_limit(Settings(mcp_max_value_bytes=10))
    (10, 'mcp.max_value_bytes')
    """
    return min(
        (settings.mcp_max_value_bytes, "mcp.max_value_bytes"),
        (settings.max_message_bytes, "messaging.max_message_bytes"),
        (settings.max_value_bytes, "serialization.max_value_bytes"),
    )


def _check_size(name: str, field: str, value: Any, settings: Settings) -> None:
    limit, setting = size_limit(settings)
    size = json_size(value)
    if size > limit:
        raise InvalidArgumentError(
            f"{name}: the {field} is {size} bytes as JSON, over the limit of {limit} bytes "
            f"({setting}); store it in smaller pieces"
        )


def _connecting_user(settings: Settings) -> str | None:
    """The ACL user the process connects as: ``REDIS_USERNAME`` / ``connection.username``, or
    the user a URL names (``redis://roleredis-planner:...@host``)."""
    try:
        user = settings.connection_info()["username"]
    except Exception:  # a URL it cannot take apart: no user known
        return settings.username
    return user if isinstance(user, str) else None


def _granted(
    settings: Settings, reader: str, owner: str, name: str, given: Mapping[str, Any]
) -> Callable[[str], bool] | None:
    """Whether ``reader``'s model may read ``owner``'s keys: the filter for a listing (None:
    the server decides), or PermissionDeniedError.

    Running as the reader's own ACL user, the server enforces the grants (``acl grant``).
    Otherwise only ``sharing:`` entries of config.yaml count; with none, nothing of another
    role is readable through the agent tools, whatever the Python API would allow.
    """
    if _connecting_user(settings) == username_for(reader):
        return None
    if not sharing.configured(settings):
        raise PermissionDeniedError(
            f"{name}: role {reader!r} may not read role {owner!r}'s keys here: no grant. "
            f"Grants come from the server (roleredis acl grant {reader} --read {owner}:PATTERN, "
            f"running as user {username_for(reader)}) or from a sharing: section of config.yaml"
        )

    def allows(key: str) -> bool:
        return bool(sharing.allows(settings, reader, owner, key))

    if "key" in given and not allows(given["key"]):
        raise PermissionDeniedError(
            f"{name}: role {reader!r} has no grant to read {given['key']!r} of role {owner!r} "
            "(sharing: in config.yaml)"
        )
    return allows


def _finish(call: _Call, result: Result) -> Result:
    """The result as a model gets it: plain JSON data (bytes as ``{"bytes_base64": ...}``),
    another role's listing filtered by the grants, lists cut to mcp.max_result_bytes."""
    result = json_data(result)
    tool = call.bound.tool
    if not result.get("success") or tool.listed is None:
        return result
    items = result.get(tool.listed)
    if not isinstance(items, list):
        return result
    if call.keep is not None:
        items = [item for item in items if call.keep(item)]
    kept = _fitting(result, tool.listed, items, call.settings.mcp_max_result_bytes)
    truncated = len(kept) < len(items) or result.get("truncated") is True
    result[tool.listed] = kept
    if "count" in result:
        result["count"] = len(kept)
    if truncated and tool.cursor is not None:
        field, cursor = tool.cursor
        result[cursor] = kept[-1][field]
    result["truncated"] = truncated
    return result


def _fitting(result: Result, field: str, items: list[Any], limit: int) -> list[Any]:
    """The longest head of ``items`` that keeps ``result`` within ``limit`` bytes as JSON
    (at least one item: a value is never cut)."""
    size = json_size({**result, field: [], "truncated": True})
    for i, item in enumerate(items):
        size += json_size(item) + (1 if i else 0)
        if size > limit and i > 0:
            return items[:i]
    return items


#: What a result around a budgeted list may take besides the list's items: its other fields
#: and their text (measured for redis_receive's: at most 167 bytes plus the role's name twice).
_ENVELOPE = 200


def _budgeted(call: _Call) -> dict[str, Any]:
    """The arguments the tool runs with: the model's, plus the byte budget of its list."""
    budget = call.bound.budget
    if budget is None:
        return call.arguments
    limit = call.settings.mcp_max_result_bytes - _ENVELOPE - 2 * len(call.role.encode())
    return {**call.arguments, budget: max(0, limit)}


def call_tool(name: str, arguments: Any = None, *, role: str) -> Result:
    """Run agent tool ``name`` with a model's ``arguments`` as ``role``; never raises.

    ``arguments``: a dict, or the JSON string some providers send (None: no arguments).
    Arguments the tool's schema does not declare, of the wrong type or out of range, bad
    JSON, an unknown tool: ``error_code`` "invalid_argument". Values, messages and events
    over the size limit (:func:`size_limit`): "invalid_argument". ``from_role`` beyond the
    grants: "permission". A list cut to ``mcp.max_result_bytes`` says ``truncated: true``.
    The result is plain JSON data, ready for ``json.dumps``: a value stored as bytes by the
    Python API comes as ``{"bytes_base64": ...}``, as over MCP.

    >>> call_tool("redis_exists", {"key": "nothing"}, role="planner")["exists"]
    False
    >>> call_tool("redis_exists", '{"key": 7}', role="planner")["error"]
    'key must be a string, got an integer'
    """
    call = _prepare(name, arguments, role)
    if not isinstance(call, _Call):
        return call
    try:
        return _finish(call, call.bound.function(**_budgeted(call), role=call.role))
    except Exception as exc:  # a grants module that raised, say: still a result
        return _failure(exc, name, call.role)


def acall_tool(
    name: str, arguments: Any = None, *, role: str, functions: Any = None
) -> Coroutine[Any, Any, Result]:
    """:func:`call_tool` on the asyncio face (``roleredis.aio.call_tool``): the coroutine to
    await; it never raises. The tool runs as the function of its name in ``functions`` (aio
    passes itself), by default what :mod:`roleredis.aio` offers for it (the table's twin)."""
    call = _prepare(name, arguments, role)
    return _arun(call, functions)


async def _arun(call: _Call | Result, functions: Any) -> Result:
    if not isinstance(call, _Call):
        return call
    if functions is not None:
        function = getattr(functions, call.bound.tool.name, None)
    else:
        function = face.awaitable_twin(call.bound.function)
    if function is None:
        return _failure(
            InvalidArgumentError(f"tool {call.bound.tool.name!r} has no asyncio version yet"),
            call.bound.tool.name,
            call.role,
        )
    try:
        return _finish(call, await function(**_budgeted(call), role=call.role))
    except Exception as exc:
        return _failure(exc, call.bound.tool.name, call.role)
