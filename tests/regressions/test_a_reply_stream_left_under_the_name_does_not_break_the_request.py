"""A responder's ACL user may XADD (without NOMKSTREAM) to reply streams named after it, and
msg_ids are predictable: it could make the requester's next reply stream in advance with the
last possible entry id, and every ``XADD ... *`` to it then fails ("The stream has exhausted
the last possible ID"). The requester makes its reply stream anew (UNLINK first): the request
is answered as any other (found by the rr-agents review, issue 21)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from roleredis import RoleStore, redis_receive, redis_reply, redis_request
from roleredis.core import ops
from roleredis.core.mail import sending
from roleredis.foundation.keys import Keyspace

pytestmark = pytest.mark.backends("redis", "memory")

LAST_ID = f"{2**64 - 1}-{2**64 - 1}"


def test_a_stream_left_with_the_last_id_does_not_break_the_request(
    roleredis_env: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sending, "new_msg_id", lambda: "0123456789abcdef" * 2)
    key = Keyspace("planner").reply_key("worker", "0123456789abcdef" * 2)

    def poison() -> ops.Op[Any]:
        return (yield [("xadd", (key, LAST_ID, "r", b'"planted"'))])

    RoleStore("worker").run(poison())
    answers: list[dict[str, Any]] = []
    asking = threading.Thread(
        target=lambda: answers.append(redis_request("worker", 1, timeout=10, role="planner"))
    )
    asking.start()
    (request,) = redis_receive(1, 5000, role="worker")["messages"]
    assert redis_reply(request["id"], "real", role="worker")["delivered"] is True
    asking.join(15)
    (answer,) = answers
    assert answer["success"] is True and answer["reply"] == "real", answer
