"""The application factory: ``create_app(settings)`` builds everything; nothing runs at import."""

from __future__ import annotations

import gc
import hashlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from advanced_alchemy.extensions.litestar import SQLAlchemyPlugin
from litestar import Litestar
from litestar.config.compression import CompressionConfig
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import CacheControlHeader, State
from litestar.logging import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins.flash import FlashConfig, FlashPlugin
from litestar.plugins.htmx import HTMXPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.stores.redis import RedisStore
from litestar.stores.registry import StoreRegistry
from litestar.template.config import TemplateConfig
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import async_sessionmaker

from lvs import __version__
from lvs.db.config import alchemy_config, make_engine
from lvs.playback.converter import (
    ConversionFailed,
    ConversionsBusy,
    Converter,
    MemorySlots,
    RedisSlots,
    Slots,
)
from lvs.resources import resource_dir
from lvs.services.auth_sessions import AuthSessions, password_tag
from lvs.services.cache import LocalStore, SummaryCache
from lvs.services.profiles import AVATARS
from lvs.services.rating_writes import RatingWriter
from lvs.services.writes import WriteGate
from lvs.settings import Settings
from lvs.web.accel import FileSender
from lvs.web.api import MediaApiController, PlaylistApiController
from lvs.web.assets import AssetManifest, PrecompressedStatic, StaticFileSystem
from lvs.web.auth import LoginController, LoginRequiredMiddleware, PasswordCheck
from lvs.web.errors import EXPECTED, exception_handlers
from lvs.web.fragments import FragmentCacheExtension
from lvs.web.home import HomeController
from lvs.web.hosts import AllowedHosts
from lvs.web.household import ActivityController, FavoriteController, TagController
from lvs.web.identity import SessionCookieConfig, picked_profile
from lvs.web.inputs import QueryTextMiddleware
from lvs.web.library import LibraryController
from lvs.web.media import MediaController, StreamPaths
from lvs.web.playback import PlaybackController
from lvs.web.playlists import AddToPlaylistController, PlaylistController, QueueController
from lvs.web.previews import PreviewController, previews_link
from lvs.web.profiles import ProfileApiController, ProfileController
from lvs.web.ratelimit import WriteLimiter
from lvs.web.ratings import RatingApiController, RatingController
from lvs.web.security import BodyLimitMiddleware, add_security_headers
from lvs.web.status import StatusController
from lvs.web.urls import url_for

__all__ = ["create_app", "create_app_from_env"]

# Paths that carry video bytes or images: no compression, no session cookie work.
BINARY_PATHS = [
    r"^/media/\d+/stream",
    r"^/media/\d+/thumbnail",
    r"^/media/\d+/previews\.jpg",
    r"^/media/\d+/hls/[^/]+/",
    r"^/media/\d+/hls/progressive\.mp4",
    r"^/static/",
]

