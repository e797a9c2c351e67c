"""The library: a grid of cards, paginated. One handler renders the page or, for htmx, the grid."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import Provide
from litestar.params import Parameter
from litestar.plugins.htmx import HTMXRequest, HTMXTemplate
from litestar.response import Template

from lvs.services.media import MediaService
from lvs.services.ratings import RatingService
from lvs.settings import Settings
from lvs.web.deps import provide_media_service, provide_rating_service, provide_settings
from lvs.web.identity import current_user_id
from lvs.web.views import LibraryView

__all__ = ["LibraryController"]


class LibraryController(Controller):
    dependencies = {
        "media_service": Provide(provide_media_service),
        "ratings": Provide(provide_rating_service, sync_to_thread=False),
        "settings": Provide(provide_settings, sync_to_thread=False),
    }

    @get("/", name="library")
    async def library(
        self,
        request: HTMXRequest,
        media_service: MediaService,
        ratings: RatingService,
        settings: Settings,
        page: Annotated[int, Parameter(ge=1, le=1_000_000, description="Page number")] = 1,
    ) -> Template:
        result = await media_service.library_page(page, settings.page_size)
        summaries = await ratings.summaries(
            (m.media_hash for m in result.items), current_user_id(request)
        )
        url = f"/?page={result.number}" if result.number > 1 else "/"
        view = LibraryView(page=result, ratings=summaries, url=url, scanning_hint=result.total == 0)
        if request.htmx:
            return HTMXTemplate(
                template_name="partials/_library_grid.html", context={"view": view}, push_url=url
            )
        return Template(template_name="pages/library.html", context={"view": view})
