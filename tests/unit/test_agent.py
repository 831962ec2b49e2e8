"""The agent tools' one definition (issue 13): schemas for both function-calling styles,
the validator, and the dispatcher's checks, grant gate, size limits and list cuts.

No server here: the checks stop a call before any I/O, and where a call must run, the tool is a
stand-in that records what it was given (``monkeypatch`` on :mod:`roleredis.tools`; the agent
definition takes each tool from there at call time). The same paths against a real server are
in tests/integration/test_agent_tools.py and the MCP tests.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from roleredis.settings import Settings

import roleredis
from roleredis import aio, runtime, tools
from roleredis.faces.agents import schemas as agent
from roleredis.faces.agents import validation
from roleredis.foundation import sharing

ROLE = "planner"


@pytest.fixture(autouse=True)
def _settings() -> Iterator[None]:
    """Settings of their own (no environment, no file); nothing here connects."""
    runtime.use_settings(Settings(url="redis://127.0.0.1:1/0"))
    yield
    runtime.use_settings(None)


def use(**flat: Any) -> Settings:
    settings = Settings(**{"url": "redis://127.0.0.1:1/0", **flat})
    runtime.use_settings(settings)
    return settings


class Recorder:
    """A stand-in tool: records each call, returns what it is told to."""

    def __init__(self, result: dict[str, Any]) -> None:
        self.result = result
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return json.loads(json.dumps(self.result))


def stand_in(
    monkeypatch: pytest.MonkeyPatch, name: str, signature: str, result: dict[str, Any]
) -> Recorder:
    """Replace ``tools.<name>`` by a recorder with the parameters ``signature`` lists."""
    recorder = Recorder(result)
    namespace: dict[str, Any] = {"_recorder": recorder}
    exec(
        f"def {name}({signature}):\n    return _recorder(**{{k: v for k, v in locals().items()}})",
        namespace,
    )
    monkeypatch.setattr(tools, name, namespace[name], raising=False)
    return recorder


# --------------------------------------------------------------------------- the schemas


@pytest.mark.parametrize("style", ["openai", "openai_responses", "anthropic"])
def test_every_schema_is_valid_json_schema_and_names_the_tools(style: str) -> None:
    found = roleredis.tool_schemas(style)  # type: ignore[arg-type]
    names = []
    for definition in found:
        if style == "openai":
            assert definition["type"] == "function"
            definition = definition["function"]
            schema = definition["parameters"]
        elif style == "openai_responses":
            assert definition["type"] == "function"
            schema = definition["parameters"]
        else:
            schema = definition["input_schema"]
        names.append(definition["name"])
        assert definition["description"].strip()
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.Draft7Validator.check_schema(schema)
        assert schema["type"] == "object"
        assert schema["additionalProperties"] is False
        assert set(schema["required"]) <= set(schema["properties"])
        assert "role" not in schema["properties"]
        for name, item in schema["properties"].items():
            assert item.get("description", "").strip(), name
            assert "type" in item, name
    assert names == agent.available()
    assert len(set(names)) == len(names)


def test_the_tools_available_now_include_the_key_tools() -> None:
    assert agent.available()[:5] == [
        "redis_write",
        "redis_read",
        "redis_get_keys",
        "redis_delete",
        "redis_exists",
    ]


def test_both_styles_carry_the_same_definitions() -> None:
    openai = roleredis.tool_schemas("openai")
    anthropic = roleredis.tool_schemas("anthropic")
    assert [
        {"name": d["function"]["name"], "description": d["function"]["description"]}
        | {"input_schema": d["function"]["parameters"]}
        for d in openai
    ] == anthropic


def test_the_responses_api_shape_is_flat() -> None:
    """OpenAI's Responses API takes ``{"type": "function", name, description, parameters}``
    (no nested ``function``), the same definitions as Chat Completions'."""
    chat = roleredis.tool_schemas("openai")
    responses = roleredis.tool_schemas("openai_responses")
    for flat in responses:
        assert list(flat) == ["type", "name", "description", "parameters"]
        assert flat["type"] == "function"
    assert responses == [{"type": "function", **d["function"]} for d in chat]
    assert roleredis.tool_schemas("openai_responses", ["redis_delete"]) == responses[3:4]


