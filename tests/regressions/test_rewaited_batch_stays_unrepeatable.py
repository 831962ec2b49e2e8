"""A waiting batch that found no place for waiting is sent once without waiting
(``executor.rewaited(batch, None)``), and that came back as a plain list: a batch marked not
repeatable (whose lost reply must be ``unknown_outcome``, never a second send) became
repeatable on the way. The rewritten batch keeps what the batch said."""

from __future__ import annotations

from roleredis.core.ops import Batch
from roleredis.transport.executor import rewaited


def test_a_batch_sent_without_waiting_stays_not_repeatable() -> None:
    batch = Batch([("xread", ("BLOCK", 500, "STREAMS", "k", "0"))], repeatable=False, wait=0.5)
    for wait in (None, 0.2):
        again = rewaited(batch, wait)
        assert getattr(again, "repeatable", True) is False, wait
    assert not getattr(rewaited(batch, None), "wait", 0.0)  # sent as an ordinary batch
