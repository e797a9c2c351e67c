"""``url_for`` in templates and ``url()`` in handlers answer exactly what Litestar's
``route_reverse`` answers, for every named route of the app (``lvs.web.urls`` only remembers
which route a name and its parameters pick)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.exceptions import NoRouteMatchFoundException
from litestar.types.internal_types import PathParameterDefinition

from lvs.app import create_app
from lvs.settings import Settings
from lvs.web.urls import RouteUrls

SAMPLES: dict[type, list[Any]] = {
    int: [1, 42, 1_000_000],
    str: ["abcdef0123456789", "Garden/Season 1", "with space", "0.ts"],
    Path: ["/Garden/Season 1", "a/b"],
    uuid.UUID: [uuid.UUID(int=7)],
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Litestar:
    folder = tmp_path_factory.mktemp("urls")
    return create_app(Settings.from_env({"LVS_DATA_DIR": str(folder), "LVS_LIBRARY": str(folder)}))


def named_routes(app: Litestar) -> list[tuple[str, list[PathParameterDefinition]]]:
    found = []
    for name in app.asgi_router.route_handler_index:
        index = app.get_handler_index_by_name(name)
        assert index is not None
        for route in app.asgi_router.route_mapping[index["identifier"]]:
            found.append((name, list(route.path_parameters.values())))
    return found


def test_every_named_route_gives_the_path_route_reverse_gives(app: Litestar) -> None:
    urls = RouteUrls(app)
    routes = named_routes(app)
    assert {"watch", "rate", "favorite", "thumbnail", "library", "home"} <= {n for n, _ in routes}
    checked = 0
    for name, params in routes:
        for i in range(3):
            values = {
                p.name: SAMPLES[p.type][i % len(SAMPLES[p.type])]
                for p in params
                if p.type in SAMPLES
            }
            if len(values) != len(params):
                continue
            expected = app.route_reverse(name, **values)
            assert urls(name, **values) == expected, (name, values)
            assert urls(name, **values) == expected  # and again, from what it remembered
            checked += 1
    assert checked >= 30


def test_wrong_or_missing_parameters_are_refused_as_route_reverse_refuses_them(
    app: Litestar,
) -> None:
    urls = RouteUrls(app)
    assert urls("watch", media_id=3) == "/media/3"
    for name, params in [
        ("watch", {"media_id": "3"}),  # an int parameter given a string
        ("watch", {}),
        ("no-such-route", {}),
    ]:
        with pytest.raises(NoRouteMatchFoundException):
            app.route_reverse(name, **params)
        with pytest.raises(NoRouteMatchFoundException):
            urls(name, **params)
