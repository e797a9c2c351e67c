"""Export and import of everyone's data between two real databases of the backend under test
(migrated SQLite files in temp folders, or fresh PostgreSQL databases), and from SQLite to
PostgreSQL."""

from __future__ import annotations

import copy
import csv
import io
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from conftest import new_pg_database, run_scan
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lvs.db.config import make_engine, migrate
from lvs.db.models import (
    Favorite,
    Media,
    MediaStats,
    MediaTag,
    Playlist,
    PlaylistItem,
    Position,
    Rating,
    Tag,
    User,
    View,
)
from lvs.services.transfer import (
    Counts,
    TransferError,
    export_data,
    import_data,
    ratings_csv,
)
from lvs.settings import Settings

ANN = uuid.UUID("00000000-0000-4000-8000-00000000a001")
BOB = uuid.UUID("00000000-0000-4000-8000-00000000b002")
ELSEWHERE = "00000000000000aa"  # a video this machine does not have (its data still travels)
T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
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


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@asynccontextmanager
async def session_for(settings: Settings) -> AsyncIterator[AsyncSession]:
    engine = make_engine(settings)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            yield session
    finally:
        await engine.dispose()


def stamped(model: Any, when: datetime, **values: Any) -> Any:
    return model(created_at=when, updated_at=when, **values)


@pytest.fixture
def source(settings: Settings) -> Settings:
    """The old machine: a scanned library (no thumbnails) with the household's data to come."""
    run_scan(settings, thumbnails=False)
    return settings


async def hashes(settings: Settings) -> dict[str, str]:
    """title → media_hash of the scanned clips."""
    async with session_for(settings) as session:
        rows = await session.execute(select(Media.title, Media.media_hash))
        return {t: h for t, h in rows.all()}


async def populate(settings: Settings) -> dict[str, str]:
    """Two people's ratings, favorites, tags, views and positions; returns title → hash."""
    h = await hashes(settings)
    alpha, bravo = h["Alpha"], h["Bravo"]
    async with session_for(settings) as s:
        s.add_all([stamped(User, at(0), id=ANN, name="Ann"), stamped(User, at(0), id=BOB)])
        await s.flush()
        s.add_all(
            [
                stamped(Rating, at(1), media_hash=alpha, user_id=ANN, value=5),
                stamped(Rating, at(2), media_hash=alpha, user_id=BOB, value=2),
                stamped(Rating, at(3), media_hash=bravo, user_id=ANN, value=4),
                stamped(Rating, at(4), media_hash=ELSEWHERE, user_id=BOB, value=1),
                stamped(Favorite, at(5), media_hash=alpha, user_id=ANN),
                stamped(Favorite, at(6), media_hash=ELSEWHERE, user_id=BOB),
                stamped(View, at(10), media_hash=alpha, user_id=ANN),
                stamped(View, at(70), media_hash=alpha, user_id=ANN),
                stamped(View, at(11), media_hash=alpha, user_id=BOB),
                stamped(View, at(12), media_hash=bravo, user_id=BOB),
                stamped(Position, at(13), media_hash=bravo, user_id=ANN, seconds=1.25),
                stamped(Position, at(14), media_hash=ELSEWHERE, user_id=BOB, seconds=600.5),
                stamped(Tag, at(0), name="Cats", key="cats"),
                stamped(Tag, at(0), name="Holiday 2023", key="holiday 2023"),
                stamped(Tag, at(0), name="Unused", key="unused"),
            ]
        )
        await s.flush()
        tag_ids = dict((await s.execute(select(Tag.key, Tag.id))).tuples().all())
        s.add_all(
            [
                stamped(MediaTag, at(0), media_hash=alpha, tag_id=tag_ids["cats"]),
                stamped(MediaTag, at(0), media_hash=bravo, tag_id=tag_ids["cats"]),
                stamped(MediaTag, at(0), media_hash=ELSEWHERE, tag_id=tag_ids["holiday 2023"]),
            ]
        )
        evening = stamped(Playlist, at(20), user_id=ANN, name="Evening", loop=True)
        kids = stamped(Playlist, at(21), user_id=BOB, name="Kids", loop=False)
        s.add_all([evening, kids])
        await s.flush()
        s.add_all(
            [  # Ann's, out of insertion order: the export lists by position
                stamped(PlaylistItem, at(22), playlist_id=evening.id, media_hash=bravo, position=2),
                stamped(PlaylistItem, at(22), playlist_id=evening.id, media_hash=alpha, position=9),
                stamped(
                    PlaylistItem, at(22), playlist_id=evening.id, media_hash=ELSEWHERE, position=1
                ),
                stamped(PlaylistItem, at(22), playlist_id=kids.id, media_hash=alpha, position=1),
            ]
        )
        await s.commit()
    return h


