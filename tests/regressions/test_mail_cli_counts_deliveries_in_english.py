"""``roleredis mail`` printed "1 deliveries" for a dead letter delivered once (seen by a helper
of session 4): one delivery is "1 delivery"."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from roleredis import redis_dead_letters, redis_receive, redis_send

from ..cli.conftest import Cli


def test_one_delivery_is_one_delivery(
    cli: Cli, write_config: Callable[[dict[str, Any]], object]
) -> None:
    write_config({"messaging": {"visibility_timeout": 0.1, "max_deliveries": 1}})
    redis_send("beta", "once", role="alpha")
    assert redis_receive(10, role="beta")["count"] == 1
    for _ in range(20):  # delivered once, never acknowledged: a dead letter after 0.1 s
        redis_receive(10, 100, role="beta")
        if redis_dead_letters(role="beta")["count"] == 1:
            break
    text = cli("mail", "beta").stdout
    assert "1 delivery," in text and "1 deliveries" not in text, text
