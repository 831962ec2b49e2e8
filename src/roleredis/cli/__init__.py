"""The ``roleredis`` command: see what each role stored, read and write its keys, run the demo.

Every subcommand but ``mcp`` (which speaks the MCP protocol on stdout) takes ``--json`` (the
result as JSON on stdout, nothing else there). Errors
are one line on stderr, ``error: <what went wrong> [<error_code>]``, never a traceback, and
stdout stays empty (``health --json`` still prints the failed check's result).

Exit codes:

* 0: done;
* 1: the operation failed: a missing key (``get``, ``ttl``), a server that does not answer, a
  server that refuses (authentication, ACL), ``clear`` not confirmed;
* 2: bad usage or configuration: an unknown option, a bad URL, ``REDIS_PORT=abc``, an invalid
  role name or key, a bad ``--ttl``, ``clear`` without ``--yes`` and no answer on stdin.

The package: :mod:`~roleredis.cli.app` (the app, global options, exit codes),
:mod:`~roleredis.cli.output` (what is printed, and how), and one module per group of
commands, imported here in the order ``roleredis --help`` lists them.
"""

from __future__ import annotations

# the groups register their commands on the app when imported: this order is the help's
from . import health, roles, keys, mail, settings, acl, budget, copy, demo, mcp  # noqa: F401  # isort: skip
from .app import EXIT_FAILED, EXIT_OK, EXIT_USAGE, app, main
from .roles import role_usage

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "app", "main", "role_usage"]
