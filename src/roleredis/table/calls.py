"""The call wrappers every face uses, sync (:func:`call`) and async (:func:`call_async`,
:func:`bind_async`, :func:`awaitable_twin`).

They do what every call needs once: resolve the role (in the caller, at call time), time the
call, count it in :mod:`roleredis.table.metrics`, log it, give it a span while the application
uses OpenTelemetry (:mod:`roleredis.table.tracing`: one comparison per call while it does not),
and turn any error into the failure dict. They never raise.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, ParamSpec

from .. import runtime
from ..core import ops, results
from ..core.store import AsyncRoleStore, RoleStore
from ..foundation.errors import RoleRedisError
from . import metrics, roles, tracing
from .health import deployment_report
from .operation import NO_KWARGS, Args, Operation, Result, Store
from .rows import BY_TOOL

__all__ = ["async_store", "awaitable_twin", "bind_async", "call", "call_async", "failed", "log"]

P = ParamSpec("P")

# The tools' logger since the first release: applications configure it by this name.
log = logging.getLogger("roleredis.tools")

# What the caller receives in its result is logged at DEBUG: an application that configured no
# logging must not see on stderr a failure it already holds (Python's last-resort handler prints
# WARNING and above). What no caller can see (writes given up or refused in the background, an
# outage the writer rides out, a callback that raised, the "no role detected" notice) is logged
# at WARNING or above where it happens.
_LEVEL_OF_RETURNED_FAILURES = logging.DEBUG


class _ReadingFrom:
    """The store as a ``from_role`` read's result sees it: the caller's role, the owner's keys
    (``prefixed_key`` names the key that was read)."""

    __slots__ = ("from_role", "role", "scope")

    def __init__(self, store: Store, owner: Any) -> None:
        self.role = store.role
        self.scope = store.scope
        self.from_role = owner

    def full_key(self, key: str) -> str:
        return ops.reading(self.scope, self.from_role).keyspace.full_key(key)


def _seen_as(op: Operation, store: Any, kwargs: Mapping[str, Any]) -> Any:
    owner = kwargs.get("from_role") if op.reads_from else None
    return store if owner is None or store is None else _ReadingFrom(store, owner)


def _finished(op: Operation, result: Result, store: Any, kwargs: Mapping[str, Any]) -> Result:
    """The result as the caller gets it: with ``role`` and ``from_role`` for a read from another
    role (absent when ``from_role`` is not given), then the row's ``finish``."""
    if op.reads_from and kwargs.get("from_role") is not None:
        result["from_role"] = kwargs["from_role"]
        if store is not None:
            result.setdefault("role", store.role)
    return result if op.finish is None else op.finish(result)


def failed(
    op: Operation, exc: Exception, store: Store | None, args: Args, started: float
) -> Result:
    """The failure result for ``exc`` (with the call's context), logged without values."""
    context = op.failure_context(args)
    key = context.get("key") if op.subject == "key" else None
    if store is not None:
        context["role"] = store.role
        if key is not None:
            with contextlib.suppress(RoleRedisError):
                context["prefixed_key"] = store.full_key(key)
    result = results.failure(exc, **context)
    code = result["error_code"]
    elapsed = time.perf_counter() - started
    metrics.record(op.name, context.get("role"), elapsed, code)
    log.log(
        _LEVEL_OF_RETURNED_FAILURES,
        "%s failed (%s) role=%s key=%.200r after %.2f ms: %s",
        op.name,
        code,
        context.get("role"),
        key,
        elapsed * 1e3,
        result["error"],
    )
    return result


def _succeeded(op: Operation, store: Store, args: Args, started: float) -> None:
    elapsed = time.perf_counter() - started
    metrics.record(op.name, store.role, elapsed)
    if log.isEnabledFor(logging.DEBUG):
        _logged(op, store, args, elapsed)


def _logged(op: Operation, store: Store, args: Args, elapsed: float) -> None:
    key = args[0] if op.subject == "key" else None
    log.debug("%s ok role=%s key=%.200r in %.2f ms", op.name, store.role, key, elapsed * 1e3)