def test_a_chosen_subset_in_the_order_asked() -> None:
    got = roleredis.tool_schemas("anthropic", tools=["redis_exists", "redis_write"])
    assert [d["name"] for d in got] == ["redis_exists", "redis_write"]
    with pytest.raises(ValueError, match="no agent tool 'redis_flush'"):
        roleredis.tool_schemas(tools=["redis_flush"])
    with pytest.raises(ValueError, match="'openai', 'openai_responses', 'anthropic'"):
        roleredis.tool_schemas("gemini")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        roleredis.tool_schemas(tools="redis_write")


@pytest.mark.parametrize("name", agent.available())
def test_parameters_required_and_defaults_come_from_the_signature(name: str) -> None:
    schema = agent.input_schema(name)
    signature = inspect.signature(getattr(tools, name))
    for param, item in schema["properties"].items():
        default = signature.parameters[param].default
        if default is inspect.Parameter.empty:
            assert param in schema["required"]
            assert "default" not in item
        else:
            assert param not in schema["required"]
            assert item["default"] == default


@pytest.mark.parametrize("name", agent.available())
def test_descriptions_come_from_the_operation_table(name: str) -> None:
    """The table's, unless the row has the model's own wording (the table's speaks of bytes,
    which only Python can pass)."""
    row = next(op for op in roleredis.table.rows.TABLE if op.tool == name)
    tool = next(t for t in agent.AGENT_TOOLS if t.name == name)
    assert agent.describe(name).startswith(tool.description or row.description)
    assert tool.description or "bytes" not in row.description


@pytest.mark.parametrize("name", agent.available())
def test_no_description_offers_a_model_what_it_cannot_send(name: str) -> None:
    assert "bytes" not in agent.describe(name)


