"""The status page in a real headless Chromium, against the real `run --http` service.

Needs Debian's `chromium` (`.ci/run` installs it); the click test also needs the `playwright`
package, which drives that Chromium (never a browser of its own).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.test_httpapi import TOKEN, ServiceProcess, running_service, serve_news
from tests.end_to_end.test_end_to_end import ASSEMBLY, MISSING
from tests.loopback import serve_site

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
SCREENSHOT = Path(os.environ.get("SOURCE_INGEST_SCREENSHOT", "/tmp/source-ingest-status-page.png"))

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason="chromium is not installed (apt-get install chromium; .ci/run does it)")


@pytest.fixture
def service_with_token(tmp_path: Path) -> Iterator[ServiceProcess]:
    with serve_site() as site:
        serve_news(site)
        with running_service(tmp_path, site, token=TOKEN) as service:
            yield service


@pytest.mark.timeout(120)
def test_page_shows_feed_health_chart_and_articles(service_with_token: ServiceProcess,
                                                   tmp_path: Path) -> None:
    result = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
         "--virtual-time-budget=5000", "--dump-dom", f"{service_with_token.base}/"],
        capture_output=True, text=True, timeout=90)
    dom = result.stdout
    assert 'data-loaded="true"' in dom, result.stderr[-2000:]
    feeds = re.search(r'<tbody id="feeds">(.*?)</tbody>', dom, re.DOTALL)
    assert feeds is not None
    assert re.search(r'data-feed="world">.*?class="badge ok">ok<', feeds.group(1))
    assert re.search(r'data-feed="broken">.*?class="badge failing">failing<.*?http_not_found',
                     feeds.group(1))
    bars = re.findall(r'<rect [^>]*data-count="(\d+)"', dom)
    assert len(bars) == 30 and bars[-1] == "2"
    assert 'href="/articles/0"' in dom and 'href="/articles/1"' in dom
    assert MISSING.title in dom and ASSEMBLY.title in dom
    assert "the server has no such page" in dom  # failures by kind, explained


@pytest.mark.timeout(120)
def test_fetch_now_asks_for_the_token_then_starts_a_run(service_with_token: ServiceProcess,
                                                        tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (test extra)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS[1:])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{service_with_token.base}/")
            page.wait_for_selector('#feeds tr[data-feed="world"]')
            page.click("#fetch-now")
            page.wait_for_selector("#token-form:not([hidden])")
            assert page.text_content("#fetch-message") == "this server needs a token"
            page.fill("#token", TOKEN)
            page.click("#token-form button")
            page.locator("#fetch-message", has_text=re.compile(r"^run \d+ started$")).wait_for()
            run_id = page.text_content("#fetch-message").split()[1]  # type: ignore[union-attr]
            page.wait_for_selector(f'#runs tr[data-run="{run_id}"]')
            assert "manual" in (page.text_content(f'#runs tr[data-run="{run_id}"]') or "")
            assert page.evaluate("sessionStorage.getItem('source-ingest-token')") == TOKEN
            assert page.is_hidden("#token-form")
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()
    assert SCREENSHOT.stat().st_size > 10_000


@pytest.mark.timeout(120)
def test_page_fits_a_phone_has_a_page_per_feed_and_a_search_box(
        service_with_token: ServiceProcess, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (test extra)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS[1:])
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844},
                                    device_scale_factor=3, is_mobile=True, has_touch=True)
            page.goto(f"{service_with_token.base}/")
            page.wait_for_selector('#feeds tr[data-feed="broken"]')
            # Nothing wider than the phone: tables scroll inside their cards.
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            # The header tells that a feed fails, not "healthy".
            assert page.text_content("#health") == "1 of 2 feeds failing"
            page.click('#feeds tr[data-feed="world"] a')
            page.wait_for_selector('#feed-entries tr[data-state="stored"]')
            assert page.is_visible("#feed-view")
            entries = page.text_content("#feed-entries") or ""
            assert "/news/1.html" in entries and "/news/2.html" in entries
            assert "en · main · " in entries and " chars" in entries  # extraction signals
            assert "last run 2 stored, 0 failed" in (page.text_content("#feed-counts") or "")
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            page.fill("#search", "Red Cross")
            page.click("#search-form button")
            page.locator("#search-results a", has_text=ASSEMBLY.title).wait_for()
            assert MISSING.title not in (page.text_content("#search-results") or "")
            page.screenshot(path=str(SCREENSHOT.with_name("source-ingest-phone.png")),
                            full_page=True)
        finally:
            browser.close()
