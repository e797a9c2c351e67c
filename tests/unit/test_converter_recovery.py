"""The conversion pool survives its worker processes dying (killed, out of memory)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import av
import pytest

from lvs.library.samples import make_sample
from lvs.playback.converter import Converter, MemorySlots, Source


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sample(tmp_path_factory.mktemp("recovery") / "phone.mkv", "hevc_aac_mkv")


def test_a_killed_worker_process_does_not_break_later_conversions(
    clip: Path, tmp_path: Path
) -> None:
    async def go() -> tuple[Path, Path]:
        converter = Converter(tmp_path / "cache", slots=MemorySlots(), lookahead=0)
        source = Source("0123456789abcdef", str(clip), "transcode", "h264-1080")
        try:
            first = await converter.segment(source, 0, "viewer")
            pool = converter._executor()
            for process in list(pool._processes.values()):  # type: ignore[attr-defined]
                os.kill(process.pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while not pool._broken and time.monotonic() < deadline:  # type: ignore[attr-defined]
                await asyncio.sleep(0.05)
            assert pool._broken, "the pool should notice its workers died"  # type: ignore[attr-defined]
            second = await converter.segment(source, 1, "viewer")
            return first, second
        finally:
            await converter.close()

    first, second = asyncio.run(go())
    for segment in (first, second):
        with av.open(str(segment)) as container:
            assert container.streams.video[0].codec_context.name == "h264"
            assert sum(1 for _ in container.decode(video=0)) > 0
