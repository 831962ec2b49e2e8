"""The writer's planning of a batch, I/O-free: the commands that carry it, what each reply settles.

:func:`plan_batch` merges a role's consecutive SETs into one MSET, puts the role's index ZADDs
around its writes (``Lead`` and ``Trail`` where a Cluster sends them in round trips of their
own), and passes packed sends as they are. Halving a batch the server refuses is the thread's
(``Writer._isolate`` in :mod:`.thread`): it sends each half.
"""

from __future__ import annotations

from typing import Any

from ..executor import to_wire


def queued(command: tuple[Any, ...], queued_at: float, index: Any = None) -> tuple[Any, ...]:
    """A write as the writer's queue holds it: one flat tuple, ``(name, queued_at, index update
    or None, packed bytes or None, *args)``, for ``command`` (``(name, args)``, or ``(name,
    args, packed)`` for a send packed in the caller's thread). One object a pending write
    instead of three (the call and its arguments, then the entry): the caller allocates less
    and the queue holds less (issue 26).

    >>> queued(("set", ("r:k", b"1")), 5.0)
    ('set', 5.0, None, None, 'r:k', b'1')
    """
    packed = command[2] if len(command) == 3 else None
    return (command[0], queued_at, index, packed, *command[1])


def call_of(item: tuple[Any, ...]) -> tuple[str, tuple[Any, ...]]:
    """The call (``(name, args)``) of a queued write (see :func:`queued`).

    >>> call_of(queued(("set", ("r:k", b"1", 60)), 5.0))
    ('set', ('r:k', b'1', 60))
    """
    return item[0], item[ARGS:]


#: where a queued write's arguments begin (see :func:`queued`): ``item[ARGS]`` is its key
ARGS = 4


def plan_batch(
    items: list[Any], *, packed: bool = False
) -> tuple[list[Any], list[tuple[Any, int]]]:
    """The commands for a batch, and what each reply settles: ``(writes, replies)`` (the
    first reply is that of their SET or MSET) or ``(read request, its command count)``.

    ``items`` are writes as :func:`queued` makes them, and queued reads. A write may carry
    its command already in the Redis protocol (a fire-and-forget send packs its XADD in the
    caller's thread): sent as those bytes when ``packed`` (one server, a plain socket), else
    made from the call like any other.

    Consecutive writes without a TTL to the same role go out as one MSET: one command and one
    reply for hundreds of writes, which is where the writer's time went (redis-py-free packing
    and parsing are per command). Order is kept: a run ends at the first write with a TTL, a
    read, or another role's key (so an ACL refusal of one role never takes another's writes).
    With the role's key index on, consecutive writes to one role (with or without a TTL) get
    one ZADD before the first of them (its own plan entry, ``INDEX``) and one after the last,
    counted with it: ZADD, SET..., ZADD (see roleredis.core.index on the order). Where the role's
    keys are not in its index's Cluster slot (no ``{role}`` tag), both are ``Lead`` and
    ``Trail`` commands, which :meth:`.thread.Writer._exchange` sends in round trips of their
    own on a Cluster.
    """
    commands: list[Any] = []
    plan: list[tuple[Any, int]] = []
    run: list[Any] = []
    run_args: list[Any] = []
    run_role = ""
    run_prefix = _NO_RUN  # run_role + ":" once a run of writes has begun
    group_index: list[Any] = []  # the ZADD of the role's writes since its first
    group_at = (0, 0)  # where the role's writes begin: in commands, in plan
    each = Each()  # consecutive packed sends: one plan entry, a reply each

    def close_run() -> None:
        nonlocal each
        if each:
            plan.append((each, len(each)))
            each = Each()
        if run:
            commands.append(("MSET", *run_args) if len(run) > 1 else to_wire(call_of(run[0])))
            plan.append((run.copy(), 1))
            run.clear()
            run_args.clear()

    def close_group() -> None:
        close_run()
        if group_index:
            apart = not run_role.startswith("{")  # role:k, not {role}:k
            lead, trail = (Lead, Trail) if apart else (tuple, tuple)
            commands.insert(group_at[0], lead(("ZADD", *group_index)))
            plan.insert(group_at[1], (INDEX, 1))
            commands.append(trail(("ZADD", *group_index)))
            owner, count = plan[-1]
            plan[-1] = (owner, count + 1)
            group_index.clear()

    for item in items:
        if type(item) is tuple:
            if packed and item[3] is not None:  # a packed send (no TTL, no index): as it is
                if run_role != _PACKED:
                    close_group()
                    run_role = _PACKED
                    run_prefix = _NO_RUN
                commands.append(item[3])
                each.append(item)
                continue
            key = item[4]
            # the role's writes follow each other: the run's prefix, tested without making a
            # str per write (the role is what comes before the key's first ':')
            if not key.startswith(run_prefix):
                role = key.partition(":")[0]
                if role != run_role:
                    close_group()
                    run_role = role
                    run_prefix = role + ":"
                    group_at = (len(commands), len(plan))
            update = item[2]
            if update is not None:  # ("zadd", (index, "GT", score, member))
                group_index.extend(update[1] if not group_index else update[1][2:])
            if len(item) == 6 and item[0] == "set":  # SET key value: no TTL
                run.append(item)
                run_args.append(key)
                run_args.append(item[5])
                continue
            close_run()
            commands.append(to_wire(call_of(item)))
            plan.append(([item], 1))
        else:
            close_group()
            run_role = ""
            run_prefix = _NO_RUN
            commands.extend(item.commands)
            plan.append((item, len(item.commands)))
    close_group()
    return commands, plan


class Each(list[Any]):
    """Writes of a batch with a reply each (packed sends), settled one by one."""


class Lead(tuple[Any, ...]):
    """The index update before a role's writes whose keys are not in the index's slot."""


class Trail(tuple[Any, ...]):
    """The index update after such writes."""


#: the plan entry of an index update sent before its writes (its reply is not theirs)
INDEX = object()


#: ``run_role`` of :func:`plan_batch` in a run of packed sends (no role's name: never equal)
_PACKED = "\x00packed"

#: ``run_prefix`` of :func:`plan_batch` outside a run of writes: longer than any key (a key is
#: at most 1,024 bytes after a role's prefix of at most 66), so no key starts with it
_NO_RUN = "\x00" * 8192
