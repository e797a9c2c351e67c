"""Synthetic data: databases migrated by lvs itself, then filled directly with sqlite3.

Rows are written the way the app writes them (checked against rows the real scanner and the real
rating API wrote): timestamps are advanced-alchemy ``DateTimeUTC`` values stored as naive UTC
ISO strings (``2026-11-25 13:01:28.800277``), user ids are 16-byte GUID blobs (``uuid.bytes``),
booleans are 0/1."""

from __future__ import annotations

import hashlib
import random
import sqlite3
import subprocess
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.servers import BENCH_SECRET, lvs_command, lvs_env

__all__ = [
    "SessionCodec",
    "cookie_pair",
    "first_user",
    "insert_media",
    "insert_ratings",
    "media_hashes",
    "migrate",
    "random_hash",
    "schema_fingerprint",
    "synthetic_media",
    "timestamp",
]

WORDS = (  # noqa: SIM905 (one string reads better than a hundred quoted words)
    "amber autumn beach birthday blue bridge canyon castle cherry city cloud coast concert copper "
    "desert dinner dragon dream evening falcon festival field fire forest garden ghost glacier "
    "golden harbor harvest hidden holiday island jungle lake lantern legend lemon light maple "
    "market meadow midnight mirror morning mountain night north ocean orchard paper parade party "
    "picnic pine planet quiet rain red river road rocket sailing school secret shadow silver sky "
    "snow spring star storm summer sunset swan thunder tiger trail train valley velvet village "
    "violet voyage walk water whale white wild willow wind winter wolf yellow zebra"
).split()

RESOLUTIONS = ((640, 360), (1280, 720), (1920, 1080), (3840, 2160), (720, 480))
CODECS = (("h264", "aac", "mp4"), ("vp9", "opus", "webm"), ("hevc", "aac", "mkv"))


def timestamp(moment: datetime) -> str:
    """A DateTimeUTC column value as SQLite stores it."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def random_hash(rng: random.Random) -> str:
    return f"{rng.getrandbits(64):016x}"


def schema_fingerprint() -> str:
    """A digest of lvs's migration scripts: cached databases are rebuilt when they change."""
    from lvs.resources import resource_dir

    digest = hashlib.sha256()
    for script in sorted((resource_dir("migrations") / "versions").glob("*.py")):
        digest.update(script.name.encode() + b"\0" + script.read_bytes())
    return digest.hexdigest()[:16]


def first_user(db: Path) -> uuid.UUID:
    """The first user of a database filled by :func:`insert_ratings`."""
    with sqlite3.connect(db) as conn:
        (raw,) = conn.execute("SELECT id FROM users ORDER BY rowid LIMIT 1").fetchone()
    conn.close()
    return uuid.UUID(bytes=bytes(raw))


