"""Redis Cluster: which node a batch of commands goes to, and how its replies come back.

roleredis sends each batch itself (packed, one write per node) rather than through redis-py's
cluster pipeline, so the runners (sync, async, the fire-and-forget writer) work the same on
one server and on a cluster: they ask a :class:`ClusterRoute` to exchange a batch, handing it a
function that sends commands to one node's client.

The exchange is I/O-free (:meth:`ClusterRoute.exchange` is a generator that yields
``(node client, commands)`` and receives the replies), so the sync and async runners drive the
same logic:

- each command goes to the node that owns its key's slot (redis-py's RedisCluster keeps the
  slot map, from CLUSTER SLOTS);
- a command whose keys span several slots (MGET, UNLINK, EXISTS, MSET of keys spread over the
  cluster when roles are not co-located) is split per slot and its replies merged, so nothing
  meets CROSSSLOT;
- WAIT (which counts the replicas that acknowledged the writes of its own connection) goes to
  every node that carried a command of the batch before it, appended to that node's part (so
  on the same connection, in the same round trip); its reply is the smallest count. A batch
  with a WAIT that meets redirections sends WAIT again after the redirected commands, and the
  smallest count wins: a reply never claims more replicas than every write reached;
- FCALL goes to the node of its first key (a role's lease keys share its slot); FUNCTION
  (LOAD) goes to every primary, its reply the first error or else the first reply;
- SCAN goes to the node of the role's hash tag (``{weather}:*``), or, for a pattern without a
  tag, walks every primary in turn with a composite cursor (node index in the high bits);
- a MOVED reply refreshes the slot map and sends the command again; ASK sends it once to the
  named node after ASKING; a connection failure marks the map stale, so the retry that follows
  (the runner's retry policy) asks the cluster again where the slots are.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from typing import Any

import hiredis
from redis.crc import key_slot

from ..foundation.internals import refresh_slots, slot_owner

__all__ = ["ClusterClient", "ClusterRoute", "Exchange", "slot_of"]

Command = tuple[Any, ...]
#: how many pieces one command was split into, and how their replies merge into its reply
_Merge = tuple[int, Callable[[list[Any]], Any]]
#: yields (node client, commands for it), receives their replies, returns the batch's replies
Exchange = Generator[tuple[Any, list[Command]], list[Any], list[Any]]

_CURSOR_BITS = 64
_CURSOR_MASK = (1 << _CURSOR_BITS) - 1
_MAX_REDIRECTS = 5
# multi-key commands roleredis sends, split per slot when their keys span several
_MULTI_KEY = frozenset({"MGET", "UNLINK", "DEL", "EXISTS"})


def _is_error(reply: Any) -> bool:
    """An error reply: hiredis's (the sync paths) or redis-py's exception object (asyncio)."""
    return isinstance(reply, hiredis.ReplyError | Exception)


def _key_bytes(key: Any) -> bytes:
    if isinstance(key, bytes):
        return key
    return str(key).encode("utf-8", "surrogateescape")


def slot_of(key: Any) -> int:
    """The cluster slot of ``key`` (its hash tag's, if it has one).

    >>> slot_of("{weather}:forecast") == slot_of("{weather}:state")
    True
    """
    return int(key_slot(_key_bytes(key)))


def _tag_of_pattern(match: Any) -> bytes | None:
    """The hash tag a SCAN MATCH pattern fixes (``{weather}:*`` -> ``weather``), if any.

    Only a tag before any glob character counts: then every key the pattern matches has it.
    """
    text = _key_bytes(match)
    start = text.find(b"{")
    end = text.find(b"}", start + 1)
    if start < 0 or end <= start + 1:
        return None
    if any(c in text[:end] for c in b"*?[\\"):
        return None
    return text[start + 1 : end]


class ClusterClient:
    """A Redis Cluster as roleredis uses it: redis-py's RedisCluster for the slot map (made by
    ``make_topology()`` on first use, so that making a client opens no connection), and one
    pooled client per node (sync ``redis.Redis`` or ``redis.asyncio.Redis``) made on demand
    by ``make_node(host, port)``."""

    def __init__(
        self,
        make_topology: Callable[[], Any],
        make_node: Callable[[str, int], Any],
        *,
        asynchronous: bool = False,
    ) -> None:
        self._make_topology = make_topology
        self._topology: Any = None
        self._make_node = make_node
        self._nodes: dict[tuple[str, int], Any] = {}
        #: slot -> node client, as the slot map last said (emptied when it is asked again)
        self._by_slot: dict[int, Any] = {}
        self._lock = threading.Lock()
        self.asynchronous = asynchronous
        self.stale = False
        #: what the sync runner applies to raw replies (those of a plain redis-py client)
        self.response_callbacks: dict[str, Any] = {}
        #: a cluster has no one pool; health reports count nothing for it
        self.connection_pool = None
        #: the size of each node's pool (pool.max_connections), set by connection.py
        self.max_connections = 0

    @property
    def topology(self) -> Any:
        """redis-py's RedisCluster, holding the slot map; a cluster that cannot be reached
        raises redis-py's ConnectionError (retried and reported like any connection failure)."""
        current = self._topology
        if current is None:
            with self._lock:
                if self._topology is None:
                    self._topology = self._make_topology()
                current = self._topology
        return current

    def node(self, host: str, port: int) -> Any:
        found = self._nodes.get((host, port))
        if found is None:
            with self._lock:
                found = self._nodes.get((host, port))
                if found is None:
                    found = self._nodes[(host, port)] = self._make_node(host, port)
        return found

    def node_clients(self) -> list[Any]:
        return list(self._nodes.values())

    def forget(self) -> tuple[Any, list[Any]]:
        """Drop the slot map and the node clients; returns them, for the caller to close."""
        with self._lock:
            topology, self._topology = self._topology, None
            nodes, self._nodes = list(self._nodes.values()), {}
            self._by_slot = {}
        return topology, nodes

    def refresh(self) -> None:
        """Ask the cluster again which node serves which slot."""
        self._by_slot = {}
        refresh_slots(self.topology)
        self._by_slot = {}
        self.stale = False

    def for_slot(self, slot: int) -> Any:
        if self.stale:
            self.refresh()
        found = self._by_slot.get(slot)
        if found is None:  # redis-py's lookup is slow for a per-key path: remember its answer
            found = self._by_slot[slot] = self.node(*slot_owner(self.topology, slot))
        return found

    def primaries(self) -> list[Any]:
        """Every primary's client, in a stable order (by address)."""
        if self.stale:
            self.refresh()
        found = sorted((n.host, n.port) for n in self.topology.get_primaries())
        return [self.node(host, port) for host, port in found]

    def any_primary(self) -> Any:
        return self.primaries()[0]


