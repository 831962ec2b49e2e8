"""The agent tools' execution: :func:`call_tool` and :func:`acall_tool` check what a model sent
(parse, validate, size limits, the ``from_role`` grant gate) and run the tool; the result as a
model gets it (plain JSON data, lists cut to ``mcp.max_result_bytes``, a byte budget for a tool
that holds what does not fit).

>>> call_tool("redis_write", '{"key": "plan", "value": [1, 2]}', role="planner")["prefixed_key"]
'planner:plan'
>>> call_tool("redis_read", {"key": "plan", "role": "other"}, role="planner")["error_code"]
'invalid_argument'
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from ... import runtime
from ...admin.acl import username_for
from ...core import results
from ...core.codec import json_data, json_size
from ...foundation import sharing
from ...foundation.config import Settings
from ...foundation.errors import InvalidArgumentError, PermissionDeniedError
from ...foundation.keys import validate_role
from ...table import calls as table_calls
from .schemas import BY_NAME, Bound, Result, available, bind
from .validation import a_json_type, validate

__all__ = ["acall_tool", "call_tool", "size_limit"]

# --- the dispatcher ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Call:
    """A checked call: what to run, and what to do with its result."""

    bound: Bound
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
        if not isinstance(name, str) or name not in BY_NAME:
            raise InvalidArgumentError(
                f"unknown tool {name!r}; the tools are: {', '.join(available())}"
            )
        bound = bind(BY_NAME[name])
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
            f"{name}: the arguments must be a JSON object, got {a_json_type(arguments)}"
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
        function = table_calls.awaitable_twin(call.bound.function)
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
