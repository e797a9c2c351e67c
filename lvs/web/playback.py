"""Converted playback: the HLS playlist of a video and its segments, made on demand.

The plan (lvs.playback.plan) says whether and how a video is converted; the converter
(lvs.playback.converter) makes and caches the segments. Files are looked up by id; no path
ever comes from the request.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.exceptions import NotFoundException
from litestar.response import Stream
from litestar.types import ASGIApp

from lvs.playback.converter import Converter, Source
from lvs.playback.hls import playlist
from lvs.web.accel import FileSender
from lvs.web.deps import SERVICES
from lvs.web.views import HLS_TYPE

__all__ = ["PlaybackController"]

_SEGMENT_NAME = re.compile(r"(\d{1,6})\.ts")


class PlaybackController(Controller):
    path = "/media/{media_id:int}/hls"
    dependencies = SERVICES
    include_in_schema = False

    @get("/index.m3u8", name="hls_playlist", media_type=HLS_TYPE)
    async def index(
        self, request: Request[Any, Any, Any], media_id: int, source: Source
    ) -> Response[str]:
        """Every segment of the whole video, listed up front (seek anywhere at once)."""
        converter: Converter = request.app.state.converter
        segments = await converter.segments(source)
        base = request.app.route_reverse(
            "hls_segment", media_id=media_id, variant=source.variant, segment="0.ts"
        ).rsplit("/", 1)[0]
        body = playlist(segments, lambda s: f"{base}/{s.index}.ts")
        return Response(body, media_type=HLS_TYPE, headers={"cache-control": "private, max-age=60"})

    @get("/progressive.mp4", name="progressive", media_type="video/mp4")
    async def progressive(self, request: Request[Any, Any, Any], source: Source) -> Stream:
        """The whole converted video as one fragmented MP4, made as it streams: the last
        ``<source>``, for browsers with neither native HLS nor scripts (Firefox without
        JavaScript). It plays from the start; seeking needs HLS."""
        converter: Converter = request.app.state.converter
        viewer = request.app.state.limiter.client(request)
        body = await converter.progressive(source, viewer)
        return Stream(body, media_type="video/mp4", headers={"cache-control": "no-store"})

    @get("/{variant:str}/{segment:str}", name="hls_segment", media_type="video/mp2t")
    async def segment(
        self,
        request: Request[Any, Any, Any],
        variant: str,
        segment: str,
        source: Source,
    ) -> ASGIApp:
        """One segment (MPEG-TS), from the cache or made now; byte ranges work as for files."""
        match = _SEGMENT_NAME.fullmatch(segment)
        if match is None:
            raise NotFoundException("No such segment")
        if variant != source.variant:  # a playlist from before a settings change
            raise NotFoundException("No such segment")
        converter: Converter = request.app.state.converter
        try:
            viewer = request.app.state.limiter.client(request)
            path = await converter.segment(source, int(match.group(1)), viewer)
        except IndexError as exc:
            raise NotFoundException("No such segment") from exc
        files: FileSender = request.app.state.files  # behind nginx: X-Accel-Redirect
        return files(
            request.scope,
            str(path),
            media_type="video/mp2t",
            headers={"cache-control": "private, max-age=86400"},
        )
