"""static/js/player.js in real Chromium: resume positions, view counting and keyboard shortcuts.

Assumes the watch page markup of templates/pages/watch.html: ``video#player`` with
``data-position-url``, ``data-view-url``, ``data-duration`` and ``data-view-threshold``; the star
form inside ``.watch .rating``; ``dialog#shortcuts``; the CSRF token in ``<body hx-headers>``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs

import pytest
from conftest import ServeFn, db_query, run_scan
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Request

from lvs.library.demo import make_clip
from lvs.settings import Settings

pytestmark = pytest.mark.browser

LONG = 40.0  # seconds: long enough for a resume point (short clips count as "near the end")

BEACON_SPY = """
const send = navigator.sendBeacon.bind(navigator);
navigator.sendBeacon = (url, body) => {
    if (String(url).endsWith('/position')) {
        localStorage.setItem('beacons', String(Number(localStorage.getItem('beacons')) + 1));
    }
    return send(url, body);
};
"""

PLAY = """async () => {
    const v = document.querySelector('video#player');
    v.muted = true;
    await v.play();
}"""


@pytest.fixture
def long_settings(settings: Settings) -> Settings:
    """The test library plus a 40-second clip, scanned (before Playwright starts its loop)."""
    make_clip(settings.library[0] / "Long.mp4", seconds=LONG, width=160, height=90, fps=10)
    run_scan(settings, thumbnails=False)
    return settings


@pytest.fixture
def context(long_settings: Settings, browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    yield ctx
    ctx.close()


@pytest.fixture
def base(serve_app: ServeFn, long_settings: Settings) -> str:
    return serve_app(long_settings)


def media_id(settings: Settings, title: str) -> int:
    ((found,),) = db_query(settings, "SELECT id FROM media WHERE title = :title", title=title)
    return int(str(found))


def wait_for(check: Callable[[], object], timeout: float = 10.0) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def console_errors(page: Page) -> list[str]:
    errors: list[str] = []

    def on_message(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_message)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


def posts(page: Page, suffix: str) -> list[dict[str, list[str]]]:
    """Form bodies of the POSTs the page sends to URLs ending in ``suffix``, as they happen."""
    bodies: list[dict[str, list[str]]] = []

    def on_request(request: Request) -> None:
        if request.method == "POST" and request.url.endswith(suffix):
            bodies.append(parse_qs(request.post_data or "", keep_blank_values=True))

    page.on("request", on_request)
    return bodies


def open_watch(context: BrowserContext, base: str, mid: int) -> Page:
    page = context.new_page()
    page.goto(f"{base}/media/{mid}")
    page.wait_for_function(
        "() => document.querySelector('video#player').readyState >= 1", timeout=15_000
    )
    return page


def current_time(page: Page) -> float:
    return float(page.evaluate("document.querySelector('video#player').currentTime"))


def test_view_counted_once_and_position_cleared_at_the_end(
    context: BrowserContext, base: str, long_settings: Settings
) -> None:
    page = open_watch(context, base, media_id(long_settings, "Alpha"))  # 2 s, threshold 1 s
    errors = console_errors(page)
    views = posts(page, "/view")
    positions = posts(page, "/position")
    token = page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['x-csrftoken']")

    page.evaluate(PLAY)
    page.wait_for_function("() => document.querySelector('video#player').ended", timeout=15_000)

    assert wait_for(lambda: db_query(long_settings, "SELECT view_count FROM media_stats")) == [(1,)]
    assert len(views) == 1
    assert views[0] == {"_csrf_token": [token]}
    assert wait_for(lambda: positions)
    assert float(positions[-1]["seconds"][0]) == pytest.approx(2.0, abs=0.1)  # ended: duration
    assert db_query(long_settings, "SELECT * FROM positions") == []  # the server forgot it
    assert errors == []


def test_seek_pause_and_reload_resumes(
    context: BrowserContext, base: str, long_settings: Settings
) -> None:
    mid = media_id(long_settings, "Long")
    page = open_watch(context, base, mid)
    errors = console_errors(page)
    positions = posts(page, "/position")

    page.evaluate(PLAY)
    page.evaluate("document.querySelector('video#player').currentTime = 15")
    page.wait_for_function("() => document.querySelector('video#player').currentTime > 15.2")
    page.evaluate("document.querySelector('video#player').pause()")

    assert wait_for(lambda: db_query(long_settings, "SELECT seconds FROM positions"))
    ((saved,),) = db_query(long_settings, "SELECT seconds FROM positions")
    assert 15 <= float(str(saved)) < 20
    assert len(positions) <= 2  # one for the seek (debounced) and one for the pause, at most
    page.reload()
    assert "Resuming at 0:15" in page.locator(".resume-note").inner_text()
    page.wait_for_function("() => document.querySelector('video#player').readyState >= 1")
    assert current_time(page) == pytest.approx(float(str(saved)), abs=1)
    assert errors == []


def test_leaving_the_page_saves_the_position_with_a_beacon(
    context: BrowserContext, base: str, long_settings: Settings
) -> None:
    context.add_init_script(BEACON_SPY)
    page = open_watch(context, base, media_id(long_settings, "Long"))

    page.evaluate(PLAY)
    page.evaluate("document.querySelector('video#player').currentTime = 25")
    page.wait_for_function("() => document.querySelector('video#player').currentTime > 25")
    page.goto(base + "/")  # before the debounced seek report: only pagehide can send it

    saved = wait_for(lambda: db_query(long_settings, "SELECT seconds FROM positions"))
    assert saved
    assert 25 <= float(str(saved[0][0])) < 30  # type: ignore[index]
    assert page.evaluate("localStorage.getItem('beacons')") == "1"


def test_opening_the_page_without_playing_reports_nothing(
    context: BrowserContext, base: str, long_settings: Settings
) -> None:
    mid = media_id(long_settings, "Long")
    page = context.new_page()
    sent = posts(page, "/position") + posts(page, "/view")
    page.goto(f"{base}/media/{mid}?t=12")
    page.wait_for_function("() => document.querySelector('video#player').readyState >= 1")
    assert current_time(page) == pytest.approx(12, abs=0.5)  # the #t= fragment did it
    page.goto(base + "/")
    time.sleep(0.5)

    assert db_query(long_settings, "SELECT * FROM positions") == []
    assert sent == []


def test_keyboard_shortcuts(context: BrowserContext, base: str, long_settings: Settings) -> None:
    page = open_watch(context, base, media_id(long_settings, "Long"))
    errors = console_errors(page)
    video = "document.querySelector('video#player')"

    def press(key: str) -> float:
        page.keyboard.press(key)
        page.wait_for_function(f"() => !{video}.seeking")
        return current_time(page)

    page.locator("h1").click()  # focus on the page, not on a control
    assert press("5") == pytest.approx(20, abs=0.3)
    assert press("l") == pytest.approx(30, abs=0.3)
    assert press("j") == pytest.approx(20, abs=0.3)
    assert press("ArrowRight") == pytest.approx(25, abs=0.3)
    assert press("ArrowLeft") == pytest.approx(20, abs=0.3)
    assert press("0") == pytest.approx(0, abs=0.3)

    page.keyboard.press("m")
    assert page.evaluate(f"{video}.muted") is True
    page.keyboard.press("k")
    page.wait_for_function(f"() => !{video}.paused")
    page.keyboard.press("Space")
    page.wait_for_function(f"() => {video}.paused")
    assert page.evaluate("window.scrollY") == 0  # Space did not scroll the page

    page.keyboard.press("Shift+?")
    assert page.locator("dialog#shortcuts").evaluate("d => d.open") is True
    page.keyboard.press("Shift+?")
    assert page.locator("dialog#shortcuts").evaluate("d => d.open") is False

    page.keyboard.press("r")
    page.keyboard.press("4")
    page.locator(".watch .rating .yours").wait_for()
    assert page.locator(".watch .rating .yours").inner_text().strip() == "yours 4"
    assert current_time(page) == pytest.approx(0, abs=0.5)  # "4" rated, it did not seek

    page.keyboard.press("r")
    time.sleep(2.2)
    assert press("3") == pytest.approx(12, abs=0.3)  # too late for a rating: a jump to 30 %

    page.locator("#tag-name").fill("")
    page.locator("#tag-name").press("l")  # typing a tag name is not a shortcut
    assert page.locator("#tag-name").input_value() == "l"
    assert current_time(page) == pytest.approx(12, abs=0.3)
    assert errors == []
