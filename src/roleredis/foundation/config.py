"""Loading settings: the guide's config.yaml layout plus environment overrides.

Where settings come from, highest first:

1. environment: ``REDIS_URL``, ``REDIS_HOST``, ``REDIS_PORT``, ``REDIS_DB``, ``REDIS_USERNAME``
   (only while ``use_env_overrides`` is true, the default) and ``REDIS_PASSWORD`` (always: the
   password is never read from a file);
2. the ``redis:`` section of the YAML file named by ``ROLEREDIS_CONFIG``, else ``./config.yaml``;
3. built-in defaults (localhost:6379, db 0, no TTLs).

Each value is checked, as it is read, by the check of the value object it goes into
(:mod:`roleredis.settings`), so that the error names the file or variable it came from. This is
the one module of the library that reads the environment; nothing in it writes it.

>>> s = load_settings(environ={"REDIS_PORT": "6390", "REDIS_PASSWORD": "s3cret"})
>>> s.port, s.source("port")
(6390, 'env:REDIS_PORT')
>>> "s3cret" in repr(s)
False
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from . import checks
from .budgets import parse as parse_budgets
from .errors import ConfigError
from .settings import IGNORED, RedactedDict, Settings, flat_field, is_configured
from .sharing import parse as parse_sharing
from .urls import REDACTED, URL_SCHEMES, redact_url, url_parts

__all__ = [
    "IGNORED",
    "REDACTED",
    "URL_SCHEMES",
    "RedactedDict",
    "Settings",
    "is_configured",
    "load_settings",
    "redact_url",
    "url_parts",
]


def _file_schema() -> dict[str, tuple[str, checks.Check]]:
    """YAML path under ``redis:`` -> (flat setting name, its check), from the value objects."""
    schema: dict[str, tuple[str, checks.Check]] = {
        "enabled": ("enabled", checks.boolean),
        "use_env_overrides": ("use_env_overrides", checks.boolean),
        # the guide's file has it twice; both are accepted and ignored (see IGNORED)
        "pool.retry_on_timeout": ("retry_on_timeout", checks.boolean),
    }
    for name in Settings.FLAT:
        field = flat_field(name)
        if field.metadata["name"].startswith("redis."):
            schema[field.metadata["name"].removeprefix("redis.")] = (name, field.metadata["check"])
    return schema


_FILE_SCHEMA = _file_schema()
_SECTIONS = {path.split(".", 1)[0] for path in _FILE_SCHEMA if "." in path}
# the names right under redis: (the password too: it is refused there, with its own message)
_TOP_KEYS = frozenset(path.split(".", 1)[0] for path in _FILE_SCHEMA) | {"password"}
# of those, the ones an application's own section often has too: they alone do not make a
# section roleredis's
_COMMON_KEYS = frozenset({"enabled", "url", "password"})
_SECRET_FILE_KEYS = (
    "password",
    "connection.password",
    "pool.password",
    "encryption.key",
    "encryption.old_keys",
)

# environment variable -> (flat setting name, needs use_env_overrides)
_ENV_VARIABLES: dict[str, tuple[str, bool]] = {
    "REDIS_URL": ("url", True),
    "REDIS_HOST": ("host", True),
    "REDIS_PORT": ("port", True),
    "REDIS_DB": ("db", True),
    "REDIS_USERNAME": ("username", True),
    "REDIS_PASSWORD": ("password", False),
    "ROLEREDIS_ROLE": ("role", False),
    "ROLEREDIS_ENCRYPTION_KEY": ("encryption_key", False),
    "ROLEREDIS_ENCRYPTION_OLD_KEYS": ("encryption_old_keys", False),
}


def _env_check(var: str, name: str) -> checks.Check:
    if var == "ROLEREDIS_ROLE":
        return checks.env_role  # a bad role is the call's invalid_argument, as for role=
    check: checks.Check = flat_field(name).metadata["check"]
    return check


def _walk(tree: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if value is None and str(key) in _SECTIONS and not prefix:
            continue  # a section whose lines are all commented out
        if isinstance(value, Mapping) and str(key) in _SECTIONS and not prefix:
            yield from _walk(value, f"{path}.")
        else:
            yield path, value


def _find_config_file(environ: Mapping[str, str]) -> Path | None:
    named = environ.get("ROLEREDIS_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(
                f"ROLEREDIS_CONFIG names {named!r}, which is not a readable file; "
                "fix the path or unset ROLEREDIS_CONFIG"
            )
        return path
    local = Path("config.yaml")
    return local if local.is_file() else None


def _close_to_redis(name: str) -> bool:
    """Whether a top-level section name looks like a slip of ``redis`` (reddis, Redis, rdis,
    redis_, ...), not an application's own name such as redis_cache or redis_config."""
    return difflib.SequenceMatcher(None, name.lower(), "redis").ratio() >= 0.8


