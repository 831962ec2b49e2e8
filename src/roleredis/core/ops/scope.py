"""What every operation runs in: a role's :class:`Scope` (its keyspace, TTL policy, codec and
limits), the :data:`Op` type of the generators, and the scope through which a role reads
another role's keys (:func:`reading`), with the checks a granted read makes (:func:`granted`,
:func:`as_reader`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator, Iterable
from typing import Any, TypeVar

from ...foundation import sharing
from ...foundation.batch import Call
from ...foundation.errors import InvalidArgumentError, PermissionDeniedError, acl_refused
from ...foundation.keys import Keyspace, validate_role
from ...foundation.settings import MessagingSettings
from ...foundation.ttl import apply_ttl
from .. import codec

__all__ = ["Op", "Scope", "as_reader", "granted", "reading"]

T = TypeVar("T")
#: An operation: yields batches of calls, receives their replies, returns an outcome.
Op = Generator[list[Call], list[Any], T]


@dataclasses.dataclass(frozen=True, slots=True)
class Scope:
    """What an operation needs to know about its role: its keyspace and TTL policy."""

    keyspace: Keyspace
    default_ttl: int | None = None
    max_ttl: int | None = None
    codec: codec.Codec = dataclasses.field(default_factory=codec.Codec)
    #: the largest stored value (after compression and sealing) a write may send
    max_value_bytes: int = 512 * 1024 * 1024
    #: keep the role's key index (key_management.index; see roleredis.core.index)
    index: bool = False
    #: the role's keys and its index live in different Cluster slots (a Cluster without
    #: co-located roles): a batch's parts go to several nodes, so an index update that must
    #: follow the writes is sent in a round trip of its own (see roleredis.core.index)
    index_apart: bool = False
    #: a Cluster: a batch's keys of different slots may go to different nodes, with no order
    #: between them (a reply stream that must exist before its request is made apart)
    scattered: bool = False
    #: how long a write with ``replicas=N`` waits for them (async.wait_timeout), seconds
    wait_timeout: float = 1.0
    #: the replicas a lease's grant and renewals wait for unless ``replicas=`` says otherwise
    #: (async.wait_replicas; see roleredis.core.leases)
    wait_replicas: int = 0
    #: the sharing section of config.yaml (None: there is none; see roleredis.foundation.sharing)
    sharing: sharing.Sharing | None = None
    #: set on the scope of a read with ``from_role``: the role reading (keyspace: the owner's)
    reader: str | None = None
    #: mailboxes and events (visibility timeout, deliveries, bounds)
    messaging: MessagingSettings = dataclasses.field(default_factory=MessagingSettings)
    #: what operations of this store keep between calls in this process (the mailbox's known
    #: channels: see roleredis.core.mail); never compared
    state: dict[str, Any] = dataclasses.field(default_factory=dict, compare=False, repr=False)

    @property
    def role(self) -> str:
        return self.keyspace.role

    def encode(self, value: Any, full_key: str, encrypt: bool | None = None) -> bytes:
        """The stored bytes of ``value``; InvalidArgumentError if they exceed max_value_bytes.

        Measured on what is stored: the server closes the connection on a value over its
        proto-max-bulk-len instead of answering, so too big a value must never be sent.
        """
        # a value already too big before encoding (compression off) is refused without the
        # cost of encoding it (a 600 MB str took seconds and twice its size in memory)
        floor = self.codec.stored_floor(value)
        if floor > self.max_value_bytes:
            raise self._too_big(full_key, f"at least {floor}")
        binding = self.binding(full_key) if self.keyspace.hash_tag else full_key
        data = self.codec.encode(value, binding, encrypt)
        if len(data) > self.max_value_bytes:
            raise self._too_big(full_key, str(len(data)))
        return data

    def _too_big(self, full_key: str, size: str) -> InvalidArgumentError:
        return InvalidArgumentError(
            f"the value of {full_key!r} is {size} bytes stored, over "
            f"serialization.max_value_bytes ({self.max_value_bytes}); store it in pieces "
            "or raise the setting (and the server's proto-max-bulk-len)"
        )

    def binding(self, full_key: str) -> str:
        """What a sealed value is bound to: the key as the role names it (``weather:k``) in
        every layout, so it still opens after a copy to ``{weather}:k`` (and values sealed
        before, bound to ``weather:k``, open as they did)."""
        keyspace = self.keyspace
        return keyspace.logical_key(keyspace.strip(full_key)) if keyspace.hash_tag else full_key

    def ttl(self, ttl: Any) -> tuple[int | None, str | None]:
        if ttl is None and self.max_ttl is None:  # apply_ttl's answer, without the call
            return self.default_ttl, None
        return apply_ttl(ttl, default_ttl=self.default_ttl, max_ttl=self.max_ttl)


def reading(scope: Scope, from_role: Any) -> Scope:
    """The scope through which ``scope``'s role reads ``from_role``'s keys (None, or the role
    itself: ``scope``, its own keys, which are never checked).

    The owner's keyspace in the same layout (``{owner}:`` under cluster hash tags), no key
    index (the owner's index is the owner's: a reader may not read it), and ``reader`` set so
    that the sharing section is checked.

    >>> reading(Scope(Keyspace("beta")), "alpha").keyspace.full_key("shared:x")
    'alpha:shared:x'
    """
    if from_role is None or from_role == scope.role:
        return scope
    owner = validate_role(from_role)
    ks = scope.keyspace
    return dataclasses.replace(
        scope,
        keyspace=Keyspace(owner, auto_prefix=ks.auto_prefix, hash_tag=ks.hash_tag),
        index=False,
        reader=scope.role,
    )


def granted(scope: Scope, keys: Iterable[str]) -> None:
    """PermissionDeniedError if the sharing section does not let the reader read each key."""
    if scope.reader is None or scope.sharing is None:
        return
    patterns = scope.sharing.patterns(scope.reader, scope.role)  # once, not once per key
    for key in keys:
        if not sharing.matches(patterns, key):
            raise PermissionDeniedError(sharing.refusal(scope.reader, scope.role, key))


def as_reader(scope: Scope, keys: list[str], batch: list[Call]) -> Op[list[Any]]:
    """Send ``batch``, a read of ``keys``: for a granted read (``scope.reader`` set), the
    server's ACL refusal (NOPERM) says which grant is missing and how to add it."""
    try:
        return (yield batch)
    except PermissionDeniedError as exc:
        if scope.reader is None or not acl_refused(exc):
            raise
        raise PermissionDeniedError(
            sharing.acl_refusal(scope.reader, scope.role, keys, str(exc))
        ) from exc
