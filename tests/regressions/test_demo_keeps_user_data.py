"""Issue 8, item 7: `roleredis demo` (and examples/agents/main.py) on a configured server
deleted every weather:* and timer:* key and overwrote weather:state and timer:state. It now
runs under role names of its own there and deletes, by name, only the keys it wrote."""

from __future__ import annotations

import redis

from roleredis.demo import run
from roleredis.demo.roles.timer import lifecycle as timer
from roleredis.demo.roles.weather import lifecycle as weather

from ..cli.conftest import Cli

USER_DATA = {
    b"weather:precious": b"mine",
    b"timer:precious": b"also mine",
    b"weather:state": b"my weather state",
    b"timer:state": b"my timer state",
}


def _check_untouched(raw: redis.Redis) -> None:
    assert {key: raw.get(key) for key in USER_DATA} == USER_DATA
    assert {raw.ttl(key) for key in USER_DATA} == {-1}
    assert set(raw.scan_iter(count=1000)) == set(USER_DATA)  # and nothing left behind


def test_cli_demo_keeps_user_data(cli: Cli, raw: redis.Redis) -> None:
    raw.mset(USER_DATA)
    shown, as_json = cli("demo"), cli("demo", "--json")
    assert shown.returncode == 0, shown
    assert any(" as roleredis-demo-" in line and ".weather:state " in line for line in shown.lines)
    _check_untouched(raw)
    assert as_json.returncode == 0, as_json
    body = as_json.json()
    assert body["roles"]["weather"].startswith("roleredis-demo-")
    assert body["roles"]["weather"] != body["roles"]["timer"]
    assert body["deleted"] == {"weather": 2, "timer": 2}
    _check_untouched(raw)


def test_runner_deletes_only_what_it_wrote(roleredis_env: object, raw: redis.Redis) -> None:
    raw.mset(USER_DATA)
    report = run(weather, timer, out=lambda line: None, run_id="0123abcd")
    assert report["roles"] == {
        "weather": "roleredis-demo-0123abcd.weather",
        "timer": "roleredis-demo-0123abcd.timer",
    }
    assert report["keys"]["weather"] == ["forecast:paris", "state"]
    _check_untouched(raw)
