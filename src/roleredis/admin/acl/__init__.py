"""Isolation the server enforces: one Redis ACL user per role, allowed only its own keys.

``provision("weather")`` creates the user ``roleredis-weather``, which may use only the
commands the tools send, and only on keys matching ``weather:*`` and its internal keys
``__roleredis__:{weather}:*`` (its key index). A role process that connects
with that pair (REDIS_USERNAME / REDIS_PASSWORD) gets ``permission`` for anything of another
role's, and so does a raw redis-py command. The admin connection uses the usual settings (an
admin's REDIS_USERNAME / REDIS_PASSWORD).

Provisioning a user that exists updates in place what provisioning owns (enabled, the
command set, the role's own key pattern) and keeps the rest: its password (unless
``new_password=True``), other key patterns granted to it (``%R~other:*``) and its channels.
Provisioning owns the user's selectors (it clears and sets them). So a new version of these
rules reaches running roles without locking them out.

Talking between roles is enforced by the same user (see :meth:`Keyspace.mail_channel`):

- the role's own keys and internal keys (its inbox channels, its dead letters, its events):
  every command the tools send;
- ``(%W~__roleredis__:{*}:mail:<role> +xadd +xlen)``: a selector that lets it append to its
  own sending channels to any role, and nothing else there (no XTRIM, XDEL, DEL or XGROUP:
  mail it sent is the recipient's to consume);
- ``(%W~__roleredis__:{*}:senders +sadd)``: add its name to a recipient's set of senders,
  never read or remove from it;
- ``%R~__roleredis__:{*}:events:*``: read every role's events (``events=False`` withholds it,
  and takes it back from a user that had it; the role still publishes and reads its own, which
  are its internal keys).

Role names and topics never hold ``:``, ``{`` or ``}``, so each internal key has exactly one
``}``, right after its role: a pattern ending in ``}:mail:alpha`` matches only the channels
of mail from ``alpha``.

A role user may not run INFO (it shows every user's command counts and failed logins) and may
run SELECT only when the configured database is not 0 (redis-py sends SELECT on connect for
any other), so it cannot write its prefix into other databases.

Granted reads (:func:`grant`, :func:`revoke_grant`): ``grant("beta", "alpha", "shared:*")``
adds the root rule ``%R~alpha:shared:*`` (``%R~{alpha}:shared:*`` under cluster hash tags) to
beta's user on every node: beta may then read, never write or delete, alpha's keys that match.
Provisioning keeps grants (it resets key patterns only to take back reading others' events,
and then sets the grants again); :func:`list_report` shows each user's grants as
``OWNER:PATTERN``. Redis has no rule that removes one key pattern, so
revoking one rewrites the user's root patterns without it (``resetkeys`` and the rest, in one
ACL SETUSER per node; selectors are untouched).

Redis does not check key patterns for SCAN, so a user with raw access can still see other
roles' key *names* (never their values) with a raw SCAN or KEYS-free listing. roleredis's own
listing and clearing first touch the requested namespace with a key-checked command, so they
refuse another role's namespace with ``permission`` before scanning it.

ACL users are per node: Redis neither replicates them nor spreads them over a Cluster. So
every function here acts on every data node of the deployment (:func:`connection.node_addresses`:
the one server; a Cluster's primaries and replicas; the Sentinel primary and its replicas), or
a failover would promote a replica where the role has no user. Each reports every node's
outcome (:class:`NodeResult`); a node that failed does not stop the others. The same password
is set on every node; a node that lacks the user (one replaced since) gets the password hash
the other nodes agree on (``#<sha256>``), so provisioning again after a node is replaced does
not change the password. The key pattern is that of the layout in use: ``{role}:*`` in a Cluster
with roles co-located (``redis.cluster.colocate_roles``), else ``role:*``; a Cluster user may
also run what a cluster client sends on connect (COMMAND, CLUSTER SLOTS/SHARDS,
READONLY, ASKING).

The package's modules: ``rules.py`` (what a role's user gets: commands, key patterns,
selectors, the user's name; parsing ACL LIST and GETUSER replies), ``reports.py`` (each node's
outcome and the reports: :class:`Credentials`, :class:`Revoked`, :class:`UserListing`,
:class:`Granted`), ``nodes.py`` (the data nodes with their admin clients, errors per node),
``provisioning.py`` (:func:`provision`, :func:`revoke`, :func:`list_users` and their reports,
drift between nodes), ``grants.py`` (:func:`grant`, :func:`revoke_grant`). The public names are
re-exported here: ``roleredis.acl`` is this package.
"""

from __future__ import annotations

from .grants import grant, revoke_grant
from .provisioning import list_report, list_users, provision, revoke, revoke_report
from .reports import Credentials, Granted, NodeResult, Revoked, UserListing
from .rules import (
    ANNOUNCE_COMMANDS,
    CLUSTER_COMMANDS,
    COMMANDS,
    EVENTS_PATTERN,
    SELECT,
    SEND_COMMANDS,
    SENDERS_PATTERN,
    USER_PREFIX,
    grant_pattern,
    key_pattern,
    sending_pattern,
    split_rules,
    username_for,
)

__all__ = [
    "ANNOUNCE_COMMANDS",
    "CLUSTER_COMMANDS",
    "COMMANDS",
    "EVENTS_PATTERN",
    "SELECT",
    "SENDERS_PATTERN",
    "SEND_COMMANDS",
    "USER_PREFIX",
    "Credentials",
    "Granted",
    "NodeResult",
    "Revoked",
    "UserListing",
    "grant",
    "grant_pattern",
    "key_pattern",
    "list_report",
    "list_users",
    "provision",
    "revoke",
    "revoke_grant",
    "revoke_report",
    "sending_pattern",
    "split_rules",
    "username_for",
]
