"""Two app instances sharing Redis (as two workers or two machines would): the rating summary
cache and the rate limit are one for both."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import replace

import pytest
import redis
from conftest import db_query, require_service
from litestar import Litestar
from litestar.testing import TestClient

from lvs.app import create_app
from lvs.settings import Settings

pytestmark = pytest.mark.redis

REDIS_URL = os.environ.get("LVS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The test Redis database, emptied before and after each test."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        require_service("redis", f"{REDIS_URL} unreachable: {exc}")
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def shared(scanned: Settings, redis_url: str) -> Settings:
    return replace(scanned, cache_url=redis_url, rate_limit_storage=redis_url)


@pytest.fixture
def instances(shared: Settings) -> Iterator[tuple[TestClient[Litestar], TestClient[Litestar]]]:
    """Instances A and B: two apps on the same database and the same Redis."""
    with TestClient(create_app(shared)) as a, TestClient(create_app(shared)) as b:
        yield a, b


@pytest.fixture
def alpha(scanned: Settings) -> str:
    ((media_hash,),) = db_query(
        scanned, "SELECT media_hash FROM media WHERE title = :title", title="Alpha"
    )
    return str(media_hash)


def redis_keys(url: str) -> list[str]:
    with redis.Redis.from_url(url) as client:
        return [k.decode() for k in client.keys("*")]


def test_a_write_on_one_instance_is_seen_by_the_other(
    instances: tuple[TestClient[Litestar], TestClient[Litestar]], redis_url: str, alpha: str
) -> None:
    a, b = instances
    assert b.get(f"/api/ratings/{alpha}").json()["count"] == 0  # B has cached "no ratings"
    assert any(alpha in key for key in redis_keys(redis_url)), "B's summary is not in Redis"

    written = a.post(f"/api/ratings/{alpha}", json={"value": 4})
    assert written.status_code == 200

    seen_by_b = b.get(f"/api/ratings/{alpha}").json()
    assert (seen_by_b["count"], seen_by_b["average"], seen_by_b["user"]) == (1, 4.0, None)
    # B rates too; A sees both (and its own rating), not a summary cached before B's write.
    assert b.post(f"/api/ratings/{alpha}", json={"value": 2}).status_code == 200
    seen_by_a = a.get(f"/api/ratings/{alpha}").json()
    assert (seen_by_a["count"], seen_by_a["average"], seen_by_a["user"]) == (2, 3.0, 4)


def test_an_emptied_redis_still_shows_the_ratings(
    instances: tuple[TestClient[Litestar], TestClient[Litestar]], redis_url: str, alpha: str
) -> None:
    a, b = instances
    a.post(f"/api/ratings/{alpha}", json={"value": 5})
    b.get(f"/api/ratings/{alpha}")

    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()

    assert b.get(f"/api/ratings/{alpha}").json()["count"] == 1
    assert a.get(f"/api/ratings/{alpha}").json()["user"] == 5


@pytest.mark.parametrize("last", ["A", "B"])
def test_the_rate_limit_is_shared_between_instances(
    instances: tuple[TestClient[Litestar], TestClient[Litestar]],
    scanned: Settings,
    alpha: str,
    last: str,
) -> None:
    """Both test clients connect from the same address, so they are one client to the limit."""
    a, b = instances
    statuses = [
        (a if i % 2 == 0 else b).post(f"/api/ratings/{alpha}", json={"value": 3}).status_code
        for i in range(10)
    ]
    assert statuses == [200] * 10

    refused = (a if last == "A" else b).post(f"/api/ratings/{alpha}", json={"value": 1})

    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    values = [v for (v,) in db_query(scanned, "SELECT value FROM ratings")]
    assert values == [3, 3]  # one rating each for A's and B's browser, neither overwritten


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_an_unreachable_rate_limit_store_lets_ratings_through_and_says_so(
    scanned: Settings, alpha: str
) -> None:
    """A household's server stays usable when its Redis is down (fail open, loudly)."""
    settings = replace(scanned, rate_limit_storage="redis://127.0.0.1:1/0")
    records = Records()
    logger = logging.getLogger("lvs.web.ratelimit")

    with TestClient(create_app(settings)) as c:
        # Attached after startup: the app's logging config replaces handlers when it starts.
        logger.addHandler(records)
        try:
            statuses = [
                c.post(f"/api/ratings/{alpha}", json={"value": 4}).status_code for _ in range(11)
            ]
        finally:
            logger.removeHandler(records)

    assert statuses == [200] * 11
    assert any("rate limit" in m for m in records.messages), records.messages
