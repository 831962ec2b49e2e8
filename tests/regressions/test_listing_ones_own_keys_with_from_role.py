"""A role listing its own keys with ``from_role`` set to itself was refused (``permission``)
whenever a sharing: section was configured, since the section holds no grant of a role on its
own keys; reading one of those keys the same way was allowed ("a role may read its own").
Naming oneself as ``from_role`` is reading one's own keys: nothing to check."""

from __future__ import annotations

import pytest

from roleredis.core import ops
from roleredis.foundation import sharing
from roleredis.foundation.keys import Keyspace


def test_a_role_lists_its_own_keys_with_from_role_itself() -> None:
    policy = sharing.parse({"beta": {"read": ["alpha:shared:*"]}}, "cfg")
    alpha = ops.Scope(Keyspace("alpha"), sharing=policy)
    listing = ops.list_keys(alpha, from_role="alpha")
    first = next(listing)  # the role's own listing: a key-checked touch, then SCAN
    assert first[-1] == ("scan", (0, "alpha:*", ops.SCAN_COUNT))
    with pytest.raises(StopIteration) as done:
        listing.send([0] * (len(first) - 1) + [[b"0", [b"alpha:private", b"alpha:shared:1"]]])
    assert done.value.value == ["private", "shared:1"]
    assert ops.reading(alpha, "alpha") is alpha
