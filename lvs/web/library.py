"""The library: a grid of cards, paginated. One handler renders the page or, for htmx, the grid."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import Provide
from litestar.params import Parameter
from litestar.plugins.htmx import HTMXRequest, HTMXTemplate
from litestar.response import Template

from lvs.services.media import MediaService
from lvs.settings import Settings
from lvs.web.deps import provide_media_service, provide_settings
from lvs.web.views import LibraryView

__all__ = ["LibraryController"]


class LibraryController(Controller):
    dependencies = {
        "media_service": Provide(provide_media_service),
        "settings": Provide(provide_settings, sync_to_thread=False),
    }

    @get("/", name="library")
    async def library(
        self,
        request: HTMXRequest,
        media_service: MediaService,
        settings: Settings,
        page: Annotated[int, Parameter(ge=1, le=1_000_000, description="Page number")] = 1,
    ) -> Template:
        result = await media_service.library_page(page, settings.page_size)
        view = LibraryView(page=result, scanning_hint=result.total == 0)
        if request.htmx:
            return HTMXTemplate(
                template_name="partials/_library_grid.html",
                context={"view": view},
                push_url=f"/?page={result.number}",
            )
        return Template(template_name="pages/library.html", context={"view": view})
