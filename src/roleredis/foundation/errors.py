"""One exception tree for roleredis, and the one place where redis-py's errors are translated.

Every child of :class:`RoleRedisError` owns exactly one ``error_code``; the seed-style result
dicts carry that code, so callers can branch on it without parsing text.

>>> try:
...     raise NotFoundError("key 'forecast' not found")
... except RoleRedisError as exc:
...     exc.error_code
'not_found'
"""

from __future__ import annotations

import contextlib
import re
import ssl
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import ClassVar

import hiredis
import redis.exceptions as rex

from .internals import PoolExhausted, pool_exhausted

__all__ = [
    "ERROR_CODES",
    "ConfigError",
    "ConnectionFailedError",
    "DisabledError",
    "HeldError",
    "InternalError",
    "InvalidArgumentError",
    "LostError",
    "NotFoundError",
    "OutcomeUnknownError",
    "OverloadedError",
    "PermissionDeniedError",
    "ResponderError",
    "RoleRedisError",
    "SerializationError",
    "TimeoutError",
    "acl_refused",
    "forget_secrets",
    "map_redis_errors",
    "refusal",
    "register_secrets",
    "scrub",
    "translate",
]


class RoleRedisError(Exception):
    """Root of every error roleredis raises. ``error_code`` names the kind of failure."""

    error_code: ClassVar[str] = "internal"
    #: fields the failure dict carries besides the error (a request's ``msg_id``, ...)
    context: Mapping[str, object] = MappingProxyType({})

    def with_context(self, **context: object) -> RoleRedisError:
        """This error, its failure dict carrying ``context`` too."""
        self.context = {**self.context, **context}
        return self


class NotFoundError(RoleRedisError):
    """The key does not exist (or has expired)."""

    error_code = "not_found"


class InvalidArgumentError(RoleRedisError, ValueError):
    """A role name, key, pattern or TTL that roleredis refuses."""

    error_code = "invalid_argument"


class SerializationError(RoleRedisError, ValueError):
    """A value that cannot be stored exactly, or stored data that cannot be decoded."""

    error_code = "serialization"


class ConnectionFailedError(RoleRedisError):
    """The Redis server could not be reached."""

    error_code = "connection"


class TimeoutError(RoleRedisError):
    """The server did not answer within socket_timeout, or a wait ran out."""

    error_code = "timeout"


class PermissionDeniedError(RoleRedisError):
    """The server (ACL, authentication) refused the operation."""

    error_code = "permission"


class ConfigError(RoleRedisError):
    """The configuration (file or environment) is invalid or forbids the operation."""

    error_code = "config"


class DisabledError(RoleRedisError):
    """Redis is disabled in the configuration (``enabled: false``)."""

    error_code = "disabled"


class OverloadedError(RoleRedisError):
    """A bounded queue or pool is full."""

    error_code = "overloaded"


class OutcomeUnknownError(RoleRedisError):
    """A command that must not be sent twice (a mail send) was written, but its reply was lost
    (a timeout, a dropped connection): it may or may not have been carried out. Not retried;
    ``context`` names what lets the caller find out (the message's ``msg_id``)."""

    error_code = "unknown_outcome"

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        #: fields the failure dict carries (``msg_id``)
        self.context = context


class ResponderError(RoleRedisError):
    """A request's responder answered with an error (``redis_reply(id, error=...)``, or a
    ``serve`` handler that raised): the text is the responder's (its type and message,
    capped; never a traceback); ``context`` names who answered and the request's msg_id."""

    error_code = "responder_error"

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        #: fields the failure dict carries (``from``, ``msg_id``, ``reply_error``)
        self.context = context


class HeldError(RoleRedisError):
    """A lease another holder holds (still held after ``wait``); ``context`` carries
    ``retry_after``, the seconds its holder has left unless it renews."""

    error_code = "held"

    def __init__(self, message: str, **context: object) -> None:
        super().__init__(message)
        #: fields the failure dict carries (``name``, ``retry_after``)
        self.context = context


class LostError(RoleRedisError):
    """A lease that is no longer this holder's: it expired (a renewal failed or came too
    late), was released, or another holder took it since; never renewed again."""

    error_code = "lost"


class InternalError(RoleRedisError):
    """Anything unexpected: a bug in roleredis or a reply it does not understand."""

    error_code = "internal"


