"""Isolation the server enforces: one Redis ACL user per role, allowed only its own keys.

``provision("weather")`` creates (or re-creates, with a new password) the user
``roleredis-weather``, which may use only the commands the tools send, and only on keys
matching ``weather:*``. A role process that connects with that pair (REDIS_USERNAME /
REDIS_PASSWORD) gets ``permission`` for anything of another role's, and so does a raw
redis-py command. The admin connection uses the usual settings (an admin's REDIS_USERNAME /
REDIS_PASSWORD).

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
from .errors import translate
from .keys import escape_glob, validate_role

__all__ = ["USER_PREFIX", "Credentials", "list_users", "provision", "revoke", "username_for"]

USER_PREFIX = "roleredis-"

#: What the tools send (and redis-py's connection set-up); nothing that reaches other keys.
COMMANDS = (
    "get", "set", "mset", "ttl", "exists", "unlink", "del", "mget", "scan", "ping", "info",
    "hello", "select", "echo", "client|setname", "client|id",
)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Credentials:
    """A provisioned role's login: give it to that role's process as REDIS_USERNAME /
    REDIS_PASSWORD. The password is shown once; repr() hides it."""

    role: str
    username: str
    password: str = dataclasses.field(repr=False)

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "username": self.username, "password": self.password}


def username_for(role: str) -> str:
    """The ACL user name of ``role``.

    >>> username_for("weather")
    'roleredis-weather'
    """
    return USER_PREFIX + validate_role(role)


def _admin(client: Any) -> Any:
    return client if client is not None else runtime.sync_client()


def _rules(role: str, password: str) -> list[str]:
    key_pattern = escape_glob(f"{role}:") + "*"
    return [
        "reset",
        "on",
        f">{password}",
        f"~{key_pattern}",
        "resetchannels",
        "-@all",
        *(f"+{command}" for command in COMMANDS),
    ]


def provision(role: str, *, client: Any = None) -> Credentials:
    """Create (or reset, with a new password) the ACL user of ``role``; returns its login.

    Raises PermissionDeniedError if the admin connection may not manage users.
    """
    username = username_for(role)
    password = secrets.token_urlsafe(32)
    try:
        _admin(client).execute_command("ACL", "SETUSER", username, *_rules(role, password))
    except Exception as exc:
        raise translate(exc) from None
    return Credentials(role, username, password)


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
