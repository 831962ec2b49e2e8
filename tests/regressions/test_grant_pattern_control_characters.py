"""A NUL byte (or another control character) in a grant pattern: ``acl.grant`` sent it to the
server, whose refusal came back as ``internal``; the CLI said the same. A pattern is checked
before anything is sent: invalid_argument, naming the character; the sharing: section of
config.yaml refuses it as a config error naming the entry."""

from __future__ import annotations

import pytest

import roleredis
from roleredis.admin import acl
from roleredis.foundation import sharing
from roleredis.foundation.errors import InvalidArgumentError
from roleredis.testing import RedisServer

from ..cli.conftest import run_cli
from .conftest import acl_server

__all__ = ["acl_server"]

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1b", "\x7f"])
def test_a_control_character_in_a_grant_is_invalid_argument(
    acl_server: RedisServer, char: str
) -> None:
    acl.provision("alpha")
    acl.provision("beta")
    with pytest.raises(InvalidArgumentError, match=r"control character \(U\+00") as refused:
        acl.grant("beta", "alpha", f"shared{char}*")
    assert refused.value.error_code == "invalid_argument"
    admin = acl_server.client()
    try:  # nothing reached the server
        keys = admin.acl_getuser("roleredis-beta")["keys"]
        assert not any("shared" in str(k) for k in keys), keys
    finally:
        admin.close()


def test_the_cli_refuses_a_control_character_in_a_grant(acl_server: RedisServer) -> None:
    acl.provision("alpha")
    acl.provision("beta")
    ran = run_cli("acl", "grant", "beta", "--read", "alpha:shared\x01*")
    assert ran.returncode != 0, str(ran)
    assert "control character" in ran.stderr and "internal" not in ran.stderr.lower(), str(ran)


def test_the_sharing_section_refuses_a_control_character() -> None:
    with pytest.raises(roleredis.ConfigError, match=r"sharing\.beta.*control character"):
        sharing.parse({"beta": {"read": ["alpha:shared\x00*"]}}, "config.yaml")
