"""Rating in real Chromium against a live server: in place with htmx, without JavaScript, and by
tapping on a phone-sized screen."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import db_query
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    expect,
)

from lvs.settings import Settings

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 900}
MIN_TAP = 44  # px: the smallest comfortable touch target


@pytest.fixture
def alpha(scanned: Settings) -> tuple[int, str]:
    """Alpha's media id and hash, straight from the database."""
    ((media_id, media_hash),) = db_query(
        scanned, "SELECT id, media_hash FROM media WHERE title = :title", title="Alpha"
    )
    return int(media_id), str(media_hash)


def rating_values(settings: Settings) -> list[int]:
    return [v for (v,) in db_query(settings, "SELECT value FROM ratings ORDER BY id")]


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=DESKTOP)
    yield ctx
    ctx.close()


@pytest.fixture
def no_js(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    yield ctx
    ctx.close()


# Playwright's "iPhone 13" descriptor, for when the registry cannot be reached (see below).
IPHONE_13 = {"viewport": {"width": 390, "height": 664}, "device_scale_factor": 3,
             "is_mobile": True, "has_touch": True}  # fmt: skip


def iphone_13(browser: Browser) -> dict[str, Any]:
    """``playwright.devices["iPhone 13"]``. The shared browser fixture does not hand out the
    Playwright object, and a second sync_playwright() cannot start inside the first, so the
    registry is reached through the browser's (private) link to its Playwright."""
    try:
        devices = browser.browser_type._impl_obj._playwright.devices
        return dict(devices["iPhone 13"])
    except (AttributeError, KeyError):
        return IPHONE_13


@pytest.fixture
def iphone(browser: Browser) -> Iterator[BrowserContext]:
    """An iPhone 13's screen and touch, in Chromium (WebKit-only keys such as its Safari user
    agent and default browser left out)."""
    device = iphone_13(browser)
    ctx = browser.new_context(
        viewport=device["viewport"],
        device_scale_factor=device["device_scale_factor"],
        is_mobile=device["is_mobile"],
        has_touch=device["has_touch"],
    )
    yield ctx
    ctx.close()


def console_errors(page: Page) -> list[str]:
    """The page's console errors (CSP violations, htmx errors) as they happen. Chromium's own
    /favicon.ico request is left out: it is not about ratings."""
    errors: list[str] = []

    def on_message(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            errors.append(f"{message.text} ({message.location.get('url')})")

    page.on("console", on_message)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def star(page: Page, media_hash: str, n: int) -> Any:
    return page.locator(f"#rating-{media_hash} button[name=value][value='{n}']")


def assert_only_pressed(page: Page, media_hash: str, n: int) -> None:
    for i in range(1, 6):
        expect(star(page, media_hash, i)).to_have_attribute(
            "aria-pressed", "true" if i == n else "false"
        )


def test_clicking_a_star_rates_in_place(
    context: BrowserContext, live_server: str, scanned: Settings, alpha: tuple[int, str]
) -> None:
    media_id, media_hash = alpha
    page = context.new_page()
    errors = console_errors(page)
    page.goto(f"{live_server}/media/{media_id}")
    page.wait_for_function("window.htmx !== undefined")
    page.evaluate("window.__notReloaded = true")
    url = page.url

    star(page, media_hash, 4).click()

    widget = page.locator(f"#rating-{media_hash}")
    expect(widget.locator(".yours")).to_have_text("yours 4")
    expect(widget.locator(".count")).to_have_text("1 rating")
    assert_only_pressed(page, media_hash, 4)
    assert page.url == url
    assert page.evaluate("window.__notReloaded === true"), "the page was reloaded"
    assert page.locator(f"#rating-{media_hash}").count() == 1
    assert page.locator(".rating .rating").count() == 0  # swapped, not nested
    assert rating_values(scanned) == [4]
    assert errors == []

    page.reload()

    expect(page.locator(f"#rating-{media_hash} .yours")).to_have_text("yours 4")
    assert_only_pressed(page, media_hash, 4)


def test_rating_again_in_place_changes_your_star(
    context: BrowserContext, live_server: str, scanned: Settings, alpha: tuple[int, str]
) -> None:
    media_id, media_hash = alpha
    page = context.new_page()
    page.goto(f"{live_server}/media/{media_id}")
    page.wait_for_function("window.htmx !== undefined")

    star(page, media_hash, 2).click()
    expect(page.locator(f"#rating-{media_hash} .yours")).to_have_text("yours 2")
    star(page, media_hash, 5).click()  # the swapped-in widget is live too

    expect(page.locator(f"#rating-{media_hash} .yours")).to_have_text("yours 5")
    expect(page.locator(f"#rating-{media_hash} .count")).to_have_text("1 rating")
    assert rating_values(scanned) == [5]


def test_rating_works_without_javascript(
    no_js: BrowserContext, live_server: str, scanned: Settings, alpha: tuple[int, str]
) -> None:
    media_id, media_hash = alpha
    page = no_js.new_page()
    page.goto(f"{live_server}/media/{media_id}")

    with page.expect_navigation():
        star(page, media_hash, 3).click()

    assert re.fullmatch(rf"{re.escape(live_server)}/media/{media_id}", page.url)
    expect(page.locator(f"#rating-{media_hash} .yours")).to_have_text("yours 3")
    assert_only_pressed(page, media_hash, 3)
    expect(page.locator(".flash").filter(has_text="Rated 3 out of 5")).to_have_count(1)
    assert rating_values(scanned) == [3]


def test_rating_from_a_library_card_without_javascript_comes_back_to_the_card(
    no_js: BrowserContext, live_server: str, scanned: Settings, alpha: tuple[int, str]
) -> None:
    media_id, media_hash = alpha
    page = no_js.new_page()
    page.goto(f"{live_server}/library")
    page.locator(f"#card-{media_id} details.rate > summary").click()  # a plain <details>

    with page.expect_navigation():
        star(page, media_hash, 2).click()

    assert page.url.endswith(f"#card-{media_id}")
    card = page.locator(f"#card-{media_id}")
    expect(card.locator("details.rate > summary .yours")).to_have_text("2")
    assert rating_values(scanned) == [2]


def star_sizes(page: Page, selector: str) -> list[tuple[str, float, float]]:
    sizes: list[tuple[str, float, float]] = page.eval_on_selector_all(
        selector,
        """els => els.filter(el => el.getClientRects().length > 0).map(el => {
            const r = el.getBoundingClientRect();
            return [el.getAttribute('aria-label'), r.width, r.height];
        })""",
    )
    return sizes


@pytest.mark.parametrize("where", ["watch", "library"])
def test_stars_are_big_enough_to_tap_on_a_phone(
    iphone: BrowserContext, live_server: str, alpha: tuple[int, str], where: str
) -> None:
    media_id, _ = alpha
    page = iphone.new_page()
    page.goto(f"{live_server}/media/{media_id}" if where == "watch" else f"{live_server}/library")
    if where == "library":  # a card's stars open from its "Rate" disclosure
        page.locator(f"#card-{media_id} details.rate > summary").tap()

    sizes = star_sizes(page, ".rating button[name=value]")

    assert len(sizes) >= 5
    too_small = [s for s in sizes if s[1] < MIN_TAP or s[2] < MIN_TAP]
    assert too_small == [], f"stars under {MIN_TAP}x{MIN_TAP}px on the {where} page: {too_small}"


def test_tapping_a_star_on_a_phone_rates(
    iphone: BrowserContext, live_server: str, scanned: Settings, alpha: tuple[int, str]
) -> None:
    media_id, media_hash = alpha
    page = iphone.new_page()
    errors = console_errors(page)
    page.goto(f"{live_server}/media/{media_id}")
    page.wait_for_function("window.htmx !== undefined")
    page.evaluate("window.__notReloaded = true")

    page.tap(f"#rating-{media_hash} button[name=value][value='5']")

    expect(page.locator(f"#rating-{media_hash} .yours")).to_have_text("yours 5")
    assert_only_pressed(page, media_hash, 5)
    assert page.evaluate("window.__notReloaded === true")
    assert rating_values(scanned) == [5]
    assert errors == []
