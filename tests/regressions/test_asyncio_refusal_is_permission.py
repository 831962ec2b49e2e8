"""A from_role listing over redis.asyncio took the server's refusal for an unexpected error:
redis-py's asyncio parser raises NoPermissionError with the "NOPERM" prefix cut from its text,
so telling refusals apart by text failed every async listing that met an ungranted key. A
refused key-checked probe must be a PermissionDeniedError whichever client read the reply
(the sync path sees hiredis's raw "NOPERM ..." text). The end-to-end case, against a server
with ACL users, is in tests/security/test_grants.py (aio.redis_get_keys with from_role)."""

from __future__ import annotations

import redis.exceptions as rex

from roleredis.foundation.errors import InternalError, PermissionDeniedError, refusal


def test_a_refusal_is_permission_from_either_parser() -> None:
    text = "this user has no permissions to access one of the keys used as arguments"
    assert isinstance(refusal(rex.NoPermissionError(text)), PermissionDeniedError)  # asyncio
    assert isinstance(refusal("NOPERM " + text), PermissionDeniedError)  # hiredis, sync
    assert isinstance(refusal("ERR something else"), InternalError)
