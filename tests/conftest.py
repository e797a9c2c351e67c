"""Shared fixtures: real clips made with PyAV, real SQLite files in temp folders, real apps.

Services that some tests need (PostgreSQL, Redis, Chromium) are required when ``CI=true``: a test
that needs one fails there instead of skipping silently.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import async_sessionmaker

from lvs.app import create_app
from lvs.db.config import make_engine, migrate
from lvs.library.demo import make_clip
from lvs.services.scanner import ScanReport, Scanner
from lvs.settings import Settings

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_service(name: str, reason: str) -> None:
    """Skip locally when a service is missing; fail in CI, where every test must run."""
    if IN_CI:
        pytest.fail(f"{name} is required in CI: {reason}")
    pytest.skip(f"{name} not available: {reason}")


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few tiny real clips, generated once per test session (never committed)."""
    root = tmp_path_factory.mktemp("clips")
    make_clip(root / "Alpha.mp4", seconds=2.0, codec="h264", hue=0)
    make_clip(root / "Bravo.webm", seconds=2.0, codec="vp9", hue=120)
    (root / "sub").mkdir()
    make_clip(root / "sub" / "Charlie.mp4", seconds=3.0, width=256, height=144, hue=240)
    return root


@pytest.fixture
def library(tmp_path: Path, clip_dir: Path) -> Path:
    """A private copy of the clips, free to rename, move and corrupt."""
    dest = tmp_path / "library"
    shutil.copytree(clip_dir, dest)
    return dest


@pytest.fixture
def settings(tmp_path: Path, library: Path) -> Settings:
    data = tmp_path / "data"
    data.mkdir()
    s = Settings(
        library=(library,),
        data_dir=data,
        db_path=data / "test.db",
        secret_key="test-secret-key-with-at-least-32-characters",
    )
    migrate(s)
    return s


def run_scan(settings: Settings, *, thumbnails: bool = True) -> ScanReport:
    async def go() -> ScanReport:
        engine = make_engine(settings)
        try:
            scanner = Scanner(
                async_sessionmaker(engine, expire_on_commit=False), settings.thumbs_dir
            )
            return await scanner.scan(settings.library, thumbnails=thumbnails)
        finally:
            await engine.dispose()

    return asyncio.run(go())


@pytest.fixture
def scanned(settings: Settings) -> Settings:
    """Settings whose library has been scanned (with thumbnails)."""
    run_scan(settings)
    return settings


@pytest.fixture
def app(scanned: Settings) -> Litestar:
    return create_app(scanned)


@pytest.fixture
def client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app) as c:
        yield c


def html(response_text: str) -> BeautifulSoup:
    return BeautifulSoup(response_text, "html.parser")
