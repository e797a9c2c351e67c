"""Real Chromium: scrub previews above the watch page's timeline, hover previews on cards
(pointer resting, keyboard focus), and none of it with reduced motion; nothing downloaded
before a preview is wanted. And the status page refreshing itself."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest
from helpers import media_ids
from playwright.sync_api import Browser, BrowserContext, Page

from lvs.library.sprites import make_previews
from lvs.services.watch import STATUS_FILE, WatchStatus
from lvs.settings import Settings

pytestmark = pytest.mark.browser


@pytest.fixture
def previewed(scanned: Settings) -> Settings:
    """The scanned test library with scrub previews made for every video."""
    for title, (_, media_hash) in media_ids(scanned).items():
        (path,) = Path(scanned.library[0]).rglob(f"{title}.*")
        make_previews(path, scanned.previews_dir, media_hash, None)
    return scanned


@pytest.fixture
def site(serve_app: object, previewed: Settings) -> str:
    return serve_app(previewed)  # type: ignore[operator, no-any-return]


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    yield ctx
    ctx.close()


def preview_requests(page: Page) -> list[str]:
    seen: list[str] = []
    page.on(
        "request",
        lambda r: seen.append(r.url) if "/media/" in r.url and "/previews." in r.url else None,
    )
    return seen


def test_hovering_the_timeline_shows_the_frame_at_that_time(
    context: BrowserContext, site: str, previewed: Settings
) -> None:
    alpha, _ = media_ids(previewed)["Alpha"]  # 2 s: a tile every 0.1 s, ten to a row
    page = context.new_page()
    page.goto(f"{site}/media/{alpha}")
    bar = page.locator("#player-box .scrub-bar")
    box = bar.bounding_box()
    assert box is not None
    bar.hover(position={"x": box["width"] * 0.575, "y": box["height"] / 2})  # 1.15 s

    preview = page.locator("#player-box .scrub-preview:not([hidden])")
    preview.wait_for()
    style = preview.evaluate(
        "e => [e.style.backgroundImage, e.style.backgroundPosition, e.dataset.time]"
    )
    assert "/previews.jpg?v=" in style[0]
    assert style[1] == "-160px -90px"  # tile 11 (1.1–1.2 s): second row, second column
    assert float(style[2]) == pytest.approx(1.15, abs=0.02)
    assert preview.inner_text() == "0:01"
    # Above the bar, not over it.
    tile = preview.bounding_box()
    assert tile is not None and tile["y"] + tile["height"] <= box["y"]

    # Pressing on the bar seeks there.
    bar.click(position={"x": box["width"] * 0.5, "y": box["height"] / 2})
    page.wait_for_function(
        "() => Math.abs(document.querySelector('#player').currentTime - 1) < 0.1"
    )

    # The native controls' timeline strip at the bottom of the video previews too.
    page.mouse.move(0, 0)
    preview.wait_for(state="detached")
    video = page.locator("video#player").bounding_box()
    assert video is not None
    page.mouse.move(video["x"] + video["width"] / 2, video["y"] + video["height"] - 20)
    preview.wait_for()


def go_to_library(page: Page, site: str, settings: Settings) -> tuple[str, int]:
    """The library grid, its clock under the test's control; returns the selector of Alpha's
    card link (which opts in to previews with the index's URL) and Alpha's id."""
    alpha, media_hash = media_ids(settings)["Alpha"]
    page.clock.install()
    page.goto(site + "/library")
    link = f"#card-{alpha} a[data-previews='/media/{alpha}/previews.vtt?v={media_hash}']"
    assert page.locator(link).count() == 1
    return link, alpha


def test_resting_on_a_card_cycles_frames_from_its_sprite(
    context: BrowserContext, site: str, previewed: Settings
) -> None:
    page = context.new_page()
    requests = preview_requests(page)
    link, alpha = go_to_library(page, site, previewed)
    assert requests == []  # nothing downloaded before a preview is wanted

    page.hover(f"{link} img")
    page.clock.run_for(300)
    assert page.locator(".card-preview").count() == 0  # not while just passing over
    page.clock.run_for(200)
    overlay = page.locator(f"{link} .card-preview")
    overlay.wait_for()
    assert f"/media/{alpha}/previews.vtt" in requests[0]
    first = overlay.evaluate("e => [e.dataset.frame, e.style.backgroundImage]")
    assert first[0] == "0" and "/previews.jpg?v=" in first[1]
    image = page.locator(f"{link} img").bounding_box()
    shown = overlay.bounding_box()
    assert image is not None and shown is not None
    assert (round(shown["width"]), round(shown["height"])) == (
        round(image["width"]),
        round(image["height"]),
    )
    page.clock.run_for(750)
    assert overlay.evaluate("e => e.dataset.frame") == "1"

    page.mouse.move(0, 0)
    overlay.wait_for(state="detached")


def test_keyboard_focus_previews_a_card(
    context: BrowserContext, site: str, previewed: Settings
) -> None:
    page = context.new_page()
    link, _ = go_to_library(page, site, previewed)
    page.keyboard.press("Tab")  # the keyboard is in use: focus is visible
    page.focus(link)
    page.locator(f"{link} .card-preview").wait_for()
    page.keyboard.press("Tab")
    page.locator(f"{link} .card-preview").wait_for(state="detached")


def test_no_card_previews_with_reduced_motion(
    browser: Browser, site: str, previewed: Settings
) -> None:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900}, reduced_motion="reduce")
    try:
        page = ctx.new_page()
        requests = preview_requests(page)
        link, _ = go_to_library(page, site, previewed)
        page.hover(f"{link} img")
        page.clock.run_for(3000)
        page.keyboard.press("Tab")
        page.focus(link)
        page.clock.run_for(3000)
        assert page.locator(".card-preview").count() == 0
        assert requests == []
    finally:
        ctx.close()


def test_the_status_page_follows_the_watcher_by_itself(
    context: BrowserContext, site: str, previewed: Settings
) -> None:
    page = context.new_page()
    page.clock.install()
    page.goto(f"{site}/status")
    assert page.locator(".watch-none").is_visible()  # `serve_app` runs no watcher

    status = WatchStatus(
        pid=os.getpid(),
        host="here",
        started_at="2026-12-04T09:00:00+00:00",
        heartbeat=time.time() + 60,  # stays fresh while the page's clock runs ahead
        folders=[{"path": "/videos", "fstype": "ext4", "watched": True, "reason": "watched"}],
        rescan_minutes=30,
        settle_seconds=5.0,
    )
    (previewed.data_dir / STATUS_FILE).write_text(json.dumps(asdict(status)))
    page.clock.run_for(2100)  # htmx polls every 2 s
    page.locator(".watch-running").wait_for()
    assert page.locator("table.folders tr.watched td").first.inner_text() == "/videos"
    assert page.locator("h1").count() == 1  # the fragment replaced itself, not nested a page