def call(
    op: Operation,
    store_for: Callable[[str | None], RoleStore],
    role: str | None,
    args: Args = (),
    kwargs: Mapping[str, Any] = NO_KWARGS,
) -> Result:
    """Run ``op`` on the store ``store_for(role)`` gives; never raises.

    ``store_for`` resolves the role and finds the store (the sync face's hooks live there).
    """
    started = time.perf_counter()
    store: RoleStore | None = None
    gate = tracing.GATE
    traced = (
        None
        if (gate.tracer if started < gate.until else gate.check(started)) is None
        else tracing.begin(op, args)
    )
    result: Result | None = None
    try:
        try:
            if op.warns_default_role:
                store = store_for(role)
            else:
                with roles.without_default_warning():
                    store = store_for(role)
            if traced is not None:
                traced.bind(store, op, args, kwargs)
            if op.run is not None:
                outcome = op.run(store, args, kwargs)
            else:
                outcome = getattr(store, op.method)(*args, **kwargs)  # type: ignore[arg-type]
                if op.reports_pool:
                    outcome = (outcome, store.pool_usage(), deployment_report(store.settings))
            # most rows read no other role's keys and finish nothing: no call for that (a
            # fire-and-forget call pays each one)
            seen = _seen_as(op, store, kwargs) if op.reads_from else store
            result = op.build(outcome, seen, args)
        except Exception as exc:
            result = failed(op, exc, _seen_as(op, store, kwargs), args, started)
        else:  # _succeeded's steps, inline: every sync call takes them
            elapsed = time.perf_counter() - started
            metrics.record(op.name, store.role, elapsed)
            if log.isEnabledFor(logging.DEBUG):
                _logged(op, store, args, elapsed)
    finally:
        if traced is not None:
            traced.close(result)
    if op.reads_from or op.finish is not None:
        return _finished(op, result, store, kwargs)
    return result


# role -> its AsyncRoleStore (it holds no loop state, so one serves every loop)
_async_stores: dict[str, AsyncRoleStore] = {}
runtime.on_reset(lambda forked: _async_stores.clear())

#: Frames between roles.current() and the caller of an aio function: call_async, the function.
_ASYNC_CALLER = 2


def async_store(role: str | None, *, skip: int = 0) -> AsyncRoleStore:
    """The calling role's AsyncRoleStore (cached per role); the role is resolved now, ``skip``
    frames above the caller's being the library's own."""
    settings = runtime.enabled_settings()
    name = roles.current(role, settings, skip=skip + 1)
    store = _async_stores.get(name)
    if store is None or store.settings is not settings:
        store = _async_stores[name] = AsyncRoleStore(name, settings=settings)
    return store


def call_async(
    op: Operation,
    role: str | None,
    args: Args = (),
    kwargs: Mapping[str, Any] = NO_KWARGS,
) -> Coroutine[Any, Any, Result]:
    """Resolve the role now, in the caller's frame (a coroutine may run later, in a task, where
    the caller's frame is gone); return the coroutine that does the rest and never raises."""
    started = time.perf_counter()
    try:
        if op.warns_default_role:
            store = async_store(role, skip=_ASYNC_CALLER)
        else:
            with roles.without_default_warning():
                store = async_store(role, skip=_ASYNC_CALLER)
    except Exception as exc:
        return _ready(op, failed(op, exc, None, args, started), kwargs)
    return _run_async(op, store, args, kwargs, started)


async def _ready(op: Operation, result: Result, kwargs: Mapping[str, Any]) -> Result:
    if tracing.GATE.at(time.perf_counter()) is not None:
        traced = tracing.begin(op, ())
        if traced is not None:
            traced.close(result)
    return _finished(op, result, None, kwargs)


