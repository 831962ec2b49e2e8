"""Every face offers every operation of the table, with the same parameters (issue 10, item 1).

The table (roleredis.table.rows.TABLE) is the one list of operations: tools and aio bind it, the
stores run it, ACL provisioning grants what it sends. A face that lacks an operation, or offers
it with other parameter names, kinds or defaults, fails here by name.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from roleredis import aio, tools
from roleredis.admin import acl
from roleredis.core.store import AsyncRoleStore, RoleStore
from roleredis.table import operation, rows

ROWS = {op.name: op for op in rows.TABLE}
WITH_STORE = [op for op in rows.TABLE if op.method is not None]


def shape(function: Any, *, drop: tuple[str, ...] = ()) -> list[tuple[str, Any, Any]]:
    """Names, kinds and defaults of ``function``'s parameters (annotations aside)."""
    return [
        (p.name, p.kind, p.default)
        for p in inspect.signature(function).parameters.values()
        if p.name not in drop
    ]


def test_the_table_names_each_operation_once() -> None:
    assert len(ROWS) == len(rows.TABLE)
    assert len({op.tool for op in rows.TABLE}) == len(rows.TABLE)


def test_every_tool_is_a_row_and_every_row_a_tool() -> None:
    offered = {name for name in tools.__all__ if name.startswith("redis_")}
    assert offered == {op.tool for op in rows.TABLE}
    assert {name for name in aio.__all__ if name.startswith("redis_")} == offered


@pytest.mark.parametrize("op", rows.TABLE, ids=lambda op: op.name)
def test_aio_offers_the_tool_with_the_same_parameters(op: operation.Operation) -> None:
    sync, awaitable = getattr(tools, op.tool), getattr(aio, op.tool)
    assert shape(awaitable) == shape(sync)
    assert inspect.signature(awaitable).parameters == inspect.signature(sync).parameters
    if op.method is None:  # fire and forget, flush: the sync function itself, as before
        assert awaitable is sync
    else:
        assert awaitable.__module__ == "roleredis.aio"
        assert op.tool in awaitable.__doc__


@pytest.mark.parametrize("op", WITH_STORE, ids=lambda op: op.name)
def test_both_stores_offer_the_operation_with_the_same_parameters(op: operation.Operation) -> None:
    assert op.method is not None
    sync = getattr(RoleStore, op.method)
    awaitable = getattr(AsyncRoleStore, op.method)
    assert shape(awaitable) == shape(sync)
    assert inspect.iscoroutinefunction(awaitable)
    assert not inspect.iscoroutinefunction(sync)


@pytest.mark.parametrize("op", WITH_STORE, ids=lambda op: op.name)
def test_the_tool_takes_the_store_methods_parameters_and_role(op: operation.Operation) -> None:
    """The store method may take more, optional, parameters (clear's progress)."""
    assert op.method is not None
    tool = shape(getattr(tools, op.tool), drop=("role",))
    method = shape(getattr(RoleStore, op.method), drop=("self",))
    assert method[: len(tool)] == tool
    assert all(default is not inspect.Parameter.empty for _, _, default in method[len(tool) :])
    assert "role" in inspect.signature(getattr(tools, op.tool)).parameters


@pytest.mark.parametrize("op", WITH_STORE, ids=lambda op: op.name)
def test_a_generated_store_method_runs_the_rows_operation(op: operation.Operation) -> None:
    assert op.method is not None
    for store in (RoleStore, AsyncRoleStore):
        method = getattr(store, op.method)
        wrapped = getattr(method, "__wrapped__", None)
        if wrapped is not None:
            assert wrapped is op.factory, (store.__name__, op.method)
            _scope, *rest = inspect.signature(op.factory).parameters.values()
            assert shape(method, drop=("self",)) == [(p.name, p.kind, p.default) for p in rest]


def test_acl_grants_every_command_an_operation_sends() -> None:
    for op in rows.TABLE:
        assert op.commands <= set(acl.COMMANDS), op.name
    assert "info" not in acl.COMMANDS  # the health check does without it (issue 8)


@pytest.mark.parametrize("op", rows.TABLE, ids=lambda op: op.name)
def test_every_row_describes_itself_in_one_line(op: operation.Operation) -> None:
    assert op.description and "\n" not in op.description
    assert op.description.endswith(".")


def test_an_argument_error_is_raised_as_for_any_function() -> None:
    with pytest.raises(TypeError):
        aio.redis_write("k")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        aio.redis_read("k", rol="x")  # type: ignore[call-arg]
