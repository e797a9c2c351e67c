"""The answer to a form POST that worked, the same for every widget: for htmx, the widget's
partial, which replaces itself; without JavaScript, a flash message and a 303 back to where the
person was. (Errors are answered in ``lvs.web.errors``.)"""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from lvs.web.errors import is_htmx
from lvs.web.urls import route_url

__all__ = ["done", "url"]


def url(request: Request[Any, Any, Any], name: str, **params: Any) -> str:
    """The path of the route called ``name`` (every URL is written once, in its route)."""
    return route_url(request.app, name, **params)


def done(
    request: Request[Any, Any, Any],
    partial: str,
    context: dict[str, Any],
    *,
    message: str,
    back: str,
) -> Response[Any]:
    """``partial`` with ``context`` for htmx; otherwise ``message`` flashed and a 303 to
    ``back``."""
    if is_htmx(request):
        return Template(
            template_name=partial, context=context, status_code=200, media_type=MediaType.HTML
        )
    flash(request, message, category="success")
    return Redirect(path=back, status_code=HTTP_303_SEE_OTHER)
