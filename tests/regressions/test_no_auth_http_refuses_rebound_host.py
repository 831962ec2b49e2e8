"""``roleredis mcp --transport http --no-auth`` on a loopback address other than 127.0.0.1,
localhost or ::1 (say 127.0.0.2, which --no-auth accepts) served any Host header: the SDK turns
its DNS-rebinding protection on for those three strings only. A web page whose name an attacker
re-points at 127.0.0.2 could then drive the role's tools from a browser, no token needed.
"""

from __future__ import annotations

import httpx
import pytest

from roleredis.testing import RedisServer
from roleredis.testing.server import free_port

from ..integration.mcp_support import HEADERS, HELLO, ROLE, http_server, server_env

pytestmark = pytest.mark.integration

HOST = "127.0.0.2"


def test_no_auth_on_another_loopback_address_refuses_a_foreign_host(
    redis_server: RedisServer,
) -> None:
    port = free_port()
    url = f"http://{HOST}:{port}/mcp"
    with http_server(port, server_env(redis_server), "--no-auth", "--host", HOST):
        rebound = httpx.post(url, json=HELLO, headers={**HEADERS, "Host": f"evil.example:{port}"})
        assert rebound.status_code == 421
        from_a_page = httpx.post(
            url, json=HELLO, headers={**HEADERS, "Origin": "http://evil.example"}
        )
        assert from_a_page.status_code == 403
        local = httpx.post(url, json=HELLO, headers=HEADERS)
        assert local.status_code == 200, local.text
        assert ROLE in local.text
