"""The seed's result dicts, built in one place from typed outcomes and from errors.

>>> from roleredis.foundation.errors import NotFoundError
>>> failure(NotFoundError("key 'x' not found"), key="x")["error_code"]
'not_found'
"""

from __future__ import annotations

from typing import Any

from ..foundation.errors import RoleRedisError, translate
from . import events, leases, ops
from .mail.common import Message
from .mail.dead import DeadLetter, Replayed
from .mail.housekeeping import Acked
from .mail.requesting import Answer, Answered
from .mail.sending import PreparedSend, Sent
from .mail.touching import Touched

__all__ = [
    "acked",
    "cleared",
    "dead_letters",
    "deleted",
    "entry",
    "event",
    "events_read",
    "existence",
    "failure",
    "granted",
    "health",
    "key_list",
    "published",
    "queued_send",
    "queued_write",
    "queued_write_form",
    "read_many",
    "received",
    "released",
    "renewed",
    "replayed",
    "sent",
    "touched",
    "with_missing_value",
    "written",
    "written_many",
]

Result = dict[str, Any]


def failure(exc: BaseException, **context: Any) -> Result:
    """A failure result: success False, error, message, error_code, and the call's context."""
    error = exc if isinstance(exc, RoleRedisError) else translate(exc)
    text = str(error)
    return {
        "success": False,
        **context,
        **getattr(error, "context", {}),
        "error": text,
        "message": text,
        "error_code": error.error_code,
    }


def with_missing_value(result: Result) -> Result:
    """A read of a missing key says ``value: None``, as the guide's result lists ``value``.

    Other failed reads (a tampered or undecodable value, no connection) carry no value at all.
    """
    if result.get("error_code") == "not_found":
        result["value"] = None
    return result


def _with_warning(result: Result, warning: str | None) -> Result:
    if warning:
        result["warning"] = warning
    return result


def written(w: ops.Written, role: str) -> Result:
    result = {
        "success": True,
        "key": w.key,
        "prefixed_key": w.full_key,
        "role": role,
        "ttl": w.ttl,
        "message": f"Data written to {w.full_key}",
    }
    if w.warning:  # _with_warning's step, inline: every redis_write takes it
        result["warning"] = w.warning
    return result


def queued_write_form(role: str) -> Result:
    """What every :func:`queued_write` result of ``role`` holds, in its keys' order: made once
    per role by the fire-and-forget lane (roleredis.table.fastlane), which passes it as
    ``form`` (a copy and four stores cost less than building the dict)."""
    return {
        "success": True,
        "key": "",
        "prefixed_key": "",
        "role": role,
        "ttl": -1,
        "async": True,
        "message": "",
    }


def queued_write(
    key: str,
    full_key: str,
    role: str,
    ttl: int,
    warning: str | None,
    form: Result | None = None,
) -> Result:
    """A fire-and-forget write queued (``ttl``: the expiry it will get, -1 for none);
    ``form``: :func:`queued_write_form` of ``role``, if the caller keeps one.

    >>> queued_write("k", "r:k", "r", 60, None)["message"]
    'Write to r:k started (fire and forget)'
    """
    result = (queued_write_form(role) if form is None else form).copy()
    result["key"] = key
    result["prefixed_key"] = full_key
    result["ttl"] = ttl
    result["message"] = f"Write to {full_key} started (fire and forget)"
    if warning:
        result["warning"] = warning
    return result


def queued_read(key: str, full_key: str, has_callback: bool) -> Result:
    return {
        "success": True,
        "key": key,
        "prefixed_key": full_key,
        "async": True,
        "callback": has_callback,
        "message": f"Read of {full_key} started",
    }


def flushed(written: int, lost: int) -> Result:
    message = f"All queued writes done ({written} carried out while waiting)"
    if lost:
        message += f"; {lost} were given up or refused by Redis (logged; see the health check)"
    return {"success": True, "written": written, "pending": 0, "lost": lost, "message": message}


