"""The layout in real Chromium at a phone's, a laptop's and a TV's size: how many videos the first
screen of every grid shows, tab stops per card, focus and announcements after in-place updates,
arrow keys between cards, the watch page above the fold, and every action with JavaScript off.

One library (three real clips and 21 indexed rows with generated JPEG thumbnails, no video files
needed to lay out a grid), one server and one Chromium for the whole module: the browser starts
after the database is filled (Playwright's sync API keeps an event loop running meanwhile).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from conftest import (
    CHROMIUM,
    CHROMIUM_ARGS,
    _ThreadedServer,
    db_execute,
    db_query,
    require_service,
    run_scan,
)
from litestar import Litestar
from PIL import Image, ImageDraw
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Error,
    Page,
    ViewportSize,
    expect,
    sync_playwright,
)
from sqlalchemy import insert

from lvs.db.config import migrate
from lvs.db.models import Media
from lvs.library.thumbnails import THUMBNAIL_WIDTHS, thumbnail_path
from lvs.settings import Settings

pytestmark = pytest.mark.browser

PHONE: ViewportSize = {"width": 390, "height": 844}
LAPTOP: ViewportSize = {"width": 1366, "height": 860}
TV: ViewportSize = {"width": 1920, "height": 1080}
#: The fewest videos whose thumbnails the first screen of every grid shows in full.
AT_LEAST: dict[str, tuple[ViewportSize, int]] = {
    "phone": (PHONE, 4),
    "laptop": (LAPTOP, 10),
    "tv": (TV, 15),
}
EXTRA = 21  # indexed rows on top of the three clips: 24 videos, two pages of 20
PAGE_SIZE = 20
TAG = "garden"


@pytest.fixture(scope="module")
def db_url() -> None:
    return None


def _thumbnails(settings: Settings, media_hash: str, n: int) -> None:
    """A 640 and a 320 px JPEG per row, each a different colour, as a scan would leave them."""
    for width in THUMBNAIL_WIDTHS:
        img = Image.new("RGB", (width, width * 9 // 16), ((n * 47) % 256, (n * 91) % 256, 160))
        box = (width // 8, width // 8, width // 2, width // 4)
        ImageDraw.Draw(img).rectangle(box, fill="white")
        path = thumbnail_path(settings.thumbs_dir, media_hash, width)
        path.parent.mkdir(parents=True, exist_ok=True)
        img.save(path, format="JPEG", quality=70)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, clip_dir: Path) -> Settings:
    root = tmp_path_factory.mktemp("layout")
    shutil.copytree(clip_dir, root / "library")
    (root / "data").mkdir()
    settings = Settings(
        library=(root / "library",),
        data_dir=root / "data",
        db_path=root / "data" / "test.db",
        secret_key="test-secret-key-with-at-least-32-characters",
        page_size=PAGE_SIZE,
        rate_limit="1000/minute",
        write_rate_limit="1000/minute",
    )
    migrate(settings)
    run_scan(settings)
    first = datetime(2026, 1, 1, tzinfo=UTC)
    rows: list[dict[str, Any]] = []
    for n in range(EXTRA):
        rel = f"Garden Detectives/Garden Detectives S01E{n + 1:02d} The Case of the Long Title.mp4"
        media_hash = hashlib.sha256(rel.encode()).hexdigest()[:16]
        _thumbnails(settings, media_hash, n)
        rows.append(
            {
                "path": str(settings.library[0] / rel),
                "root": str(settings.library[0]),
                "rel_path": rel,
                "title": Path(rel).stem,
                "media_hash": media_hash,
                "size": 1000,
                "mtime_ns": 1,
                "duration": 1260.0 + n,
                "width": 1280,
                "height": 720,
                "container": "mp4",
                "has_thumbnail": True,
                "created_at": first + timedelta(minutes=n),
                "updated_at": first + timedelta(minutes=n),
            }
        )
    db_execute(settings, insert(Media).values(rows))
    return settings


@pytest.fixture(scope="module")
def server(library: Settings) -> Iterator[_ThreadedServer]:
    server = _ThreadedServer(library)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def base(server: _ThreadedServer) -> str:
    return server.url


@pytest.fixture(scope="module")
def urls(server: _ThreadedServer) -> dict[str, str]:
    """Every grid's URL, from the app's route names (wherever the routes live)."""
    app = server.server.config.app
    assert isinstance(app, Litestar)
    lib = server.url + app.route_reverse("library")
    return {
        "library": lib,
        "favorites": f"{lib}?favorites=1",
        "tag": f"{lib}?tag={TAG}",
        "search": f"{lib}?q=detectives",
        "history": server.url + app.route_reverse("history"),
    }


@pytest.fixture(scope="module")
def chromium(library: Settings, base: str) -> Iterator[Browser]:
    """One Chromium for the module, started after the library is ready."""
    if shutil.which(CHROMIUM) is None:
        require_service("chromium", f"{CHROMIUM} not found (apt-get install chromium)")
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
        except Error as exc:
            require_service("chromium", f"Playwright cannot launch {CHROMIUM}: {exc}")
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def person(chromium: Browser, library: Settings, base: str) -> Iterator[BrowserContext]:
    """One person (one cookie) who has favorited, tagged and watched every indexed video."""
    context = chromium.new_context(viewport=LAPTOP)
    page = context.new_page()
    page.goto(base + "/help")  # a session
    for (media_id,) in db_query(library, "SELECT id FROM media ORDER BY id"):
        api = f"{base}/api/media/{media_id}"
        assert page.request.put(f"{api}/favorite", data={"favorite": True}).ok
        assert page.request.post(f"{api}/tags", data={"name": TAG}).ok
        assert page.request.post(f"{api}/views", data={}).ok
    page.close()
    yield context
    context.close()


@pytest.fixture
def page(person: BrowserContext) -> Iterator[Page]:
    page = person.new_page()
    yield page
    page.close()


FULLY_VISIBLE = """() => [...document.querySelectorAll('main img.thumb')].filter(img => {
  const r = img.getBoundingClientRect();
  return r.width > 0 && r.top >= 0 && r.left >= 0
      && r.bottom <= window.innerHeight && r.right <= window.innerWidth;
}).length"""


def query_of(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True)


# -- the first screen ---------------------------------------------------------------------------


def test_every_grid_shows_enough_videos_on_the_first_screen(
    page: Page, urls: dict[str, str]
) -> None:
    seen: dict[tuple[str, str], int] = {}
    for grid, url in urls.items():
        page.set_viewport_size(LAPTOP)
        page.goto(url)
        assert page.locator("main li.card").count() >= 16, grid
        for size, (viewport, _) in AT_LEAST.items():
            page.set_viewport_size(viewport)
            page.evaluate("window.scrollTo(0, 0)")
            seen[grid, size] = page.evaluate(FULLY_VISIBLE)
            if grid == "library" and size == "phone":
                # the header is one row: every link at the same height, the bar itself short
                header = page.locator("header.site").bounding_box()
                assert header is not None and header["height"] <= 60
                tops = page.eval_on_selector_all(
                    "header.site > a, header.site nav > a, header.site nav > details > summary",
                    "els => els.map(e => Math.round(e.getBoundingClientRect().top))",
                )
                assert len(set(tops)) == 1, tops
    short = {k: v for k, v in seen.items() if v < AT_LEAST[k[1]][1]}
    assert not short, f"too few videos on the first screen: {short} (all: {seen})"


def test_filters_are_collapsed_and_open_over_the_grid(page: Page, urls: dict[str, str]) -> None:
    page.set_viewport_size(PHONE)
    page.goto(urls["favorites"])
    panel = page.locator("details.more-filters")
    assert panel.get_attribute("open") is None
    assert "1" in page.locator("details.more-filters > summary").inner_text()  # one filter on
    before = page.locator("#library-grid").bounding_box()

    page.locator("details.more-filters > summary").click()

    assert page.locator("details.more-filters .sheet").is_visible()
    assert page.locator("#library-grid").bounding_box() == before  # the grid did not move


# -- keyboard -----------------------------------------------------------------------------------


def tab_stops_between_cards(page: Page) -> int:
    page.locator("#library-grid li.card a.card-link").first.focus()
    second = page.locator("#library-grid li.card").nth(1).get_attribute("id")
    for presses in range(1, 12):
        page.keyboard.press("Tab")
        here = page.evaluate("document.activeElement.closest('li.card')?.id")
        link = page.evaluate("document.activeElement.matches('a.card-link')")
        if here == second and link:
            return presses
    raise AssertionError("Tab never reached the second card")


def test_a_card_is_at_most_three_tab_stops(page: Page, urls: dict[str, str]) -> None:
    page.set_viewport_size(LAPTOP)
    page.goto(urls["library"])
    assert tab_stops_between_cards(page) <= 3


def test_arrow_keys_move_between_cards(page: Page, urls: dict[str, str]) -> None:
    page.set_viewport_size(TV)
    page.goto(urls["library"])
    cards = page.locator("#library-grid li.card")
    first = cards.nth(0).bounding_box()
    assert first is not None
    columns = sum(
        1 for box in page.eval_on_selector_all(
            "#library-grid li.card", "els => els.map(e => e.getBoundingClientRect().top)"
        ) if abs(box - first["y"]) < 1
    )  # fmt: skip
    assert columns >= 5
    focused = "document.activeElement.closest('li.card')?.id"

    cards.nth(0).locator("a.card-link").focus()
    page.keyboard.press("ArrowRight")
    assert page.evaluate(focused) == cards.nth(1).get_attribute("id")
    page.keyboard.press("ArrowDown")
    assert page.evaluate(focused) == cards.nth(1 + columns).get_attribute("id")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowUp")
    assert page.evaluate(focused) == cards.nth(0).get_attribute("id")


def test_focus_stays_and_the_result_is_announced_after_in_place_updates(
    page: Page, urls: dict[str, str]
) -> None:
    page.set_viewport_size(LAPTOP)
    page.goto(urls["library"] + "?sort=title")
    card = page.locator("#library-grid li.card").nth(2)
    title = card.locator(".title").inner_text()
    live = page.locator("#live")

    # every control of a card names its video (Chromium's computed accessible names)
    heart = card.get_by_role("button", name=f"Favorite {title}", exact=True)
    expect(heart).to_have_count(1)
    toggle_name = card.locator("details.rate > summary").evaluate(
        """el => el.getAttribute('aria-labelledby').split(' ').map(id => {
            const ref = document.getElementById(id);
            return ref === el ? ref.querySelector('.visually-hidden').textContent : ref.textContent;
        }).join(' ')"""
    )
    assert toggle_name == f"Rate {title}"  # a <summary> has no role Playwright can query
    for n in range(1, 6):
        name = f"Rate {n} out of 5 {title}"
        expect(card.get_by_role("button", name=name, include_hidden=True)).to_have_count(1)
    heart_id = heart.get_attribute("id")
    was = heart.get_attribute("aria-pressed")
    heart.focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        "([id, was]) => document.getElementById(id).getAttribute('aria-pressed') !== was",
        arg=[heart_id, was],
    )
    assert page.evaluate("document.activeElement.id") == heart_id
    assert "favorites" in live.inner_text()

    toggle = card.locator("details.rate > summary")
    toggle.focus()
    page.keyboard.press("Enter")  # opens the stars
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")  # the third star
    star_id = page.evaluate("document.activeElement.id")
    assert star_id.startswith("s3-")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('#live').textContent.includes('Rated 3')")
    assert page.evaluate("document.activeElement.id") == star_id
    assert page.locator(f"#{star_id}").get_attribute("aria-pressed") == "true"
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.tagName") == "SUMMARY"
    assert "3" in card.locator("details.rate > summary").inner_text()

    nxt = page.locator("#page-next")
    nxt.focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('#live').textContent.includes('page 2')")
    # the last page has no "Next": focus lands on "Page 2 of 2", not on <body>
    page.wait_for_function("() => document.activeElement.id === 'page-now'")
    assert dict(query_of(page.url)) == {"sort": "title", "page": "2"}


def test_live_search_and_sort_update_the_heading_and_the_direction_link(
    page: Page, urls: dict[str, str]
) -> None:
    page.set_viewport_size(LAPTOP)
    page.goto(urls["library"])

    page.locator("#q").fill("alpha")
    page.wait_for_function("() => document.querySelector('h1').textContent.includes('alpha')")
    assert page.locator("h1").inner_text() == "Results for “alpha”"
    assert page.title() == "Search: alpha · lvs"
    page.locator("select#sort").select_option("title")
    page.wait_for_function("() => document.querySelector('#sort-dir').href.includes('title-desc')")
    assert dict(query_of(page.locator("#sort-dir").get_attribute("href") or "")) == {
        "q": "alpha",
        "sort": "title-desc",
    }
    assert dict(query_of(page.url)) == {"q": "alpha", "sort": "title"}
    assert page.locator("h1").count() == 1


def test_the_watch_page_shows_player_title_and_stars_above_the_fold(
    page: Page, base: str, library: Settings
) -> None:
    ((media_id,),) = db_query(library, "SELECT id FROM media WHERE title = 'Charlie'")
    page.set_viewport_size(LAPTOP)
    page.goto(f"{base}/media/{media_id}")
    page.wait_for_function("() => document.querySelector('video').readyState >= 1")

    for selector in ("video#player", "main h1", ".watch-actions .star >> nth=4"):
        box = page.locator(selector).bounding_box()
        assert box is not None and box["y"] >= 0, selector
        assert box["y"] + box["height"] <= LAPTOP["height"], f"{selector} is below the fold"
    assert page.locator("video#player").get_attribute("aria-label") == "Charlie"


# -- without JavaScript -------------------------------------------------------------------------


@pytest.fixture
def no_js(chromium: Browser) -> Iterator[Page]:
    context = chromium.new_context(viewport=PHONE, java_script_enabled=False)
    page = context.new_page()
    yield page
    context.close()


def flash(page: Page) -> str:
    return " ".join(page.locator("#flashes").inner_text().split())


def test_every_action_works_without_javascript(no_js: Page, urls: dict[str, str]) -> None:
    page = no_js
    page.goto(urls["library"])
    assert page.locator("#library-grid li.card").count() == PAGE_SIZE

    # sort: pick one and press the plain Apply button; the URL is canonical
    page.locator("select#sort").select_option("title")
    page.locator("noscript button, .toolbar button:has-text('Apply')").first.click()
    assert query_of(page.url) == [("sort", "title")]
    titles = page.locator("#library-grid li.card .title").all_inner_texts()
    assert titles == sorted(titles, key=str.lower)

    # filter: open the sheet, tick favorites, apply
    page.locator("details.more-filters > summary").click()
    page.locator("input[name=favorites]").check()
    page.locator(".sheet button[type=submit]").click()
    assert sorted(query_of(page.url)) == [("favorites", "1"), ("sort", "title")]
    assert page.locator("#library-grid li.card").count() == 0  # this person has none yet

    # page: the next page of everything
    page.goto(urls["library"])
    page.locator("a[rel=next]").click()
    assert query_of(page.url) == [("page", "2")]
    card = page.locator("#library-grid li.card").first
    card_id = card.get_attribute("id")

    # favorite: back on the same card, pressed
    card.locator("button.heart").click()
    assert "Added to favorites." in flash(page)
    assert urlsplit(page.url).fragment == card_id
    assert page.locator(f"#{card_id} button.heart").get_attribute("aria-pressed") == "true"

    # rate: open the disclosure (a plain <details>), press the fourth star
    page.locator(f"#{card_id} details.rate > summary").click()
    page.locator(f"#{card_id} button.star[value='4']").click()
    assert "Rated 4 out of 5." in flash(page)
    assert page.locator(f"#{card_id} details.rate > summary .yours").inner_text() == "4"
    assert dict(query_of(page.url)) == {"page": "2"}


# -- accessibility: axe-core on every page, both colour schemes ---------------------------------

AXE = sorted((Path(__file__).resolve().parent.parent / "vendor").glob("axe-*.min.js"))


@pytest.fixture
def axe_page(chromium: Browser, base: str, library: Settings) -> Iterator[Page]:
    """CSP bypassed so that axe can be injected (every other test runs under the real policy);
    a person with a favorite, a tag, a rating and a view, so that pages have content."""
    context = chromium.new_context(viewport=LAPTOP, bypass_csp=True)
    page = context.new_page()
    page.goto(base + "/help")
    for (media_id,) in db_query(library, "SELECT id FROM media ORDER BY id LIMIT 3"):
        api = f"{base}/api/media/{media_id}"
        assert page.request.put(f"{api}/favorite", data={"favorite": True}).ok
        assert page.request.post(f"{api}/views", data={}).ok
    yield page
    context.close()


def serious_violations(page: Page) -> list[str]:
    assert len(AXE) == 1, f"expected one vendored axe-core in tests/vendor, found {AXE}"
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE[0]))
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} -> "
        f"{[' '.join(map(str, n['target'])) for n in v['nodes']][:6]}"
        for v in result["violations"]
        if v.get("impact") in {"serious", "critical"}
    ]


def test_no_serious_accessibility_violations_on_any_page_in_either_theme(
    axe_page: Page, base: str, urls: dict[str, str], library: Settings
) -> None:
    page = axe_page
    ((media_id,),) = db_query(library, "SELECT id FROM media WHERE title = 'Charlie'")
    made = page.request.post(f"{base}/api/playlists", data={"name": "Evening"})
    playlist = made.json()["id"]
    for (item,) in db_query(library, "SELECT id FROM media ORDER BY id LIMIT 3"):
        assert page.request.post(
            f"{base}/api/playlists/{playlist}/items", data={"media_id": item}
        ).ok
    pages = {
        "home": base + "/",
        **urls,
        "tags": base + "/tags",
        "help": base + "/help",
        "watch": f"{base}/media/{media_id}",
        "nothing found": urls["library"] + "?q=volcano",
        "playlists": base + "/playlists",
        "playlist": f"{base}/playlists/{playlist}",
        "watch in a playlist": f"{base}/play?list=p{playlist}",
    }
    found: dict[str, list[str]] = {}
    for name, url in pages.items():
        page.goto(url)
        if name == "library":  # the stars of one card and the filter sheet, opened
            page.locator("details.rate > summary").first.click()
            page.locator("details.more-filters > summary").click()
        for scheme in ("light", "dark"):
            page.emulate_media(color_scheme=scheme)
            if problems := serious_violations(page):
                found[f"{name} ({scheme})"] = problems
    assert not found, "\n".join(f"{k}:\n  " + "\n  ".join(v) for k, v in found.items())
