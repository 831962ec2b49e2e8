"""The small subset of JSON Schema the agent tools' definitions use, and its messages.

:func:`validate` says what is wrong with a model's arguments in one sentence a model can act
on, naming the argument; :data:`KEYWORDS` are the keywords it understands.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["KEYWORDS", "Schema", "a_json_type", "validate"]

Schema = Mapping[str, Any]

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
        "exclusiveMinimum",
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
    >>> validate({"type": "number", "exclusiveMinimum": 0}, 0, "timeout")
    'timeout must be more than 0, got 0'
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
            return f"{where} must be {wanted}, got {a_json_type(value)}"
    if isinstance(value, str):
        problem = _count_problem(where, len(value), schema, "minLength", "maxLength", "character")
        if problem is not None:
            return problem
    if _TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            return f"{where} must be at least {schema['minimum']}, got {value}"
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            return f"{where} must be more than {schema['exclusiveMinimum']}, got {value}"
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


def a_json_type(value: Any) -> str:
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