def test_a_parameter_lights_up_when_the_tool_takes_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The table already lists from_role for redis_read; it is offered once the tool takes it."""
    stand_in(monkeypatch, "redis_read", "key, *, from_role=None, role=None", {"success": True})
    schema = agent.input_schema("redis_read")
    assert list(schema["properties"]) == ["key", "from_role"]
    assert schema["properties"]["from_role"]["default"] is None
    assert schema["properties"]["from_role"]["type"] == ["string", "null"]  # null: omitted


def test_null_for_a_parameter_whose_default_is_none_means_omitted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read = stand_in(
        monkeypatch, "redis_read", "key, *, from_role=None, role=None", {"success": True}
    )
    assert roleredis.call_tool("redis_read", {"key": "k", "from_role": None}, role=ROLE)["success"]
    assert read.calls == [{"key": "k", "from_role": None, "role": ROLE}]


def test_a_tool_lights_up_when_it_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(tools, "redis_send", raising=False)
    assert "redis_send" not in agent.available()
    stand_in(monkeypatch, "redis_send", "to_role, message, *, role=None", {"success": True})
    assert "redis_send" in agent.available()
    assert agent.input_schema("redis_send")["required"] == ["to_role", "message"]


def _keywords(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        for name, value in schema.items():
            yield name
            if name == "properties":
                for item in value.values():
                    yield from _keywords(item)
            elif name == "items":
                yield from _keywords(value)


def test_the_definitions_use_only_keywords_the_validator_knows() -> None:
    for tool in agent.AGENT_TOOLS:
        wrapped = {"type": "object", "properties": dict(tool.params)}
        assert set(_keywords(wrapped)) <= validation.KEYWORDS, tool.name


# --------------------------------------------------------------------------- the validator

SAMPLES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    -2,
    1,
    10**20,
    1.5,
    "",
    "x",
    "k" * 1100,
    [],
    ["a"],
    [1],
    ["a"] * 1001,
    {},
    {"a": 1},
]


def _cases(tool: agent.AgentTool) -> Iterator[dict[str, Any]]:
    names = list(tool.params)
    base = {name: "x" for name in names}
    yield {}
    yield base
    yield {**base, "role": "other"}
    for name in names:
        for sample in SAMPLES:
            yield {**base, name: sample}


@pytest.mark.parametrize("tool", agent.AGENT_TOOLS, ids=lambda t: t.name)
def test_the_validator_agrees_with_jsonschema(tool: agent.AgentTool) -> None:
    schema = {
        "type": "object",
        "properties": {k: dict(v) for k, v in tool.params.items()},
        "required": list(tool.params)[:1],
        "additionalProperties": False,
    }
    checker = jsonschema.Draft202012Validator(schema)
    for case in _cases(tool):
        assert (validation.validate(schema, case) is None) == checker.is_valid(case), case


def test_the_validator_names_what_is_wrong() -> None:
    schema = agent.input_schema("redis_write")
    assert (
        validation.validate(schema, {"key": "k"}) == "arguments: missing required argument 'value'"
    )
    got = validation.validate(schema, {"key": "k", "value": 1, "role": "x", "ttl_s": 1})
    assert got == (
        "arguments: arguments 'role', 'ttl_s' are not accepted (accepted: key, value, ttl)"
    )
    assert (
        validation.validate(schema, {"key": 1, "value": 1})
        == "key must be a string, got an integer"
    )
    assert validation.validate(schema, {"key": "k", "value": 1, "ttl": "60"}) == (
        "ttl must be an integer or null, got a string"
    )


# --------------------------------------------------------------------------- the dispatcher


def failed(result: dict[str, Any], code: str = "invalid_argument") -> str:
    assert result["success"] is False, result
    assert result["error_code"] == code, result
    assert result["error"] == result["message"]
    return str(result["error"])


def test_arguments_as_a_dict_or_a_json_string(monkeypatch: pytest.MonkeyPatch) -> None:
    write = stand_in(
        monkeypatch,
        "redis_write",
        "key, value, ttl=None, *, role=None, encrypt=None, replicas=0",
        {"success": True},
    )
    assert roleredis.call_tool("redis_write", {"key": "k", "value": [1]}, role=ROLE)["success"]
    assert roleredis.call_tool("redis_write", '{"key": "k", "value": {"a": null}}', role=ROLE)[
        "success"
    ]
    assert roleredis.call_tool("redis_write", b'{"key": "k", "value": 2}', role=ROLE)["success"]
    assert [call["value"] for call in write.calls] == [[1], {"a": None}, 2]
    assert {call["role"] for call in write.calls} == {ROLE}
    assert {call["encrypt"] for call in write.calls} == {None}  # the program's, not the model's


def test_no_arguments_is_an_empty_object(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = stand_in(monkeypatch, "redis_get_keys", "pattern='*', *, role=None", {"success": True})
    for given in (None, "", "{}", {}):
        assert roleredis.call_tool("redis_get_keys", given, role=ROLE)["success"]
    assert keys.calls == [{"pattern": "*", "role": ROLE}] * 4


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        ("{key: 1}", "not valid JSON"),
        ("[1, 2]", "must be a JSON object, got an array"),
        ('"k"', "must be a JSON object, got a string"),
        (42, "must be a JSON object, got an integer"),
        ({"key": "k", "value": 1, "role": "other"}, "'role' is not accepted"),
        ({"key": "k", "value": 1, "encrypt": False}, "'encrypt' is not accepted"),
        ({"key": ["k"], "value": 1}, "key must be a string, got an array"),
        ({"key": "", "value": 1}, "key must not be empty: give at least one character"),
        ({"key": "k", "value": 1, "ttl": True}, "ttl must be an integer or null, got a boolean"),
        ({"key": "k", "value": 1, "ttl": -5}, "ttl must be at least 1, got -5"),
        ({"value": 1}, "missing required argument 'key'"),
    ],
)
def test_bad_arguments_are_refused_before_the_tool_runs(
    monkeypatch: pytest.MonkeyPatch, arguments: Any, says: str
) -> None:
    write = stand_in(
        monkeypatch, "redis_write", "key, value, ttl=None, *, role=None", {"success": True}
    )
    result = roleredis.call_tool("redis_write", arguments, role=ROLE)
    assert says in failed(result)
    assert result["tool"] == "redis_write" and result["role"] == ROLE
    assert write.calls == []


@pytest.mark.parametrize("name", ["redis_flush", "redis_clear_role_data", "nope", None, 3])
def test_unknown_tools_are_refused(name: Any) -> None:
    assert "redis_write" in failed(roleredis.call_tool(name, {}, role=ROLE))


@pytest.mark.parametrize("role", ["", "a:b", "../x", None, "__roleredis__"])
def test_the_programs_role_must_be_valid(role: Any) -> None:
    failed(roleredis.call_tool("redis_exists", {"key": "k"}, role=role))


def test_a_tool_not_offered_by_this_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(tools, "redis_ack", raising=False)
    assert "not offered by this version" in failed(
        roleredis.call_tool("redis_ack", {"ids": ["1-0"]}, role=ROLE)
    )


# --------------------------------------------------------------------------- size limits


def test_values_over_the_smallest_limit_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    write = stand_in(
        monkeypatch, "redis_write", "key, value, ttl=None, *, role=None", {"success": True}
    )
    use(mcp_max_value_bytes=100)
    big = {"text": "x" * 200}
    says = failed(roleredis.call_tool("redis_write", {"key": "k", "value": big}, role=ROLE))
    assert "the value is 211 bytes as JSON, over the limit of 100 bytes (mcp.max_value_bytes)" in (
        says
    )
    assert roleredis.call_tool("redis_write", {"key": "k", "value": "x" * 98}, role=ROLE)["success"]
    use(mcp_max_value_bytes=1000, max_message_bytes=50)
    says = failed(roleredis.call_tool("redis_write", {"key": "k", "value": big}, role=ROLE))
    assert "limit of 50 bytes (messaging.max_message_bytes)" in says
    use(max_value_bytes=40)
    assert "(serialization.max_value_bytes)" in failed(
        roleredis.call_tool("redis_write", {"key": "k", "value": big}, role=ROLE)
    )
    assert len(write.calls) == 1


@pytest.mark.parametrize(
    ("name", "signature", "arguments", "field"),
    [
        ("redis_send", "to_role, message, *, role=None", {"to_role": "b"}, "message"),
        ("redis_publish", "topic, event, *, role=None", {"topic": "t"}, "event"),
    ],
)
def test_messages_and_events_over_the_limit_are_refused(
    monkeypatch: pytest.MonkeyPatch, name: str, signature: str, arguments: Any, field: str
) -> None:
    tool = stand_in(monkeypatch, name, signature, {"success": True})
    use(mcp_max_value_bytes=64)
    says = failed(roleredis.call_tool(name, {**arguments, field: "é" * 40}, role=ROLE))
    assert f"the {field} is 82 bytes as JSON, over the limit of 64 bytes" in says
    assert tool.calls == []


# --------------------------------------------------------------------------- list cuts


def test_a_long_key_list_is_cut_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = [f"key-{i:04d}" for i in range(500)]
    stand_in(
        monkeypatch,
        "redis_get_keys",
        "pattern='*', *, role=None",
        {"success": True, "keys": keys, "count": 500, "pattern": "*", "role": ROLE},
    )
    use(mcp_max_result_bytes=1000)
    result = roleredis.call_tool("redis_get_keys", {}, role=ROLE)
    assert result["truncated"] is True
    assert 0 < len(result["keys"]) < 500
    assert result["keys"] == keys[: len(result["keys"])]
    assert result["count"] == len(result["keys"])
    assert len(json.dumps(result, separators=(",", ":"))) <= 1000
    use(mcp_max_result_bytes=100_000)
    result = roleredis.call_tool("redis_get_keys", {}, role=ROLE)
    assert result["truncated"] is False and result["keys"] == keys


def test_a_cut_event_list_ends_its_cursor_at_the_last_event_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events = [{"id": f"{i}-0", "from": "b", "topic": "t", "event": "e" * 50} for i in range(40)]
    stand_in(
        monkeypatch,
        "redis_read_events",
        "from_role, topic, *, after='0', count=100, block_ms=0, role=None",
        {"success": True, "events": events, "last_id": "39-0", "count": 40},
    )
    use(mcp_max_result_bytes=1000)
    result = roleredis.call_tool("redis_read_events", {"from_role": "b", "topic": "t"}, role=ROLE)
    kept = result["events"]
    assert result["truncated"] is True and 0 < len(kept) < 40
    assert result["last_id"] == kept[-1]["id"]


def test_a_value_is_never_cut(monkeypatch: pytest.MonkeyPatch) -> None:
    huge = "v" * 5000
    stand_in(monkeypatch, "redis_read", "key, *, role=None", {"success": True, "value": huge})
    stand_in(
        monkeypatch,
        "redis_receive",
        "count=10, block_ms=0, *, role=None",
        {"success": True, "messages": [{"id": "1-0", "body": huge}], "count": 1},
    )
    use(mcp_max_result_bytes=1000)
    assert roleredis.call_tool("redis_read", {"key": "k"}, role=ROLE)["value"] == huge
    result = roleredis.call_tool("redis_receive", {}, role=ROLE)
    assert result["messages"][0]["body"] == huge  # the one message, whole
    assert result["truncated"] is False


def test_the_mail_and_event_tools_as_this_version_offers_them() -> None:
    """The real tools (no stand-ins): parameters, required, defaults; and the list and
    cursor each row cuts are the fields the real result builders give."""
    expected = {
        "redis_send": (["to_role", "message"], ["to_role", "message"]),
        "redis_receive": (["count", "block_ms"], []),
        "redis_ack": (["ids"], ["ids"]),
        "redis_publish": (["topic", "event"], ["topic", "event"]),
        "redis_read_events": (
            ["from_role", "topic", "after", "count", "block_ms"],
            ["from_role", "topic"],
        ),
    }
    for name, (properties, required) in expected.items():
        schema = agent.input_schema(name)
        assert list(schema["properties"]) == properties and schema["required"] == required
        assert "role" not in schema["properties"] and schema["additionalProperties"] is False
    defaults = {
        name: {p: v.get("default") for p, v in agent.input_schema(name)["properties"].items()}
        for name in ("redis_receive", "redis_read_events")
    }
    assert defaults["redis_receive"] == {"count": 10, "block_ms": 0}
    assert defaults["redis_read_events"] == {
        "from_role": None,
        "topic": None,
        "after": "0",
        "count": 100,
        "block_ms": 0,
    }
    rows = {tool.name: tool for tool in agent.AGENT_TOOLS}
    from roleredis.core import events, mail, results

    got = results.received(mail.Received(), ROLE)
    assert rows["redis_receive"].listed in got
    batch = events.EventBatch("b", "t", [events.Event("1-0", "b", "t", 1, 0.0)], "1-0")
    read = results.events_read(batch, ROLE)
    listed, cursor = rows["redis_read_events"].listed, rows["redis_read_events"].cursor
    assert listed is not None and cursor is not None
    assert read[listed][0][cursor[0]] == read[cursor[1]] == "1-0"


def test_a_receive_asks_for_no_more_than_the_result_limit_leaves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """redis_receive takes max_bytes: it is given what mcp.max_result_bytes leaves after the
    result's other fields, and its own truncated (messages held for the next receive) holds."""
    recorder = stand_in(
        monkeypatch,
        "redis_receive",
        "count=10, block_ms=0, *, role=None, max_bytes=None",
        {"success": True, "messages": [{"id": "a/1-0", "body": 1}], "count": 1, "truncated": True},
    )
    use(mcp_max_result_bytes=1000)
    result = roleredis.call_tool("redis_receive", {"count": 3}, role=ROLE)
    assert result["truncated"] is True and result["messages"] == [{"id": "a/1-0", "body": 1}]
    assert recorder.calls == [
        {"count": 3, "block_ms": 0, "role": ROLE, "max_bytes": 1000 - 200 - 2 * len(ROLE)}
    ]
    assert "max_bytes" not in agent.input_schema("redis_receive")["properties"]
    assert (
        roleredis.call_tool("redis_receive", {"max_bytes": 10**9}, role=ROLE)["error_code"]
        == "invalid_argument"
    )