def entry(e: ops.Entry) -> Result:
    return {
        "success": True,
        "key": e.key,
        "prefixed_key": e.full_key,
        "value": e.value,
        "ttl": e.ttl,
        "message": f"Data read from {e.full_key}",
    }


def key_list(keys: list[str], pattern: str, role: str, from_role: str | None = None) -> Result:
    """``from_role``: the keys listed are that role's which ``role`` may read."""
    whose = role if from_role is None else f"{from_role} readable by {role}"
    return {
        "success": True,
        "pattern": pattern,
        "role": role,
        "keys": keys,
        "count": len(keys),
        "message": f"Found {len(keys)} keys for role {whose} matching {pattern!r}",
    }


def deleted(key: str, full_key: str, was_there: bool) -> Result:
    return {
        "success": True,
        "key": key,
        "prefixed_key": full_key,
        "deleted": was_there,
        "message": f"Deleted {full_key}" if was_there else f"Key {full_key} did not exist",
    }


def existence(key: str, full_key: str, present: bool) -> Result:
    return {
        "success": True,
        "key": key,
        "prefixed_key": full_key,
        "exists": present,
        "message": f"Key {full_key} {'exists' if present else 'does not exist'}",
    }


def cleared(role: str, count: int) -> Result:
    return {
        "success": True,
        "role": role,
        "deleted_count": count,
        "message": f"Deleted {count} keys of role {role}",
    }


def written_many(w: ops.WrittenMany, role: str) -> Result:
    return _with_warning(
        {
            "success": True,
            "written": len(w.keys),
            "keys": w.keys,
            "role": role,
            "ttl": w.ttl,
            "message": f"Wrote {len(w.keys)} keys for role {role}",
        },
        w.warning,
    )


def read_many(r: ops.ReadMany, role: str) -> Result:
    return {
        "success": True,
        "values": r.values,
        "missing": r.missing,
        "count": len(r.values),
        "role": role,
        "message": f"Read {len(r.values)} keys for role {role}, {len(r.missing)} missing",
    }