class _Piece:
    """One command (or one slot's share of a split command) and where its reply goes."""

    __slots__ = ("command", "index", "slot", "target")

    def __init__(self, index: int, command: Command, slot: int | None, target: Any) -> None:
        self.index = index
        self.command = command
        self.slot = slot
        self.target = target  # a node client when fixed (SCAN, keyless), else None


class ClusterRoute:
    """The route of a batch through a cluster (see the module's doc)."""

    def __init__(self, client: ClusterClient) -> None:
        self.client = client

    def send(
        self, commands: list[Command], send: Callable[[Any, list[Command]], list[Any]]
    ) -> list[Any]:
        """The batch's replies, each part sent by ``send(node client, commands)``."""
        try:
            return drive(self.exchange(commands), send)
        except Exception:
            self.client.stale = True  # a node may be gone: ask where the slots are next time
            raise

    async def asend(
        self, commands: list[Command], send: Callable[[Any, list[Command]], Any]
    ) -> list[Any]:
        """As :meth:`send`, with an async ``send``."""
        try:
            return await adrive(self.exchange(commands), send)
        except Exception:
            self.client.stale = True
            raise

    def exchange(self, commands: list[Command]) -> Exchange:
        """Send ``commands`` where they belong; the replies, in order, as raw hiredis values
        (error replies as ``hiredis.ReplyError`` values, like the one-server path)."""
        pieces: list[_Piece] = []
        merges: list[_Merge] = []
        scans: dict[int, tuple[int, int]] = {}  # command index -> (node index, node count)
        waited = 0  # pieces before this index are covered by a WAIT already planned
        wait: Command | None = None  # the batch's last WAIT, sent again after redirections
        late_waits: list[Any] = []  # the replies of those
        for i, command in enumerate(commands):
            if str(command[0]).upper() == "WAIT":
                merges.append(self._plan_wait(i, command, pieces, waited))
                waited = len(pieces)
                wait = command
                continue
            merges.append(self._plan(i, command, pieces, scans))
        replies: list[Any] = [None] * len(pieces)
        todo = list(range(len(pieces)))
        for _ in range(_MAX_REDIRECTS + 1):
            groups: dict[int, tuple[Any, list[int]]] = {}
            for p in todo:
                piece = pieces[p]
                target = piece.target
                if target is None:
                    target = self.client.for_slot(piece.slot or 0)
                groups.setdefault(id(target), (target, []))[1].append(p)
            redirected: list[int] = []
            again = wait is not None and len(todo) < len(pieces)  # resending redirected ones
            for target, members in groups.values():
                sent = [pieces[p].command for p in members]
                if again and wait is not None:
                    got = yield target, [*sent, wait]
                    late_waits.append(got.pop())
                else:
                    got = yield target, sent
                for p, reply in zip(members, got, strict=True):
                    replies[p] = reply
                    if _redirect(reply) is not None:
                        redirected.append(p)
            if not redirected:
                break
            asks = []
            for p in redirected:
                kind, host, port = _redirect(replies[p]) or ("", "", 0)
                if kind == "ASK":
                    asks.append((p, self.client.node(host, port)))
            if len(asks) < len(redirected):
                self.client.refresh()  # MOVED: the slot map changed
            for p, node in asks:
                if wait is not None:
                    got = yield node, [("ASKING",), pieces[p].command, wait]
                    late_waits.append(got[2])
                else:
                    got = yield node, [("ASKING",), pieces[p].command]
                replies[p] = got[1]
            todo = [p for p in redirected if _redirect(replies[p]) is not None]
            if not todo:
                break
        out: list[Any] = []
        at = 0
        for count, merge in merges:
            out.append(merge(replies[at : at + count]))
            at += count
        for i, (node_index, count) in scans.items():
            out[i] = _composite_cursor(out[i], node_index, count)
        if late_waits:
            for i, command in enumerate(commands):
                if command is wait:
                    out[i] = _fewest([out[i], *late_waits])
        return out

    def _plan_wait(self, index: int, command: Command, pieces: list[_Piece], since: int) -> _Merge:
        """WAIT to every node that carries a piece planned since the previous WAIT (pieces
        from ``since`` on), after them; with none, to any primary."""
        targets: dict[int, Any] = {}
        slots = {piece.slot or 0 for piece in pieces[since:] if piece.target is None}
        for target in [self.client.for_slot(slot) for slot in slots] + [
            piece.target for piece in pieces[since:] if piece.target is not None
        ]:
            targets.setdefault(id(target), target)
        if not targets:
            any_primary = self.client.any_primary()
            targets[id(any_primary)] = any_primary
        for target in targets.values():
            pieces.append(_Piece(index, command, None, target))
        return _counted(len(targets), _fewest)

    def _plan(
        self,
        index: int,
        command: Command,
        pieces: list[_Piece],
        scans: dict[int, tuple[int, int]],
    ) -> _Merge:
        """Add ``command``'s pieces; return how many they are and how to merge their replies
        into its reply."""
        name = str(command[0]).upper()
        if name == "SCAN":
            piece = self._scan_piece(index, command, scans)
            pieces.append(piece)
            return _counted(1, lambda got: got[0])
        if name == "FUNCTION":  # a function library belongs on every primary (LOAD, DELETE)
            primaries = self.client.primaries()
            for target in primaries:
                pieces.append(_Piece(index, command, None, target))
            return _counted(len(primaries), _first_error_or_first)
        if name in ("PING", "INFO", "ASKING") or len(command) < 2:
            pieces.append(_Piece(index, command, None, self.client.any_primary()))
            return _counted(1, lambda got: got[0])
        if name == "MSET":
            pairs = list(zip(command[1::2], command[2::2], strict=True))
            by_slot: dict[int, list[Any]] = {}
            for key, value in pairs:
                by_slot.setdefault(slot_of(key), []).extend((key, value))
            for slot, args in by_slot.items():
                pieces.append(_Piece(index, ("MSET", *args), slot, None))
            return _counted(len(by_slot), _all_ok)
        if name in _MULTI_KEY and len(command) > 2:
            by_slot_keys: dict[int, list[Any]] = {}
            order: list[tuple[int, int]] = []  # (slot, position within it) for each key
            for key in command[1:]:
                slot = slot_of(key)
                keys = by_slot_keys.setdefault(slot, [])
                order.append((slot, len(keys)))
                keys.append(key)
            slots = list(by_slot_keys)
            for slot in slots:
                pieces.append(_Piece(index, (command[0], *by_slot_keys[slot]), slot, None))
            if name == "MGET":

                def merge_mget(got: list[Any]) -> Any:
                    for reply in got:
                        if _is_error(reply):
                            return reply
                    per_slot = dict(zip(slots, got, strict=True))
                    return [per_slot[slot][at] for slot, at in order]

                return _counted(len(slots), merge_mget)
            return _counted(len(slots), _sum)
        pieces.append(_Piece(index, command, slot_of(_routing_key(name, command)), None))
        return _counted(1, lambda got: got[0])

    def _scan_piece(
        self, index: int, command: Command, scans: dict[int, tuple[int, int]]
    ) -> _Piece:
        args = list(command)
        match = args[args.index("MATCH") + 1] if "MATCH" in args else None
        tag = _tag_of_pattern(match) if match is not None else None
        if tag is not None:  # a co-located role: every key of it is on one node
            return _Piece(index, command, slot_of(b"{" + tag + b"}"), None)
        cursor = int(args[1])
        node_index, node_cursor = cursor >> _CURSOR_BITS, cursor & _CURSOR_MASK
        primaries = self.client.primaries()
        scans[index] = (node_index, len(primaries))
        args[1] = node_cursor
        return _Piece(index, tuple(args), None, primaries[min(node_index, len(primaries) - 1)])


