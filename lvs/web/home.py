"""The home screen (rows), shows and their seasons, folders as collections.

``/`` with any of the library grid's query parameters is an old library URL: it is redirected,
query and all, to the grid (``/library``), so bookmarks and shared links keep working."""

from __future__ import annotations

from dataclasses import fields
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from litestar import Controller, Request, get
from litestar.di import Provide
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import Parameter
from litestar.plugins.htmx import HTMXRequest, HTMXTemplate
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER, HTTP_308_PERMANENT_REDIRECT
from sqlalchemy.ext.asyncio import AsyncSession

from lvs.services.allowance import Allowance
from lvs.services.home import Home, HomeService, Row
from lvs.services.library import LibraryQuery
from lvs.services.profiles import ProfileService
from lvs.services.shows import BadFolder, ShowsService, clean_folder
from lvs.services.watch import read_status
from lvs.settings import Settings
from lvs.web.deps import SERVICES
from lvs.web.identity import has_chosen, peek_user_id
from lvs.web.urls import route_url
from lvs.web.views import FoldersView, FolderView, HomeView, RowLink, ShowsView, ShowView

__all__ = ["HomeController", "folder_url"]

GRID_PARAMS = frozenset(f.name for f in fields(LibraryQuery))
"""Query parameters that only the library grid reads: on ``/`` they mean an old library URL."""


def provide_home_service(db_session: AsyncSession, allowance: Allowance) -> HomeService:
    return HomeService(db_session, allowance)


def provide_shows_service(db_session: AsyncSession, allowance: Allowance) -> ShowsService:
    return ShowsService(db_session, allowance)


def _url(request: Request[Any, Any, Any], name: str, **params: Any) -> str:
    return route_url(request.app, name, **params)


def folder_url(request: Request[Any, Any, Any], path: str) -> str:
    """The folder page's URL (the path's characters percent-encoded, its slashes kept)."""
    return _url(request, "folder", path=quote(path, safe="/"))


def _see_all(request: Request[Any, Any, Any], row: Row) -> str:
    library = _url(request, "library")
    if row.kind == "continue":
        return _url(request, "history")
    if row.kind == "next-up":
        return _url(request, "shows")
    if row.kind == "favorites":
        return f"{library}?{urlencode({'favorites': '1'})}"
    if row.kind == "top-rated":
        return f"{library}?{urlencode({'sort': 'rating'})}"
    if row.kind == "folder" and row.folder is not None:
        return folder_url(request, row.folder)
    return library


def _watching(settings: Settings) -> str:
    if not settings.watch:
        return "off"
    status = read_status(settings.data_dir)
    return "watching" if status is not None and status.alive else "none"


def _home_view(
    request: Request[Any, Any, Any], home: Home, settings: Settings | None = None
) -> HomeView:
    folders = (n for n in range(1, len(home.rows) + 1))
    rows = [
        RowLink(
            row=row,
            dom_id=f"row-{row.kind}" if row.folder is None else f"row-folder-{next(folders)}",
            see_all=_see_all(request, row),
        )
        for row in home.rows
    ]
    return HomeView(
        home=home,
        rows=rows,
        url=_url(request, "home"),
        folders_url=_url(request, "folders"),
        shows_url=_url(request, "shows"),
        watching=_watching(settings) if settings is not None and home.first_run else None,
        status_url=_url(request, "status"),
    )


class HomeController(Controller):
    dependencies = {
        **SERVICES,
        "home_service": Provide(provide_home_service, sync_to_thread=False),
        "shows_service": Provide(provide_shows_service, sync_to_thread=False),
    }

    @get("/", name="home")
    async def home(
        self,
        request: HTMXRequest,
        home_service: HomeService,
        profiles: ProfileService,
        settings: Settings,
    ) -> Template | Redirect:
        if not request.htmx and not has_chosen(request) and await profiles.any_named():
            return Redirect(path=_url(request, "profiles"), status_code=HTTP_303_SEE_OTHER)
        if GRID_PARAMS.intersection(request.query_params.keys()):
            grid = _url(request, "library")
            return Redirect(
                path=f"{grid}?{request.url.query}", status_code=HTTP_308_PERMANENT_REDIRECT
            )
        target = request.htmx.target if request.htmx else None
        if target == "scan-status":  # polled while a scan runs and the home has rows
            scan = await home_service.scan_progress()
            total = await home_service.total()
            return HTMXTemplate(
                template_name="partials/_scan_status.html",
                context={"scan": scan, "total": total, "home_url": _url(request, "home")},
            )
        home = await home_service.home(peek_user_id(request))
        view = _home_view(request, home, settings)
        if target == "home":  # polled by the first-run screen
            return HTMXTemplate(template_name="partials/_home.html", context={"view": view})
        return Template(template_name="pages/home.html", context={"view": view})

    @get("/shows", name="shows")
    async def shows(self, request: Request[Any, Any, Any], shows_service: ShowsService) -> Template:
        view = ShowsView(
            shows=await shows_service.shows(peek_user_id(request)), url=_url(request, "shows")
        )
        return Template(template_name="pages/shows.html", context={"view": view})

    @get("/shows/{key:str}", name="show")
    async def show(
        self, request: Request[Any, Any, Any], shows_service: ShowsService, key: str
    ) -> Template:
        show = await shows_service.show(key, peek_user_id(request)) if len(key) <= 256 else None
        if show is None:
            raise NotFoundException(detail="No such show")
        view = ShowView(show=show, url=_url(request, "show", key=quote(key, safe="")))
        return Template(template_name="pages/show.html", context={"view": view})

    @get("/folders", name="folders")
    async def folders(self, request: Request[Any, Any, Any], home_service: HomeService) -> Template:
        view = FoldersView(folders=await home_service.folder_counts(), url=_url(request, "folders"))
        return Template(template_name="pages/folders.html", context={"view": view})

    @get("/folders/{path:path}", name="folder")
    async def folder(
        self,
        request: Request[Any, Any, Any],
        shows_service: ShowsService,
        settings: Settings,
        path: str,
        page: Annotated[int, Parameter(ge=1, le=1_000_000)] = 1,
    ) -> Template:
        try:
            folder = clean_folder(path.removeprefix("/"))
        except BadFolder as exc:
            raise ValidationException(
                detail=str(exc), extra=[{"field": "folder", "message": str(exc)}]
            ) from None
        found = await shows_service.folder(
            folder, peek_user_id(request), page=page, size=settings.page_size
        )
        if found is None:
            raise NotFoundException(detail="No such folder")
        here = folder_url(request, folder)
        view = FolderView(
            folder=found,
            url=here if page == 1 else f"{here}?{urlencode({'page': page})}",
            folders_url=_url(request, "folders"),
        )
        return Template(template_name="pages/folder.html", context={"view": view})
