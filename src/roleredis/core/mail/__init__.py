"""Mailboxes between roles on Redis Streams, as I/O-free operation generators.

Mail from ``S`` to ``R`` is the stream ``Keyspace(R).mail_channel(S)``
(``__roleredis__:{R}:mail:S``): the sender is known from the key, which only S's ACL user may
append to (see :mod:`roleredis.admin.acl`), never from a field. S adds its name to R's set of
senders
(``__roleredis__:{R}:senders``) so R finds the channel without scanning the keyspace.

- **Send**: ``XADD channel * m <msg_id> t <sent_at> b <body>`` in one round trip, before a
  ``SADD senders S`` (at most every ANNOUNCE_EVERY seconds per recipient: a name is
  announced only once its channel exists) and an ``XLEN channel`` (while the channel is at
  least half full, or last asked over a second ago), marked not repeatable
  (:class:`~roleredis.core.ops.Batch`): a reply lost after the batch was written is
  ``unknown_outcome`` with the ``msg_id``, never sent again blindly. When the channel's
  length is unknown or at ``messaging.max_length``, XLEN is asked first and a full channel
  refuses the send (``overloaded``).
- **Receive**: one consumer group (``inbox``) per channel, made by the recipient (XGROUP
  CREATE ... 0, never MKSTREAM) when it finds the sender in its set. Any role may add any
  name to that set, so a receive reads at most ``messaging.senders_per_receive`` names of it
  (SSCAN, a pass over the set at least every second), checks them all in one round trip (the
  XGROUP CREATE fails for a name without a channel) and removes those without a channel (see
  :func:`_discover`); one consumer name per process (``host:pid:random``). Unacknowledged
  mail idle for ``messaging.visibility_timeout`` is claimed again (XAUTOCLAIM), its
  deliveries read from XPENDING; past ``messaging.max_deliveries`` it moves to the dead
  letters (a stream per sender, ``__roleredis__:{R}:dead:S``, at most
  ``messaging.dead_letters_per_sender``). Then XREADGROUP ``>`` over every channel (new
  mail: delivery 1). The sender's own ACL user may write anything into its channel (XADD is
  all a channel needs), so what the sending library checks is checked again here: an entry
  without a msg_id, a finite sent_at and a body, or with a body over
  ``messaging.max_message_bytes``, is never mail (a dead letter with its reason); fields
  roleredis does not know are ignored.
  A blocking receive waits in slices of at most a second, each a round trip on a pooled
  connection with the read timeout extended by the slice, and notices new senders between
  them; the runners let at most half the pool's connections wait at once, so waiting
  receivers never starve other calls.
- **Ack**: XACK (with XPENDING, XLEN and the server's clock) in one round trip; the channel
  is then trimmed (XTRIM MINID) up to its oldest unacknowledged entry with this store's next
  batch, or at once when it is nearly full or the MINID is of the ack's own millisecond (a
  channel made again could reuse its ids): only acknowledged mail is removed, so a channel's
  length is its unacknowledged mail plus what the recipient acknowledged since its last call.
  Housekeeping (trims, deletions, dead letters) goes as :func:`~roleredis.core.ops.lenient`
  calls: an error reply to it never fails a read or an ack the server carried out.


The package's modules, each a part of that (no module imports one above it in this list):

- ``common.py``: the constants, what a store knows of a recipient (``Route``), a ``Message``
  received, a store's ``Mailbox`` (in its ``Scope.state``; :func:`mailbox`), the checks of
  arguments (:func:`parse_id`, counts, lists of ids) and stream ids' order.
- ``sending.py``: **Send**: :func:`prepare_send` (for the writer too), :func:`send`,
  ``channel_length``, ``new_msg_id``; ``Sent``, ``PreparedSend``.
- ``discovery.py``: the pass over the senders set (``discover``), channels' groups made.
- ``dead.py``: dead letters: moving entries there (``bury``), :func:`dead_letters`,
  :func:`replay_dead_letters`; ``DeadLetter``, ``Replayed``.
- ``housekeeping.py``: **Ack**: :func:`ack` and the trims it leaves for the next batch
  (``take_trims``); :func:`status`, the recipient's view; ``Acked``, ``ChannelStatus``.
- ``deadlines.py``: requests' deadlines on the responder's side: the server's clock
  (``server_now``), requests past their deadline acknowledged and counted, never handed out
  (``drop_expired``).
- ``receiving.py``: **Receive**: :func:`receive` (discovery, claiming idle mail, reading new
  mail, entries checked, mail held for the next receive), the process's consumer name;
  ``Received``.
- ``requesting.py``: **Request and reply**: :func:`request` (the reply stream made, the
  request sent, the answer awaited), :func:`reply` (the answer and the ack in one round
  trip); ``Answer``, ``Answered``.

The names other modules use are re-exported here.
"""

from __future__ import annotations

from .common import DISCOVERY_EVERY, GROUP, MAX_COUNT, Mailbox, Message, mailbox, parse_id
from .dead import DeadLetter, Replayed, dead_letters, replay_dead_letters
from .housekeeping import Acked, ChannelStatus, ack, status
from .receiving import Received, receive
from .requesting import Answer, Answered, error_text, reply, request
from .sending import PreparedSend, Sent, channel_length, prepare_send, send

__all__ = [
    "DISCOVERY_EVERY",
    "GROUP",
    "MAX_COUNT",
    "Acked",
    "Answer",
    "Answered",
    "ChannelStatus",
    "DeadLetter",
    "Mailbox",
    "Message",
    "PreparedSend",
    "Received",
    "Replayed",
    "Sent",
    "ack",
    "channel_length",
    "dead_letters",
    "error_text",
    "mailbox",
    "parse_id",
    "prepare_send",
    "receive",
    "replay_dead_letters",
    "reply",
    "request",
    "send",
    "status",
]