def _routing_key(name: str, command: Command) -> Any:
    """The key a single-slot command is routed by: the first argument, but for the commands
    whose key comes later (``XGROUP CREATE key``, ``XREADGROUP ... STREAMS key ...``: a
    role's mail channels share its slot, so the first key stands for all of them).

    >>> _routing_key("XGROUP", ("XGROUP", "CREATE", "{a}:k", "g", "0"))
    '{a}:k'
    >>> _routing_key("XREADGROUP", ("XREADGROUP", "GROUP", "g", "c", "STREAMS", "{a}:k", ">"))
    '{a}:k'
    >>> _routing_key("FCALL", ("FCALL", "f", 2, "{a}:k", "{a}:f", "x"))
    '{a}:k'
    """
    if name in ("XGROUP", "XINFO"):
        return command[2]
    if name in ("FCALL", "FCALL_RO") and int(command[2]) > 0:  # FCALL name numkeys key ...
        return command[3]
    if name in ("XREAD", "XREADGROUP"):
        for i, word in enumerate(command):
            if str(word).upper() == "STREAMS":
                return command[i + 1]
    return command[1]


def _first_error_or_first(got: list[Any]) -> Any:
    """One reply for a command sent to every primary: the first error, else the first reply."""
    return next((reply for reply in got if _is_error(reply)), got[0])


