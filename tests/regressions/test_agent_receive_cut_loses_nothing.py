"""Two faults of redis_receive through the agent tools (call_tool, MCP), fixed:

- a message sent as bytes by the Python API made call_tool's result sizing fail (bytes are not
  JSON) after the receive had delivered it: the model got an error, and the message came back
  only after the visibility timeout, one delivery more;
- a receive cut to mcp.max_result_bytes dropped the messages left out: they came back only
  after the visibility timeout, each counted as delivered, so a message cut often enough
  became a dead letter that no model ever saw.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

import roleredis

pytestmark = [
    pytest.mark.integration,
    pytest.mark.backends("redis"),
    pytest.mark.usefixtures("roleredis_env"),  # the throwaway server, flushed after each test
]


def test_a_bytes_message_reaches_the_model_as_base64() -> None:
    roleredis.redis_send("agent", b"\x01\x02", role="sender")
    got = roleredis.call_tool("redis_receive", {}, role="agent")
    assert got["success"] is True, got
    assert [m["body"] for m in got["messages"]] == [{"bytes_base64": "AQI="}]


def test_messages_cut_from_a_receive_are_the_next_receive_not_dead_letters(
    write_config: Callable[[Mapping[str, Any]], Path],
) -> None:
    write_config({"mcp": {"max_result_bytes": 700}, "messaging": {"max_deliveries": 1}})
    for i in range(6):
        roleredis.redis_send("agent", {"i": i, "pad": "p" * 200}, role="sender")
    bodies = []
    for _ in range(6):
        got = roleredis.call_tool("redis_receive", {"count": 6}, role="agent")
        assert got["count"] == 1 and got["messages"][0]["deliveries"] == 1
        bodies.append(got["messages"][0]["body"]["i"])
        acked = roleredis.call_tool("redis_ack", {"ids": [got["messages"][0]["id"]]}, role="agent")
        assert acked["acked"] == 1
    assert bodies == list(range(6))
    assert roleredis.redis_dead_letters(role="agent")["messages"] == []
