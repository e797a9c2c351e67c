"""The ``lvs`` command: scan, db, demo, settings, --help, and a real ``lvs serve`` process."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result
from conftest import html

from lvs.cli import main
from lvs.library.demo import DEMO_CLIPS
from lvs.library.probe import probe
from lvs.settings import setting_docs


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str | None]:
    """Environment for CliRunner: data in tmp, no stray LVS_* settings, a plain 80-column pipe."""
    data = tmp_path / "data"
    cleared: dict[str, str | None] = dict.fromkeys(
        (name for name in os.environ if name.startswith("LVS_")), None
    )
    return {
        **cleared,
        "COLUMNS": None,
        "LINES": None,
        "LVS_DATA_DIR": str(data),
        "LVS_DB_PATH": str(data / "cli.db"),
    }


def lvs(env: dict[str, str | None], *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def summary_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("Scanned ")]
    assert len(lines) == 1, output
    return lines[0]


def test_scan_prints_a_summary_and_names_each_skipped_file_with_its_reason(
    env: dict[str, str | None], library: Path
) -> None:
    (library / "broken.mp4").write_bytes(os.urandom(40_000))
    (library / "sub" / "empty.mkv").write_bytes(b"")
    (library / "readme.avi").write_text("not a video at all\n" * 10)

    result = lvs(env, "scan", "--library", str(library))

    assert result.exit_code == 0, result.output
    assert summary_line(result.stdout) == (
        "Scanned 6 files: 3 new, 0 unchanged, 0 updated, 0 moved, 3 skipped, 0 missing"
    )
    lines = result.stdout.splitlines()
    # One line per skipped file, path and reason together (grep-able, whatever the path length).
    expected = {
        library.resolve() / "broken.mp4": "corrupt",
        library.resolve() / "sub" / "empty.mkv": "empty file",
        library.resolve() / "readme.avi": "",
    }
    for path, reason in expected.items():
        prefix = f"skipped: {path}: {reason}"
        matching = [line for line in lines if line.startswith(prefix)]
        assert len(matching) == 1, f"no single line starting {prefix!r} in:\n{result.stdout}"
        assert len(matching[0]) > len(f"skipped: {path}: ")  # a reason is given


def test_rescan_says_unchanged(env: dict[str, str | None], library: Path) -> None:
    first = lvs(env, "scan", "--library", str(library))
    assert summary_line(first.stdout).startswith("Scanned 3 files: 3 new, 0 unchanged")

    again = lvs(env, "scan", "--library", str(library))

    assert again.exit_code == 0
    assert summary_line(again.stdout) == (
        "Scanned 3 files: 0 new, 3 unchanged, 0 updated, 0 moved, 0 skipped, 0 missing"
    )


def test_scan_of_a_missing_folder_fails_with_a_message(
    env: dict[str, str | None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    result = lvs(env, "scan", "--library", "nowhere")

    assert result.exit_code == 1
    assert "Library folder not found: nowhere" in result.stderr.splitlines()


def test_scan_with_one_missing_folder_of_two_still_succeeds(
    env: dict[str, str | None], library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    result = lvs(env, "scan", "--library", "nowhere", "--library", str(library))

    assert result.exit_code == 0
    assert "Library folder not found: nowhere" in result.stderr.splitlines()
    assert summary_line(result.stdout).startswith("Scanned 3 files: 3 new")


def test_a_bad_setting_is_a_usage_error_naming_the_variable(
    env: dict[str, str | None], library: Path
) -> None:
    result = lvs({**env, "LVS_PORT": "abc"}, "scan", "--library", str(library))

    assert result.exit_code == 2
    assert "LVS_PORT" in result.stderr
    assert "Traceback" not in result.output


def test_db_upgrade_then_show_current_revision(env: dict[str, str | None]) -> None:
    upgrade = lvs(env, "db", "upgrade", "--no-prompt")
    assert upgrade.exit_code == 0, upgrade.output

    db_file = Path(str(env["LVS_DB_PATH"]))
    with sqlite3.connect(db_file) as conn:
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"media", "skipped_files"} <= tables

    # advanced-alchemy prints through a console bound to the real stdout at import time, which
    # CliRunner cannot capture: run this one as a real process.
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("LVS_")}
    child_env.update({k: v for k, v in env.items() if v is not None})
    current = subprocess.run(
        [sys.executable, "-m", "lvs", "db", "show-current-revision"],
        env=child_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert current.returncode == 0, current.stderr
    assert f"{revision} (head)" in current.stdout.splitlines()


def test_demo_creates_playable_clips(env: dict[str, str | None], tmp_path: Path) -> None:
    target = tmp_path / "demo"

    result = lvs(env, "demo", str(target))

    assert result.exit_code == 0, result.output
    printed = [Path(line) for line in result.stdout.splitlines()]
    assert printed == [target / clip.relative_path for clip in DEMO_CLIPS]
    for clip in DEMO_CLIPS:
        info = probe(target / clip.relative_path)
        assert info.duration == pytest.approx(clip.seconds, abs=0.2)


def test_help_lists_the_commands(env: dict[str, str | None]) -> None:
    result = lvs(env, "--help")

    assert result.exit_code == 0
    commands = {
        line.split()[0]
        for line in result.stdout.split("Commands:", 1)[1].splitlines()
        if line.strip()
    }
    assert {"serve", "scan", "db", "demo", "settings"} <= commands


def test_settings_command_lists_every_variable(env: dict[str, str | None]) -> None:
    result = lvs({**env, "LVS_PORT": "9123"}, "settings")

    assert result.exit_code == 0
    assigned = dict(
        line.split("=", 1) for line in result.stdout.splitlines() if line.startswith("LVS_")
    )
    assert set(assigned) == {doc["env"] for doc in setting_docs()}
    assert assigned["LVS_PORT"] == "9123"


# -- a real `lvs serve` ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the TCP sockets listening on ``port`` (Linux /proc)."""
    found: set[str] = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr_hex, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:
                continue
            assert len(addr_hex) == width
            # /proc prints each 32-bit word in host (little-endian) order.
            raw = b"".join(
                bytes.fromhex(addr_hex[i : i + 8])[::-1] for i in range(0, len(addr_hex), 8)
            )
            found.add(socket.inet_ntop(socket.AF_INET if width == 8 else socket.AF_INET6, raw))
    return found


