"""``roleredis config``: the effective settings, and where each came from."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from .. import runtime
from ..foundation.config import IGNORED, is_configured
from ..transport.connection import describe as where
from ..transport.connection import is_memory
from .app import JsonFlag, app, source, source_for_humans
from .output import console, emit_json, say


@app.command()
def config(as_json: JsonFlag = False) -> None:
    """The effective settings and where each came from (file, environment, --url, default),
    and the sharing: section of the config file (granted reads checked in the library).

    The password (and one in a URL) is shown as ***. Exit 2 if the settings are invalid.
    """
    settings = runtime.settings()
    values = settings.as_dict(redact=True)
    values.pop("config_path", None)
    shown: dict[str, dict[str, Any]] = {
        name: {"value": value, "source": source(settings, name)} for name, value in values.items()
    }
    url_source = source(settings, "url")
    if settings.url and not is_memory(settings):
        # host, port and db of a URL are what is used: the settings of those names are not
        address = settings.connection_info()
        for name in ("host", "port", "db"):
            shown[name]["used"] = address[name]
            shown[name]["used_from"] = url_source
    for name in IGNORED:  # accepted from the guide's file, no effect (the reason is shown)
        shown[name]["ignored"] = True
    sharing: dict[str, list[str]] | None = None
    if settings.sharing is not None:  # reader -> the OWNER:PATTERN entries it may read
        sharing = {}
        for grant in settings.sharing.grants:
            sharing.setdefault(grant.reader, []).append(str(grant))
    if as_json:
        emit_json(
            {
                "config_file": settings.config_path,
                "config_file_has_redis": settings.config_has_redis,
                "connects_to": where(settings),
                "settings": shown,
                "sharing": sharing,
            }
        )
        return
    say(Text(f"connects to: {where(settings)}"))
    if not is_configured(settings):
        say(Text("(nothing configured: the default localhost:6379)"))
    if settings.config_path is None:
        say(Text("config file: none (no ROLEREDIS_CONFIG, no ./config.yaml)"))
    elif settings.config_has_redis:
        say(Text(f"config file: {settings.config_path} (its redis: section is read)"))
    else:
        say(Text(f"config file: {settings.config_path} (no redis: section: nothing read from it)"))
    table = Table()
    table.add_column("setting")
    table.add_column("value")
    table.add_column("from")
    for name, item in shown.items():
        text, came_from = _config_value(item["value"]), item["source"]
        origin = source_for_humans(came_from)
        if "used" in item:
            text = _config_value(item["used"])
            origin = f"the URL ({source_for_humans(item['used_from'])})"
            if item["value"] != item["used"]:
                unused = f"{_config_value(item['value'])} ({source_for_humans(came_from)})"
                origin += f"; {name} {unused} is not used"
        if item.get("ignored"):
            text += f" (ignored: {IGNORED[name]})"
        table.add_row(
            Text(name),
            Text(text),
            Text(origin, style="dim" if came_from == "default" and "used" not in item else ""),
        )
    console.print(table)
    if sharing is not None:
        say("sharing (granted reads checked in the library, not a security boundary):")
        for reader, grants in sharing.items():
            say(Text(f"  {reader} reads {' '.join(grants)}"))
        if not sharing:
            say("  (empty: every from_role read is refused)")


def _config_value(value: Any) -> str:
    return "-" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
