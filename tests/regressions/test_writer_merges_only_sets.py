"""The fire-and-forget writer merged any queued command with two arguments into an MSET, as if
it were ``SET key value``: two queued ``SADD set member`` in a row (a mail sender announcing
itself to two recipients) became ``MSET set1 member set2 member``, overwriting both sets with
strings. Only SETs are merged."""

from __future__ import annotations

from roleredis.transport.writer.plan import plan_batch as _plan
from roleredis.transport.writer.plan import queued


def test_only_sets_are_merged_into_mset() -> None:
    items = [
        queued(("set", ("w:a", b"1")), 0.0),
        queued(("sadd", ("__roleredis__:{b}:senders", "w")), 0.0),
        queued(("sadd", ("__roleredis__:{c}:senders", "w")), 0.0),
        queued(("set", ("w:b", b"2")), 0.0),
        queued(("set", ("w:c", b"3")), 0.0),
        queued(("xadd", ("__roleredis__:{b}:mail:w", "*", "m", "x", "t", "1", "b", b"1")), 0.0),
    ]
    commands, plan = _plan(items)
    assert commands == [
        ("SET", "w:a", b"1"),
        ("SADD", "__roleredis__:{b}:senders", "w"),
        ("SADD", "__roleredis__:{c}:senders", "w"),
        ("MSET", "w:b", b"2", "w:c", b"3"),
        ("XADD", "__roleredis__:{b}:mail:w", "*", "m", "x", "t", "1", "b", b"1"),
    ]
    assert [(len(owner), count) for owner, count in plan] == [
        (1, 1),
        (1, 1),
        (1, 1),
        (2, 1),
        (1, 1),
    ]
