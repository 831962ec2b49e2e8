"""Issue 18, item 8: the agent tools' schemas and messages, as a model reads them.

- ``redis_write``'s schema allowed ``ttl: 0`` (``minimum: -1``), which the tool refuses: a model
  following the schema got an error. Models are offered a TTL of at least 1 s (or the
  configured default), not no-expiry.
- ``redis_write`` (and ``redis_send``, ``redis_publish``) were described as taking "(or
  bytes)": a model sends JSON and cannot send bytes.
- ``redis_ack`` with no ids said "ids must have at least 1 items".

Against the session's real server (and the embedded backend): what the schema allows runs, what
it refuses is refused before the tool runs, with the same verdict as a JSON Schema validator.
"""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

import roleredis
from roleredis.faces.agents import schemas as agent
from roleredis.faces.agents import validation

pytestmark = [pytest.mark.integration, pytest.mark.backends("redis", "memory")]


@pytest.fixture(autouse=True)
def _env(roleredis_env: Any) -> None:
    """A clean environment at the session's server (or the embedded backend)."""


def test_every_ttl_the_schema_allows_is_written_and_every_other_refused() -> None:
    schema = agent.input_schema("redis_write")
    assert schema["properties"]["ttl"]["minimum"] == 1
    checker = jsonschema.Draft202012Validator(schema)
    for ttl in (1, 60, None):
        arguments = {"key": "k", "value": 1, "ttl": ttl}
        assert checker.is_valid(arguments)
        result = roleredis.call_tool("redis_write", arguments, role="planner")
        assert result["success"] is True, result
    for ttl in (0, -1, -5):
        arguments = {"key": "refused", "value": 1, "ttl": ttl}
        assert not checker.is_valid(arguments)
        result = roleredis.call_tool("redis_write", arguments, role="planner")
        assert result["error_code"] == "invalid_argument", result
        assert result["error"] == f"ttl must be at least 1, got {ttl}"
    assert roleredis.redis_exists("refused", role="planner")["exists"] is False


def test_no_tool_description_offers_bytes() -> None:
    for style in agent.STYLES:
        for definition in roleredis.tool_schemas(style):  # type: ignore[arg-type]
            text = definition.get("function", definition)["description"]
            assert "bytes" not in text, definition
    assert "no expiry" not in agent.input_schema("redis_write")["properties"]["ttl"]["description"]


def test_ack_without_ids_says_so_in_english() -> None:
    result = roleredis.call_tool("redis_ack", {"ids": []}, role="planner")
    assert result["error_code"] == "invalid_argument", result
    assert result["error"] == "ids must not be empty: give at least one item"


@pytest.mark.parametrize(
    ("schema", "value", "says"),
    [
        ({"type": "array", "minItems": 2}, [1], "x must have at least 2 items, got 1"),
        ({"type": "array", "maxItems": 1}, [1, 2], "x must have at most one item, got 2"),
        (
            {"type": "string", "minLength": 1},
            "",
            "x must not be empty: give at least one character",
        ),
        ({"type": "string", "minLength": 3}, "ab", "x must have at least 3 characters, got 2"),
        ({"type": "string", "maxLength": 2}, "abc", "x must have at most 2 characters, got 3"),
        ({"type": "integer", "minimum": 1}, 0, "x must be at least 1, got 0"),
        ({"type": "integer", "maximum": 9}, 10, "x must be at most 9, got 10"),
        ({"type": ["integer", "null"]}, "1", "x must be an integer or null, got a string"),
        ({"type": "object"}, [], "x must be an object, got an array"),
        ({"type": "boolean"}, None, "x must be a boolean, got null"),
    ],
)
def test_every_keyword_reads_as_english_naming_the_argument(
    schema: dict[str, Any], value: Any, says: str
) -> None:
    assert validation.validate(schema, value, "x") == says
    assert not jsonschema.Draft202012Validator(schema).is_valid(value)
