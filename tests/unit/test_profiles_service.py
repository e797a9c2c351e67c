"""The profile service and the allowance on real databases (SQLite and PostgreSQL): who may
manage, what a restricted profile's predicate lets through (folders and tags), PINs as Argon2
hashes, and profiles travelling through ``lvs export``/``lvs import``."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from conftest import run_scan
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lvs.db.config import make_engine
from lvs.db.models import Media, MediaTag, Tag, User
from lvs.services.allowance import ALL, Allowance
from lvs.services.errors import InvalidInput
from lvs.services.favorites import FavoriteService
from lvs.services.library import LibraryQuery, LibraryService
from lvs.services.profiles import NotAllowed, ProfileService
from lvs.services.transfer import export_data, import_data
from lvs.services.writes import WriteGate
from lvs.settings import Settings


@asynccontextmanager
async def profiles_on(settings: Settings) -> AsyncIterator[ProfileService]:
    engine = make_engine(settings)
    try:
        async with async_sessionmaker(engine, expire_on_commit=False)() as session:
            yield ProfileService(session, WriteGate(serialise=settings.is_sqlite))
    finally:
        await engine.dispose()


async def titles(session: AsyncSession, allowance: Allowance) -> set[str]:
    page = await LibraryService(session, allowance).page(LibraryQuery(), None, 50)
    return {c.media.title for c in page.cards}


@pytest.fixture
def source(settings: Settings) -> Settings:
    run_scan(settings, thumbnails=False)
    return settings


async def test_the_first_profile_is_admin_and_only_an_admin_manages(source: Settings) -> None:
    async with profiles_on(source) as profiles:
        assert not await profiles.any_named()
        mum = await profiles.create(None, "Mum", "red")  # anyone makes the first one
        assert mum.is_admin and await profiles.any_named()
        dad = await profiles.create(mum.id, "Dad", "blue", "2468")
        assert not dad.is_admin and dad.has_pin
        with pytest.raises(NotAllowed):
            await profiles.create(dad.id, "Intruder", "grey")
        with pytest.raises(NotAllowed):
            await profiles.create(None, "Intruder", "grey")
        with pytest.raises(InvalidInput) as refused:
            await profiles.update(mum.id, mum.id, is_admin=False)  # the last admin
        assert refused.value.field == "is_admin"
        with pytest.raises(InvalidInput):
            await profiles.restrict(mum.id, mum.id, True, ["sub"])  # an admin sees everything
        assert [p.name for p in await profiles.all()] == ["Dad", "Mum"]


async def test_a_pin_is_an_argon2_hash_and_opens_only_with_the_right_digits(
    source: Settings,
) -> None:
    async with profiles_on(source) as profiles:
        mum = await profiles.create(None, "Mum", "red", "1357")
        stored = await profiles.session.scalar(select(User.pin_hash).where(User.id == mum.id))
        assert stored is not None and stored.startswith("$argon2") and "1357" not in stored
        assert await profiles.check_pin(mum, "1357")
        assert not await profiles.check_pin(mum, "7531")
        assert not await profiles.check_pin(mum, None)
        mum = await profiles.set_pin(mum.id, mum.id, None)
        assert await profiles.check_pin(mum, None)  # no PIN: nothing to ask


async def test_the_allowance_lets_through_its_folders_and_its_tags_only(source: Settings) -> None:
    async with profiles_on(source) as profiles:
        session = profiles.session
        assert await titles(session, ALL) == {"Alpha", "Bravo", "Charlie"}
        mum = await profiles.create(None, "Mum", "red")
        kids = await profiles.create(mum.id, "Kids", "green")
        kids = await profiles.restrict(mum.id, kids.id, True, ["sub"])
        assert kids.allowance == await profiles.allowance(kids.id)
        assert await titles(session, await profiles.allowance(kids.id)) == {"Charlie"}

        bravo = await session.scalar(select(Media.media_hash).where(Media.title == "Bravo"))
        tag = Tag(name="Cartoons", key="cartoons")
        session.add(tag)
        await session.flush()
        session.add(MediaTag(media_hash=bravo, tag_id=tag.id))
        await session.commit()
        await profiles.restrict(mum.id, kids.id, True, ["sub"], ["Cartoons"])
        assert await titles(session, await profiles.allowance(kids.id)) == {"Bravo", "Charlie"}

        await profiles.restrict(mum.id, kids.id, True)  # restricted to nothing: sees nothing
        assert await titles(session, await profiles.allowance(kids.id)) == set()
        await profiles.restrict(mum.id, kids.id, False)
        assert await profiles.allowance(kids.id) is ALL
        assert await profiles.allowance(uuid.uuid4()) is ALL  # an anonymous browser


async def test_a_new_profile_can_adopt_this_browsers_anonymous_data(source: Settings) -> None:
    browser = uuid.uuid4()
    async with profiles_on(source) as profiles:
        alpha = await profiles.session.scalar(
            select(Media.media_hash).where(Media.title == "Alpha")
        )
        assert alpha is not None
        await FavoriteService(profiles.session, profiles.gate).set(browser, alpha, True)
        mum = await profiles.create(None, "Mum", "red", adopt=browser)
        assert mum.id == browser  # the same user: every favorite and rating is now Mum's
        assert await FavoriteService(profiles.session, profiles.gate).is_favorite(mum.id, alpha)


async def test_profiles_travel_through_export_and_import(
    source: Settings, target: Settings
) -> None:
    async with profiles_on(source) as profiles:
        mum = await profiles.create(None, "Mum", "purple", "1357")
        kids = await profiles.create(mum.id, "Kids", "green")
        await profiles.restrict(mum.id, kids.id, True, ["sub"], ["cartoons"])
        data = json.loads(json.dumps(await export_data(profiles.session)))
    assert [p["id"] for p in data["profiles"]] == sorted([str(mum.id), str(kids.id)])
    assert "1357" not in json.dumps(data)

    async with profiles_on(target) as profiles:
        await import_data(profiles.session, data)
        await import_data(profiles.session, data)  # twice: nothing changes
        moved = {p.name: p for p in await profiles.all()}
        assert moved["Mum"].is_admin and moved["Mum"].has_pin and moved["Mum"].avatar == "purple"
        assert await profiles.check_pin(moved["Mum"], "1357")
        assert moved["Kids"].restricted
        assert (moved["Kids"].folders, moved["Kids"].tags) == (("sub",), ("cartoons",))

    older = {k: v for k, v in data.items() if k != "profiles"}  # a file from before profiles
    async with profiles_on(target) as profiles:
        await import_data(profiles.session, older)
        assert len(await profiles.all()) == 2


async def test_deleting_a_profile_deletes_its_allowance_and_state(source: Settings) -> None:
    async with profiles_on(source) as profiles:
        mum = await profiles.create(None, "Mum", "red")
        kids = await profiles.create(mum.id, "Kids", "green")
        await profiles.restrict(mum.id, kids.id, True, ["sub"])
        await profiles.delete(mum.id, kids.id)
        assert [p.name for p in await profiles.all()] == ["Mum"]
        assert await profiles.allowance(kids.id) is ALL  # no such user any more
        other = await profiles.create(mum.id, "Dad", "blue")
        with pytest.raises(InvalidInput):
            await profiles.delete(mum.id, mum.id)  # the last admin, with Dad still there
        await profiles.delete(mum.id, other.id)
