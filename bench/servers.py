"""The servers under test: ``lvs serve`` and a throw-away nginx, both on loopback, free ports.

Both are context managers; leaving the ``with`` block (normally or by an exception) stops the
process and, for nginx, removes its temporary folder."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from bench.common import free_port

__all__ = [
    "BENCH_SECRET",
    "CpuMeter",
    "FloorServer",
    "LvsServer",
    "Nginx",
    "deploy_site",
    "lvs_command",
    "lvs_env",
    "nginx_binary",
    "tree_cpu_seconds",
    "tree_rss_mb",
    "wait_for_200",
]

#: The app's signing key in every benchmark (so the benchmark can read and make session cookies).
BENCH_SECRET = "lvs-bench-secret-key-0123456789abcdef"


def lvs_command() -> list[str]:
    """The ``lvs`` console script of this interpreter's environment, else ``python -m lvs``."""
    script = Path(sys.executable).with_name("lvs")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "lvs"]


def lvs_env(data_dir: Path, library: Path, **extra: str) -> dict[str, str]:
    """A clean environment for lvs: no LVS_* from the caller's shell, the benchmark's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LVS_")}
    env.update(
        {
            "LVS_DATA_DIR": str(data_dir),
            "LVS_LIBRARY": str(library),
            "LVS_LOG_LEVEL": "warning",
            "LVS_SECRET_KEY": BENCH_SECRET,
        }
    )
    env.update(extra)
    return env


def wait_for_200(
    port: int,
    path: str = "/",
    *,
    timeout: float = 60.0,
    proc: subprocess.Popen[bytes] | None = None,
) -> float:
    """Poll ``GET path`` every 10 ms until it answers 200; the time it took, in seconds."""
    start = time.perf_counter()
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode} before answering")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                return time.perf_counter() - start
        except OSError:
            pass
        finally:
            conn.close()
        if time.perf_counter() - start > timeout:
            raise TimeoutError(f"no 200 on {path} after {timeout:.0f} s")
        time.sleep(0.01)


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            found.append(int(entry.name))
    return found


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants (VmRSS), in MB (10^6 bytes)."""
    total_kib = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
                    break
        except OSError:
            continue
        pending.extend(_children(current))
    return total_kib * 1024 / 1_000_000


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by ``pid`` and its live descendants, in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
        pending.extend(_children(current))
    return total / tick


class CpuMeter:
    """CPU use of a process tree over a ``with`` block, as a percentage of one core."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.percent = 0.0

    def __enter__(self) -> CpuMeter:
        self._cpu = tree_cpu_seconds(self.pid)
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._wall
        self.percent = 100 * (tree_cpu_seconds(self.pid) - self._cpu) / wall if wall else 0.0


def _stop(proc: subprocess.Popen[bytes], sig: int, timeout: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


class LvsServer:
    """``lvs serve --no-scan`` on a free port, with its output in ``log``; ``args`` are more
    ``lvs serve`` options (``("--workers", "2")``)."""

    def __init__(
        self, data_dir: Path, library: Path, *, args: Sequence[str] = (), **env: str
    ) -> None:
        self.data_dir = data_dir
        self.library = library
        self.args = list(args)
        self.port = free_port()
        self.env = lvs_env(data_dir, library, **env)
        self.log = data_dir / "bench-serve.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_after = 0.0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> LvsServer:
        cmd = [*lvs_command(), "serve", "--no-scan", "--port", str(self.port), *self.args]
        spawned = time.perf_counter()
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                env=self.env,
                cwd=self.data_dir,  # not the repository: `python -m` imports from cwd first
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            wait_for_200(self.port, proc=self.proc)
            self.ready_after = time.perf_counter() - spawned
        except BaseException:
            self.stop()
            tail = self.log.read_text(errors="replace")[-3000:]
            print(f"lvs serve failed to start; its log ends with:\n{tail}", file=sys.stderr)
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc, signal.SIGTERM)

    def __enter__(self) -> LvsServer:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


FLOOR_APP = """
import json, os
from pathlib import Path
from litestar import Litestar, Request, Response, get

HERE = Path(os.environ["FLOOR_DIR"])
PAGES = {
    target: (HERE / name).read_bytes()
    for target, name in json.loads((HERE / "index.json").read_text()).items()
}
TYPES = json.loads((HERE / "types.json").read_text())


@get(["/", "/{rest:path}"])
async def page(request: Request) -> Response[bytes]:
    query = request.scope["query_string"].decode()
    target = request.scope["path"] + ("?" + query if query else "")
    return Response(PAGES[target], media_type=TYPES[target])


