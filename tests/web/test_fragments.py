"""Cards are drawn from cached fragments (``{% cache %}``, lvs.web.fragments): what a person
sees must still be the truth of the moment, and never another browser's form token."""

from __future__ import annotations

from bs4 import BeautifulSoup
from conftest import db_execute
from helpers import get_page, one, submit, text
from litestar import Litestar
from litestar.testing import TestClient

from lvs.settings import Settings


def _card(page: BeautifulSoup, media_id: int) -> BeautifulSoup:
    card = page.select_one(f"#card-{media_id}")
    assert card is not None, f"no card {media_id} on the page"
    return card  # type: ignore[return-value]


def _first_card_id(page: BeautifulSoup) -> int:
    first = page.select_one("li.card")
    assert first is not None
    return int(str(first["id"]).removeprefix("card-"))


def test_a_rating_shows_on_a_card_drawn_before(client: TestClient[Litestar]) -> None:
    page = get_page(client, "/library")
    media_id = _first_card_id(page)
    get_page(client, "/library")  # drawn twice: its fragments are cached now
    form = one(_card(page, media_id), "form[action^='/ratings/']")
    assert not form.select("button.star.on")
    assert submit(client, form, value="4").status_code == 303

    card = _card(get_page(client, "/library"), media_id)
    stars = card.select("button.star")
    assert [s.get("aria-pressed") for s in stars] == ["false", "false", "false", "true", "false"]
    assert len(card.select("button.star.on")) == 4
    assert "4" in text(card.select_one("summary .yours"))


def test_a_favorite_shows_on_a_card_drawn_before(client: TestClient[Litestar]) -> None:
    page = get_page(client, "/library")
    media_id = _first_card_id(page)
    heart = one(_card(page, media_id), "form.favorite")
    assert one(heart, "button.heart")["aria-pressed"] == "false"
    assert submit(client, heart).status_code == 303

    again = one(_card(get_page(client, "/library"), media_id), "form.favorite")
    assert one(again, "button.heart")["aria-pressed"] == "true"
    assert one(again, "input[name=favorite]")["value"] == "0"  # the next press removes it


def test_a_renamed_or_rethumbed_video_shows_its_new_card(
    client: TestClient[Litestar], scanned: Settings
) -> None:
    page = get_page(client, "/library")
    media_id = _first_card_id(page)
    assert _card(page, media_id).select_one("img.thumb:not(.placeholder)") is not None
    db_execute(
        scanned,
        "UPDATE media SET title = :t, has_thumbnail = :f WHERE id = :i",
        t="A <new> title",
        f=False,
        i=media_id,
    )
    card = _card(get_page(client, "/library"), media_id)
    assert text(card.select_one(".title")) == "A <new> title"
    assert card.select_one("img.thumb.placeholder") is not None


def test_each_browser_gets_its_own_form_token_from_a_cached_card(
    client: TestClient[Litestar],
) -> None:
    """Two browsers in turn (one test client whose cookie jar is swapped: an app's database
    connections belong to one client's event loop)."""

    def tokens(page: BeautifulSoup) -> set[str]:
        return {str(i["value"]) for i in page.select("li.card input[name=_csrf_token]")}

    first = get_page(client, "/library")
    one_jar = dict(client.cookies)
    client.cookies.clear()
    second = get_page(client, "/library")
    other_jar = dict(client.cookies)
    client.cookies.clear()
    client.cookies.update(one_jar)
    first_again = get_page(client, "/library")
    client.cookies.clear()
    client.cookies.update(other_jar)
    second_again = get_page(client, "/library")

    assert one_jar["csrftoken"] != other_jar["csrftoken"]
    assert len(tokens(first)) == 1 and len(tokens(second)) == 1
    assert tokens(first) != tokens(second)
    assert tokens(first_again) == tokens(first)
    assert tokens(second_again) == tokens(second)


def test_a_home_tile_shows_a_new_rating_and_a_new_title(
    client: TestClient[Litestar], scanned: Settings
) -> None:
    def tile(page: BeautifulSoup, media_id: int) -> BeautifulSoup:
        found = page.select(f"section[data-row=recent] li.tile a[href='/media/{media_id}']")
        assert len(found) == 1, f"video {media_id} is not in the Recently added row"
        return found[0].find_parent("li")  # type: ignore[return-value]

    grid = get_page(client, "/library")
    media_id = _first_card_id(grid)
    before = tile(get_page(client, "/"), media_id)
    assert before.select_one(".average") is None  # nobody has rated it
    form = one(_card(grid, media_id), "form[action^='/ratings/']")
    assert submit(client, form, value="4").status_code == 303
    db_execute(scanned, "UPDATE media SET title = :t WHERE id = :i", t="Renamed", i=media_id)

    after = tile(get_page(client, "/"), media_id)
    assert text(after.select_one(".title")) == "Renamed"
    assert text(after.select_one(".average")) == "★ 4.0"