ERROR_CODES: tuple[str, ...] = tuple(
    cls.error_code
    for cls in (
        NotFoundError,
        InvalidArgumentError,
        SerializationError,
        ConnectionFailedError,
        TimeoutError,
        PermissionDeniedError,
        ConfigError,
        DisabledError,
        OverloadedError,
        OutcomeUnknownError,
        ResponderError,
        HeldError,
        LostError,
        InternalError,
    )
)


# --- secrets: never in an error text --------------------------------------------------------
#
# A server may echo a command's arguments in its error reply (Redis before 6 answers HELLO with
# "unknown command 'HELLO', with args beginning with: '3' 'AUTH' 'default' '<password>'"). Every
# server text enters the error tree through translate(), which scrubs it with the secrets of the
# settings in use: connection.py registers them for every client it builds (and runtime for the
# settings it loads); runtime.reset() forgets them.

_SECRETS: dict[str, re.Pattern[str]] = {}
_SHORT_SECRET = 4  # shorter ones are scrubbed only where they stand alone, not inside words
SCRUBBED = "***"


def register_secrets(*secrets: str | None) -> None:
    """Scrub these (a password, an encryption key) out of every error text from now on."""
    for secret in secrets:
        if secret and secret not in _SECRETS:
            escaped = re.escape(secret)
            if len(secret) < _SHORT_SECRET:
                escaped = rf"(?<!\w){escaped}(?!\w)"
            _SECRETS[secret] = re.compile(escaped)


def forget_secrets() -> None:
    """Forget every registered secret (roleredis.reset() does this last)."""
    _SECRETS.clear()


def scrub(text: str, secrets: Iterable[str] | None = None) -> str:
    """``text`` with every secret (default: those registered) replaced by ``***``.

    >>> scrub("unknown command 'HELLO', with args beginning with: '3' 'AUTH' 'u' 'pw42'", ["pw42"])
    "unknown command 'HELLO', with args beginning with: '3' 'AUTH' 'u' '***'"
    """
    if secrets is None:
        patterns = list(_SECRETS.values())
    else:
        patterns = [re.compile(re.escape(secret)) for secret in secrets if secret]
    # the longest first, so that a secret containing another is hidden whole
    for pattern in sorted(patterns, key=lambda p: len(p.pattern), reverse=True):
        text = pattern.sub(SCRUBBED, text)
    return text


