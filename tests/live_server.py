"""A real uvicorn server in a thread, configured as ``lvs serve`` configures it, for the
integration tests that need real sockets (faults and abuse)."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import uvicorn
from click.testing import CliRunner
from litestar import Litestar

from lvs.cli import main as cli_main

__all__ = ["LiveServer", "free_port", "serve_options"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_options(tmp: Path) -> dict[str, Any]:
    """The uvicorn options ``lvs serve`` passes, read from the command itself (uvicorn.run
    replaced by a recorder), so that these servers follow any change made there."""
    captured: dict[str, Any] = {}

    def record(_app: object, **kwargs: Any) -> None:
        captured.update(kwargs)

    (tmp / "lib").mkdir(parents=True, exist_ok=True)
    saved_env, saved_sigterm = dict(os.environ), signal.getsignal(signal.SIGTERM)
    env = {k: None for k in os.environ if k.startswith("LVS_")}
    env["LVS_DATA_DIR"] = str(tmp / "data")
    try:
        with mock.patch.object(uvicorn, "run", record):
            result = CliRunner().invoke(
                cli_main, ["serve", "--no-scan", "-l", str(tmp / "lib")], env=env
            )
    finally:  # `lvs serve` exports its settings and installs a SIGTERM handler: undo both
        os.environ.clear()
        os.environ.update(saved_env)
        signal.signal(signal.SIGTERM, saved_sigterm)
    assert result.exit_code == 0 and captured, result.output
    for key in ("factory", "host", "port", "workers", "log_level", "log_config"):
        captured.pop(key, None)
    return captured


class LiveServer:
    """The app behind a real uvicorn, in a thread, with the options ``lvs serve`` passes."""

    def __init__(self, app: Litestar, options: dict[str, Any]) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_config=None,  # leave the test process's logging alone
            log_level="warning",
            **options,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)
        assert not self.thread.is_alive(), "uvicorn did not stop"

    def alive(self) -> bool:
        """A normal request is answered promptly (on a fresh connection)."""
        with httpx.Client(timeout=10) as http:
            return http.get(f"{self.url}/help").status_code == 200