def _misspelt_redis(document: Mapping[Any, Any]) -> tuple[str, list[str]] | None:
    """A section meant to be ``redis:`` in a file that has none: its name is close to
    ``redis`` AND it holds roleredis's own settings (at least one that is roleredis's alone,
    such as connection, pool or key_management, and at least half of its keys roleredis's).
    An application's section (``redis_cache: {host: ..., ttl: ...}``) passes both tests."""
    for name, section in document.items():
        if not isinstance(name, str) or name == "redis" or not isinstance(section, Mapping):
            continue
        keys = [str(key) for key in section]
        ours = [key for key in keys if key in _TOP_KEYS]
        if (
            _close_to_redis(name)
            and any(key not in _COMMON_KEYS for key in ours)
            and 2 * len(ours) >= len(keys)
        ):
            return name, ours
    return None


def _unknown_setting(dotted: str, file_path: Path) -> ConfigError:
    """The error for an unknown name under ``redis:``: the closest known names, not all."""
    close = checks.closest(dotted, set(_FILE_SCHEMA) | _TOP_KEYS - {"password"})
    if close:
        hint = "did you mean " + " or ".join(f"redis.{name}" for name in close) + "?"
    else:
        hint = "the names right under redis: are " + ", ".join(sorted(_TOP_KEYS - {"password"}))
    return ConfigError(
        f"unknown setting redis.{dotted} in {file_path}; {hint} (every setting is listed in "
        "the README's Configuration section)"
    )


def _read_file(path: Path) -> tuple[Mapping[str, Any] | None, Any]:
    """The ``redis:`` section of the file (None when it has none), and its top-level
    ``sharing:`` section (or None)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if document is None:
        return None, None
    if not isinstance(document, Mapping):
        raise ConfigError(f"config file {path} must hold a mapping with a 'redis:' section")
    if "redis" not in document:
        misspelt = _misspelt_redis(document)
        if misspelt is not None:
            name, ours = misspelt
            raise ConfigError(
                f"config file {path} has no 'redis:' section, but its section {name!r} holds "
                f"roleredis settings ({', '.join(ours)}): did you mean 'redis'? Rename "
                f"{name!r} to 'redis'; if {name!r} is your application's own, add a 'redis:' "
                "section for roleredis ('redis: {}' for the defaults)"
            )
        return None, document.get("sharing")
    section = document["redis"]
    if section is None:
        section = {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"config file {path}: 'redis' must be a mapping of settings")
    return section, document.get("sharing")


def load_settings(
    environ: Mapping[str, str] | None = None,
    path: str | os.PathLike[str] | None = None,
    *,
    read_file: bool = True,
) -> Settings:
    """Read, merge and validate settings; raises :class:`ConfigError` naming the bad setting.

    ``environ`` defaults to ``os.environ``; ``path`` to ``ROLEREDIS_CONFIG`` or ./config.yaml;
    ``read_file=False`` reads no file at all.

    >>> load_settings(environ={}).host
    'localhost'
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    file_path = None
    if read_file:
        file_path = Path(path) if path is not None else _find_config_file(env)

    sharing = None
    has_redis = False
    if file_path is not None:
        section, sharing_section = _read_file(file_path)
        has_redis = section is not None
        if sharing_section is not None:
            sharing = parse_sharing(sharing_section, str(file_path))
        for dotted, raw in _walk(section or {}):
            where = f"redis.{dotted} in {file_path}"
            if dotted in _SECRET_FILE_KEYS:
                what, variable = (
                    ("an encryption key", "ROLEREDIS_ENCRYPTION_KEY / _OLD_KEYS")
                    if dotted.startswith("encryption.")
                    else ("a password", "REDIS_PASSWORD")
                )
                raise ConfigError(
                    f"{where}: {what} must not be stored in a config file; "
                    f"remove it and set the {variable} environment variable instead"
                )
            if dotted not in _FILE_SCHEMA:
                raise _unknown_setting(dotted, file_path)
            name, check = _FILE_SCHEMA[dotted]
            values[name] = check(raw, where)
            sources[name] = f"file:{file_path}"
            if name == "url" and values[name] and url_parts(values[name])["password"]:
                raise ConfigError(
                    f"{where} contains a password; a password must not be stored in a config "
                    "file: remove it from the URL and set REDIS_PASSWORD instead"
                )

    use_env = values.get("use_env_overrides", True)
    for var, (name, needs_overrides) in _ENV_VARIABLES.items():
        raw_env = env.get(var)
        if raw_env is None or raw_env == "" or (needs_overrides and not use_env):
            continue
        values[name] = _env_check(var, name)(raw_env, f"{var} (environment)")
        sources[name] = f"env:{var}"

    # the values are clean: what is left to check is how they go together (default_ttl <=
    # max_ttl), which the value objects do
    return Settings(
        **values,
        config_path=str(file_path) if file_path is not None else None,
        config_has_redis=has_redis,
        sources=sources,
        sharing=sharing,
        budgets=_read_budgets(file_path),
    )


def _read_budgets(path: Path | None) -> dict[str, Any]:
    """The top-level ``budgets:`` section of the file, checked (empty without one)."""
    if path is None:
        return {}
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(document, Mapping):
        return {}
    return parse_budgets(document.get("budgets"), str(path))