def _counted(count: int, merge: Callable[[list[Any]], Any]) -> _Merge:
    # a pair per command: the count was once an attribute set on the merge function, which
    # for the shared _all_ok/_sum made two MSETs of one batch (split over different numbers of
    # slots) read each other's count, and misplace or lose replies
    return count, merge


def _all_ok(got: list[Any]) -> Any:
    for reply in got:
        if _is_error(reply):
            return reply
    return got[0]


def _fewest(got: list[Any]) -> Any:
    """The smallest WAIT count (the first error, if any)."""
    for reply in got:
        if _is_error(reply):
            return reply
    return min(int(reply) for reply in got)


def _sum(got: list[Any]) -> Any:
    for reply in got:
        if _is_error(reply):
            return reply
    return sum(int(reply) for reply in got)


def _composite_cursor(reply: Any, node_index: int, count: int) -> Any:
    """A node's SCAN reply with the cursor over every primary: the next node's start when this
    node is done, 0 only when the last one is."""
    if _is_error(reply):
        return reply
    cursor, keys = reply
    node_cursor = int(cursor)
    if node_cursor == 0:
        following = node_index + 1
        composite = following << _CURSOR_BITS if following < count else 0
    else:
        composite = (node_index << _CURSOR_BITS) | node_cursor
    return [str(composite).encode(), keys]


def _redirect(reply: Any) -> tuple[str, str, int] | None:
    """``(MOVED|ASK, host, port)`` of a redirection reply, else None."""
    if not _is_error(reply):
        return None
    parts = str(reply).split()
    if len(parts) == 3 and parts[0] in ("MOVED", "ASK"):
        host, _, port = parts[2].rpartition(":")
        return parts[0], host, int(port)
    return None


def drive(exchange: Exchange, send: Callable[[Any, list[Command]], list[Any]]) -> list[Any]:
    """Run an exchange with a sync ``send(node client, commands) -> replies``."""
    try:
        request = next(exchange)
        while True:
            request = exchange.send(send(*request))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def adrive(exchange: Exchange, send: Callable[[Any, list[Command]], Any]) -> list[Any]:
    """Run an exchange with an async ``send(node client, commands) -> replies``."""
    try:
        request = next(exchange)
        while True:
            request = exchange.send(await send(*request))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
