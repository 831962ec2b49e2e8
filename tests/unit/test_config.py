"""roleredis.foundation.config: the guide's config.yaml layout plus environment overrides."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from roleredis.foundation.config import REDACTED, RedactedDict, Settings, load_settings, redact_url
from roleredis.foundation.errors import ConfigError

# The guide's sample, verbatim (blank lines with two spaces included).
# the guide's config.yaml sample, verbatim (tests/data/guide_config.yaml)
GUIDE_YAML = (Path(__file__).parents[1] / "data" / "guide_config.yaml").read_text(encoding="utf-8")

SECRET = "s3cret-Pa55"


@pytest.fixture(autouse=True)
def _no_stray_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # load_settings(environ=...) never reads os.environ, but it does look for ./config.yaml
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def yaml_file(tmp_path: Path) -> Callable[[str], Path]:
    counter = iter(range(1000))

    def write(text: str) -> Path:
        path = tmp_path / f"config-{next(counter)}.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def _error(environ: dict[str, str] | None = None, path: Path | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(environ=environ or {}, path=path)
    assert info.value.error_code == "config"
    return str(info.value)


# --------------------------------------------------------------------------- defaults


def test_defaults_without_file_or_env() -> None:
    s = load_settings(environ={})
    assert (s.host, s.port, s.db) == ("localhost", 6379, 0)
    assert s.password is None
    assert s.username is None
    assert s.url is None
    assert s.enabled is True
    assert s.auto_prefix is True
    assert s.default_ttl is None
    assert s.max_ttl is None
    assert s.default_role == "unknown"
    assert s.socket_connect_timeout == 5
    assert s.socket_timeout == 5
    assert s.max_connections == 10
    assert s.use_env_overrides is True
    assert s.config_path is None
    for name in ("host", "port", "db", "password", "default_ttl"):
        assert s.source(name) == "default"


def test_settings_are_immutable() -> None:
    s = load_settings(environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.port = 1  # type: ignore[misc]


# --------------------------------------------------------------------------- the file


def test_guide_yaml_parsed(yaml_file: Callable[[str], Path]) -> None:
    path = yaml_file(GUIDE_YAML)
    s = load_settings(environ={}, path=path)
    assert s.enabled is True
    assert s.host == "localhost"
    assert s.port == 6379
    assert s.db == 0
    assert s.password is None
    assert s.socket_connect_timeout == 5.0
    assert s.socket_timeout == 5.0
    assert s.retry_on_timeout is True
    assert s.decode_responses is True
    assert s.max_connections == 10
    assert s.auto_prefix is True
    assert s.default_ttl == 3600
    assert s.max_ttl == 86400
    assert s.use_env_overrides is True
    assert s.config_path == str(path)
    assert s.source("port") == f"file:{path}"
    assert s.source("default_ttl") == f"file:{path}"
    assert s.source("password") == "default"


def test_config_found_through_roleredis_config(yaml_file: Callable[[str], Path]) -> None:
    path = yaml_file(GUIDE_YAML.replace("port: 6379", "port: 6390"))
    s = load_settings(environ={"ROLEREDIS_CONFIG": str(path)})
    assert s.port == 6390
    assert s.config_path == str(path)


def test_config_found_in_cwd(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("redis:\n  connection:\n    db: 3\n", encoding="utf-8")
    s = load_settings(environ={})
    assert s.db == 3
    assert s.config_path == "config.yaml" or Path(s.config_path or "").name == "config.yaml"


def test_roleredis_config_beats_cwd_file(tmp_path: Path, yaml_file: Callable[[str], Path]) -> None:
    (tmp_path / "config.yaml").write_text("redis:\n  connection:\n    db: 3\n", encoding="utf-8")
    named = yaml_file("redis:\n  connection:\n    db: 4\n")
    assert load_settings(environ={"ROLEREDIS_CONFIG": str(named)}).db == 4


def test_roleredis_config_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "config.yaml"
    message = _error({"ROLEREDIS_CONFIG": str(missing)})
    assert "ROLEREDIS_CONFIG" in message
    assert str(missing) in message


def test_roleredis_config_pointing_to_a_directory(tmp_path: Path) -> None:
    assert "ROLEREDIS_CONFIG" in _error({"ROLEREDIS_CONFIG": str(tmp_path)})


def test_other_top_level_sections_are_ignored(yaml_file: Callable[[str], Path]) -> None:
    path = yaml_file(
        "app:\n  name: demo\n  debug: true\n"
        "logging:\n  level: INFO\n"
        "roles: [weather, timer]\n"
        "redis:\n  connection:\n    port: 6391\n"
        "database:\n  password: not-ours-and-not-read\n"
    )
    s = load_settings(environ={}, path=path)
    assert s.port == 6391
    assert s.password is None


def test_file_without_redis_section_gives_defaults(yaml_file: Callable[[str], Path]) -> None:
    s = load_settings(environ={}, path=yaml_file("app:\n  name: demo\n"))
    assert (s.host, s.port) == ("localhost", 6379)


@pytest.mark.parametrize("text", ["", "# only a comment\n", "redis:\n", "redis: {}\n"])
def test_empty_file_or_section_gives_defaults(yaml_file: Callable[[str], Path], text: str) -> None:
    s = load_settings(environ={}, path=yaml_file(text))
    assert (s.host, s.port, s.db) == ("localhost", 6379, 0)


def test_section_with_everything_commented_out_is_accepted(
    yaml_file: Callable[[str], Path],
) -> None:
    # `pool:` with all its lines commented out is None in YAML, not an unknown setting
    path = yaml_file("redis:\n  pool:\n    # max_connections: 10\n  connection:\n    port: 6392\n")
    s = load_settings(environ={}, path=path)
    assert s.port == 6392
    assert s.max_connections == 10


def test_bad_yaml(yaml_file: Callable[[str], Path]) -> None:
    path = yaml_file("redis:\n  connection: [unclosed\n")
    message = _error(path=path)
    assert "YAML" in message
    assert str(path) in message


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_document_that_is_not_a_mapping(yaml_file: Callable[[str], Path], text: str) -> None:
    assert "redis" in _error(path=yaml_file(text))


def test_redis_section_that_is_not_a_mapping(yaml_file: Callable[[str], Path]) -> None:
    assert "redis" in _error(path=yaml_file("redis: [1, 2]\n"))


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("redis:\n  connection:\n    hots: x\n", "redis.connection.hots"),
        ("redis:\n  colour: blue\n", "redis.colour"),
        ("redis:\n  key_management:\n    default_tll: 5\n", "redis.key_management.default_tll"),
        ("redis:\n  pools:\n    max_connections: 5\n", "redis.pools"),
    ],
)
def test_unknown_key_named(yaml_file: Callable[[str], Path], text: str, named: str) -> None:
    message = _error(path=yaml_file(text))
    assert named in message
    assert "unknown" in message


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("redis:\n  connection:\n    port: 0\n", "redis.connection.port"),
        ("redis:\n  connection:\n    port: 70000\n", "redis.connection.port"),
        ("redis:\n  connection:\n    port: abc\n", "redis.connection.port"),
        ("redis:\n  connection:\n    port: true\n", "redis.connection.port"),
        ("redis:\n  connection:\n    db: -1\n", "redis.connection.db"),
        ("redis:\n  connection:\n    socket_timeout: 0\n", "redis.connection.socket_timeout"),
        (
            "redis:\n  connection:\n    socket_connect_timeout: -1\n",
            "redis.connection.socket_connect_timeout",
        ),
        ("redis:\n  connection:\n    socket_timeout: soon\n", "redis.connection.socket_timeout"),
        ("redis:\n  connection:\n    host: ''\n", "redis.connection.host"),
        ("redis:\n  enabled: maybe\n", "redis.enabled"),
        ("redis:\n  pool:\n    max_connections: 0\n", "redis.pool.max_connections"),
        ("redis:\n  key_management:\n    default_ttl: -5\n", "redis.key_management.default_ttl"),
        ("redis:\n  key_management:\n    default_ttl: 0\n", "redis.key_management.default_ttl"),
        ("redis:\n  key_management:\n    max_ttl: -1\n", "redis.key_management.max_ttl"),
        ("redis:\n  key_management:\n    default_ttl: 1.5\n", "redis.key_management.default_ttl"),
        ("redis:\n  key_management:\n    auto_prefix: 2\n", "redis.key_management.auto_prefix"),
        (
            "redis:\n  key_management:\n    default_role: 'a:b'\n",
            "redis.key_management.default_role",
        ),
        ("redis:\n  url: http://example.com\n", "redis.url"),
    ],
)
def test_bad_file_value_named(yaml_file: Callable[[str], Path], text: str, named: str) -> None:
    path = yaml_file(text)
    message = _error(path=path)
    assert named in message, message
    assert str(path) in message


def test_default_ttl_above_max_ttl(yaml_file: Callable[[str], Path]) -> None:
    path = yaml_file("redis:\n  key_management:\n    default_ttl: 100\n    max_ttl: 50\n")
    message = _error(path=path)
    assert "default_ttl" in message
    assert "max_ttl" in message


def test_default_ttl_equal_to_max_ttl_is_fine(yaml_file: Callable[[str], Path]) -> None:
    path = yaml_file("redis:\n  key_management:\n    default_ttl: 50\n    max_ttl: 50\n")
    s = load_settings(environ={}, path=path)
    assert (s.default_ttl, s.max_ttl) == (50, 50)


def test_null_ttls_mean_none(yaml_file: Callable[[str], Path]) -> None:
    path = yaml_file("redis:\n  key_management:\n    default_ttl: null\n    max_ttl: ~\n")
    s = load_settings(environ={}, path=path)
    assert (s.default_ttl, s.max_ttl) == (None, None)


def test_enabled_false(yaml_file: Callable[[str], Path]) -> None:
    assert load_settings(environ={}, path=yaml_file("redis:\n  enabled: false\n")).enabled is False


def test_auto_prefix_false(yaml_file: Callable[[str], Path]) -> None:
    path = yaml_file("redis:\n  key_management:\n    auto_prefix: false\n")
    assert load_settings(environ={}, path=path).auto_prefix is False


# --------------------------------------------------------------------------- passwords


@pytest.mark.parametrize(
    "text",
    [
        f"redis:\n  connection:\n    password: {SECRET}\n",
        f"redis:\n  password: {SECRET}\n",
        f"redis:\n  pool:\n    password: {SECRET}\n",
        "redis:\n  connection:\n    password: ''\n",
        "redis:\n  connection:\n    password: null\n",
    ],
)
def test_password_in_yaml_refused(yaml_file: Callable[[str], Path], text: str) -> None:
    message = _error({"REDIS_PASSWORD": "from-env"}, path=yaml_file(text))
    assert "REDIS_PASSWORD" in message
    assert "password" in message
    assert SECRET not in message


@pytest.mark.parametrize(
    "url",
    [
        f"redis://:{SECRET}@localhost:6379/0",
        f"redis://user:{SECRET}@localhost:6379/0",
        f"rediss://user:{SECRET}@example.com:6380/1",
    ],
)
def test_password_inside_url_in_yaml_refused(yaml_file: Callable[[str], Path], url: str) -> None:
    message = _error(path=yaml_file(f"redis:\n  url: '{url}'\n"))
    assert "REDIS_PASSWORD" in message
    assert SECRET not in message


@pytest.mark.parametrize(
    "url",
    [
        f"redis://localhost:6379/0?password={SECRET}",
        f"unix:///tmp/redis.sock?db=0&password={SECRET}",
    ],
)
def test_password_in_url_query_in_yaml_refused(yaml_file: Callable[[str], Path], url: str) -> None:
    # redis-py takes ?password= from the query string as the password, just as user:pw@
    message = _error(path=yaml_file(f"redis:\n  url: '{url}'\n"))
    assert "REDIS_PASSWORD" in message
    assert SECRET not in message


def test_password_in_yaml_url_refused_even_when_redis_url_overrides_it(
    yaml_file: Callable[[str], Path],
) -> None:
    # the file still holds a password in clear: refuse it, whatever the environment says
    path = yaml_file(f"redis:\n  url: 'redis://:{SECRET}@localhost:6379/0'\n")
    message = _error({"REDIS_URL": "redis://localhost:6380/0"}, path=path)
    assert "REDIS_PASSWORD" in message
    assert SECRET not in message


def test_password_only_from_env(yaml_file: Callable[[str], Path]) -> None:
    s = load_settings(environ={"REDIS_PASSWORD": SECRET}, path=yaml_file(GUIDE_YAML))
    assert s.password == SECRET
    assert s.source("password") == "env:REDIS_PASSWORD"


def test_password_from_env_even_without_env_overrides(yaml_file: Callable[[str], Path]) -> None:
    path = yaml_file(GUIDE_YAML.replace("use_env_overrides: true", "use_env_overrides: false"))
    s = load_settings(
        environ={"REDIS_PASSWORD": SECRET, "REDIS_HOST": "ignored", "REDIS_PORT": "1"}, path=path
    )
    assert s.password == SECRET
    assert s.host == "localhost"
    assert s.port == 6379
    assert s.source("host") == f"file:{path}"


def test_password_in_url_from_env_is_allowed() -> None:
    s = load_settings(environ={"REDIS_URL": f"redis://:{SECRET}@example.com:6390/2"})
    assert s.url == f"redis://:{SECRET}@example.com:6390/2"


# --------------------------------------------------------------------------- environment


def test_env_overrides_file(yaml_file: Callable[[str], Path]) -> None:
    path = yaml_file(GUIDE_YAML)
    s = load_settings(
        environ={
            "REDIS_HOST": "redis.internal",
            "REDIS_PORT": "6390",
            "REDIS_DB": "4",
            "REDIS_USERNAME": "agent",
            "REDIS_PASSWORD": SECRET,
        },
        path=path,
    )
    assert (s.host, s.port, s.db, s.username, s.password) == (
        "redis.internal",
        6390,
        4,
        "agent",
        SECRET,
    )
    assert s.source("host") == "env:REDIS_HOST"
    assert s.source("port") == "env:REDIS_PORT"
    assert s.source("db") == "env:REDIS_DB"
    assert s.source("username") == "env:REDIS_USERNAME"
    # values not overridden keep coming from the file
    assert s.source("default_ttl") == f"file:{path}"
    assert s.default_ttl == 3600


def test_env_without_file() -> None:
    s = load_settings(environ={"REDIS_PORT": " 6390 ", "REDIS_DB": "2"})
    assert (s.port, s.db) == (6390, 2)
    assert s.source("port") == "env:REDIS_PORT"
    assert s.source("host") == "default"


def test_empty_env_values_are_ignored() -> None:
    s = load_settings(environ={"REDIS_HOST": "", "REDIS_PORT": "", "REDIS_PASSWORD": ""})
    assert (s.host, s.port, s.password) == ("localhost", 6379, None)


def test_use_env_overrides_false_ignores_connection_env(yaml_file: Callable[[str], Path]) -> None:
    path = yaml_file(
        "redis:\n  use_env_overrides: false\n  connection:\n    host: filehost\n    port: 6400\n"
    )
    s = load_settings(
        environ={
            "REDIS_HOST": "envhost",
            "REDIS_PORT": "1",
            "REDIS_DB": "9",
            "REDIS_URL": "redis://elsewhere:1/0",
            "REDIS_USERNAME": "u",
        },
        path=path,
    )
    assert (s.host, s.port, s.db, s.url, s.username) == ("filehost", 6400, 0, None, None)
    assert s.use_env_overrides is False


def test_use_env_overrides_false_does_not_validate_ignored_env(
    yaml_file: Callable[[str], Path],
) -> None:
    path = yaml_file("redis:\n  use_env_overrides: false\n")
    assert load_settings(environ={"REDIS_PORT": "abc"}, path=path).port == 6379


@pytest.mark.parametrize("value", ["abc", "0", "70000", "-1", "63.5", "6379x", "true"])
def test_bad_redis_port_named(value: str) -> None:
    message = _error({"REDIS_PORT": value})
    assert "REDIS_PORT" in message
    assert repr(value) in message or value in message


@pytest.mark.parametrize("value", ["1", "65535"])
def test_redis_port_bounds_accepted(value: str) -> None:
    assert load_settings(environ={"REDIS_PORT": value}).port == int(value)


@pytest.mark.parametrize("value", ["abc", "-1", "1.0"])
def test_bad_redis_db_named(value: str) -> None:
    assert "REDIS_DB" in _error({"REDIS_DB": value})


@pytest.mark.parametrize("url", ["http://example.com", "localhost:6379", "ftp://x", "redis"])
def test_bad_redis_url_named(url: str) -> None:
    assert "REDIS_URL" in _error({"REDIS_URL": url})


@pytest.mark.parametrize(
    "url",
    ["redis://localhost:6379/0", "rediss://example.com:6380/1", "unix:///tmp/redis.sock"],
)
def test_redis_url_schemes_accepted(url: str) -> None:
    s = load_settings(environ={"REDIS_URL": url})
    assert s.url == url
    assert s.source("url") == "env:REDIS_URL"


def test_bad_env_message_does_not_leak_password_of_url() -> None:
    message = _error({"REDIS_URL": f"http://user:{SECRET}@example.com"})
    assert SECRET not in message


# --------------------------------------------------------------------------- redaction


def _settings_with_secrets() -> Settings:
    return load_settings(
        environ={
            "REDIS_PASSWORD": SECRET,
            "REDIS_URL": f"redis://agent:{SECRET}@example.com:6390/2",
        }
    )


def test_repr_and_str_of_settings_hide_password() -> None:
    s = _settings_with_secrets()
    percent = "%s" % (s,)  # noqa: UP031 -- %-formatting is one more way to print it
    for text in (repr(s), str(s), f"{s}", f"{s!r}", percent):
        assert SECRET not in text
        assert REDACTED in text
    assert s.password == SECRET


def test_as_dict_redacts_unless_asked() -> None:
    s = _settings_with_secrets()
    shown = s.as_dict()
    assert shown["password"] == REDACTED
    assert SECRET not in repr(shown)
    raw = s.as_dict(redact=False)
    assert raw["password"] == SECRET
    assert SECRET in raw["url"]


def test_connection_info_hides_password_but_holds_it() -> None:
    s = load_settings(environ={"REDIS_PASSWORD": SECRET, "REDIS_HOST": "h", "REDIS_PORT": "6390"})
    info = s.connection_info()
    assert isinstance(info, RedactedDict)
    assert isinstance(info, dict)
    percent = "%s" % (info,)  # noqa: UP031
    for text in (repr(info), str(info), f"{info}", percent, repr([info]), repr({"c": info})):
        assert SECRET not in text
    assert REDACTED in repr(info)
    assert info["password"] == SECRET
    assert info["host"] == "h"
    assert info["port"] == 6390
    assert type(info["port"]) is int
    assert type(info["db"]) is int


def test_connection_info_without_password_shows_none() -> None:
    info = load_settings(environ={}).connection_info()
    assert info["password"] is None
    assert "None" in repr(info)


def test_connection_info_url_is_redacted() -> None:
    info = _settings_with_secrets().connection_info()
    assert SECRET not in str(info.get("url"))
    assert SECRET not in repr(info)


def test_connection_info_reflects_redis_url() -> None:
    """When REDIS_URL is what connects, _get_redis_config() must not claim localhost:6379/0."""
    info = load_settings(environ={"REDIS_URL": "redis://example.com:6390/2"}).connection_info()
    assert (info["host"], info["port"], info["db"]) == ("example.com", 6390, 2)


def test_connection_info_password_from_redis_url() -> None:
    """The mapping's password is the real one used to connect, also when it is in REDIS_URL."""
    info = load_settings(
        environ={"REDIS_URL": f"redis://:{SECRET}@example.com:6390/2"}
    ).connection_info()
    assert info["password"] == SECRET
    assert SECRET not in repr(info)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://user:pw@host:6379/0", "redis://user:***@host:6379/0"),
        ("redis://:pw@host:6379/0", "redis://:***@host:6379/0"),
        ("rediss://user:pw@host:6380/1", "rediss://user:***@host:6380/1"),
        ("redis://user:p@ss:w0rd@host:6379/0", "redis://user:***@host:6379/0"),
        ("redis://host:6379/0", "redis://host:6379/0"),
        ("redis://user@host:6379/0", "redis://user@host:6379/0"),
        ("unix:///tmp/redis.sock", "unix:///tmp/redis.sock"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        f"redis://host:6379/0?password={SECRET}",
        f"unix:///tmp/redis.sock?db=0&password={SECRET}",
    ],
)
def test_redact_url_hides_query_password(url: str) -> None:
    assert SECRET not in redact_url(url)


def test_redacted_dict_only_hides_password() -> None:
    d = RedactedDict(host="h", password="pw", other="pw-not-secret")
    assert "'password': '***'" in repr(d)
    assert "pw-not-secret" in repr(d)
    assert d["password"] == "pw"


# --------------------------------------------------------------------------- misc


def test_settings_constructible_directly() -> None:
    s = Settings(port=6390)
    assert s.port == 6390
    assert s.source("port") == "default"


def test_load_settings_does_not_read_os_environ_when_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_PORT", "abc")
    assert load_settings(environ={}).port == 6379
    with pytest.raises(ConfigError):
        load_settings()


def test_yaml_values_of_right_type_required(yaml_file: Callable[[str], Path]) -> None:
    # quoted numbers from YAML are accepted as numbers (env values are text too)
    s = load_settings(environ={}, path=yaml_file("redis:\n  connection:\n    port: '6390'\n"))
    assert s.port == 6390