def health(
    h: ops.Health,
    role: str,
    pool: dict[str, int],
    *,
    mode: str | None = None,
    nodes: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> Result:
    """The health check's result; ``mode`` (the deployment's, else the server's INFO
    redis_mode) and ``nodes`` (its data nodes) come from the settings' deployment."""
    mode = mode or h.mode
    return {
        "success": True,
        "connected": True,
        "redis_version": h.redis_version,
        "mode": mode,
        "nodes": [] if nodes is None else nodes,
        "latency_ms": h.latency_ms,
        "used_memory_human": h.used_memory_human,
        "role": role,
        "pool": pool,
        **extra,
        "message": f"Redis {h.redis_version} ({mode}) answered in {h.latency_ms} ms",
    }


def published(p: events.Published, role: str) -> Result:
    return {
        "success": True,
        "role": role,
        "topic": p.topic,
        "id": p.id,
        "message": f"Published event {p.id} to {role}'s topic {p.topic}",
    }


def event(e: events.Event) -> Result:
    """One event as every face gives it: ``from`` is the publisher (told by its stream's key).

    >>> got = event(events.Event("1700000000000-0", "weather", "alerts", {"n": 2}, 1700000000.0))
    >>> got["from"], got["event"], got["at"]
    ('weather', {'n': 2}, 1700000000.0)
    """
    found = {"id": e.id, "from": e.sender, "topic": e.topic, "event": e.value, "at": e.at}
    if e.error is not None:  # not an event roleredis can read: told, never a failure
        found["error"] = e.error
    if e.trace is not None:  # the publisher's trace context (see roleredis.otel.handling)
        found["trace"] = e.trace
    return found


def events_read(batch: events.EventBatch, role: str) -> Result:
    found = [event(e) for e in batch.events]
    return {
        "success": True,
        "role": role,
        "from_role": batch.sender,
        "topic": batch.topic,
        "events": found,
        "count": len(found),
        "last_id": batch.last_id,
        "message": f"Read {len(found)} events of {batch.sender}'s topic {batch.topic}",
    }


# --- mail --------------------------------------------------------------------------------------


def sent(s: Sent) -> Result:
    return {
        "success": True,
        "to": s.to,
        "from": s.sender,
        "id": s.id,
        "msg_id": s.msg_id,
        "message": f"Message {s.msg_id} sent from {s.sender} to {s.to}",
    }


def queued_send(p: PreparedSend) -> Result:
    return {
        "success": True,
        "to": p.to,
        "from": p.sender,
        "msg_id": p.msg_id,
        "async": True,
        "message": f"Message {p.msg_id} from {p.sender} to {p.to} queued (fire and forget)",
    }


def received(messages: list[Message], role: str) -> Result:
    text = f"Received {len(messages)} messages for role {role}"
    cut = getattr(messages, "cut", 0)
    if cut:  # a receive with max_bytes held some back for the next receive
        text += f"; {cut} more held back for the next receive (max_bytes)"
    result: Result = {
        "success": True,
        "role": role,
        "messages": [m.as_dict() for m in messages],
        "count": len(messages),
        "message": text,
    }
    if cut:
        result["truncated"] = True
    return result


def answer(a: Answer, role: str) -> Result:
    return {
        "success": True,
        "role": role,
        "reply": a.reply,
        "from": a.responder,
        "msg_id": a.msg_id,
        "id": a.id,
        "elapsed_ms": a.elapsed_ms,
        "message": f"Request {a.msg_id} from {role} answered by {a.responder} "
        f"in {a.elapsed_ms:.1f} ms",
    }


def replied(a: Answered, role: str) -> Result:
    told = "answered" if a.delivered else "not delivered (the requester stopped waiting)"
    return {
        "success": True,
        "role": role,
        "id": a.id,
        "to": a.requester,
        "msg_id": a.msg_id,
        "delivered": a.delivered,
        "message": f"Reply of {role} to request {a.msg_id} of {a.requester} {told}; acknowledged",
    }


def acked(a: Acked, role: str) -> Result:
    return {
        "success": True,
        "role": role,
        "acked": a.acked,
        "message": f"Acknowledged {a.acked} messages of role {role}",
    }


def dead_letters(letters: list[DeadLetter], role: str) -> Result:
    return {
        "success": True,
        "role": role,
        "messages": [d.as_dict() for d in letters],
        "count": len(letters),
        "message": f"{len(letters)} dead letters of role {role}",
    }


def replayed(r: Replayed, role: str) -> Result:
    return {
        "success": True,
        "role": role,
        "replayed": r.replayed,
        "ids": r.ids,
        "message": f"Put {r.replayed} dead letters of role {role} back in its inbox",
    }


# --- leases, and messages kept while handled ---------------------------------------------------


def granted(g: leases.Granted, role: str) -> Result:
    return {
        "success": True,
        "role": role,
        "name": g.name,
        "token": g.token,
        "fence": g.fence,
        "ttl": g.ttl,
        "message": f"Lease {g.name!r} of role {role} granted (fence {g.fence}) for {g.ttl:g} s",
    }


def renewed(r: leases.Renewed, role: str) -> Result:
    return {
        "success": True,
        "role": role,
        "name": r.name,
        "fence": r.fence,
        "ttl": r.ttl,
        "message": f"Lease {r.name!r} of role {role} renewed for {r.ttl:g} s",
    }


def released(r: leases.Released, role: str) -> Result:
    return {
        "success": True,
        "role": role,
        "name": r.name,
        "released": r.released,
        "message": f"Lease {r.name!r} of role {role} "
        + ("released" if r.released else "was no longer held with this token"),
    }


def touched(t: Touched, role: str) -> Result:
    return {
        "success": True,
        "role": role,
        "touched": len(t.ids),
        "ids": t.ids,
        "missing": t.missing,
        "message": f"Restarted the visibility timeout of {len(t.ids)} messages of role {role}"
        + (f"; {len(t.missing)} no longer pending" if t.missing else ""),
    }
