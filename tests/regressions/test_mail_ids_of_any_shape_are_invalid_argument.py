"""An id list holding something unhashable (``[["x"]]``, easy to send from JSON over MCP) was
answered ``internal`` ("unexpected TypeError: unhashable type") by redis_ack and
redis_replay_dead_letters: a wrong argument is ``invalid_argument``, with what was wrong."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from roleredis import redis_ack, redis_replay_dead_letters

pytestmark = pytest.mark.backends("memory")


@pytest.mark.parametrize("call", [redis_ack, redis_replay_dead_letters])
@pytest.mark.parametrize("ids", [[["x"]], [{"a": 1}], ["beta/1-0", ["x"]]])
def test_unhashable_ids_are_an_invalid_argument(
    call: Callable[..., dict[str, Any]], ids: list[object]
) -> None:
    result = call(ids, role="beta")
    assert result["success"] is False
    assert result["error_code"] == "invalid_argument", result
