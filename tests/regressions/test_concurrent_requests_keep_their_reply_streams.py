"""Two threads of one role in one process share its store: a request put its reply stream on
the store's list of streams to unlink right after sending, so the other thread's next
request unlinked it while the first still waited, and the answer found no stream (XADD
NOMKSTREAM): a timeout though the responder answered (found by the long-handler serve test,
which failed one run in two). A stream is listed for unlinking only once its request is
over."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from roleredis import redis_receive, redis_reply, redis_request

pytestmark = pytest.mark.backends("redis", "memory")


def test_a_second_request_does_not_unlink_the_first_ones_stream(roleredis_env: object) -> None:
    answers: dict[int, dict[str, Any]] = {}

    def ask(n: int) -> None:
        answers[n] = redis_request("worker", n, timeout=8, role="planner")

    first = threading.Thread(target=ask, args=(0,))
    first.start()
    (one,) = redis_receive(1, 5000, role="worker")["messages"]  # the first one is waiting
    second = threading.Thread(target=ask, args=(1,))
    second.start()
    (two,) = redis_receive(1, 5000, role="worker")["messages"]  # sent after the first
    time.sleep(0.1)
    for message in (one, two):
        assert redis_reply(message["id"], message["body"] * 10, role="worker")["delivered"]
    first.join(15)
    second.join(15)
    assert answers[0].get("reply") == 0 and answers[1].get("reply") == 10, answers
