"""The rating summary ``GET /api/ratings/{hash}`` against the framework floor: lvs (one worker,
``lvs serve``) and a bare Litestar handler answering the same bytes through the same server
protocol (uvicorn with lvs's h11), ``wrk -t2 -c8``, interleaved rounds; for lvs a returning
browser (the session cookie of a user who rated the video) and a first-time one (no cookies).

    python -m bench.rating_summary [--seconds 8] [--rounds 3]

The database: 2 000 synthetic videos, ratings by 5 users (made once in ~/.cache/lvs-bench)."""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.dataset import (
    SessionCodec,
    first_user,
    insert_media,
    insert_ratings,
    migrate,
    synthetic_media,
)
from bench.loadgen import run_wrk
from bench.servers import LvsServer

FLOOR = """
import os
from litestar import Litestar, Response, get

BODY = os.environ["FLOOR_BODY"].encode()


@get("/api/ratings/{media_hash:str}")
async def summary(media_hash: str) -> Response[bytes]:
    return Response(BODY, media_type="application/json")


app = Litestar([summary])
"""


def _prepare(folder: Path) -> tuple[Path, Path, str]:
    data, library = folder / "data", folder / "library"
    library.mkdir(parents=True, exist_ok=True)
    if not (data / "lvs.db").exists():
        db = migrate(data)
        media = synthetic_media(2000, "/srv/lvs-bench/library")
        insert_media(db, media)
        insert_ratings(db, [m["media_hash"] for m in media], 5, 0.2)
    user = first_user(data / "lvs.db")
    with sqlite3.connect(data / "lvs.db") as conn:  # a video the cookie's user has rated
        (media_hash,) = conn.execute(
            "SELECT media_hash FROM ratings WHERE user_id = ? LIMIT 1", (user.bytes,)
        ).fetchone()
    conn.close()
    return data, library, str(media_hash)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data, library, media_hash = _prepare(Path.home() / ".cache" / "lvs-bench" / "ratings-2000")
    cookie = SessionCodec().encode(first_user(data / "lvs.db"))
    with LvsServer(data, library) as lvs, tempfile.TemporaryDirectory() as floor_dir:
        url = lvs.url(f"/api/ratings/{media_hash}")
        request = urllib.request.Request(url, headers={"Cookie": cookie})
        body = urllib.request.urlopen(request).read().decode()
        (Path(floor_dir) / "floor.py").write_text(FLOOR)
        port = _free_port()
        serve = (
            "import uvicorn; from lvs.web.protocol import LvsHTTPProtocol; "
            f"uvicorn.run('floor:app', port={port}, http=LvsHTTPProtocol, "
            "log_level='warning', access_log=False)"
        )
        env = dict(os.environ, FLOOR_BODY=body, PYTHONPATH=floor_dir)
        floor = subprocess.Popen([sys.executable, "-c", serve], env=env)
        try:
            time.sleep(2)
            floor_url = f"http://127.0.0.1:{port}/api/ratings/{media_hash}"
            print(f"GET /api/ratings/{media_hash} -> {body}")
            sides = [
                ("lvs, returning browser", url, {"Cookie": cookie}),
                ("lvs, first-time browser", url, {}),
                ("bare Litestar (floor)", floor_url, {"Cookie": cookie}),
            ]
            for rnd in range(1, args.rounds + 1):
                for name, target, headers in sides:
                    res = run_wrk(
                        target, connections=8, threads=2, seconds=args.seconds, headers=headers
                    )
                    print(
                        f"round {rnd}: {name}: {res.rps:.0f} req/s, p50 {res.p50_ms:.2f} ms, "
                        f"p99 {res.p99_ms:.1f} ms, errors {res.error_count}",
                        flush=True,
                    )
        finally:
            floor.terminate()
            floor.wait()


if __name__ == "__main__":
    main()
