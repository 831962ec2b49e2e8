"""The optional features and their extras (issue 13, item 4): ``all`` installs every one, the
test environment has them all, and the agent tools work without the MCP SDK."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import metadata
from pathlib import Path

#: Extras that are not features: the environments for working on roleredis (``docs`` builds
#: the documentation site).
NOT_FEATURES = {"test", "dev", "docs", "all"}
ROOT = Path(__file__).resolve().parents[2]


def _requirements(extra: str) -> list[str]:
    marker = f'extra == "{extra}"'
    found = metadata("roleredis").get_all("Requires-Dist") or []
    return [r.split(";")[0].strip() for r in found if marker in r]


def test_all_installs_every_optional_feature() -> None:
    features = set(metadata("roleredis").get_all("Provides-Extra") or []) - NOT_FEATURES
    assert {"mcp", "prometheus", "encryption", "zstd"} <= features
    (everything,) = _requirements("all")
    named = re.fullmatch(r"roleredis\[([\w,\s-]+)\]", everything)
    assert named is not None, everything
    assert {name.strip() for name in named.group(1).split(",")} == features


def test_the_docs_name_each_features_extra_where_they_install_it() -> None:
    """The install line of every feature names its extra: in getting started's list of
    optional features, and on the page that describes the feature; the README names them all
    and the extra that installs every one."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8")
    pages = "\n".join(
        page.read_text(encoding="utf-8")
        for page in (ROOT / "docs").rglob("*.md")
        if page.name != "getting-started.md"
    )
    features = set(metadata("roleredis").get_all("Provides-Extra") or []) - NOT_FEATURES
    listed = set(re.findall(r'^pip install "roleredis\[(\w+)\]" ', start, re.M))
    assert listed == features
    for feature in features:  # once in the list, once more where the feature is described
        assert f'pip install "roleredis[{feature}]"' in pages, feature
        assert f"`{feature}`" in readme, feature
    assert 'pip install "roleredis[all]"' in readme


def test_the_tests_install_what_each_feature_needs() -> None:
    tested = {re.split(r"[<>=~!\[ ]", r)[0].lower() for r in _requirements("test")}
    for feature in ("mcp", "prometheus", "encryption", "otel"):
        for requirement in _requirements(feature):
            assert re.split(r"[<>=~!\[ ]", requirement)[0].lower() in tested, requirement


def test_schemas_and_call_tool_work_without_the_mcp_sdk() -> None:
    code = """
import sys
for name in ("mcp", "mcp_types", "pydantic", "jsonschema"):
    sys.modules[name] = None  # any import of them fails
import roleredis
from roleredis.faces.agents import mcp_server
schemas = roleredis.tool_schemas("anthropic")
refused = roleredis.call_tool("redis_read", '{"key": 1}', role="planner")
print(len(schemas), refused["error_code"], "mcp]" in mcp_server.sdk_missing())
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    count, code_, hint = done.stdout.split()
    assert int(count) >= 5 and code_ == "invalid_argument" and hint == "True"