app = Litestar([page])
"""


class FloorServer:
    """The framework floor: a bare Litestar app answering saved bytes (``{path?query: (body,
    content type)}``) through the same server and HTTP protocol as ``lvs serve`` (uvicorn, one
    worker, lvs's h11 protocol class): what one request costs before lvs does anything."""

    def __init__(self, pages: dict[str, tuple[bytes, str]]) -> None:
        self.pages = pages
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> FloorServer:
        import json

        self._dir = tempfile.TemporaryDirectory(prefix="lvs-bench-floor-")
        folder = Path(self._dir.name)
        index, types = {}, {}
        for i, (target, (body, media_type)) in enumerate(self.pages.items()):
            (folder / f"{i}.body").write_bytes(body)
            index[target], types[target] = f"{i}.body", media_type
        (folder / "index.json").write_text(json.dumps(index))
        (folder / "types.json").write_text(json.dumps(types))
        (folder / "floor.py").write_text(FLOOR_APP)
        serve = (
            "import uvicorn; from lvs.web.protocol import LvsHTTPProtocol; "
            f"uvicorn.run('floor:app', host='127.0.0.1', port={self.port}, "
            "http=LvsHTTPProtocol, log_level='warning', access_log=False)"
        )
        env = dict(os.environ, FLOOR_DIR=str(folder), PYTHONPATH=str(folder))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", serve], env=env, cwd=folder, stdin=subprocess.DEVNULL
        )
        try:
            wait_for_200(self.port, path=next(iter(self.pages)), proc=self.proc)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc, signal.SIGTERM)
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __enter__(self) -> FloorServer:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


#: The nginx site lvs ships (tests/integration/test_nginx_proxy.py runs it too).
DEPLOY_SITE = Path(__file__).resolve().parents[1] / "deploy" / "nginx" / "lvs.conf"


def deploy_site(lvs_port: int, port: int) -> str:
    """deploy/nginx/lvs.conf listening on loopback ``port``, in front of lvs on ``lvs_port``."""
    text = DEPLOY_SITE.read_text(encoding="utf-8")
    for old, new in (
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{lvs_port};"),
        ("listen 80;", f"listen 127.0.0.1:{port};"),
        ("listen [::]:80;", ""),
    ):
        if text.count(old) != 1:
            raise RuntimeError(f"{DEPLOY_SITE} no longer has {old!r} once")
        text = text.replace(old, new)
    return text


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    if not found:
        raise RuntimeError("nginx is not installed (apt-get install nginx)")
    return found


def _quote(path: Path | str) -> str:
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


class Nginx:
    """nginx in the foreground on a free loopback port, one worker process, sendfile on.

    ``locations`` is the text of ``location`` blocks to put in the server block; ``{q}`` is not
    interpreted, so callers quote paths with :func:`Nginx.quote`. ``extra_http`` is more text
    for the http block (another site, such as :func:`deploy_site`)."""

    WORKERS = 1
    quote = staticmethod(_quote)

    def __init__(self, locations: str, extra_http: str = "") -> None:
        self.locations = locations
        self.extra_http = extra_http
        self.port = free_port()
        self.dir = Path()  # made by start(), removed by stop()
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_after = 0.0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def config(self) -> str:
        d = self.dir
        user = "user root;" if os.geteuid() == 0 else ""  # else workers run as nobody
        temps = "\n".join(
            f"    {name}_temp_path {_quote(d / name)};"
            for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        return f"""\
daemon off;
worker_processes {self.WORKERS};
{user}
pid {_quote(d / "nginx.pid")};
error_log {_quote(d / "error.log")} warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
{temps}
    default_type application/octet-stream;
    types {{ video/mp4 mp4; text/html html; application/json json; }}
    server {{
        listen 127.0.0.1:{self.port};
        server_name localhost;
        location = /__ready {{ default_type text/plain; return 200 "ok\\n"; }}
{self.locations}
    }}
{self.extra_http}
}}
"""

    def start(self) -> Nginx:
        self.dir = Path(tempfile.mkdtemp(prefix="lvs-bench-nginx-"))
        conf = self.dir / "nginx.conf"
        conf.write_text(self.config())
        cmd = [
            nginx_binary(),
            "-p",
            str(self.dir),
            "-c",
            str(conf),
            "-e",
            str(self.dir / "error.log"),
        ]
        log = (self.dir / "stdout.log").open("wb")
        spawned = time.perf_counter()
        try:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        finally:
            log.close()
        try:
            wait_for_200(self.port, "/__ready", proc=self.proc, timeout=20)
            self.ready_after = time.perf_counter() - spawned
        except BaseException:
            errors = (self.dir / "error.log").read_text(errors="replace")[-3000:]
            self.stop()
            print(f"nginx failed to start:\n{errors}", file=sys.stderr)
            raise
        return self

    def stop(self) -> None:
        try:
            if self.proc is not None:
                _stop(self.proc, signal.SIGTERM)
        finally:
            if self.dir.name.startswith("lvs-bench-nginx-"):
                shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
