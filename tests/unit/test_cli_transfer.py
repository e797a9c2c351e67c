"""``lvs export`` and ``lvs import`` through click's CliRunner: a household's ratings, favorites,
tags, views and resume positions, written through the app, travel to a fresh data folder and
show up there for the same people; importing twice changes nothing; ``--ratings-csv`` writes the
ratings as CSV. SQLite only (the transfer service itself is tested on both backends in
test_transfer.py)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from conftest import db_query
from litestar import Litestar
from litestar.testing import TestClient

from lvs.app import create_app
from lvs.cli import main
from lvs.library.demo import make_clip
from lvs.settings import Settings

TABLES = (
    "users",
    "ratings",
    "favorites",
    "tags",
    "media_tags",
    "views",
    "positions",
    "media_stats",
    "playlists",
    "playlist_items",
)


@pytest.fixture
def db_url() -> None:
    """SQLite: the CLI works on a data folder (replaces the shared, parametrised ``db_url``)."""
    return None


@pytest.fixture(scope="session")
def twelve_seconds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("transfer-clips") / "Long.mp4"
    make_clip(path, seconds=12.0, width=160, height=90, fps=5, hue=200)
    return path


@pytest.fixture
def library(library: Path, twelve_seconds: Path) -> Path:
    """The shared clips plus a 12-second one, long enough to keep a resume position."""
    shutil.copy2(twelve_seconds, library / "Long.mp4")
    return library


@pytest.fixture
def ids(scanned: Settings) -> dict[str, int]:
    return {str(t): int(i) for t, i in db_query(scanned, "SELECT title, id FROM media")}


def env_for(settings: Settings) -> dict[str, str | None]:
    """CliRunner environment pointing the ``lvs`` command at ``settings``' data folder."""
    cleared: dict[str, str | None] = dict.fromkeys(
        (name for name in os.environ if name.startswith("LVS_")), None
    )
    return {
        **cleared,
        "COLUMNS": None,
        "LVS_DATA_DIR": str(settings.data_dir),
        "LVS_DB_PATH": str(settings.sqlite_path),
        "LVS_SECRET_KEY": settings.secret_key,
        "LVS_LIBRARY": os.pathsep.join(str(p) for p in settings.library),
    }


def lvs(settings: Settings, *args: str) -> Result:
    result = CliRunner().invoke(main, list(args), env=env_for(settings), catch_exceptions=False)
    return result


@contextmanager
def person(client: TestClient[Litestar], jar: httpx.Cookies) -> Iterator[TestClient[Litestar]]:
    """The client as the browser whose cookies are ``jar``; cookies it gets are kept in ``jar``
    (assigning ``client.cookies`` copies the jar, so they are copied back on the way out)."""
    saved = httpx.Cookies(client.cookies)
    client.cookies = jar
    try:
        yield client
    finally:
        jar.update(client.cookies)
        client.cookies = saved


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def household(client: TestClient[Litestar], ids: dict[str, int]) -> dict[str, httpx.Cookies]:
    """Ann and Bob, each with a browser (cookie jar), rate, favorite, tag, watch and stop
    half-way through videos, all through the JSON API of the running app."""
    jars = {"ann": httpx.Cookies(), "bob": httpx.Cookies()}
    hashes = {t: ok(client.get(f"/api/media/{i}"))["media_hash"] for t, i in ids.items()}
    with person(client, jars["ann"]):
        ok(client.post(f"/api/ratings/{hashes['Alpha']}", json={"value": 5}))
        ok(client.post(f"/api/ratings/{hashes['Long']}", json={"value": 2}))
        ok(client.put(f"/api/media/{ids['Alpha']}/favorite", json={"favorite": True}))
        ok(client.put(f"/api/media/{ids['Charlie']}/favorite", json={"favorite": True}))
        ok(client.post(f"/api/media/{ids['Alpha']}/tags", json={"name": "Sunday Films"}))
        ok(client.post(f"/api/media/{ids['Alpha']}/views", json={}))
        ok(client.post(f"/api/media/{ids['Long']}/views", json={}))
        ok(client.put(f"/api/media/{ids['Long']}/position", json={"seconds": 5.5}))
        made = client.post("/api/playlists", json={"name": "Evening"})
        assert made.status_code == 201, made.text
        evening = made.json()["id"]
        for title in ("Long", "Alpha"):
            ok(client.post(f"/api/playlists/{evening}/items", json={"media_id": ids[title]}))
        ok(client.patch(f"/api/playlists/{evening}", json={"loop": True}))
    with person(client, jars["bob"]):
        ok(client.post(f"/api/ratings/{hashes['Alpha']}", json={"value": 3}))
        ok(client.put(f"/api/media/{ids['Bravo']}/favorite", json={"favorite": True}))
        ok(client.post(f"/api/media/{ids['Long']}/tags", json={"name": "sunday films"}))
        ok(client.post(f"/api/media/{ids['Long']}/tags", json={"name": "rainy"}))
        ok(client.post(f"/api/media/{ids['Bravo']}/views", json={}))
        ok(client.post(f"/api/media/{ids['Alpha']}/views", json={}))
        ok(client.put(f"/api/media/{ids['Long']}/position", json={"seconds": 3.25}))
    return jars


