"""Route names to paths, fast: ``Litestar.route_reverse`` with the route looked up once.

``route_reverse`` finds the handler by name, sorts and de-duplicates its routes and picks one on
every call (~8 µs); a library page links ~110 times (watch, thumbnail, rate and favorite per
card), so that was ~15 % of the page's CPU. :class:`RouteUrls` does the lookup once per (name,
parameter names) and then only checks each value's type and joins the parts, answering exactly
what ``route_reverse`` answers (tests/unit/test_urls.py compares the two over every route)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from litestar import Litestar
from litestar.exceptions import NoRouteMatchFoundException
from litestar.types.internal_types import PathParameterDefinition
from litestar.utils.path import join_paths

__all__ = ["RouteUrls", "route_url", "url_for"]

#: Types whose values ``route_reverse`` also takes as strings.
_STR_OK = frozenset({datetime, date, time, timedelta, float, Path, UUID})

_Plan = str | tuple[str | PathParameterDefinition, ...]


class RouteUrls:
    """``urls(name, **params)``: the path of the route called ``name`` in ``app``."""

    __slots__ = ("_app", "_plans")

    def __init__(self, app: Litestar) -> None:
        self._app = app
        self._plans: dict[tuple[str, ...], _Plan] = {}

    def __call__(self, name: str, /, **params: Any) -> str:
        key = (name, *params)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._plan(name, params)
        if isinstance(plan, str):
            return plan
        parts: list[str] = []
        slashes = False
        for component in plan:
            if isinstance(component, str):
                parts.append(component)
                continue
            value = params.get(component.name)
            kind = component.type
            if not isinstance(value, kind) and (kind not in _STR_OK or not isinstance(value, str)):
                raise NoRouteMatchFoundException(
                    f"Received type for path parameter {component.name} doesn't match declared "
                    f"type {kind}"
                )
            text = str(value)
            slashes = slashes or "/" in text
            parts.append(text)
        path = "/" + "/".join(parts)
        return join_paths(parts) if slashes or "//" in path else path

    def _plan(self, name: str, params: Mapping[str, Any]) -> _Plan:
        """The route ``route_reverse`` would pick for these parameter names, as its parts."""
        index = self._app.get_handler_index_by_name(name)
        if index is None:
            raise NoRouteMatchFoundException(f"Route {name} can not be found")
        routes = sorted(
            self._app.asgi_router.route_mapping[index["identifier"]],
            key=lambda r: len(r.path_parameters),
            reverse=True,
        )
        passed = set(params)
        route = next((r for r in routes if passed.issuperset(r.path_parameters)), routes[-1])
        components = tuple(route.path_components)
        if all(isinstance(c, str) for c in components):
            return join_paths(c for c in components if isinstance(c, str))
        return components


def route_url(app: Litestar, name: str, /, **params: Any) -> str:
    """The path of the route called ``name`` in ``app`` (``app.route_reverse``, remembered in
    the app's state)."""
    urls: RouteUrls | None = app.state.get("route_urls")
    if urls is None:
        urls = RouteUrls(app)
        app.state["route_urls"] = urls
    return urls(name, **params)


def url_for(context: Mapping[str, Any], /, route_name: str, **params: Any) -> str:
    """Templates' ``url_for`` (in place of Litestar's, which calls ``route_reverse``)."""
    return route_url(context["request"].app, route_name, **params)
