"""Isolation the server enforces: one Redis ACL user per role, allowed only its own keys.

``provision("weather")`` creates the user ``roleredis-weather``, which may use only the
commands the tools send, and only on keys matching ``weather:*`` and its internal keys
``__roleredis__:{weather}:*`` (its key index). A role process that connects
with that pair (REDIS_USERNAME / REDIS_PASSWORD) gets ``permission`` for anything of another
role's, and so does a raw redis-py command. The admin connection uses the usual settings (an
admin's REDIS_USERNAME / REDIS_PASSWORD).

Provisioning a user that exists updates in place what provisioning owns (enabled, the
command set, the role's own key pattern) and keeps the rest: its password (unless
``new_password=True``), other key patterns granted to it (``%R~other:*``), its channels and
selectors. So a new version of these rules reaches running roles without locking them out.

A role user may not run INFO (it shows every user's command counts and failed logins) and may
run SELECT only when the configured database is not 0 (redis-py sends SELECT on connect for
any other), so it cannot write its prefix into other databases.

Redis does not check key patterns for SCAN, so a user with raw access can still see other
roles' key *names* (never their values) with a raw SCAN or KEYS-free listing. roleredis's own
listing and clearing first touch the requested namespace with a key-checked command, so they
refuse another role's namespace with ``permission`` before scanning it.
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

from . import runtime
from .errors import register_needed_commands, translate
from .face import commands as face_commands
from .keys import Keyspace, escape_glob, validate_role

__all__ = [
    "COMMANDS",
    "SELECT",
    "USER_PREFIX",
    "Credentials",
    "list_users",
    "provision",
    "revoke",
    "username_for",
]

USER_PREFIX = "roleredis-"

#: What redis-py sends setting up a connection, and DEL (granted since the first release).
_CONNECTION = frozenset({"hello", "echo", "client|setname", "client|id", "ping", "del"})
#: What the operations of the face table send, and the connection set-up; nothing that reaches
#: other keys, nothing that shows other users' activity (no INFO: the health check does
#: without it).
#: The role's key index (key_management.index), on its internal keys only.
_INDEX = frozenset({"zadd", "zrem", "zrange", "zscore", "zcard", "zremrangebyscore", "pttl"})
COMMANDS = tuple(sorted(face_commands() | _CONNECTION | _INDEX))
#: Granted only for a database other than 0: redis-py selects it on every connect.
SELECT = "select"
register_needed_commands((*COMMANDS, SELECT))


@dataclasses.dataclass(frozen=True)
class Credentials:
    """A provisioned role's login: give it to that role's process as REDIS_USERNAME /
    REDIS_PASSWORD. The password is shown once; repr() hides it."""

    role: str
    username: str
    #: None when an existing user kept its password (Redis keeps only its hash).
    password: str | None = dataclasses.field(repr=False)
    #: Whether the user was made now (False: an existing user's rules were updated).
    created: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "username": self.username,
            "password": self.password,
            "created": self.created,
        }


def username_for(role: str) -> str:
    """The ACL user name of ``role``.

    >>> username_for("weather")
    'roleredis-weather'
    """
    return USER_PREFIX + validate_role(role)


def _admin(client: Any) -> Any:
    return client if client is not None else runtime.sync_client()


def _database(admin: Any) -> int:
    """The database the admin connection uses: role users get the same one."""
    kwargs = getattr(getattr(admin, "connection_pool", None), "connection_kwargs", None) or {}
    return int(kwargs.get("db") or 0)


def _rules(role: str, db: int) -> list[str]:
    """What provisioning owns: enabled, the command set, the role's own key patterns (its
    keys, and its internal keys: its key index)."""
    return [
        "on",
        f"~{escape_glob(f'{role}:')}*",
        f"~{Keyspace(role).internal_pattern()}",
        "-@all",
        *(f"+{command}" for command in COMMANDS),
        *([f"+{SELECT}"] if db else []),
    ]


def provision(
    role: str, *, client: Any = None, new_password: bool = False, db: int | None = None
) -> Credentials:
    """Create the ACL user of ``role``, or update the rules of the one it has.

    A new user gets a new password (returned, shown once). An existing user keeps its
    password (``password`` is None in the result) and every grant provisioning does not own;
    ``new_password=True`` replaces its password (the old one stops working at once).
    ``db`` (default: the admin connection's database) decides whether SELECT is allowed.

    Raises PermissionDeniedError if the admin connection may not manage users.
    """
    username = username_for(role)
    admin = _admin(client)
    try:
        exists = admin.execute_command("ACL", "GETUSER", username) is not None
        rules = _rules(role, _database(admin) if db is None else db)
        password = None
        if not exists or new_password:
            password = secrets.token_urlsafe(32)
            rules.insert(0, f">{password}")
            rules.insert(0, "resetpass")
        if not exists:
            rules = ["reset", "resetchannels", *rules]
        admin.execute_command("ACL", "SETUSER", username, *rules)
    except Exception as exc:
        raise translate(exc) from None
    return Credentials(role, username, password, created=not exists)


def revoke(role: str, *, client: Any = None) -> bool:
    """Delete the ACL user of ``role`` (and drop its connections); False if there was none."""
    username = username_for(role)
    try:
        deleted = int(_admin(client).execute_command("ACL", "DELUSER", username))
    except Exception as exc:
        raise translate(exc) from None
    return deleted > 0


def list_users(*, client: Any = None) -> list[dict[str, Any]]:
    """The provisioned roles: role, username, enabled, key patterns, commands."""
    try:
        lines = _admin(client).execute_command("ACL", "LIST")
    except Exception as exc:
        raise translate(exc) from None
    users = []
    for raw_line in lines:
        line = raw_line.decode() if isinstance(raw_line, bytes) else str(raw_line)
        parts = line.split()
        if len(parts) < 2 or not parts[1].startswith(USER_PREFIX):
            continue
        username = parts[1]
        users.append(
            {
                "role": username[len(USER_PREFIX) :],
                "username": username,
                "enabled": "on" in parts[2:],
                "keys": [p[1:] for p in parts[2:] if p.startswith("~")],
                "commands": " ".join(p for p in parts[2:] if p[:1] in "+-" and p != "-@all"),
            }
        )
    return sorted(users, key=lambda user: user["role"])