def seen_by(client: TestClient[Litestar], jar: httpx.Cookies) -> dict[str, Any]:
    """Everything one person sees, by media_hash (ids may differ between machines)."""
    with person(client, jar):
        items = ok(client.get("/api/media", params={"sort": "title"}))["items"]
        out: dict[str, Any] = {}
        for item in items:
            tags = ok(client.get(f"/api/media/{item['id']}/tags"))
            position = ok(client.get(f"/api/media/{item['id']}/position"))["seconds"]
            out[item["media_hash"]] = {
                "title": item["title"],
                "rating": item["rating"],
                "views": item["views"],
                "favorite": item["favorite"],
                "my_plays": item["my_plays"],
                "last_played": item["last_played"] and _instant(item["last_played"]),
                "position": position,
                "tags": [t["name"] for t in tags],
            }
        # Filters and sorts read the figures copied onto each video row (kept by triggers).
        rated = ok(client.get("/api/media", params={"min_rating": "1", "sort": "rating"}))
        most_viewed = ok(client.get("/api/media", params={"sort": "views"}))["items"][0]
        history = [
            (h["media_hash"], h["plays"], _instant(h["viewed_at"]))
            for h in ok(client.get("/api/history"))
        ]
        playlists = [
            (p["name"], p["loop"], [i["title"] for i in ok(client.get(p["url"]))["items"]])
            for p in ok(client.get("/api/playlists"))
        ]
        return {
            "playlists": playlists,
            "videos": out,
            "history": history,
            "tags": ok(client.get("/api/tags")),
            "rated, best first": [i["title"] for i in rated["items"]],
            "most viewed": (most_viewed["title"], most_viewed["views"]),
        }


def _instant(iso: str) -> str:
    """An ISO time in UTC to the microsecond, whatever offset notation it came with."""
    from datetime import UTC, datetime

    return datetime.fromisoformat(iso).astimezone(UTC).isoformat()


def without_ids(seen: dict[str, Any]) -> dict[str, Any]:
    return {**seen, "tags": [(t["name"], t["count"]) for t in seen["tags"]]}


