"""Household features in real Chromium against a live server: the heart and tag forms with
JavaScript off, search-as-you-type with htmx, resuming where playback stopped, and an axe-core
accessibility check of the library, watch, search and history pages.

axe-core is vendored in tests/vendor (axe-<version>.min.js, MPL-2.0, licence next to it). The
app's CSP (script-src 'self') rightly blocks an injected script, so only the axe contexts bypass
CSP; every other test runs under the real policy.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ServeFn, db_query, run_scan
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    ViewportSize,
    expect,
)

from lvs.library.demo import make_clip
from lvs.settings import Settings

pytestmark = pytest.mark.browser

DESKTOP: ViewportSize = {"width": 1280, "height": 900}
LONG = 40.0
AXE = sorted((Path(__file__).resolve().parent.parent / "vendor").glob("axe-*.min.js"))
VIDEO = "document.querySelector('video#player')"


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("browser-household") / "Long.mp4"
    make_clip(path, seconds=LONG, width=160, height=90, fps=10, hue=30)
    return path


@pytest.fixture
def long_settings(scanned: Settings, long_clip: Path) -> Settings:
    """The test library plus a 40-second clip, scanned before Playwright starts its loop."""
    shutil.copy2(long_clip, scanned.library[0] / "Long.mp4")
    run_scan(scanned, thumbnails=False)
    return scanned


@pytest.fixture
def base(serve_app: ServeFn, long_settings: Settings) -> str:
    return serve_app(long_settings)


@pytest.fixture
def ids(long_settings: Settings) -> dict[str, int]:
    return {str(t): int(i) for t, i in db_query(long_settings, "SELECT title, id FROM media")}


@pytest.fixture
def context(long_settings: Settings, browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=DESKTOP)
    yield ctx
    ctx.close()


@pytest.fixture
def no_js(long_settings: Settings, browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    yield ctx
    ctx.close()


@pytest.fixture
def axe_context(long_settings: Settings, browser: Browser) -> Iterator[BrowserContext]:
    """For the accessibility checks only: CSP bypassed so that axe can be injected."""
    ctx = browser.new_context(viewport=DESKTOP, bypass_csp=True)
    yield ctx
    ctx.close()


def console_errors(page: Page) -> list[str]:
    errors: list[str] = []

    def on_message(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            errors.append(f"{message.text} ({message.location.get('url')})")

    page.on("console", on_message)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def titles(page: Page) -> list[str]:
    return [t.strip() for t in page.locator("#library-grid li.card .title").all_inner_texts()]


def flash_texts(page: Page) -> list[str]:
    return [t.strip() for t in page.locator("#flashes .flash").all_inner_texts()]


# -- without JavaScript -------------------------------------------------------------------------


def test_heart_and_tags_work_without_javascript(
    no_js: BrowserContext, base: str, long_settings: Settings, ids: dict[str, int]
) -> None:
    mid = ids["Alpha"]
    page = no_js.new_page()
    page.goto(f"{base}/media/{mid}")
    heart = page.locator(f"form#favorite-{mid} button.heart")
    expect(heart).to_have_attribute("aria-pressed", "false")

    with page.expect_navigation():
        heart.click()

    assert page.url == f"{base}/media/{mid}"
    expect(page.locator(f"form#favorite-{mid} button.heart")).to_have_attribute(
        "aria-pressed", "true"
    )
    assert "Added to favorites." in flash_texts(page)
    assert len(db_query(long_settings, "SELECT id FROM favorites")) == 1

    page.locator("#tag-name").fill("  Picnic   day ")
    with page.expect_navigation():
        page.locator("form.add-tag button[type=submit]").click()

    assert page.url == f"{base}/media/{mid}#tags"
    tag_link = page.locator("section#tags li.tag a")
    expect(tag_link).to_have_text("Picnic day")
    assert "Tagged “Picnic day”." in flash_texts(page)

    with page.expect_navigation():
        tag_link.click()
    assert titles(page) == ["Alpha"]
    page.locator("#library-grid").get_by_text("Alpha").wait_for()

    page.goto(f"{base}/library?favorites=1")
    assert titles(page) == ["Alpha"]
    with page.expect_navigation():  # the card's heart, from the favorites view
        page.locator(f"form#favorite-{mid}-c button.heart").click()
    assert re.search(rf"/library\?favorites=1#card-{mid}$", page.url), page.url
    assert titles(page) == []
    assert db_query(long_settings, "SELECT id FROM favorites") == []

    page.goto(f"{base}/media/{mid}")
    with page.expect_navigation():
        page.locator("section#tags li.tag button.remove").click()
    expect(page.locator("section#tags li.tag")).to_have_count(0)
    assert db_query(long_settings, "SELECT id FROM media_tags") == []


def test_the_noscript_pixel_counts_a_view_without_javascript(
    no_js: BrowserContext, base: str, long_settings: Settings, ids: dict[str, int]
) -> None:
    page = no_js.new_page()

    page.goto(f"{base}/media/{ids['Bravo']}")

    assert wait_for(lambda: db_query(long_settings, "SELECT view_count FROM media_stats")) == [(1,)]
    page.goto(f"{base}/history")
    assert [t.strip() for t in page.locator("li.card .title").all_inner_texts()] == ["Bravo"]


# -- search as you type -------------------------------------------------------------------------


def test_search_as_you_type_swaps_the_grid_and_pushes_the_url(
    context: BrowserContext, base: str
) -> None:
    page = context.new_page()
    errors = console_errors(page)
    page.goto(base + "/library")
    assert page.evaluate("typeof window.htmx") == "object"
    page.evaluate("window.__notReloaded = true")
    assert sorted(titles(page)) == ["Alpha", "Bravo", "Charlie", "Long"]

    page.locator("#q").press_sequentially("char", delay=40)

    page.wait_for_url(re.compile(r"/library\?q=char$"))
    expect(page.locator("#library-grid li.card .title")).to_have_text(["Charlie"])
    assert page.evaluate("window.__notReloaded === true"), "the whole page was reloaded"
    assert page.locator("section#library-grid").count() == 1
    assert page.locator("form#filters").count() == 1
    assert page.locator("#q").input_value() == "char"  # typing was not interrupted

    page.locator("#q").fill("")
    page.locator("#q").press_sequentially("zzz", delay=40)
    page.wait_for_url(re.compile(r"/library\?q=zzz$"))
    expect(page.locator("section#library-grid")).to_contain_text("Nothing matches.")
    assert page.evaluate("window.__notReloaded === true")

    page.reload()  # the pushed URL is the same view
    expect(page.locator("section#library-grid")).to_contain_text("Nothing matches.")
    assert page.locator("#q").input_value() == "zzz"
    assert errors == []


# -- resume -------------------------------------------------------------------------------------


def test_playback_resumes_where_it_was_paused(
    context: BrowserContext, base: str, long_settings: Settings, ids: dict[str, int]
) -> None:
    mid = ids["Long"]
    page = context.new_page()
    errors = console_errors(page)
    page.goto(f"{base}/media/{mid}")
    page.wait_for_function(f"() => {VIDEO}.readyState >= 1", timeout=15_000)

    page.evaluate(f"async () => {{ const v = {VIDEO}; v.muted = true; await v.play(); }}")
    page.evaluate(f"{VIDEO}.currentTime = {LONG * 0.6}")
    page.wait_for_function(f"() => {VIDEO}.currentTime > {LONG * 0.6 + 0.2}")
    page.evaluate(f"{VIDEO}.pause()")

    saved = wait_for(lambda: db_query(long_settings, "SELECT seconds FROM positions"))
    assert saved, "player.js did not report the position on pause"
    seconds = float(saved[0][0])
    assert LONG * 0.6 <= seconds < LONG * 0.6 + 5
    page.goto(
        base + "/"
    )  # away: the home page's "Continue watching" row shows it, with progress...
    row = page.locator("section.row[data-row=continue]")
    expect(row.get_by_role("heading")).to_have_text("Continue watching")
    expect(row.locator(f"a[href='/media/{mid}'] progress.resume")).to_have_count(1)
    page.goto(base + "/library")  # ...and so does its card on the grid
    expect(page.locator(f"#card-{mid} progress.resume")).to_have_count(1)

    page.goto(f"{base}/media/{mid}")  # ...and back

    note = page.locator(".resume-note")
    expect(note).to_contain_text(f"Resuming at 0:{round(seconds):02d}")
    expect(note.get_by_role("link", name="Start over")).to_have_attribute(
        "href", f"/media/{mid}?t=0"
    )
    page.wait_for_function(f"() => {VIDEO}.readyState >= 1", timeout=15_000)
    assert page.evaluate(f"{VIDEO}.currentTime") == pytest.approx(seconds, abs=1)
    assert errors == []


# -- accessibility ------------------------------------------------------------------------------


def axe_violations(page: Page) -> list[dict[str, Any]]:
    assert len(AXE) == 1, f"expected one vendored axe-core in tests/vendor, found {AXE}"
    page.add_script_tag(path=str(AXE[0]))
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    return [v for v in result["violations"] if v.get("impact") in {"serious", "critical"}]


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        targets = [" ".join(map(str, node["target"])) for node in v["nodes"]][:8]
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} -> {targets}")
    return "\n".join(lines)


@pytest.mark.parametrize("where", ["home", "library", "watch", "search", "history"])
def test_pages_have_no_serious_accessibility_violations(
    axe_context: BrowserContext, base: str, ids: dict[str, int], where: str
) -> None:
    page = axe_context.new_page()
    mid = ids["Alpha"]
    page.goto(f"{base}/media/{mid}")  # a session, then a view and a tag so pages have content
    page.request.post(f"{base}/api/media/{mid}/views", data={})
    page.request.post(f"{base}/api/media/{mid}/tags", data={"name": "garden"})
    page.request.put(f"{base}/api/media/{ids['Long']}/position", data={"seconds": 12})
    url = {
        "home": "/",
        "library": "/library",
        "watch": f"/media/{ids['Long']}",
        "search": "/?q=alpha",
        "history": "/history",
    }[where]

    page.goto(base + url)
    if where in {"search", "history"}:
        assert [t.strip() for t in page.locator("li.card .title").all_inner_texts()] == ["Alpha"]

    serious = axe_violations(page)
    assert serious == [], f"axe on {url}:\n{describe(serious)}"