ONE_YEAR = 365 * 24 * 3600
STATIC_CACHE = CacheControlHeader(max_age=ONE_YEAR, public=True, immutable=True)
MAX_BODY = 64 * 1024  # forms and JSON here are tiny


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the Litestar app for ``settings`` (from the environment when omitted)."""
    settings = settings or Settings.from_env()
    secret = settings.ensure_secret_key()
    engine = make_engine(settings)

    templates = TemplateConfig(
        directory=resource_dir("templates"),
        engine=JinjaTemplateEngine,
        engine_callback=lambda engine: _configure_jinja(engine, settings),
    )
    stores = _store_registry(settings)
    gate = WriteGate(serialise=settings.is_sqlite)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    summary_cache = SummaryCache(stores.get("ratings"), settings.cache_ttl)
    rating_writer = RatingWriter(sessions, gate, summary_cache)

    converter = _converter(settings)
    password_check = PasswordCheck(settings.password) if settings.password else None
    logins = AuthSessions(sessions, gate, password_tag(secret, settings.password or ""))
    return Litestar(
        route_handlers=[
            *([LoginController] if password_check else []),
            HomeController,
            LibraryController,
            MediaController,
            PlaybackController,
            PreviewController,
            StatusController,
            RatingController,
            RatingApiController,
            FavoriteController,
            TagController,
            ActivityController,
            MediaApiController,
            PlaylistController,
            AddToPlaylistController,
            QueueController,
            PlaylistApiController,
            ProfileController,
            ProfileApiController,
            create_static_files_router(
                path="/static",
                directories=[resource_dir("static")],
                file_system=StaticFileSystem(),  # unreadable names are 404s, not 500s
                cache_control=STATIC_CACHE,
                include_in_schema=False,
            ),
        ],
        plugins=[
            SQLAlchemyPlugin(config=alchemy_config(settings, engine)),
            HTMXPlugin(),
            FlashPlugin(config=FlashConfig(template_config=templates)),
        ],
        template_config=templates,
        csrf_config=CSRFConfig(
            secret=secret,
            cookie_httponly=True,
            cookie_samesite="lax",
            exclude=["^/api/"],  # the JSON API (see lvs.web.api), and only at the start
        ),
        middleware=[
            AllowedHosts(settings),
            PrecompressedStatic(resource_dir("static"), cache_control=STATIC_CACHE.to_header()),
            SessionCookieConfig(
                secret=hashlib.sha256(secret.encode()).digest(),
                key="lvs_session",
                max_age=10 * ONE_YEAR,
                httponly=True,
                samesite="lax",
                # Not skipped on video and image routes: a picked profile's allowance holds
                # there too (lvs.services.allowance). Static files need no session.
                exclude=[r"^/static/"],
            ).middleware,
            BodyLimitMiddleware(MAX_BODY),
            QueryTextMiddleware(),
            *([LoginRequiredMiddleware(logins)] if password_check else []),
        ],
        compression_config=CompressionConfig(
            backend="gzip", minimum_size=1024, gzip_compress_level=5, exclude=BINARY_PATHS
        ),
        stores=stores,
        exception_handlers=exception_handlers(),
        openapi_config=OpenAPIConfig(
            title="lvs", version=__version__, path="/schema", render_plugins=[SwaggerRenderPlugin()]
        ),
        logging_config=LoggingConfig(
            root={"level": settings.log_level.upper(), "handlers": ["queue_listener"]},
            log_exceptions="always",
            disable_stack_trace={
                400,
                401,
                403,
                404,
                405,
                409,
                413,
                415,
                416,
                429,
                503,
                ConversionsBusy,  # expected under load: a 503 with Retry-After
                ConversionFailed,  # a damaged file: its handler logs one line
                *EXPECTED,  # lvs's own domain errors (unknown video, busy database, ...)
            },
        ),
        request_max_body_size=MAX_BODY,
        before_send=[add_security_headers],
        on_shutdown=[rating_writer.stop, summary_cache.stop, converter.close],
        state=State(
            {
                "settings": settings,
                "write_gate": gate,
                "rating_writer": rating_writer,
                "summary_cache": summary_cache,
                "stream_paths": StreamPaths(),
                "files": FileSender(settings),  # lvs or nginx sends the bytes
                "converter": converter,
                "sessions": sessions,
                "limiter": WriteLimiter(settings),
                "household_limiter": WriteLimiter(
                    settings, namespace="writes", limit=settings.write_rate_limit
                ),
                "login_limiter": WriteLimiter(settings, namespace="login", limit="5/minute"),
                # PIN attempts (lvs.web.profiles): per client, and per profile across clients
                "pin_limiter": WriteLimiter(settings, namespace="pin", limit="5/minute"),
                "pin_profile_limiter": WriteLimiter(
                    settings, namespace="pin-profile", limit="10/minute"
                ),
                "password_check": password_check,
                "logins": logins,
            }
        ),
        debug=False,
    )


def _converter(settings: Settings) -> Converter:
    slots: Slots = (
        RedisSlots(settings.cache_url, timeout=settings.redis_timeout)
        if settings.cache_url
        else MemorySlots()
    )
    return Converter(
        settings.conversions_dir,
        slots=slots,
        max_conversions=settings.max_conversions,
        cache_bytes=settings.conversion_cache_mb * 1_000_000,
        max_height=settings.transcode_max_height,
        encoder=settings.video_encoder,
    )


def _freeze_startup_objects() -> None:
    """Move what start-up made (modules, routes, templates, the ORM's mappers) out of the
    garbage collector's sight: a full collection then walks only what requests made, about
    1 ms instead of 55 (one in every thousand or so library pages paid that, and every
    request in flight with it)."""
    gc.collect()
    gc.freeze()


def _configure_jinja(engine: JinjaTemplateEngine, settings: Settings) -> None:
    manifest = AssetManifest(resource_dir("static"))
    env = engine.engine
    env.globals["asset"] = manifest.url
    env.globals["app_version"] = __version__
    env.globals["previews_url"] = lambda media: previews_link(settings, media)
    env.filters["duration"] = format_duration
    env.filters["filesize"] = format_size
    env.filters["ago"] = format_ago
    env.autoescape = True
    env.add_extension(FragmentCacheExtension)
    env.auto_reload = False  # templates ship with the package: no stat() per include
    # ... and a plain dict of every compiled template instead of the thread-locked LRU, which
    # cost a lock and a queue shuffle per include (a library page includes 70 partials).
    env.cache = {}
    engine.register_template_callable("flashes", _flashes)
    engine.register_template_callable("url_for", url_for)  # Litestar's, with the route remembered
    engine.register_template_callable("who", _who)


def _flashes(context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Flash messages of this request; none where the session is not loaded (binary routes)."""
    request = context.get("request")
    if request is None or "session" not in request.scope:
        return []
    messages: list[dict[str, Any]] = request.session.pop("_messages", [])
    return messages


def _who(context: Mapping[str, Any]) -> dict[str, str] | None:
    """The profile this browser picked (name, avatar colour) for the header; None for a guest."""
    request = context.get("request")
    if request is None:
        return None
    found = picked_profile(request)
    if found is None:
        return None
    avatar = str(found.get("avatar", "grey"))
    return {"name": str(found.get("name", "")), "avatar": avatar if avatar in AVATARS else "grey"}


def _store_registry(settings: Settings) -> StoreRegistry:
    """Named stores (``app.stores.get("ratings")``): in-process memory by default, or namespaces
    of one shared Redis store when LVS_CACHE_URL is set."""
    if settings.cache_url:
        # Timeouts on every connection: a hung Redis must cost a request seconds, not forever.
        redis = Redis.from_url(
            settings.cache_url,
            socket_timeout=settings.redis_timeout,
            socket_connect_timeout=settings.redis_timeout,
        )
        root = RedisStore(redis, namespace="lvs")
        return StoreRegistry(default_factory=lambda name: root.with_namespace(name))
    return StoreRegistry(default_factory=lambda _name: LocalStore())


def format_duration(seconds: float | None) -> str:
    """``75.4`` -> ``1:15``; ``3725`` -> ``1:02:05``; None -> ``–``."""
    if seconds is None:
        return "–"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_ago(moment: datetime, now: datetime | None = None) -> str:
    """``3 min ago``, ``2 h ago``, ``5 days ago``, or the date for anything older than a month."""
    now = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    if seconds < 30 * 86400:
        days = seconds // 86400
        return f"{days} day{'s' if days > 1 else ''} ago"
    return moment.strftime("%Y-%m-%d")


def format_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def create_app_from_env() -> Litestar:
    """Factory for ASGI servers (``uvicorn --factory lvs.app:create_app_from_env``)."""
    settings = Settings.from_env()
    logging.getLogger("lvs").setLevel(settings.log_level.upper())
    app = create_app(settings)
    # A server process holds one app for its life: what its start made is there for good.
    # (Not in create_app: a process that makes many apps, the tests, would keep them all.)
    app.on_startup.append(_freeze_startup_objects)
    return app