async def export_json(settings: Settings) -> dict[str, Any]:
    async with session_for(settings) as session:
        data = await export_data(session)
    return json.loads(json.dumps(data))  # what the CLI writes and reads back


async def do_import(settings: Settings, data: Any) -> Any:
    async with session_for(settings) as session:
        return await import_data(session, data)


async def stats(settings: Settings) -> dict[str, tuple[int, int, float | None, int]]:
    async with session_for(settings) as session:
        rows = await session.execute(
            select(
                MediaStats.media_hash,
                MediaStats.rating_sum,
                MediaStats.rating_count,
                MediaStats.rating_avg,
                MediaStats.view_count,
            )
        )
        return {h: (s, c, a, v) for h, s, c, a, v in rows.all()}


async def snapshot(settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every per-person table, all columns, for "nothing changed" checks."""
    async with session_for(settings) as session:
        return {
            t: sorted(
                map(tuple, (await session.execute(text(f"SELECT * FROM {t}"))).all()), key=repr
            )
            for t in TABLES
        }


async def counts(settings: Settings) -> dict[str, int]:
    async with session_for(settings) as session:
        return {
            t: int((await session.execute(text(f"SELECT count(*) FROM {t}"))).scalar_one())
            for t in TABLES
        }


def without_timestamp(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in {"exported_at", "media"}}


# -- export ----------------------------------------------------------------------------------------


async def test_export_has_every_item(source: Settings) -> None:
    h = await populate(source)

    data = await export_json(source)

    assert (data["format"], data["version"]) == ("lvs-export", 1)
    assert datetime.fromisoformat(data["exported_at"]).tzinfo is not None
    assert data["users"] == [{"id": str(ANN), "name": "Ann"}, {"id": str(BOB), "name": None}]
    assert {(r["media_hash"], r["user_id"], r["value"]) for r in data["ratings"]} == {
        (h["Alpha"], str(ANN), 5),
        (h["Alpha"], str(BOB), 2),
        (h["Bravo"], str(ANN), 4),
        (ELSEWHERE, str(BOB), 1),
    }
    first = next(r for r in data["ratings"] if r["value"] == 5)
    assert datetime.fromisoformat(first["updated_at"]) == at(1)  # microseconds and offset kept
    assert first["updated_at"].endswith("+00:00")
    assert {(f["media_hash"], f["user_id"]) for f in data["favorites"]} == {
        (h["Alpha"], str(ANN)),
        (ELSEWHERE, str(BOB)),
    }
    assert data["tags"] == [{"name": "Cats"}, {"name": "Holiday 2023"}, {"name": "Unused"}]
    assert sorted((m["media_hash"], m["tag"]) for m in data["media_tags"]) == sorted(
        [(h["Alpha"], "Cats"), (h["Bravo"], "Cats"), (ELSEWHERE, "Holiday 2023")]
    )
    assert [datetime.fromisoformat(v["viewed_at"]) for v in data["views"]] == [
        at(10),
        at(11),
        at(12),
        at(70),
    ]
    assert {(p["media_hash"], p["user_id"], p["seconds"]) for p in data["positions"]} == {
        (h["Bravo"], str(ANN), 1.25),
        (ELSEWHERE, str(BOB), 600.5),
    }
    assert data["playlists"] == [
        {
            "user_id": str(ANN),
            "name": "Evening",
            "loop": True,
            "created_at": at(20).isoformat(),
            "items": [ELSEWHERE, h["Bravo"], h["Alpha"]],
        },
        {
            "user_id": str(BOB),
            "name": "Kids",
            "loop": False,
            "created_at": at(21).isoformat(),
            "items": [h["Alpha"]],
        },
    ]
    assert {m["title"]: m["rel_path"] for m in data["media"]} == {
        "Alpha": "Alpha.mp4",
        "Bravo": "Bravo.webm",
        "Charlie": "sub/Charlie.mp4",
    }


async def test_ratings_csv(source: Settings) -> None:
    h = await populate(source)
    data = await export_json(source)
    data["media"].append({"media_hash": ELSEWHERE, "title": "=HYPERLINK(1)", "rel_path": "x"})

    rows = list(csv.DictReader(io.StringIO(ratings_csv(data), newline="")))

    assert list(rows[0]) == ["media_hash", "user_id", "value", "updated_at", "title"]
    assert sorted((r["title"], r["user_id"], r["value"]) for r in rows) == [
        ("'=HYPERLINK(1)", str(BOB), "1"),  # not run as a formula by a spreadsheet
        ("Alpha", str(ANN), "5"),
        ("Alpha", str(BOB), "2"),
        ("Bravo", str(ANN), "4"),
    ]
    assert {r["media_hash"] for r in rows} == {h["Alpha"], h["Bravo"], ELSEWHERE}
    assert all(datetime.fromisoformat(r["updated_at"]).tzinfo for r in rows)
    assert ratings_csv({"ratings": []}) == "media_hash,user_id,value,updated_at,title\r\n"


# -- import ----------------------------------------------------------------------------------------


async def test_round_trip_to_a_new_machine(source: Settings, target: Settings) -> None:
    h = await populate(source)
    data = await export_json(source)

    report = await do_import(target, data)

    assert without_timestamp(await export_json(target)) == without_timestamp(data)
    assert report.users == Counts(new=2)
    assert report.ratings == Counts(new=4)
    assert report.favorites == Counts(new=2)
    assert report.tags == Counts(new=3)
    assert report.media_tags == Counts(new=3)
    assert report.views == Counts(new=4)
    assert report.positions == Counts(new=2)
    assert report.playlists == Counts(new=2)
    assert report.changed
    assert await stats(target) == {
        h["Alpha"]: (7, 2, 3.5, 3),
        h["Bravo"]: (4, 1, 4.0, 1),
        ELSEWHERE: (1, 1, 1.0, 0),
    }
    assert "ratings 4 new, 0 updated, 0 unchanged" in str(report)


async def test_importing_twice_changes_nothing(source: Settings, target: Settings) -> None:
    await populate(source)
    data = await export_json(source)
    await do_import(target, data)
    before = await snapshot(target)

    again = await do_import(target, copy.deepcopy(data))

    assert await snapshot(target) == before
    assert not again.changed
    assert again.media_stats == 0
    assert again.ratings == Counts(unchanged=4)
    assert again.views == Counts(unchanged=4)
    assert again.tags == Counts(unchanged=3)
    assert again.playlists == Counts(unchanged=2)


async def test_a_playlist_merges_into_the_one_of_the_same_name(
    source: Settings, target: Settings
) -> None:
    h = await populate(source)
    async with session_for(target) as s:
        s.add(stamped(User, at(0), id=ANN))
        await s.flush()
        mine = stamped(Playlist, at(0), user_id=ANN, name="Evening", loop=False)
        s.add(mine)
        await s.flush()
        s.add_all(
            [
                stamped(
                    PlaylistItem, at(0), playlist_id=mine.id, media_hash=h["Charlie"], position=1
                ),
                stamped(
                    PlaylistItem, at(0), playlist_id=mine.id, media_hash=h["Alpha"], position=2
                ),
            ]
        )
        await s.commit()

    report = await do_import(target, await export_json(source))

    assert report.playlists == Counts(new=1, updated=1)  # Bob's made; Ann's given what it lacked
    (ann, bob) = (await export_json(target))["playlists"]
    assert (ann["name"], ann["loop"]) == ("Evening", False)  # this machine's setting stays
    assert ann["items"] == [h["Charlie"], h["Alpha"], ELSEWHERE, h["Bravo"]]
    assert (bob["name"], bob["items"]) == ("Kids", [h["Alpha"]])


async def test_an_export_without_playlists_still_imports(
    source: Settings, target: Settings
) -> None:
    await populate(source)
    data = await export_json(source)
    del data["playlists"]

    report = await do_import(target, data)

    assert report.playlists == Counts()
    assert report.ratings == Counts(new=4)
    assert (await counts(target))["playlists"] == 0


async def test_importing_into_the_same_database_changes_nothing(source: Settings) -> None:
    await populate(source)
    before = await snapshot(source)

    report = await do_import(source, await export_json(source))

    assert not report.changed
    assert await snapshot(source) == before


async def test_merges_with_what_the_new_machine_has(source: Settings, target: Settings) -> None:
    h = await populate(source)
    carol = uuid.uuid4()
    async with session_for(target) as s:
        s.add_all([stamped(User, at(0), id=carol, name="Carol"), stamped(User, at(0), id=ANN)])
        await s.flush()
        s.add_all(
            [
                stamped(Rating, at(0), media_hash=h["Alpha"], user_id=carol, value=1),
                stamped(View, at(100), media_hash=h["Alpha"], user_id=carol),
                stamped(Tag, at(0), name="CATS", key="cats"),
            ]
        )
        await s.commit()

    report = await do_import(target, await export_json(source))

    assert report.users == Counts(new=1, updated=1)  # Bob added; Ann's name filled in
    assert report.tags == Counts(new=2, unchanged=1)
    async with session_for(target) as s:
        names = dict((await s.execute(select(User.id, User.name))).tuples().all())
        tag_names = set((await s.scalars(select(Tag.name))).all())
    assert names == {carol: "Carol", ANN: "Ann", BOB: None}
    assert tag_names == {"CATS", "Holiday 2023", "Unused"}  # the existing spelling stays
    assert (await stats(target))[h["Alpha"]] == (8, 3, 8 / 3, 4)


async def test_the_newer_rating_and_position_win(source: Settings, target: Settings) -> None:
    h = await populate(source)
    alpha, bravo = h["Alpha"], h["Bravo"]
    async with session_for(target) as s:
        s.add_all([stamped(User, at(0), id=ANN), stamped(User, at(0), id=BOB)])
        await s.flush()
        s.add_all(
            [
                # older than the file's: replaced
                stamped(Rating, at(0), media_hash=alpha, user_id=ANN, value=1),
                stamped(Position, at(0), media_hash=bravo, user_id=ANN, seconds=99.0),
                # newer than the file's: kept
                stamped(Rating, at(500), media_hash=alpha, user_id=BOB, value=4),
                stamped(Position, at(500), media_hash=ELSEWHERE, user_id=BOB, seconds=7.0),
                stamped(MediaStats, at(0), media_hash=alpha, rating_sum=5, rating_count=2),
            ]
        )
        await s.commit()

    report = await do_import(target, await export_json(source))

    assert report.ratings == Counts(new=2, updated=1, unchanged=1)
    assert report.positions == Counts(updated=1, unchanged=1)
    async with session_for(target) as s:
        ratings = {
            (m, u): (v, when)
            for m, u, v, when in await s.execute(
                select(Rating.media_hash, Rating.user_id, Rating.value, Rating.updated_at)
            )
        }
        positions = {
            (m, u): (sec, when)
            for m, u, sec, when in await s.execute(
                select(Position.media_hash, Position.user_id, Position.seconds, Position.updated_at)
            )
        }
    assert ratings[(alpha, ANN)] == (5, at(1))
    assert ratings[(alpha, BOB)] == (4, at(500))
    assert positions[(bravo, ANN)] == (1.25, at(13))
    assert positions[(ELSEWHERE, BOB)] == (7.0, at(500))
    assert (await stats(target))[alpha] == (9, 2, 4.5, 3)


async def test_accepts_other_offsets_and_upper_case_hashes(target: Settings) -> None:
    paris = timezone(timedelta(hours=2))
    data = {
        "format": "lvs-export",
        "version": 1,
        "users": [],
        "ratings": [
            {
                "media_hash": "ABCDEF0123456789",
                "user_id": str(ANN),
                "value": 3,
                "updated_at": "2024-05-01T14:00:00+02:00",
            }
        ],
        "favorites": [],
        "tags": [],
        "media_tags": [{"media_hash": "abcdef0123456789", "tag": "  Road   trip "}],
        "views": [],
        "positions": [],
    }

    report = await do_import(target, data)

    assert report.users == Counts(new=1)  # referred to, so created (without a name)
    assert report.tags == Counts(new=1)
    exported = await export_json(target)
    assert exported["ratings"][0]["media_hash"] == "abcdef0123456789"
    assert datetime.fromisoformat(exported["ratings"][0]["updated_at"]) == datetime(
        2024, 5, 1, 14, tzinfo=paris
    )
    assert exported["media_tags"] == [{"media_hash": "abcdef0123456789", "tag": "Road trip"}]
    assert (await stats(target))["abcdef0123456789"] == (3, 1, 3.0, 0)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is KeyError:
            del node[int(last) if last.isdigit() else last]
        else:
            node[int(last) if last.isdigit() else last] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("format", "something-else"), "not an lvs export"),
        (_set("format", KeyError), "not an lvs export"),
        (_set("version", 2), "unsupported export version 2"),
        (_set("version", True), "unsupported export version"),
        (_set("ratings", KeyError), "ratings: is missing"),
        (_set("views", {}), "views: must be a list"),
        (_set("ratings.3.value", 9), "ratings[3].value: must be between 1 and 5"),
        (_set("ratings.0.value", 4.5), "ratings[0].value"),
        (_set("ratings.0.media_hash", "not-a-hash-here!"), "ratings[0].media_hash: must be 16"),
        (_set("favorites.1.media_hash", "0123"), "favorites[1].media_hash"),
        (_set("ratings.2.user_id", KeyError), "ratings[2].user_id: is missing"),
        (_set("ratings.2.user_id", "bob"), "ratings[2].user_id: must be a UUID"),
        (_set("users.0.id", 7), "users[0].id: must be a UUID"),
        (_set("views.0.viewed_at", "yesterday"), "views[0].viewed_at: must be an ISO 8601"),
        (_set("positions.1.seconds", -1), "positions[1].seconds"),
        (_set("positions.1.seconds", "12"), "positions[1].seconds"),
        (_set("tags.0.name", "   "), "tags[0].name: must not be empty"),
        (_set("media_tags.0", "Cats"), "media_tags[0]: must be an object"),
        (_set("media", "nope"), "media: must be a list"),
        (_set("playlists", {}), "playlists: must be a list"),
        (_set("playlists.0.name", " "), "playlists[0].name: must be 1 to 100"),
        (_set("playlists.0.loop", "yes"), "playlists[0].loop: must be true or false"),
        (_set("playlists.1.user_id", "kid"), "playlists[1].user_id: must be a UUID"),
        (_set("playlists.0.items", "abc"), "playlists[0].items: must be a list"),
        (_set("playlists.0.items.1", "nope"), "playlists[0].items[1]: must be 16"),
    ],
)
async def test_malformed_files_are_refused_before_anything_is_written(
    source: Settings,
    target: Settings,
    change: Callable[[dict[str, Any]], None],
    message: str,
) -> None:
    await populate(source)
    data = await export_json(source)
    change(data)

    with pytest.raises(TransferError, match=message.replace("[", r"\[").replace("]", r"\]")):
        await do_import(target, data)

    assert set((await counts(target)).values()) == {0}


@pytest.mark.parametrize("data", [None, [], "lvs-export", {"format": "lvs-export"}])
async def test_not_an_export_at_all(target: Settings, data: Any) -> None:
    with pytest.raises(TransferError):
        await do_import(target, data)


# -- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture
def pg_target(settings: Settings) -> Iterator[Settings]:
    """A fresh, migrated PostgreSQL database on the server named by LVS_TEST_DATABASE_URL."""
    with new_pg_database() as url:
        pg = replace(settings, database_url=url)
        migrate(pg)
        yield pg


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", [None])  # from a SQLite machine to a PostgreSQL one
async def test_round_trip_idempotence_and_newer_wins_on_postgres(
    source: Settings, pg_target: Settings
) -> None:
    h = await populate(source)
    data = await export_json(source)

    first = await do_import(pg_target, data)
    before = await snapshot(pg_target)
    again = await do_import(pg_target, data)

    assert first.ratings == Counts(new=4)
    assert first.views == Counts(new=4)
    assert not again.changed
    assert await snapshot(pg_target) == before

    newer = copy.deepcopy(data)
    newer["ratings"][0].update(value=3, updated_at=at(900).isoformat())
    older = copy.deepcopy(data)
    older["positions"][0].update(seconds=3.0, updated_at=at(-900).isoformat())
    last = await do_import(pg_target, newer)
    await do_import(pg_target, older)

    assert last.ratings == Counts(updated=1, unchanged=3)
    after = await export_json(pg_target)
    assert after["ratings"][0]["value"] == 3
    assert after["positions"] == data["positions"]
    assert without_timestamp(after)["views"] == data["views"]
    assert await stats(pg_target) == {
        h["Alpha"]: (7, 2, 3.5, 3),
        h["Bravo"]: (4, 1, 4.0, 1),
        ELSEWHERE: (3, 1, 3.0, 0),  # Bob's rating, replaced by the newer 3
    }
