"""The documentation site builds with ``mkdocs build --strict`` (broken links, unresolved
references and missing pages fail it), has the pages the manual promises, and renders as a user
sees it: two pages opened in headless Chromium (Debian's ``chromium``) show the navigation,
answer a search and show the API reference, with no raw mkdocstrings directive left.

Chromium is driven through playwright's driver with ``executable_path`` set to Debian's
binary: playwright never downloads a browser of its own here. Where ``chromium`` is missing
the test fails saying how to install it (``.ci/run`` installs it)."""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from .blocks import DOCS, ROOT

#: the pages issue 20 asks for, and the ones later features added
PAGES = [
    "index.md",
    "getting-started.md",
    "concepts/roles.md",
    "concepts/keys.md",
    "concepts/values.md",
    "concepts/ttl.md",
    "concepts/results.md",
    "messaging/mail.md",
    "messaging/events.md",
    "messaging/grants.md",
    "agents/mcp.md",
    "agents/function-calling.md",
    "deployment/config.md",
    "deployment/acl.md",
    "deployment/tls.md",
    "deployment/encryption.md",
    "deployment/sentinel.md",
    "deployment/cluster.md",
    "scaling.md",
    "operations/cli.md",
    "testing.md",
    "migration.md",
    "benchmarks.md",
    "threat-model.md",
    "architecture.md",
    "reference/roleredis.md",
    "reference/tools.md",
]
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One strict build for the module."""
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": str(Path(sys.executable).parent)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}{done.stderr}"
    return out


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_the_site_builds_strictly_with_every_page(site: Path) -> None:
    for page in PAGES:
        assert (DOCS / page).exists(), page
        built = site / page.removesuffix(".md").removesuffix("index")
        assert (built / "index.html").exists() or built.with_suffix(".html").exists(), page


def test_no_raw_mkdocstrings_directive_is_left(site: Path) -> None:
    left = [p for p in site.rglob("*.html") if "::: roleredis" in p.read_text(encoding="utf-8")]
    assert not left, left


def test_the_readme_links_into_the_site() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    assert 'pip install -e ".[dev]" && python -m pytest' in text
    for page in ("getting-started.md", "deployment/acl.md", "deployment/cluster.md"):
        assert f"(docs/{page})" in text, page


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail(
            "chromium is missing: install Debian's package (apt-get install -y chromium); "
            ".ci/run installs it"
        )
    return found


def test_two_pages_render_in_chromium_with_navigation_search_and_api(served: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    chromium = _chromium()
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{served}/getting-started/")
            expect(page.locator("h1")).to_contain_text("Getting started")
            nav = page.locator("nav.md-nav--primary")
            for title in ("Concepts", "Mail between roles", "ACL users", "API reference"):
                expect(nav.get_by_text(title, exact=True).first).to_be_attached()
            # navigation works: follow the link to a page of another section
            nav.get_by_role("link", name="Cluster", exact=True).first.click()
            expect(page.locator("h1")).to_contain_text("Cluster")

            search = page.locator("input.md-search__input")
            search.click()
            search.press_sequentially("dead letters", delay=50)
            results = page.locator(".md-search-result__item")
            expect(results.first).to_be_visible(timeout=20_000)
            expect(page.locator(".md-search-result__list")).to_contain_text("Mail between roles")

            page.goto(f"{served}/reference/tools/")
            signature = page.locator("[id='roleredis.tools.redis_write']")
            expect(signature).to_be_visible()
            body = page.locator("article").inner_text()
            assert ":::" not in body
            assert "redis_read_many" in body and "Write value under" in body
        finally:
            browser.close()
