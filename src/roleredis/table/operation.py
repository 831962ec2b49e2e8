"""What a row of the operation table is: :class:`Operation` (the name, what it is for, the Redis
commands it sends, the store method that runs it, how its outcome becomes the guide's result
dict, which fields its failure dict carries) and the types the rows, their run hooks and the
call wrappers share.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from ..core.store import AsyncRoleStore, RoleStore

__all__ = ["NO_KWARGS", "Args", "Builder", "Operation", "Result", "Store"]

Result = dict[str, Any]
Args = tuple[Any, ...]
Store = RoleStore | AsyncRoleStore
#: What a row's builder gets: the outcome, the store it ran on, the call's positional arguments.
Builder = Callable[[Any, Any, Args], Result]
NO_KWARGS: Mapping[str, Any] = MappingProxyType({})


@dataclasses.dataclass(frozen=True, slots=True)
class Operation:
    """One public operation, as every face offers it."""

    #: "write": the tool is ``redis_write``, the metrics and logs say "write"
    name: str
    #: one line, for humans and agent tool schemas
    description: str
    #: the Redis commands it may send (lowercase, as ACL rules name them)
    commands: frozenset[str]
    #: outcome, store, positional arguments -> the guide's result dict
    build: Builder
    #: the RoleStore / AsyncRoleStore method that runs it; None: not offered by the stores
    method: str | None = None
    #: the ops generator the method runs (``factory(scope, *args, **kwargs)``)
    factory: Callable[..., Any] | None = None
    #: the first argument's name, echoed into failure dicts ("key" adds ``prefixed_key``)
    subject: str | None = None
    #: fields every failure dict of it carries (values are copied per call)
    fallback: Mapping[str, Any] = dataclasses.field(default_factory=lambda: NO_KWARGS)
    #: instead of a store method: run it on the sync store (store, args, kwargs) -> outcome
    run: Callable[[RoleStore, Args, Mapping[str, Any]], Any] | None = None
    #: applied last to every result, success or failure
    finish: Callable[[Result], Result] | None = None
    #: the outcome is paired with the store's pool usage (the health check)
    reports_pool: bool = False
    #: whether the call takes a role (redis_flush does not)
    has_role: bool = True
    #: a call without a role that falls back to the default role warns once (a role's data
    #: access under the wrong name); False for a call that is no role's data access (health)
    warns_default_role: bool = True
    #: it takes ``from_role=OWNER`` (a granted read of another role's keys): its results,
    #: success or failure, then carry ``role`` (the caller) and ``from_role`` (the owner)
    reads_from: bool = False
    #: its first argument is a collection of the role's keys (a span counts them)
    many_keys: bool = False

    @property
    def tool(self) -> str:
        """The function name every face offers it under."""
        return "redis_" + self.name

    def failure_context(self, args: Args) -> Result:
        context: Result = {}
        if self.subject is not None:
            context[self.subject] = args[0] if args else None
        for field, value in self.fallback.items():
            context[field] = value.copy() if isinstance(value, list | dict) else value
        return context