def snapshot(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    return {t: sorted(db_query(settings, f"SELECT * FROM {t}"), key=repr) for t in TABLES}


@pytest.fixture
def new_machine(scanned: Settings, tmp_path: Path) -> Settings:
    """A fresh data folder (no database yet) on the same library and with the same secret key,
    so the household's browsers are the same people there."""
    data = tmp_path / "new-machine"
    data.mkdir()
    return replace(scanned, data_dir=data, db_path=data / "lvs.db")


def export(settings: Settings, out: Path, *extra: str) -> dict[str, Any]:
    result = lvs(settings, "export", str(out), *extra)
    assert result.exit_code == 0, result.output
    assert f"to {out}" in result.output
    data: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return data


def scan(settings: Settings) -> None:
    """``lvs scan`` (which creates the database first) on the new machine's library."""
    result = lvs(settings, "scan", "--quiet", "--no-thumbnails")
    assert result.exit_code == 0, result.output


def import_counts(result: Result) -> list[tuple[int, int]]:
    """``(new, updated)`` of every kind of row the import reports."""
    assert result.exit_code == 0, result.output
    found = [(int(n), int(u)) for n, u in re.findall(r"(\d+) new, (\d+) updated", result.output)]
    assert len(found) == 8, result.output  # users ... positions, playlists
    return found


@pytest.mark.parametrize("order", ["scan then import", "import then scan"])
def test_export_then_import_on_a_new_machine_round_trips_everything(
    client: TestClient[Litestar],
    scanned: Settings,
    household: dict[str, httpx.Cookies],
    new_machine: Settings,
    tmp_path: Path,
    order: str,
) -> None:
    before = {name: seen_by(client, jar) for name, jar in household.items()}
    out = tmp_path / "household.json"

    data = export(scanned, out)

    result = lvs(scanned, "export", str(tmp_path / "again.json"))
    assert result.output.startswith(
        "Exported 3 ratings, 3 favorites, 3 tags, 4 views and 2 positions"
    ), result.output
    assert data["format"] == "lvs-export"
    assert len(data["users"]) == 2
    if order == "scan then import":
        scan(new_machine)
        assert import_counts(lvs(new_machine, "import", str(out)))[0] == (2, 0)  # two people
    else:
        assert import_counts(lvs(new_machine, "import", str(out)))[0] == (2, 0)
        scan(new_machine)

    with TestClient(create_app(new_machine)) as there:
        after = {name: seen_by(there, jar) for name, jar in household.items()}
    assert {k: without_ids(v) for k, v in after.items()} == {
        k: without_ids(v) for k, v in before.items()
    }
    # Spot checks of what the comparison above covers.
    ann = after["ann"]["videos"]
    by_title = {v["title"]: v for v in ann.values()}
    assert by_title["Alpha"]["rating"] == {"average": 4.0, "count": 2, "user": 5}
    assert by_title["Alpha"]["favorite"] is True
    assert by_title["Alpha"]["tags"] == ["Sunday Films"]
    assert by_title["Long"]["tags"] == ["rainy", "Sunday Films"]
    assert by_title["Long"]["position"] == 5.5
    assert by_title["Long"]["my_plays"] == 1
    assert after["ann"]["rated, best first"] == ["Alpha", "Long"]
    assert after["ann"]["most viewed"] == ("Alpha", 2)
    assert after["ann"]["playlists"] == [("Evening", True, ["Long", "Alpha"])]
    assert after["bob"]["playlists"] == []
    bob = {v["title"]: v for v in after["bob"]["videos"].values()}
    assert bob["Long"]["position"] == 3.25
    assert bob["Bravo"]["favorite"] is True and bob["Alpha"]["favorite"] is False


def test_importing_twice_changes_nothing(
    client: TestClient[Litestar],
    scanned: Settings,
    household: dict[str, httpx.Cookies],
    new_machine: Settings,
    tmp_path: Path,
) -> None:
    out = tmp_path / "household.json"
    export(scanned, out)
    scan(new_machine)
    first = import_counts(lvs(new_machine, "import", str(out)))
    assert any(new for new, _ in first)
    once = snapshot(new_machine)

    second = import_counts(lvs(new_machine, "import", str(out)))

    assert second == [(0, 0)] * 8
    assert snapshot(new_machine) == once
    # Nor does importing into the machine the file came from.
    here = snapshot(scanned)
    assert import_counts(lvs(scanned, "import", str(out))) == [(0, 0)] * 8
    assert snapshot(scanned) == here


def test_ratings_csv(
    client: TestClient[Litestar],
    scanned: Settings,
    household: dict[str, httpx.Cookies],
    tmp_path: Path,
) -> None:
    out, sheet = tmp_path / "household.json", tmp_path / "ratings.csv"

    data = export(scanned, out, "--ratings-csv", str(sheet))

    raw = sheet.read_bytes().decode("utf-8")
    rows = list(csv.reader(io.StringIO(raw, newline="")))
    assert rows[0] == ["media_hash", "user_id", "value", "updated_at", "title"]
    body = sorted((r[0], r[1], int(r[2]), r[4]) for r in rows[1:])
    titles = {m["media_hash"]: m["title"] for m in data["media"]}
    assert body == sorted(
        (r["media_hash"], r["user_id"], r["value"], titles[r["media_hash"]])
        for r in data["ratings"]
    )
    assert sorted((r[4], int(r[2])) for r in rows[1:]) == [("Alpha", 3), ("Alpha", 5), ("Long", 2)]
    assert {r[3] for r in rows[1:]} == {r["updated_at"] for r in data["ratings"]}


def test_a_file_that_is_not_an_export_is_refused_and_nothing_is_written(
    scanned: Settings, new_machine: Settings, tmp_path: Path
) -> None:
    bogus = tmp_path / "bogus.json"
    bogus.write_text(json.dumps({"format": "something-else", "version": 1}))
    scan(new_machine)
    before = snapshot(new_machine)

    result = CliRunner().invoke(main, ["import", str(bogus)], env=env_for(new_machine))

    assert result.exit_code != 0
    assert "not an lvs export" in result.output
    assert snapshot(new_machine) == before