async def _run_async(
    op: Operation, store: AsyncRoleStore, args: Args, kwargs: Mapping[str, Any], started: float
) -> Result:
    # the span starts in the task that awaits the call, under its current span
    traced = None if tracing.GATE.at(time.perf_counter()) is None else tracing.begin(op, args)
    result: Result | None = None
    try:
        if traced is not None:
            traced.bind(store, op, args, kwargs)
        try:
            outcome = await getattr(store, op.method)(*args, **kwargs)  # type: ignore[arg-type]
            if op.reports_pool:
                deployment = await asyncio.to_thread(deployment_report, store.settings)
                outcome = (outcome, await store.pool_usage(), deployment)
            # most rows read no other role's keys and finish nothing: no call for that (a
            # fire-and-forget call pays each one)
            seen = _seen_as(op, store, kwargs) if op.reads_from else store
            result = op.build(outcome, seen, args)
        except Exception as exc:
            result = failed(op, exc, _seen_as(op, store, kwargs), args, started)
        else:
            _succeeded(op, store, args, started)
    finally:
        if traced is not None:
            traced.close(result)
    if op.reads_from or op.finish is not None:
        return _finished(op, result, store, kwargs)
    return result


def bind_async(
    op: Operation, like: Callable[P, Result], module: str
) -> Callable[P, Coroutine[Any, Any, Result]]:
    """The awaitable twin of the sync tool ``like``, for ``module``: the same parameters (names,
    kinds, defaults, annotations), running ``op`` with :func:`call_async`. A plain function that
    returns the coroutine (the role is resolved when it is called), marked as a coroutine
    function on Python 3.12 and later.

    Generated from ``like``'s signature (as dataclasses generates ``__init__``), so argument
    errors are raised as for any function and the call costs no argument binding. Made once per
    row, tool and module: the agent tools call the very functions :mod:`roleredis.aio` offers.
    """
    known = _twins.get((op.name, like, module))
    if known is not None:
        return known  # type: ignore[no-any-return]
    signature = inspect.signature(like)
    positional: list[str] = []
    keyword: list[str] = []
    declared: list[str] = []
    defaults: dict[str, Any] = {}
    star_seen = False
    for parameter in signature.parameters.values():
        name = parameter.name
        if parameter.kind is parameter.KEYWORD_ONLY and not star_seen:
            declared.append("*")
            star_seen = True
        elif parameter.kind not in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            raise TypeError(f"{like.__name__}: parameter {name} is not supported")
        if parameter.default is parameter.empty:
            declared.append(name)
        else:
            defaults[f"_default_{name}"] = parameter.default
            declared.append(f"{name}=_default_{name}")
        if name != "role":
            (keyword if parameter.kind is parameter.KEYWORD_ONLY else positional).append(name)
    if op.has_role and "role" not in signature.parameters:
        raise TypeError(f"{like.__name__} has no role parameter")
    packed_args = "".join(f"{name}, " for name in positional)
    packed_kwargs = ", ".join(f"{name!r}: {name}" for name in keyword)
    source = (
        f"def {like.__name__}({', '.join(declared)}):\n"
        f"    return _call(_op, role, ({packed_args}), {{{packed_kwargs}}})\n"
    )
    namespace: dict[str, Any] = {"_call": call_async, "_op": op, **defaults}
    exec(compile(source, f"<roleredis.table.calls: aio {like.__name__}>", "exec"), namespace)
    function: Any = namespace[like.__name__]
    function.__module__ = module
    function.__doc__ = f"Awaitable :func:`roleredis.tools.{like.__name__}`."
    function.__annotations__ = {
        **like.__annotations__,
        "return": "Coroutine[Any, Any, Result]",
    }
    if hasattr(inspect, "markcoroutinefunction"):  # Python >= 3.12
        inspect.markcoroutinefunction(function)
    _twins[(op.name, like, module)] = function
    return function  # type: ignore[no-any-return]


#: the awaitable twins made so far, by row name, sync tool and module
_twins: dict[tuple[str, Callable[..., Result], str], Any] = {}


def awaitable_twin(tool: Callable[..., Result]) -> Callable[..., Any] | None:
    """What :mod:`roleredis.aio` offers for the sync tool ``tool``: its awaitable twin, or the
    tool itself for a row that runs no store method (fire and forget); None for a function
    that is no row's tool."""
    op = BY_TOOL.get(tool.__name__)
    if op is None:
        return None
    if op.method is None:
        return tool
    return bind_async(op, tool, "roleredis.aio")