def migrate(data_dir: Path) -> Path:
    """``lvs db upgrade --no-prompt`` on ``data_dir``'s database; returns the database path."""
    data_dir.mkdir(parents=True, exist_ok=True)
    db = data_dir / "lvs.db"
    for leftover in (db, db.with_name("lvs.db-wal"), db.with_name("lvs.db-shm")):
        leftover.unlink(missing_ok=True)
    done = subprocess.run(
        [*lvs_command(), "db", "upgrade", "--no-prompt"],
        env=lvs_env(data_dir, data_dir),
        cwd=data_dir,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or not db.is_file():
        raise RuntimeError(
            f"lvs db upgrade failed ({done.returncode}):\n{done.stdout}{done.stderr}"
        )
    return db


def synthetic_media(count: int, root: str, seed: int = 1) -> list[dict[str, Any]]:
    """``count`` plausible videos under the fake folder ``root``, the newest last, each with a
    unique fingerprint, spread over 100 sub-folders; one in ten is an episode of one of 50
    shows (``Show 07/Season 2/Show.07.S02E13.mkv``), parsed as the scanner parses paths."""
    from lvs.services.scanner import parsed_values

    rng = random.Random(seed)
    now = datetime.now(UTC)
    hashes: set[str] = set()
    rows: list[dict[str, Any]] = []
    for i in range(count):
        while (h := random_hash(rng)) in hashes:
            pass
        hashes.add(h)
        title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 5))).title()
        vcodec, acodec, container = rng.choice(CODECS)
        width, height = rng.choice(RESOLUTIONS)
        rel = f"folder-{i % 100:03d}/{title.replace(' ', '_')}-{i:06d}.{container}"
        if i % 10 == 0:  # episodes: show, season, episode from the number
            n = i // 10
            show, season, episode = n % 50, 1 + (n // 50) % 5, 1 + n // 250
            rel = f"Show {show:02d}/Season {season}/Show.{show:02d}.S{season:02d}E{episode:02d}.mkv"
        created = timestamp(now - timedelta(seconds=(count - i) * 37))
        rows.append(
            {
                "path": f"{root}/{rel}",
                "root": root,
                "rel_path": rel,
                "title": f"{title} {i}",
                "media_hash": h,
                "size": rng.randint(5_000_000, 4_000_000_000),
                "mtime_ns": 1_700_000_000_000_000_000 + i * 1_000_000_000,
                "duration": round(rng.uniform(5, 7200), 3),
                "width": width,
                "height": height,
                "video_codec": vcodec,
                "audio_codec": acodec,
                "container": container,
                "has_thumbnail": 1,
                "thumbnail_error": None,
                "missing": 0,
                "created_at": created,
                "updated_at": created,
                **parsed_values(rel),
            }
        )
    return rows


def insert_activity(
    db: Path, user: uuid.UUID, media: Sequence[dict[str, Any]], seed: int = 5
) -> None:
    """What ``user`` watched: the first episodes of 20 shows (views), and 20 videos stopped
    half-way (positions), so the home screen's personal rows have something to show."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    episodes = [m for m in media if m.get("show_key") and m.get("season") == 1]
    by_show: dict[str, list[dict[str, Any]]] = {}
    for m in episodes:
        by_show.setdefault(m["show_key"], []).append(m)
    views = []
    for n, (_key, eps) in enumerate(sorted(by_show.items())[:20]):
        for k, m in enumerate(sorted(eps, key=lambda m: m["episode"])[:3]):
            at = timestamp(now - timedelta(hours=n, minutes=10 - k))
            views.append(
                {
                    "user_id": user.bytes,
                    "media_hash": m["media_hash"],
                    "created_at": at,
                    "updated_at": at,
                }
            )
    positions = []
    for k, m in enumerate(rng.sample(list(media), 20)):
        at = timestamp(now - timedelta(minutes=k))
        positions.append(
            {
                "user_id": user.bytes,
                "media_hash": m["media_hash"],
                "seconds": round(float(m["duration"]) / 2, 1),
                "created_at": at,
                "updated_at": at,
            }
        )
    with sqlite3.connect(db) as conn:
        _insert(conn, "views", views)
        _insert(conn, "positions", positions)
        conn.execute("ANALYZE")
    conn.close()


def _insert(conn: sqlite3.Connection, table: str, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    cols = list(rows[0])
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
    conn.executemany(sql, ([r[c] for c in cols] for r in rows))


def insert_media(db: Path, rows: Sequence[dict[str, Any]]) -> None:
    with sqlite3.connect(db) as conn:
        _insert(conn, "media", rows)
        conn.execute("ANALYZE")  # as lvs's scanner does after indexing
    conn.close()


def insert_ratings(
    db: Path, hashes: Sequence[str], users: int, fraction: float, seed: int = 2
) -> list[uuid.UUID]:
    """``users`` anonymous users who each rate about ``fraction`` of ``hashes`` (values 1–5),
    plus the per-fingerprint aggregates in ``media_stats`` when that table exists. Returns the
    user ids."""
    rng = random.Random(seed)
    now = timestamp(datetime.now(UTC))
    ids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(users)]
    ratings: list[dict[str, Any]] = []
    totals: dict[str, list[int]] = {}
    for uid in ids:
        for h in hashes:
            if rng.random() < fraction:
                value = rng.randint(1, 5)
                ratings.append(
                    {
                        "media_hash": h,
                        "user_id": uid.bytes,
                        "value": value,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                total = totals.setdefault(h, [0, 0])
                total[0] += value
                total[1] += 1
    with sqlite3.connect(db) as conn:
        _insert(
            conn,
            "users",
            [{"id": uid.bytes, "created_at": now, "updated_at": now} for uid in ids],
        )
        _insert(conn, "ratings", ratings)
        has_stats = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'media_stats'"
        ).fetchone()
        if has_stats:
            _insert(
                conn,
                "media_stats",
                [
                    {
                        "media_hash": h,
                        "rating_sum": s,
                        "rating_count": c,
                        "rating_avg": s / c,
                        "view_count": 0,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for h, (s, c) in totals.items()
                ],
            )
        conn.execute("ANALYZE")
    conn.close()
    return ids


def insert_tags(
    db: Path, hashes: Sequence[str], count: int = 30, fraction: float = 0.3, seed: int = 4
) -> list[str]:
    """``count`` household tags (words from WORDS), each video carrying one or two of them with
    probability ``fraction``. Returns the tag names."""
    rng = random.Random(seed)
    now = timestamp(datetime.now(UTC))
    names = sorted({"river", *rng.sample(WORDS, count - 1)})[:count]
    links: list[dict[str, Any]] = []
    for h in hashes:
        if rng.random() < fraction:
            for tag_id in {rng.randrange(count) + 1 for _ in range(rng.randint(1, 2))}:
                links.append(
                    {"media_hash": h, "tag_id": tag_id, "created_at": now, "updated_at": now}
                )
    with sqlite3.connect(db) as conn:
        _insert(
            conn,
            "tags",
            [
                {"id": i + 1, "name": n, "key": n.casefold(), "created_at": now, "updated_at": now}
                for i, n in enumerate(names)
            ],
        )
        _insert(conn, "media_tags", links)
        conn.execute("ANALYZE")
    conn.close()
    return names


def media_hashes(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        found = [h for (h,) in conn.execute("SELECT media_hash FROM media ORDER BY id")]
    conn.close()
    return found


class SessionCodec:
    """Reads and makes lvs session cookies, keyed like lvs.app does it (the SHA-256 of the
    secret key, Litestar's client-side session backend), for the benchmark's own secret."""

    KEY = "lvs_session"

    def __init__(self, secret: str = BENCH_SECRET) -> None:
        from litestar.middleware.session.client_side import (
            ClientSideSessionBackend,
            CookieBackendConfig,
        )

        config = CookieBackendConfig(secret=hashlib.sha256(secret.encode()).digest(), key=self.KEY)
        self.backend = ClientSideSessionBackend(config=config)

    def encode(self, user_id: uuid.UUID) -> str:
        """A ``Cookie`` header value naming ``user_id``."""
        value = b"".join(self.backend.dump_data({"uid": str(user_id)})).decode()
        return f'{self.KEY}="{value}"'

    def decode(self, cookie: str) -> uuid.UUID | None:
        """The user id in a ``lvs_session=...`` cookie (or its bare value); None if unreadable."""
        value = cookie.split(";", 1)[0].strip()
        if value.startswith(self.KEY + "="):
            value = value[len(self.KEY) + 1 :]
        try:
            data = self.backend.load_data([value.strip('"').encode()])
            return uuid.UUID(str(data["uid"]))
        except Exception:
            return None


def cookie_pair(set_cookie_values: Iterable[str], name: str = SessionCodec.KEY) -> str | None:
    """The ``name=value`` part of the ``Set-Cookie`` for ``name``, if any."""
    for raw in set_cookie_values:
        pair = raw.split(";", 1)[0].strip()
        if pair.startswith(name + "="):
            return pair
    return None
