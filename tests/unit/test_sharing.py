"""Granted reads, the pure parts (issue 12, item 1): the sharing: section of config.yaml
(parsed, checked, matched with Redis's glob rules), grant patterns and how acl list reads them
back, and the from_role listing generator fed with the replies a server with ACL users gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from roleredis.admin import acl
from roleredis.admin.acl import provisioning
from roleredis.core import ops
from roleredis.foundation import sharing
from roleredis.foundation.config import Settings, load_settings
from roleredis.foundation.errors import ConfigError, InvalidArgumentError, PermissionDeniedError
from roleredis.foundation.keys import Keyspace

SECTION = {"beta": {"read": ["alpha:shared:*", "alpha:pub?"]}, "gamma": {"read": ["alpha:*"]}}


def test_the_section_is_parsed_into_grants_per_reader_and_owner() -> None:
    policy = sharing.parse(SECTION, "config.yaml")
    assert policy.patterns("beta", "alpha") == ("shared:*", "pub?")
    assert policy.patterns("alpha", "beta") == ()
    assert policy.allows("beta", "alpha", "shared:x")
    assert policy.allows("beta", "alpha", "pubs")
    assert not policy.allows("beta", "alpha", "public")  # ? is one character, as in Redis
    assert not policy.allows("beta", "alpha", "private")
    assert policy.allows("gamma", "alpha", "anything:at:all")
    assert policy.allows("alpha", "alpha", "own")  # a role reads its own keys
    assert [str(g) for g in policy.grants] == ["alpha:shared:*", "alpha:pub?", "alpha:*"]


def test_globs_follow_redis_rules() -> None:
    assert sharing.matches(["s[a-c]*"], "sb:1") and not sharing.matches(["s[a-c]*"], "sd:1")
    assert sharing.matches(["a\\*b"], "a*b") and not sharing.matches(["a\\*b"], "axb")
    assert sharing.matches(["*"], "caf\udce9")  # a key with a byte that is not UTF-8


@pytest.mark.parametrize(
    ("section", "needle"),
    [
        (["beta"], "'sharing' must map each reader"),
        ({"be:ta": {"read": ["alpha:*"]}}, "sharing.be:ta"),
        ({"beta": {"write": ["alpha:*"]}}, "only 'read' is known"),
        ({"beta": {"read": "alpha:*"}}, "sharing.beta.read: must be a list"),
        ({"beta": {"read": ["alpha"]}}, "sharing.beta.read[0] ('alpha'): grant 'alpha' has no ':'"),
        ({"beta": {"read": ["alpha:"]}}, "read[0] ('alpha:'): the pattern is empty"),
        ({"beta": {"read": ["al pha:x"]}}, "invalid role name 'al pha'"),
        ({"beta": {"read": ["alpha:a b"]}}, "holds whitespace"),
        (
            {"beta": {"read": ["ok:*", "alpha:(x)"]}},
            "read[1] ('alpha:(x)'): pattern '(x)' holds '('",
        ),
        ({"beta": {"read": [7]}}, "read[0] (7): a grant must be a str"),
    ],
)
def test_a_bad_entry_is_a_config_error_naming_it(section: Any, needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        sharing.parse(section, "cfg.yaml")
    assert needle in str(caught.value) and "cfg.yaml" in str(caught.value)


def test_the_section_is_read_from_the_top_level_of_config_yaml(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "redis:\n  connection:\n    host: example\n"
        "sharing:\n  beta:\n    read: ['alpha:shared:*']\n",
        encoding="utf-8",
    )
    settings = load_settings(environ={}, path=path)
    assert settings.host == "example" and sharing.configured(settings)
    assert sharing.allows(settings, "beta", "alpha", "shared:1")
    assert not sharing.allows(settings, "beta", "alpha", "secret")
    path.write_text("sharing:\n  beta:\n    read: ['alpha']\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"config.yaml: sharing.beta.read\[0\]"):
        load_settings(environ={}, path=path)
    path.write_text("redis:\n  enabled: true\n", encoding="utf-8")
    unset = load_settings(environ={}, path=path)
    assert not sharing.configured(unset) and sharing.allows(unset, "beta", "alpha", "x")


def test_settings_take_the_section_as_a_mapping_and_keep_it_on_replace() -> None:
    settings = Settings(sharing={"beta": {"read": ["alpha:*"]}}).replace(port=6390)
    assert sharing.configured(settings) and settings.port == 6390
    assert not sharing.configured(Settings())


def test_grant_patterns_in_both_layouts_and_read_back_by_acl_list() -> None:
    cluster = Settings(url="redis+cluster://127.0.0.1:7000")
    assert acl.grant_pattern("alpha", "shared:*") == "alpha:shared:*"
    assert acl.grant_pattern("alpha", "shared:*", cluster) == "{alpha}:shared:*"
    with pytest.raises(InvalidArgumentError, match="empty"):
        acl.grant_pattern("alpha", "")
    with pytest.raises(InvalidArgumentError, match="invalid role name"):
        acl.grant_pattern("__x", "*")
    rules = acl.split_rules(
        "user roleredis-beta on ~beta:* ~__roleredis__:{beta}:* %R~__roleredis__:{*}:events:* "
        "%R~alpha:shared:* %R~{gamma}:x* (%W~__roleredis__:{*}:mail:beta +xadd)"
    )
    described = provisioning._describe("roleredis-beta", rules[2:])
    assert described["grants"] == ["alpha:shared:*", "gamma:x*"]
    assert described["keys"] == ["beta:*", "__roleredis__:{beta}:*"]


def test_a_role_is_not_granted_its_own_keys() -> None:
    with pytest.raises(InvalidArgumentError, match="reads its own keys already"):
        acl.grant("beta", "beta", "*", client=object())


# --- the from_role listing, fed as a server with ACL users answers ----------------------------

NOPERM = PermissionDeniedError("NOPERM this user has no permissions to access one of the keys")


def _listing(scope: ops.Scope, pattern: str, replies: list[list[Any]]) -> tuple[Any, list[Any]]:
    """Run list_keys(from_role="alpha") on canned replies; the outcome and the batches sent."""
    op = ops.list_keys(scope, pattern, from_role="alpha")
    sent = [next(op)]
    try:
        for reply in replies:
            sent.append(op.send(reply))
    except StopIteration as done:
        return done.value, sent
    except PermissionDeniedError as exc:
        return exc, sent
    raise AssertionError("the listing did not finish")


def test_a_listing_keeps_the_keys_the_server_lets_the_reader_read() -> None:
    scope = ops.Scope(Keyspace("beta"))
    keys, sent = _listing(
        scope,
        "*",
        [
            [NOPERM, [b"7", [b"alpha:shared:1", b"alpha:private"]]],
            [NOPERM, [b"0", [b"alpha:shared:2", b"alpha:shared:3"]]],
            [1, NOPERM],
            [2],
        ],
    )
    assert keys == ["shared:1", "shared:2", "shared:3"]
    assert sent[0] == [
        (ops.READABLE, ("alpha:__roleredis_acl_probe__",)),
        ("scan", (0, "alpha:*", ops.SCAN_COUNT)),
    ]
    # a batch's keys are asked at once, with the next SCAN step: no round trip of their own
    assert sent[1] == [
        (ops.READABLE, (b"alpha:shared:1", b"alpha:private")),
        ("scan", (b"7", "alpha:*", ops.SCAN_COUNT)),
    ]
    # refused: one more round trip asks key by key
    assert sent[2] == [(ops.READABLE, (b"alpha:shared:1",)), (ops.READABLE, (b"alpha:private",))]
    assert sent[3] == [(ops.READABLE, (b"alpha:shared:2", b"alpha:shared:3"))]


def test_a_listing_with_nothing_readable_is_permission_unless_the_probe_passed() -> None:
    scope = ops.Scope(Keyspace("beta"))
    refused, _ = _listing(scope, "*", [[NOPERM, [b"0", [b"alpha:x"]]], [NOPERM], [NOPERM]])
    assert isinstance(refused, PermissionDeniedError)
    assert "acl grant beta --read alpha:PATTERN" in str(refused)
    empty, sent = _listing(scope, "shared:*", [[0, [b"0", []]]])
    assert empty == [] and sent[0][0] == (ops.READABLE, ("alpha:shared:__roleredis_acl_probe__",))


def test_a_listing_applies_the_sharing_section_before_asking_the_server() -> None:
    policy = sharing.parse({"beta": {"read": ["alpha:shared:*"]}}, "cfg")
    scope = ops.Scope(Keyspace("beta"), sharing=policy)
    keys, sent = _listing(scope, "*", [[0, [b"0", [b"alpha:shared:1", b"alpha:private"]]], [1]])
    assert keys == ["shared:1"] and sent[1] == [(ops.READABLE, (b"alpha:shared:1",))]
    nobody = ops.Scope(Keyspace("gamma"), sharing=policy)
    with pytest.raises(PermissionDeniedError, match="sharing: gamma: read:"):
        next(ops.list_keys(nobody, from_role="alpha"))


def test_reads_check_the_sharing_section_before_sending() -> None:
    policy = sharing.parse({"beta": {"read": ["alpha:shared:*"]}}, "cfg")
    scope = ops.Scope(Keyspace("beta"), sharing=policy)
    assert next(ops.read(scope, "shared:1", from_role="alpha"))[0] == ("get", ("alpha:shared:1",))
    for op in (
        ops.read(scope, "secret", from_role="alpha"),
        ops.exists(scope, "secret", from_role="alpha"),
        ops.read_many(scope, ["shared:1", "secret"], from_role="alpha"),
    ):
        with pytest.raises(PermissionDeniedError, match="'alpha:secret'"):
            next(op)
    with pytest.raises(InvalidArgumentError, match="invalid role name"):
        next(ops.read(scope, "k", from_role="al:pha"))
    hashed = ops.Scope(Keyspace("beta", hash_tag=True))
    assert ops.reading(hashed, "alpha").keyspace.full_key("k") == "{alpha}:k"