def children_of(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def is_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat_line.rsplit(")", 1)[1].split()[0] != "Z"


class Launcher:
    """Starts ``lvs serve`` on a free port with its own data folder; stops whatever it started."""

    def __init__(self, tmp_path: Path) -> None:
        self.data = tmp_path / "serve-data"
        self.logs = tmp_path / "serve.log"
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, library: Path) -> tuple[subprocess.Popen[bytes], int]:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("LVS_")}
        env["LVS_DATA_DIR"] = str(self.data)
        with self.logs.open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "lvs", "serve", "--port", str(port), "-l", str(library)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so cleanup cannot miss a child
            )
        self.procs.append(proc)
        return proc, port

    def log_text(self) -> str:
        return self.logs.read_text(errors="replace")

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            # Whatever is left in the group this test created (an orphaned scan, say).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[Launcher]:
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs Linux /proc to watch the server's processes")
    launcher = Launcher(tmp_path)
    yield launcher
    launcher.stop_all()


def wait_until_up(proc: subprocess.Popen[bytes], port: int, launcher: Launcher) -> httpx.Response:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"lvs serve exited with {proc.returncode}:\n{launcher.log_text()}")
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        if response.status_code == 200:
            return response
        time.sleep(0.2)
    pytest.fail(f"lvs serve did not answer 200 on / within 30 s:\n{launcher.log_text()}")


def test_serve_lists_the_library_as_it_is_scanned_on_loopback_only(
    launcher: Launcher, library: Path
) -> None:
    proc, port = launcher.start(library)

    wait_until_up(proc, port, launcher)
    titles: list[str] = []
    for _ in range(120):  # the background scan fills the library; bounded polling
        page = html(httpx.get(f"http://127.0.0.1:{port}/library", timeout=5).text)
        titles = sorted(c.select_one(".title").get_text(strip=True) for c in page.select("li.card"))
        if len(titles) == 3:
            break
        time.sleep(0.25)
    assert titles == ["Alpha", "Bravo", "Charlie"]

    assert listening_addresses(port) == {"127.0.0.1"}
    assert f"on http://127.0.0.1:{port}/" in launcher.log_text()

    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert proc.returncode in (0, -signal.SIGTERM)
    assert "Finished server process" in launcher.log_text()


def test_serve_stops_its_background_scan_when_terminated(launcher: Launcher, library: Path) -> None:
    proc, port = launcher.start(library)

    # Catch the scan child early and freeze it, so it is certainly still "scanning" when the
    # server is told to stop (as with a big library).
    scan_pid = None
    deadline = time.monotonic() + 30
    while scan_pid is None and time.monotonic() < deadline and proc.poll() is None:
        for pid in children_of(proc.pid):
            if b"scan" in Path(f"/proc/{pid}/cmdline").read_bytes():
                scan_pid = pid
                os.kill(pid, signal.SIGSTOP)
        time.sleep(0.02)
    assert scan_pid is not None, f"no background scan process seen:\n{launcher.log_text()}"
    try:
        wait_until_up(proc, port, launcher)

        proc.send_signal(signal.SIGTERM)  # what systemd, docker stop and kill send
        proc.wait(timeout=30)

        orphaned = is_running(scan_pid)
    finally:
        if is_running(scan_pid):
            os.kill(scan_pid, signal.SIGKILL)
    assert not orphaned, "lvs serve exited on SIGTERM but left its scan process running"