# --- the map from backend exceptions to ours ---------------------------------------------------
#
# (what is raised, a pattern its text must match or None, our class, our message). The first
# match wins: most specific first. {text} is the backend's text (scrubbed), {at} " at <address>".
_ExcTypes = type[BaseException] | tuple[type[BaseException], ...]
_EXCEPTION_MAP: tuple[tuple[_ExcTypes, str | None, type[RoleRedisError], str], ...] = (
    (
        (rex.AuthenticationError, rex.AuthorizationError, rex.NoPermissionError),
        None,
        PermissionDeniedError,
        "Redis refused: {text}",
    ),
    (rex.TimeoutError, "connecting", ConnectionFailedError, "Redis connection failed: {text}"),
    (rex.TimeoutError, None, TimeoutError, "Redis did not answer in time: {text}"),
    (
        PoolExhausted,
        None,
        OverloadedError,
        "connection pool exhausted: every connection stayed in use for pool.timeout; "
        "raise pool.max_connections or pool.timeout ({text})",
    ),
    (
        (rex.InvalidResponse, hiredis.ProtocolError),
        None,
        ConnectionFailedError,
        "the server{at} does not speak the Redis protocol (is it another service, e.g. an "
        "HTTP server? check the port in REDIS_URL): {text}",
    ),
    (
        (rex.ConnectionError, ConnectionError),
        None,
        ConnectionFailedError,
        "Redis connection failed: {text}",
    ),
    (
        rex.ResponseError,
        r"^(NOPERM|NOAUTH|WRONGPASS)",
        PermissionDeniedError,
        "Redis refused: {text}",
    ),
    (
        # a function's inner command or key refused by the calling user's ACL (the server
        # says it without NOPERM)
        rex.ResponseError,
        r"^The user executing the script can't",
        PermissionDeniedError,
        "Redis refused: {text}",
    ),
    (
        rex.ResponseError,
        r"^WRONGTYPE",
        # what is stored is not a value roleredis can read: a stored-data problem, not the
        # caller's argument
        SerializationError,
        "the key holds a Redis type other than a string (written by another client?): {text}",
    ),
    (
        rex.ResponseError,
        r"^(OOM|BUSY|LOADING|MASTERDOWN|TRYAGAIN)",
        OverloadedError,
        "Redis is busy: {text}",
    ),
    (rex.ResponseError, None, InternalError, "Redis error: {text}"),
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions under it (its ``__cause__`` or ``__context__``, and theirs)."""
    yield exc
    seen = {id(exc)}
    link = exc.__cause__ or exc.__context__
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def _tls_ended_by_server(exc: BaseException) -> bool:
    """Whether a TLS connection was made and then ended by the server: a TLS alert or EOF, a
    reset, a broken pipe, or redis-py's own "closed" error with no OS error under it (the
    transport was already closing). Not a connection refused, a name not found, an unreachable
    host or a timeout (no connection was made), nor a server certificate the client rejected
    (the client ended it; that message says "certificate verify failed")."""
    if not isinstance(exc, (rex.ConnectionError, ConnectionError)) or isinstance(
        exc, rex.TimeoutError
    ):
        return False
    for cause in _chain(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return False
        if isinstance(cause, (ssl.SSLError, ConnectionResetError, BrokenPipeError)):
            return True
        if isinstance(cause, OSError):  # refused, unreachable, unknown name, timed out
            return False
    return True


# How to fix it: (our class, a pattern the backend's text must match or a test of the backend's
# exception, only over TLS (True), only without (False) or either (None), the hint). The first
# match is added to the message.
_HINTS: tuple[
    tuple[type[RoleRedisError], str | Callable[[BaseException], bool], bool | None, str], ...
] = (
    (
        PermissionDeniedError,
        r"NOAUTH|HELLO must be called with the client already authenticated",
        None,
        "the server{at} requires a password: set REDIS_PASSWORD (and REDIS_USERNAME for an "
        "ACL user other than default)",
    ),
    (
        PermissionDeniedError,
        # the server's own words (Redis 6 and later; before 6), not redis-py's
        r"called without any password configured|no password is set",
        None,
        "a password was given, but the server{at} has none (no requirepass, no ACL password "
        "for the default user): unset REDIS_PASSWORD (and any password in REDIS_URL or "
        "config.yaml), or set a password on the server",
    ),
    (
        PermissionDeniedError,
        r"WRONGPASS|invalid username-password pair|invalid password|Invalid Username or Password",
        None,
        "authentication failed{at}: check REDIS_PASSWORD and REDIS_USERNAME",
    ),
    (
        ConnectionFailedError,
        r"Connection refused|Error 111\b",
        None,
        "nothing accepts connections{at}: start Redis there, or point REDIS_URL (or redis.url / "
        "connection.host and port in config.yaml) at it; 'roleredis config' shows the settings "
        "in use",
    ),
    (
        ConnectionFailedError,
        r"wrong version number|WRONG_VERSION_NUMBER|record layer failure|packet length too long|"
        r"unknown protocol|Timeout connecting",
        True,
        "TLS is likely mismatched: a TLS client waits in vain for a TLS handshake from a plain "
        "port; if the server{at} does not speak TLS, use a redis:// URL (or connection.ssl: "
        "false), else check that the port is its TLS port",
    ),
    (
        ConnectionFailedError,
        # what redis-py's own text says changes between its versions (8.2's asyncio client
        # says "Connection closed by the server before write"): the test is on the exception
        # types under the error, never on its wording
        _tls_ended_by_server,
        True,
        # TLS 1.3 checks the client certificate after the client's side of the handshake, so a
        # refused one shows as a failed first write or read
        "the server{at} ended the TLS connection (during the handshake or the first write); "
        "this usually means it requires a client certificate (connection.ssl_certfile / "
        "ssl_keyfile) or does not trust the one given",
    ),
    (
        ConnectionFailedError,
        r"Connection reset by peer|Connection closed by server|connection closed by the server|"
        r"EOF",
        False,
        "TLS is likely mismatched: if the server{at} expects TLS, use a rediss:// URL (or "
        "connection.ssl: true)",
    ),
)


_REFUSED_COMMAND = re.compile(r"no permissions to run the '([^']+)' command", re.IGNORECASE)


#: the commands roleredis itself needs (roleredis.admin.acl registers them: it knows the operations)
_NEEDED_COMMANDS: frozenset[str] = frozenset()


def register_needed_commands(commands: Iterable[str]) -> None:
    """Name the commands whose refusal means the role's ACL user is out of date."""
    global _NEEDED_COMMANDS
    _NEEDED_COMMANDS = _NEEDED_COMMANDS | {c.lower() for c in commands}