def test_results_are_plain_json_data(monkeypatch: pytest.MonkeyPatch) -> None:
    def read(key: str, *, role: str | None = None) -> dict[str, Any]:
        return {"success": True, "value": b"\x00\xff", "key": key}

    monkeypatch.setattr(tools, "redis_read", read)
    result = roleredis.call_tool("redis_read", {"key": "blob"}, role=ROLE)
    assert result["value"] == {"bytes_base64": "AP8="}
    assert json.loads(json.dumps(result)) == result


# --------------------------------------------------------------------------- the grant gate


@pytest.fixture
def grants() -> Settings:
    """A sharing: section (roleredis.sharing) that lets planner read b's shared:* keys."""
    return use(sharing={ROLE: {"read": ["b:shared:*"]}})


def reader(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    return stand_in(
        monkeypatch,
        "redis_read",
        "key, *, from_role=None, role=None",
        {"success": True, "value": "secret"},
    )


def test_without_grants_another_roles_keys_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    read = reader(monkeypatch)
    says = failed(
        roleredis.call_tool("redis_read", {"key": "k", "from_role": "b"}, role=ROLE), "permission"
    )
    assert "no grant" in says and "acl grant planner --read b:PATTERN" in says
    assert read.calls == []


def test_a_sharing_section_without_the_reader_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    use(sharing={"someone": {"read": ["b:*"]}})
    read = reader(monkeypatch)
    failed(
        roleredis.call_tool("redis_read", {"key": "shared:x", "from_role": "b"}, role=ROLE),
        "permission",
    )
    assert read.calls == []


def test_a_grants_check_that_raises_is_still_a_result(
    monkeypatch: pytest.MonkeyPatch, grants: Settings
) -> None:
    def broken(*args: Any) -> bool:
        raise RuntimeError("boom")

    monkeypatch.setattr(sharing, "allows", broken)
    stand_in(
        monkeypatch,
        "redis_get_keys",
        "pattern='*', *, from_role=None, role=None",
        {"success": True, "keys": ["shared:a"], "count": 1},
    )
    result = roleredis.call_tool("redis_get_keys", {"from_role": "b"}, role=ROLE)
    assert result["success"] is False and result["error_code"] == "internal"


def test_sharing_entries_decide(monkeypatch: pytest.MonkeyPatch, grants: Settings) -> None:
    read = reader(monkeypatch)
    ok = roleredis.call_tool("redis_read", {"key": "shared:x", "from_role": "b"}, role=ROLE)
    assert ok["value"] == "secret"
    for key, owner in [("private", "b"), ("shared:x", "c"), ("../shared:x", "b")]:
        failed(
            roleredis.call_tool("redis_read", {"key": key, "from_role": owner}, role=ROLE),
            "permission",
        )
    assert read.calls == [{"key": "shared:x", "from_role": "b", "role": ROLE}]


def test_another_roles_listing_keeps_only_granted_keys(
    monkeypatch: pytest.MonkeyPatch, grants: Settings
) -> None:
    stand_in(
        monkeypatch,
        "redis_get_keys",
        "pattern='*', *, from_role=None, role=None",
        {"success": True, "keys": ["shared:a", "private", "shared:b"], "count": 3},
    )
    result = roleredis.call_tool("redis_get_keys", {"from_role": "b"}, role=ROLE)
    assert result["keys"] == ["shared:a", "shared:b"] and result["count"] == 2


def test_the_own_role_as_from_role_needs_no_grant(monkeypatch: pytest.MonkeyPatch) -> None:
    read = reader(monkeypatch)
    assert roleredis.call_tool("redis_read", {"key": "k", "from_role": ROLE}, role=ROLE)["success"]
    assert len(read.calls) == 1


def test_as_the_roles_acl_user_the_server_decides(monkeypatch: pytest.MonkeyPatch) -> None:
    read = reader(monkeypatch)
    use(username=f"roleredis-{ROLE}")
    assert roleredis.call_tool("redis_read", {"key": "k", "from_role": "b"}, role=ROLE)["success"]
    use(url=f"redis://roleredis-{ROLE}:secret@127.0.0.1:1/0")  # the user a URL names
    assert roleredis.call_tool("redis_read", {"key": "k", "from_role": "b"}, role=ROLE)["success"]
    use(username="roleredis-someone-else")
    failed(
        roleredis.call_tool("redis_read", {"key": "k", "from_role": "b"}, role=ROLE), "permission"
    )
    assert len(read.calls) == 2


@pytest.mark.parametrize("owner", ["../b", "b:x", "__roleredis__", "*", "", 7])
def test_a_bad_from_role_is_refused(
    monkeypatch: pytest.MonkeyPatch, grants: Settings, owner: Any
) -> None:
    read = reader(monkeypatch)
    result = roleredis.call_tool("redis_read", {"key": "shared:x", "from_role": owner}, role=ROLE)
    failed(result)
    assert read.calls == []


def test_events_need_no_grant(monkeypatch: pytest.MonkeyPatch) -> None:
    events = stand_in(
        monkeypatch,
        "redis_read_events",
        "from_role, topic, *, after='0', count=100, block_ms=0, role=None",
        {"success": True, "events": [], "last_id": "0"},
    )
    assert roleredis.call_tool("redis_read_events", {"from_role": "b", "topic": "t"}, role=ROLE)[
        "success"
    ]
    assert events.calls[0]["from_role"] == "b"


# --------------------------------------------------------------------------- the asyncio face


def test_aio_call_tool_runs_the_same_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    async def redis_exists(key: str, *, role: str | None = None) -> dict[str, Any]:
        return {"success": True, "key": key, "role": role, "exists": False}

    monkeypatch.setattr(aio, "redis_exists", redis_exists)

    async def both() -> tuple[dict[str, Any], dict[str, Any]]:
        good = await aio.call_tool("redis_exists", '{"key": "k"}', role=ROLE)
        bad = await aio.call_tool("redis_exists", {"key": "k", "role": "x"}, role=ROLE)
        return good, bad

    good, bad = asyncio.run(both())
    assert good == {"success": True, "key": "k", "role": ROLE, "exists": False}
    assert "'role' is not accepted" in failed(bad)
