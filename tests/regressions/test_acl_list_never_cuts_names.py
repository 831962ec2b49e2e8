"""Issue 18, item 8: ``roleredis acl list`` cut user names at 80 columns (``roleredis-a_r…``).
A listing that does not fit the terminal as a table is printed as one block per user, every
name whole on its line; one that fits stays a table, names whole in their cells."""

from __future__ import annotations

from roleredis.admin import acl
from roleredis.testing import RedisServer

from ..cli.conftest import Cli
from .conftest import ADMIN_PASSWORD

LONG = "a_role_with_a_name_as_long_as_roleredis_allows_sixty_four_chars_"
assert len(LONG) == 64


def _env(server: RedisServer, columns: int) -> dict[str, str]:
    return {"REDIS_URL": server.url, "REDIS_PASSWORD": ADMIN_PASSWORD, "COLUMNS": str(columns)}


def test_long_names_are_printed_whole_at_80_columns(cli: Cli, acl_server: RedisServer) -> None:
    acl.provision(LONG)
    acl.provision("weather")
    acl.grant("weather", LONG, "shared:*")
    ran = cli("acl", "list", env=_env(acl_server, 80))
    assert ran.returncode == 0, ran
    lines = ran.stdout.splitlines()
    assert f"role {LONG}" in lines, ran.stdout
    assert f"  user:    {acl.username_for(LONG)}" in lines, ran.stdout
    assert f"  reads:   {LONG}:shared:*" in lines, ran.stdout
    assert "…" not in ran.stdout


def test_a_listing_that_fits_stays_a_table(cli: Cli, acl_server: RedisServer) -> None:
    acl.provision("weather")
    ran = cli("acl", "list", env=_env(acl_server, 120))
    assert ran.returncode == 0, ran
    row = next(line for line in ran.stdout.splitlines() if "roleredis-weather" in line)
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells[:3] == ["weather", "roleredis-weather", "yes"], ran.stdout
    assert "…" not in ran.stdout