def _needed_command_hint(text: str) -> str:
    """When a refused command is one roleredis itself needs, how to fix the role's user."""
    refused = _REFUSED_COMMAND.search(text)
    if refused is not None and refused.group(1).lower() in _NEEDED_COMMANDS:
        return (
            "; roleredis needs this command: an admin should re-run "
            "`roleredis acl provision ROLE` to update this role's ACL user"
        )
    return ""


def _matches(pattern: str | None, text: str) -> bool:
    return pattern is None or re.search(pattern, text, re.IGNORECASE) is not None


def _hint_applies(
    test: str | Callable[[BaseException], bool], exc: BaseException, text: str
) -> bool:
    return test(exc) if callable(test) else _matches(test, text)


def acl_refused(exc: BaseException) -> bool:
    """Whether ``exc`` is the server's ACL refusal of a command or a key (NOPERM), not a failed
    login.

    >>> acl_refused(refusal("NOPERM No permissions to access a key"))
    True
    >>> acl_refused(translate(rex.AuthenticationError("WRONGPASS invalid password")))
    False
    """
    return any(isinstance(link, rex.NoPermissionError) for link in _chain(exc)) or (
        "refused: NOPERM" in str(exc)  # the server's error code, as refusal() writes it
    )


def refusal(reply: str | BaseException) -> RoleRedisError:
    """An error reply as the error it stands for: cheaply a PermissionDeniedError for the
    server's NOPERM (a listing may meet thousands), else :func:`translate`.

    >>> type(refusal("NOPERM this user has no permissions")).__name__
    'PermissionDeniedError'
    """
    if isinstance(reply, rex.NoPermissionError) or (
        isinstance(reply, str) and reply.startswith("NOPERM")
    ):
        return PermissionDeniedError(f"Redis refused: {reply}")
    return translate(rex.ResponseError(reply) if isinstance(reply, str) else reply)


def translate(
    exc: BaseException, *, address: str | None = None, tls: bool | None = None
) -> RoleRedisError:
    """Turn any exception into the matching :class:`RoleRedisError` (the one mapping place).

    The backend's text is scrubbed of secrets (in the original exception too, so that no
    traceback shows them); ``address`` (where the client connects, without the password) and
    ``tls`` (whether it uses TLS) let the message say how to fix the failure.

    >>> translate(rex.ConnectionError("refused")).error_code
    'connection'
    """
    if isinstance(exc, RoleRedisError):
        return exc
    raw = str(exc) or type(exc).__name__
    text = scrub(raw)
    if text != raw:
        with contextlib.suppress(Exception):
            exc.args = (text,)
    at = f" at {address}" if address else ""
    result: RoleRedisError | None = None
    # redis-py's own untyped "no connection available" counts as the type it stands for
    kind: BaseException = PoolExhausted(text) if pool_exhausted(exc) else exc
    for types, pattern, cls, message in _EXCEPTION_MAP:
        if isinstance(kind, types) and _matches(pattern, text):
            if cls is PermissionDeniedError:
                message += _needed_command_hint(text)
            result = cls(message.format(text=text, at=at))
            break
    if result is None:
        result = InternalError(f"unexpected {type(exc).__name__}: {text}")
    for cls, test, over_tls, hint in _HINTS:
        if (
            type(result) is cls
            and (over_tls is None or over_tls is tls)
            and _hint_applies(test, exc, text)
        ):
            result = cls(f"{str(result).rstrip('.')}; {hint.format(at=at)}")
            break
    result.__cause__ = exc
    return result


@contextlib.contextmanager
def map_redis_errors() -> Iterator[None]:
    """Re-raise any exception from inside the block as a :class:`RoleRedisError`."""
    try:
        yield
    except RoleRedisError:
        raise
    except Exception as exc:
        raise translate(exc) from exc
