"""Browsing: the library (search, sort, filters, pages), a random pick, tags, history, help.

One handler renders each page, or for htmx only the part that changes."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import Provide
from litestar.params import Parameter
from litestar.plugins.flash import flash
from litestar.plugins.htmx import HTMXRequest, HTMXTemplate
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_302_FOUND

from lvs.services.activity import ActivityService
from lvs.services.library import RESOLUTIONS, SORTS, LibraryQuery, LibraryService
from lvs.services.tags import TagService
from lvs.settings import Settings
from lvs.web.answers import url
from lvs.web.deps import SERVICES
from lvs.web.identity import current_user_id, peek_user_id
from lvs.web.query import canonical_url, provide_library_query
from lvs.web.views import HistoryView, LibraryView, TagsView

__all__ = ["LibraryController"]


class LibraryController(Controller):
    dependencies = {**SERVICES, "lq": Provide(provide_library_query, sync_to_thread=False)}

    @get("/library", name="library")
    async def library(
        self,
        request: HTMXRequest,
        library: LibraryService,
        settings: Settings,
        lq: LibraryQuery,
    ) -> Template | Redirect:
        if (canonical := canonical_url(request, lq)) is not None:  # no ?q=&sort=&... in URLs
            return Redirect(path=canonical, status_code=HTTP_302_FOUND)
        result = await library.page(lq, current_user_id(request), settings.page_size)
        view = LibraryView(page=result, sorts=SORTS, resolutions=RESOLUTIONS)
        if request.htmx and request.htmx.target == "library-grid":
            return HTMXTemplate(
                template_name="partials/_library_grid.html",
                context={"view": view},
                push_url=view.url,
            )
        return Template(template_name="pages/library.html", context={"view": view})

    @get("/random", name="random")
    async def random(
        self, request: Request[Any, Any, Any], library: LibraryService, lq: LibraryQuery
    ) -> Redirect:
        """Surprise me: a random video that matches the current filters."""
        media_id = await library.random_id(lq, peek_user_id(request))
        if media_id is None:
            flash(request, "Nothing matches these filters.", category="error")
            return Redirect(path=lq.url(page=1), status_code=HTTP_302_FOUND)
        return Redirect(path=url(request, "watch", media_id=media_id), status_code=HTTP_302_FOUND)

    @get("/tags", name="tags")
    async def tags_page(self, tags: TagService) -> Template:
        return Template(
            template_name="pages/tags.html", context={"view": TagsView(await tags.counts())}
        )

    @get("/history", name="history")
    async def history(
        self,
        request: Request[Any, Any, Any],
        activity: ActivityService,
        library: LibraryService,
        page: Annotated[int, Parameter(ge=1, le=10_000)] = 1,
    ) -> Template:
        size = 48
        user_id = current_user_id(request)
        entries = await activity.history(user_id, limit=size + 1, offset=(page - 1) * size)
        cards = await library.cards([e.media for e in entries[:size]], user_id)
        view = HistoryView(
            entries=entries[:size], cards=cards, page=page, has_next=len(entries) > size
        )
        return Template(template_name="pages/history.html", context={"view": view})

    @get("/help", name="help")
    async def help(self) -> Template:
        return Template(template_name="pages/help.html")
