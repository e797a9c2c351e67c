"""What a handler is handed, by the name of its argument (Litestar dependency injection).

* ``media``: the ``Media`` row named by the path's ``media_id`` (or ``media_hash`` on the rating
  routes), present on disk; ``UnknownMedia`` (404) otherwise, raised here and nowhere else.
* ``person``: this browser's user id (the profile it picked, or its own anonymous id, minted on
  its first write); ``viewer``: the same for reads (``None`` until the browser has one, so a
  read never sets a cookie).
* ``allowance``: what this person may see (``lvs.services.allowance``): ``ALL`` unless the
  browser picked a restricted profile. ``media`` and every listing service apply it, so a video
  outside it is a 404 everywhere.
* ``profiles``: the household's profiles (``lvs.services.profiles``).
* ``form``/``payload``: the action's typed input, declared per handler
  (``lvs.web.inputs.form_of``/``json_of``).
* ``plan``: how the video plays (as it is, remuxed or converted); ``source``: what the
  converter makes of it (404 for a video that plays as it is).
* the services (``ratings``, ``favorites``, ``tags``, ``activity``, ``library``,
  ``playlists``, ...) and
  ``settings``.

Each is built lazily: only what a handler names is made for its request."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from typing import Any

from litestar import Request
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from sqlalchemy.ext.asyncio import AsyncSession

from lvs.db.models import Media
from lvs.playback.converter import Source
from lvs.playback.plan import Plan, decide
from lvs.services.activity import ActivityService
from lvs.services.allowance import ALL, Allowance
from lvs.services.favorites import FavoriteService
from lvs.services.library import LibraryService
from lvs.services.media import MediaService
from lvs.services.playlists import PlaylistService
from lvs.services.profiles import ProfileService
from lvs.services.ratings import RatingService
from lvs.services.tags import TagService
from lvs.services.writes import WriteGate
from lvs.settings import Settings
from lvs.web.identity import current_user_id, peek_user_id, pick_guest, picked_profile

__all__ = ["BY_HASH", "SERVICES", "allowance_of", "rating_service"]


async def provide_media_service(db_session: AsyncSession) -> AsyncGenerator[MediaService, None]:
    async with MediaService.new(session=db_session) as service:
        yield service


async def allowance_of(request: Request[Any, Any, Any], session: AsyncSession) -> Allowance:
    """What the person behind ``request`` may see: read from the database on every request
    (any worker, any change at once), and only for a browser that picked a profile: an
    anonymous browser or a guest is never restricted, and costs no query."""
    if picked_profile(request) is None:
        return ALL
    gate: WriteGate = request.app.state.write_gate
    found = await ProfileService(session, gate).profile_allowance(peek_user_id(request))
    if found is None:  # the profile was deleted (on another device): this browser is a guest
        pick_guest(request)
        return ALL
    return found


async def provide_allowance(request: Request[Any, Any, Any], db_session: AsyncSession) -> Allowance:
    return await allowance_of(request, db_session)


async def provide_media(media_id: int, media_service: MediaService, allowance: Allowance) -> Media:
    return await media_service.present(media_id, allowance)


async def provide_media_by_hash(
    media_hash: str, media_service: MediaService, allowance: Allowance
) -> Media:
    return await media_service.present_by_hash(media_hash, allowance)


def provide_person(request: Request[Any, Any, Any]) -> uuid.UUID:
    return current_user_id(request)


def provide_viewer(request: Request[Any, Any, Any]) -> uuid.UUID | None:
    return peek_user_id(request)


def provide_plan(media: Media, settings: Settings) -> Plan:
    return decide(media, max_height=settings.transcode_max_height)


def provide_source(media: Media, plan: Plan) -> Source:
    if plan.variant is None:
        raise NotFoundException("This video plays as it is; it is not converted")
    return Source(media.media_hash, media.path, plan.mode, plan.variant)


def rating_service(session: AsyncSession, state: State) -> RatingService:
    settings: Settings = state.settings
    return RatingService(
        session, state.summary_cache, state.rating_writer, cache_ttl=settings.cache_ttl
    )


def provide_rating_service(db_session: AsyncSession, state: State) -> RatingService:
    return rating_service(db_session, state)


def provide_settings(state: State) -> Settings:
    settings: Settings = state.settings
    return settings


def provide_library_service(db_session: AsyncSession, allowance: Allowance) -> LibraryService:
    return LibraryService(db_session, allowance)


def provide_favorite_service(db_session: AsyncSession, state: State) -> FavoriteService:
    gate: WriteGate = state.write_gate
    return FavoriteService(db_session, gate)


def provide_tag_service(db_session: AsyncSession, state: State, allowance: Allowance) -> TagService:
    gate: WriteGate = state.write_gate
    return TagService(db_session, gate, allowance)


def provide_activity_service(
    db_session: AsyncSession, state: State, allowance: Allowance
) -> ActivityService:
    gate: WriteGate = state.write_gate
    return ActivityService(db_session, gate, allowance)


def provide_profile_service(db_session: AsyncSession, state: State) -> ProfileService:
    gate: WriteGate = state.write_gate
    return ProfileService(db_session, gate)


def provide_playlist_service(
    db_session: AsyncSession, state: State, allowance: Allowance
) -> PlaylistService:
    gate: WriteGate = state.write_gate
    return PlaylistService(db_session, gate, allowance)


SERVICES = {
    "media_service": Provide(provide_media_service),
    "media": Provide(provide_media),
    "allowance": Provide(provide_allowance),
    "profiles": Provide(provide_profile_service, sync_to_thread=False),
    "person": Provide(provide_person, sync_to_thread=False),
    "viewer": Provide(provide_viewer, sync_to_thread=False),
    "plan": Provide(provide_plan, sync_to_thread=False),
    "source": Provide(provide_source, sync_to_thread=False),
    "ratings": Provide(provide_rating_service, sync_to_thread=False),
    "library": Provide(provide_library_service, sync_to_thread=False),
    "favorites": Provide(provide_favorite_service, sync_to_thread=False),
    "tags": Provide(provide_tag_service, sync_to_thread=False),
    "activity": Provide(provide_activity_service, sync_to_thread=False),
    "playlists": Provide(provide_playlist_service, sync_to_thread=False),
    "settings": Provide(provide_settings, sync_to_thread=False),
}
"""Every dependency, provided lazily (only the ones a handler names are built)."""

BY_HASH = {**SERVICES, "media": Provide(provide_media_by_hash)}
"""The same, on routes that name a video by its fingerprint (``{media_hash}``)."""
