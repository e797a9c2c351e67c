"""Playlists and seasons in real Chromium: play all moves on to the second video when the first
ends (static/js/queue.js's countdown, which Cancel stops), the "Next" link does the same without
JavaScript, and a season plays through in episode order on its own.

The page's clock is Playwright's (``page.clock``): the countdown's five seconds pass when the
test says so. The videos are the short test clips, sought to a moment before their end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import ServeFn, db_query, run_scan
from playwright.sync_api import Browser, BrowserContext, Page, expect

from lvs.library.demo import make_clip
from lvs.settings import Settings

pytestmark = pytest.mark.browser

TO_THE_END = """async () => {
    const v = document.querySelector('video#player');
    v.muted = true;
    if (v.readyState < 1) {
        await new Promise((r) => v.addEventListener('loadedmetadata', r, {once: true}));
    }
    v.currentTime = Math.max(0, v.duration - 0.3);
    await v.play();
}"""


def ids(settings: Settings) -> dict[str, int]:
    return {str(t): int(i) for t, i in db_query(settings, "SELECT title, id FROM media")}


def playlist_of(page: Page, base: str, media_ids: list[int]) -> int:
    """A playlist of this browser's (its cookie), made through the JSON API."""
    made = page.request.post(f"{base}/api/playlists", data={"name": "Evening"})
    assert made.status == 201, made.text()
    pid = int(made.json()["id"])
    for media_id in media_ids:
        added = page.request.post(f"{base}/api/playlists/{pid}/items", data={"media_id": media_id})
        assert added.status == 200, added.text()
    return pid


@pytest.fixture
def base(serve_app: ServeFn, scanned: Settings) -> str:
    return serve_app(scanned)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    yield ctx.new_page()
    ctx.close()


def test_play_all_counts_down_then_plays_the_second_and_cancel_stops_it(
    page: Page, base: str, scanned: Settings
) -> None:
    found = ids(scanned)
    pid = playlist_of(page, base, [found["Alpha"], found["Bravo"], found["Charlie"]])
    page.clock.install()
    page.goto(f"{base}/playlists/{pid}")
    page.get_by_role("link", name="Play all").click()
    expect(page.locator("main h1")).to_have_text("Alpha")
    status = page.locator("#autoplay-status")
    cancel = page.get_by_role("button", name="Cancel")
    expect(cancel).to_be_hidden()

    page.evaluate(TO_THE_END)
    expect(status).to_have_text("Next in 5 s: Bravo")
    expect(cancel).to_be_visible()
    page.clock.run_for(5000)

    expect(page).to_have_url(f"{base}/media/{found['Bravo']}?list=p{pid}&i=1")
    expect(page.locator("main h1")).to_have_text("Bravo")
    expect(page.locator("#queue li[aria-current=true] a")).to_have_text("Bravo")

    page.evaluate(TO_THE_END)
    expect(status).to_contain_text("Next in")
    cancel.click()
    expect(status).to_have_text("Autoplay cancelled.")
    expect(cancel).to_be_hidden()
    page.clock.run_for(10_000)
    expect(page.locator("main h1")).to_have_text("Bravo")  # stayed
    assert page.url.endswith("&i=1")


@pytest.fixture
def no_js_page(browser: Browser) -> Iterator[Page]:
    ctx: BrowserContext = browser.new_context(java_script_enabled=False)
    yield ctx.new_page()
    ctx.close()


def test_without_javascript_the_next_link_goes_to_the_second(
    no_js_page: Page, base: str, scanned: Settings
) -> None:
    page = no_js_page
    found = ids(scanned)
    pid = playlist_of(page, base, [found["Charlie"], found["Alpha"]])
    page.goto(f"{base}/playlists/{pid}")
    page.get_by_role("link", name="Play all").click()
    expect(page.locator("main h1")).to_have_text("Charlie")
    expect(page.locator("#autoplay-cancel")).to_be_hidden()

    page.get_by_role("link", name="Next: Alpha →").click()

    expect(page).to_have_url(f"{base}/media/{found['Alpha']}?list=p{pid}&i=1")
    expect(page.locator("main h1")).to_have_text("Alpha")
    expect(page.get_by_role("link", name="← Previous")).to_be_visible()


@pytest.fixture
def season(settings: Settings) -> Settings:
    """Three short episodes of one show (two in season 1, named out of order), scanned."""
    root = settings.library[0] / "Kiln"
    root.mkdir()
    for name in ("Kiln S01E02.mp4", "Kiln S01E01.mp4", "Kiln S02E01.mp4"):
        make_clip(root / name, seconds=1.0, width=64, height=36, fps=10, audio=False)
    run_scan(settings, thumbnails=False)
    return settings


def test_a_season_plays_through_in_episode_order_on_its_own(
    season: Settings, serve_app: ServeFn, page: Page
) -> None:
    base = serve_app(season)
    found = ids(season)
    page.clock.install()
    page.goto(f"{base}/shows")
    page.locator("main a[href^='/shows/']").first.click()
    page.get_by_role("link", name="Play this season").first.click()
    expect(page.locator("#queue-title")).to_contain_text("Season 1")
    first = page.url

    page.evaluate(TO_THE_END)
    expect(page.locator("#autoplay-status")).to_contain_text("Next in 5 s")
    page.clock.run_for(5000)
    expect(page.locator("#queue li[aria-current=true]")).to_contain_text("Kiln S01E02")
    # it plays on by itself, and at its end the season is over: no countdown
    page.wait_for_function("() => !document.querySelector('video#player').paused")
    page.evaluate(TO_THE_END)
    page.wait_for_function("() => document.querySelector('video#player').ended")
    expect(page.locator("#next-link")).to_have_count(0)
    assert "/media/" in first
    assert f"/media/{found['Kiln S01E01']}?" in first
    assert f"/media/{found['Kiln S01E02']}?" in page.url
