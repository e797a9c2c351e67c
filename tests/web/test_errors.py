"""One way to answer every error (issue 10): each kind of error (unknown video, a value that
cannot be used, too many writes, a busy database) answered as JSON, as an htmx fragment and as a
page; and one order for every write route, form or JSON: the write limit counts a request before
anything in it is checked, so a refused value costs quota exactly as a good write does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import httpx
import pytest
from conftest import html
from helpers import (
    HTMX,
    csrf_token,
    fields,
    fragment_roots,
    get_page,
    media_ids,
    one,
    retry_after,
    snapshot,
    text,
)
from litestar import Litestar
from litestar.testing import TestClient

from lvs.app import create_app
from lvs.services.errors import DatabaseBusy
from lvs.services.favorites import FavoriteService
from lvs.services.ratings import RatingService
from lvs.settings import Settings


@pytest.fixture
def db_url() -> None:
    """SQLite only: what is tested here is the web layer, the same on either database."""
    return None


@pytest.fixture
def limited(scanned: Settings) -> Iterator[TestClient[Litestar]]:
    """Two ratings and two household changes a minute per client."""
    settings = replace(scanned, rate_limit="2/minute", write_rate_limit="2/minute")
    with TestClient(create_app(settings)) as c:
        yield c


@dataclass(frozen=True)
class Video:
    id: int
    hash: str


@pytest.fixture
def alpha(scanned: Settings) -> Video:
    return Video(*media_ids(scanned)["Alpha"])


def form_of(page: object, selector: str) -> tuple[str, dict[str, str]]:
    form = one(page, selector)  # type: ignore[arg-type]
    return str(form["action"]), fields(form)


# -- one order: the limit first ----------------------------------------------------------------

# Each write route, as a browser (form) and as a script (JSON) sends it: where, what a good
# request carries, what a refused one carries.
Send = Callable[[TestClient[Litestar], Video, bool], httpx.Response]


def rating_form(client: TestClient[Litestar], v: Video, good: bool) -> httpx.Response:
    action, data = form_of(get_page(client, f"/media/{v.id}"), f"#rating-{v.hash} form")
    return client.post(action, data=data | {"value": "4" if good else "9"}, follow_redirects=False)


def rating_json(client: TestClient[Litestar], v: Video, good: bool) -> httpx.Response:
    return client.post(f"/api/ratings/{v.hash}", json={"value": 4 if good else 9})


def tag_form(client: TestClient[Litestar], v: Video, good: bool) -> httpx.Response:
    action, data = form_of(get_page(client, f"/media/{v.id}"), "form.add-tag")
    return client.post(action, data=data | {"name": "ok" if good else " "}, follow_redirects=False)


def tag_json(client: TestClient[Litestar], v: Video, good: bool) -> httpx.Response:
    return client.post(f"/api/media/{v.id}/tags", json={"name": "ok" if good else " "})


def position_form(client: TestClient[Litestar], v: Video, good: bool) -> httpx.Response:
    page = get_page(client, f"/media/{v.id}")
    video = one(page, "video")
    data = {"_csrf_token": csrf_token(page), "seconds": "1.5" if good else "-1"}
    return client.post(str(video["data-position-url"]), data=data, follow_redirects=False)


def position_json(client: TestClient[Litestar], v: Video, good: bool) -> httpx.Response:
    return client.put(f"/api/media/{v.id}/position", json={"seconds": 1.5 if good else "soon"})


TWINS: dict[str, Send] = {
    "rating form": rating_form,
    "rating JSON": rating_json,
    "tag form": tag_form,
    "tag JSON": tag_json,
    "position form": position_form,
    "position JSON": position_json,
}


@pytest.mark.parametrize("route", sorted(TWINS))
def test_a_refused_value_costs_quota_like_any_write(
    limited: TestClient[Litestar], scanned: Settings, alpha: Video, route: str
) -> None:
    send = TWINS[route]
    before = snapshot(scanned)

    refused = [send(limited, alpha, False).status_code for _ in range(2)]
    good = send(limited, alpha, True)
    late_bad = send(limited, alpha, False)

    assert refused == [400, 400]
    assert good.status_code == 429, "two refused values did not use up the limit of two"
    assert 1 <= retry_after(good) <= 60
    assert late_bad.status_code == 429, "the value was checked before the limit"
    assert snapshot(scanned) == before


# -- each error, each rendering ----------------------------------------------------------------


def test_an_unknown_video_is_404_as_json_fragment_and_page(client: TestClient[Litestar]) -> None:
    token = csrf_token(get_page(client, "/help"))

    as_json = client.get("/api/media/999999")
    fragment = client.post("/media/999999/favorite", data={"_csrf_token": token}, headers=HTMX)
    full = client.get("/media/999999")

    assert as_json.status_code == 404
    assert as_json.json() == {"status_code": 404, "detail": "No video with id 999999"}
    assert fragment.status_code == 404
    assert fragment.headers["hx-retarget"] == "#flashes"
    (flash,) = fragment_roots(fragment)
    assert "flash-error" in flash["class"]
    assert text(flash) == "No video with id 999999"
    assert full.status_code == 404
    doc = html(full.text)
    assert text(doc.select_one("h1")) == "Not found"
    assert text(doc.select_one(".detail")) == "No video with id 999999"


def test_a_refused_value_is_400_as_json_fragment_and_page(
    client: TestClient[Litestar], alpha: Video
) -> None:
    page = get_page(client, f"/media/{alpha.id}")
    action, data = form_of(page, f"#rating-{alpha.hash} form")
    tag_action, tag_data = form_of(page, "form.add-tag")

    as_json = client.post(f"/api/ratings/{alpha.hash}", json={"value": 9})
    widget = client.post(action, data=data | {"value": "9"}, headers=HTMX)
    widget_page = client.post(action, data=data | {"value": "9"})
    tags = client.post(tag_action, data=tag_data | {"name": "\u200b"}, headers=HTMX)
    position = client.post(
        f"/media/{alpha.id}/position",
        data={"_csrf_token": data["_csrf_token"], "seconds": "never"},
        headers=HTMX,
    )

    assert as_json.status_code == 400
    assert as_json.json() == {
        "status_code": 400,
        "detail": "value: must be between 1 and 5",
        "errors": [{"field": "value", "message": "must be between 1 and 5"}],
    }
    # A form with a widget shows the message in it: the fragment for htmx, a page without JS.
    assert widget.status_code == 400
    (root,) = fragment_roots(widget)
    assert root["id"] == f"rating-{alpha.hash}"
    assert text(root.select_one(".rating-error")) == "Rating must be between 1 and 5."
    assert widget_page.status_code == 400
    doc = html(widget_page.text)
    assert text(doc.select_one("h1")) == "Your rating was not saved"
    assert text(doc.select_one(".rating-error")) == "Rating must be between 1 and 5."
    assert tags.status_code == 400
    (section,) = fragment_roots(tags)
    assert section["id"] == "tags"
    assert text(section.select_one("#tag-error")) == "Tag must not contain control characters."
    # One without a widget (the player's position report): a flash message for htmx.
    assert position.status_code == 400
    assert position.headers["hx-retarget"] == "#flashes"
    assert text(one(html(position.text), ".flash")).startswith("seconds: must be a number")


def test_too_many_writes_are_429_as_json_fragment_and_page(
    limited: TestClient[Litestar], alpha: Video
) -> None:
    page = get_page(limited, f"/media/{alpha.id}")
    heart_action, heart = form_of(page, f"#favorite-{alpha.id}")
    limited.put(f"/api/media/{alpha.id}/favorite", json={"favorite": True})
    limited.put(f"/api/media/{alpha.id}/favorite", json={"favorite": False})

    as_json = limited.put(f"/api/media/{alpha.id}/favorite", json={"favorite": True})
    fragment = limited.post(heart_action, data=heart, headers=HTMX)
    full = limited.post(heart_action, data=heart)

    for response in (as_json, fragment, full):
        assert response.status_code == 429
        assert 1 <= retry_after(response) <= 60
    assert as_json.json()["detail"].startswith("Too many changes at once. Try again in")
    (flash,) = fragment_roots(fragment)
    assert text(flash).startswith("Too many changes at once.")
    assert text(html(full.text).select_one("h1")) == "Too many requests"


@pytest.fixture
def busy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A database that stays locked through every retry, for favorites and ratings alike."""

    async def refuse(*args: object, **kwargs: object) -> None:
        raise DatabaseBusy(retry_after=7)

    monkeypatch.setattr(FavoriteService, "set", refuse)
    monkeypatch.setattr(RatingService, "rate", refuse)


def test_a_busy_database_is_503_as_json_fragment_and_page(
    client: TestClient[Litestar], alpha: Video, busy: None
) -> None:
    page = get_page(client, f"/media/{alpha.id}")
    heart_action, heart = form_of(page, f"#favorite-{alpha.id}")
    rate_action, rate = form_of(page, f"#rating-{alpha.hash} form")

    as_json = client.put(f"/api/media/{alpha.id}/favorite", json={"favorite": True})
    fragment = client.post(heart_action, data=heart, headers=HTMX)
    full = client.post(heart_action, data=heart)
    widget = client.post(rate_action, data=rate | {"value": "3"}, headers=HTMX)

    for response in (as_json, fragment, full, widget):
        assert response.status_code == 503
        assert retry_after(response) == 7
    busy_text = "The library is busy; nothing was saved. Try again."
    assert as_json.json() == {"status_code": 503, "detail": busy_text}
    assert fragment.headers["hx-retarget"] == "#flashes"
    assert [text(f) for f in fragment_roots(fragment)] == [busy_text]
    assert text(html(full.text).select_one(".detail")) == busy_text
    (root,) = fragment_roots(widget)
    assert text(root.select_one(".rating-error")) == busy_text
