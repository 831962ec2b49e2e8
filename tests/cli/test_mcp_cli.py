"""``roleredis mcp``: what it refuses before serving (issue 13), run in-process (the command
stops before it serves). Serving itself is tested as clients drive it, in separate processes:
tests/integration/test_mcp_stdio.py and test_mcp_http.py."""

from __future__ import annotations

import sys

import pytest

import roleredis
from roleredis.cli import main


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        (["--transport", "http"], {}, ["needs a bearer token", "ROLEREDIS_MCP_TOKEN", "--no-auth"]),
        (
            ["--transport", "http", "--no-auth", "--host", "0.0.0.0"],
            {},
            ["--no-auth is allowed on a loopback address only", "0.0.0.0"],
        ),
        (
            ["--transport", "http", "--no-auth", "--host", "10.1.2.3"],
            {},
            ["loopback address only"],
        ),
        (
            ["--transport", "http", "--no-auth"],
            {"ROLEREDIS_MCP_TOKEN": "t"},
            ["--no-auth and ROLEREDIS_MCP_TOKEN are both given"],
        ),
        (["--no-auth"], {}, ["--no-auth applies to --transport http only"]),
        (["--transport", "ftp"], {}, ["--transport must be stdio or http"]),
        ([], {"REDIS_URL": "memory://x"}, ["memory://"]),
    ],
)
def test_the_command_refuses_what_it_cannot_serve_safely(
    roleredis_env: object,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    env: dict[str, str],
    says: list[str],
) -> None:
    monkeypatch.delenv("ROLEREDIS_MCP_TOKEN", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    roleredis.reset()
    assert main(["mcp", "--role", "planner", *args]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    line = err.strip()
    assert line.startswith("error: ") and "\n" not in line, err
    for needle in says:
        assert needle in line, err


@pytest.mark.parametrize("args", [["--role", "../x"], ["--role", "a:b"], []])
def test_a_role_is_required_and_checked(
    roleredis_env: object, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    assert main(["mcp", *args]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_help_names_the_token_variable_not_a_token_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["mcp", "--help"]) == 0
    out = capsys.readouterr().out
    assert "ROLEREDIS_MCP_TOKEN" in out and "--no-auth" in out
    assert "--token" not in out  # the token is given in the environment only


def test_without_the_sdk_it_says_which_extra_to_install(
    roleredis_env: object, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "mcp.server.mcpserver", None)  # the import fails
    assert main(["mcp", "--role", "planner"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: roleredis mcp needs the MCP SDK") and "roleredis[mcp]" in err
