"""Settings from LVS_* variables and flags, the secret key file, and the README's settings table."""

from __future__ import annotations

import ipaddress
import os
import stat
from pathlib import Path

import pytest

from lvs.settings import Settings, SettingsError, setting_docs

README = Path(__file__).resolve().parents[2] / "README.md"
KEY = "k" * 40


def test_from_env_parses_every_setting(tmp_path: Path) -> None:
    videos, films = tmp_path / "videos", tmp_path / "films"
    env = {
        "LVS_LIBRARY": f"{videos}{os.pathsep}{films}{os.pathsep}",
        "LVS_DATA_DIR": str(tmp_path / "data"),
        "LVS_DB_PATH": str(tmp_path / "elsewhere" / "my.db"),
        "LVS_DATABASE_URL": "postgresql+asyncpg://lvs@db.example/lvs",
        "LVS_HOST": "0.0.0.0",
        "LVS_PORT": "9000",
        "LVS_WORKERS": "3",
        "LVS_PASSWORD": "correct horse",
        "LVS_SECRET_KEY": KEY,
        "LVS_PAGE_SIZE": "50",
        "LVS_RATE_LIMIT": "5/second",
        "LVS_WRITE_RATE_LIMIT": "100/hour",
        "LVS_RATE_LIMIT_STORAGE": "redis://localhost:6379/1",
        "LVS_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7 ,::1",
        "LVS_CACHE_URL": "redis://cache:6379/0",
        "LVS_CACHE_TTL": "60",
        "LVS_REDIS_TIMEOUT": "0.5",
        "LVS_ALLOWED_HOSTS": "TV.local, *.example.org ,videos.example.com.",
        "LVS_ACCEL_REDIRECT": "/_lvs_media/",
        "LVS_MAX_CONVERSIONS": "3",
        "LVS_TRANSCODE_MAX_HEIGHT": "720",
        "LVS_CONVERSION_CACHE_MB": "250",
        "LVS_VIDEO_ENCODER": "h264_nvenc",
        "LVS_LOG_LEVEL": "DEBUG",
        "LVS_WATCH": "off",
        "LVS_WATCH_SETTLE_SECONDS": "2.5",
        "LVS_RESCAN_MINUTES": "0",
        "LVS_JOBS_URL": "redis://jobs:6379/2",
    }
    # A new setting must be added here too, so its parsing is tested.
    assert set(env) == {doc["env"] for doc in setting_docs()}

    s = Settings.from_env(env)

    assert s.library == (videos, films)
    assert s.data_dir == tmp_path / "data"
    assert s.db_path == tmp_path / "elsewhere" / "my.db"
    assert s.database_url == "postgresql+asyncpg://lvs@db.example/lvs"
    assert (s.host, s.port, s.page_size, s.cache_ttl) == ("0.0.0.0", 9000, 50, 60)
    assert s.workers == 3
    assert s.password == "correct horse"
    assert "correct horse" not in repr(s)
    assert s.secret_key == KEY
    assert (s.rate_limit, s.write_rate_limit) == ("5/second", "100/hour")
    assert s.rate_limit_storage == "redis://localhost:6379/1"
    assert s.cache_url == "redis://cache:6379/0"
    assert s.log_level == "debug"
    assert s.redis_timeout == 0.5
    assert (s.max_conversions, s.transcode_max_height) == (3, 720)
    assert (s.conversion_cache_mb, s.video_encoder) == (250, "h264_nvenc")
    assert s.allowed_hosts == ("tv.local", "*.example.org", "videos.example.com")
    assert s.accel_redirect == "/_lvs_media/"
    assert (s.watch, s.watch_settle_seconds, s.rescan_minutes) == (False, 2.5, 0)
    assert s.jobs_url == s.jobs_redis_url == "redis://jobs:6379/2"
    assert s.proxy_networks == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.168.1.7/32"),
        ipaddress.ip_network("::1/128"),
    )
    assert ipaddress.ip_address("10.20.30.40") in s.proxy_networks[0]


def test_from_env_without_variables_gives_the_documented_defaults(tmp_path: Path) -> None:
    s = Settings.from_env({"LVS_DATA_DIR": str(tmp_path), "LVS_PORT": "   "})

    assert s.library == ()
    assert (s.host, s.port, s.page_size) == ("127.0.0.1", 8000, 24)
    assert (s.rate_limit, s.write_rate_limit) == ("10/minute", "300/minute")
    assert (s.rate_limit_storage, s.cache_ttl) == ("memory://", 3600)
    assert s.trusted_proxies == () and s.proxy_networks == ()
    assert s.cache_url is None and s.secret_key is None
    assert s.log_level == "info"
    assert s.sqlite_path == tmp_path / "lvs.db"
    assert s.thumbs_dir == tmp_path / "thumbnails"


def test_library_paths_expand_the_home_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    s = Settings.from_env({"LVS_LIBRARY": "~/Videos"})
    assert s.library == (tmp_path / "Videos",)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LVS_PORT", "abc"),
        ("LVS_PORT", "0"),
        ("LVS_PORT", "70000"),
        ("LVS_PAGE_SIZE", "many"),
        ("LVS_PAGE_SIZE", "0"),
        ("LVS_PAGE_SIZE", "201"),
        ("LVS_CACHE_TTL", "1.5"),
        ("LVS_CACHE_TTL", "0"),
        ("LVS_SECRET_KEY", "too-short"),
        ("LVS_LOG_LEVEL", "chatty"),
        ("LVS_RATE_LIMIT", "lots"),
        ("LVS_WRITE_RATE_LIMIT", "fast"),
        ("LVS_RATE_LIMIT_STORAGE", "mysql://db/limits"),
        ("LVS_CACHE_URL", "memcached://cache:11211"),
        ("LVS_TRUSTED_PROXIES", "10.0.0.0/8,my-proxy"),
        ("LVS_TRUSTED_PROXIES", "10.0.0.0/33"),
        ("LVS_REDIS_TIMEOUT", "soon"),
        ("LVS_WATCH", "maybe"),
        ("LVS_WATCH_SETTLE_SECONDS", "0"),
        ("LVS_RESCAN_MINUTES", "-5"),
        ("LVS_JOBS_URL", "amqp://queue"),
        ("LVS_REDIS_TIMEOUT", "0"),
        ("LVS_ALLOWED_HOSTS", "tv.local,evil/path"),
        ("LVS_ALLOWED_HOSTS", "tv.*.local"),
        ("LVS_ACCEL_REDIRECT", "_lvs_media/"),
        ("LVS_ACCEL_REDIRECT", "/_lvs_media"),
        ("LVS_ACCEL_REDIRECT", "/a/../b/"),
        ("LVS_ACCEL_REDIRECT", "/media files/"),
        ("LVS_ACCEL_REDIRECT", "/x?y/"),
    ],
)
def test_a_bad_value_raises_an_error_naming_its_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as excinfo:
        Settings.from_env({name: value})
    assert str(excinfo.value).startswith(f"{name}:")


def test_keyword_overrides_win_over_the_environment(tmp_path: Path) -> None:
    env = {"LVS_PORT": "9000", "LVS_HOST": "0.0.0.0", "LVS_LIBRARY": str(tmp_path / "env")}

    s = Settings.from_env(env, port=1234, library=(tmp_path / "flag",), host=None)

    assert s.port == 1234
    assert s.library == (tmp_path / "flag",)
    assert s.host == "0.0.0.0"  # a flag that was not given (None) does not erase the variable


def test_keyword_overrides_are_validated_too() -> None:
    with pytest.raises(SettingsError, match="LVS_PORT"):
        Settings.from_env({}, port=0)


def test_database_url_wins_over_db_path(tmp_path: Path) -> None:
    sqlite = Settings(data_dir=tmp_path, db_path=tmp_path / "x.db")
    assert sqlite.db_url == f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    assert sqlite.is_sqlite

    default = Settings(data_dir=tmp_path)
    assert default.db_url == f"sqlite+aiosqlite:///{tmp_path / 'lvs.db'}"

    pg = Settings(
        data_dir=tmp_path, db_path=tmp_path / "x.db", database_url="postgresql+asyncpg://h/db"
    )
    assert pg.db_url == "postgresql+asyncpg://h/db"
    assert not pg.is_sqlite


def test_secret_key_file_is_created_once_private_and_reused(tmp_path: Path) -> None:
    data = tmp_path / "fresh" / "data"  # does not exist yet
    key = Settings(data_dir=data).ensure_secret_key()

    key_file = data / "secret_key"
    assert len(key) >= 32
    assert key_file.read_text() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    mtime = key_file.stat().st_mtime_ns

    # Another process (a new Settings) gets the same key; the file is not rewritten.
    assert Settings(data_dir=data).ensure_secret_key() == key
    assert key_file.stat().st_mtime_ns == mtime


def test_a_configured_secret_key_is_used_and_no_file_is_written(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path, secret_key=KEY).ensure_secret_key() == KEY
    assert not (tmp_path / "secret_key").exists()


def readme_settings_table() -> dict[str, tuple[str, str]]:
    """``{env var: (default cell, meaning cell)}`` from the README's settings table."""
    rows: dict[str, tuple[str, str]] = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| `LVS_"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        assert len(cells) == 3, f"README settings row should have 3 cells: {line}"
        name = cells[0].strip("`")
        assert name not in rows, f"{name} is listed twice in the README"
        rows[name] = (cells[1], cells[2])
    return rows


def test_readme_documents_every_setting_and_nothing_else() -> None:
    documented = set(readme_settings_table())
    actual = {doc["env"] for doc in setting_docs()}
    assert documented - actual == set(), "README documents settings that do not exist"
    assert actual - documented == set(), "settings missing from the README's settings table"


@pytest.mark.parametrize("doc", setting_docs(), ids=lambda doc: doc["env"])
def test_readme_default_and_meaning_match_the_setting(doc: dict[str, str]) -> None:
    table = readme_settings_table()
    if doc["env"] not in table:
        pytest.fail(f"{doc['env']} is not in the README's settings table")
    default, meaning = table[doc["env"]]
    assert default == doc["default"]
    assert meaning == doc["help"]


def test_every_setting_has_a_variable_a_default_and_help() -> None:
    for doc in setting_docs():
        assert doc["env"] == "LVS_" + doc["name"].upper()
        assert doc["default"].strip()
        assert doc["help"].strip().endswith(".")


def test_several_workers_need_shared_redis_storage(tmp_path: Path) -> None:
    """With N > 1 workers, in-process caches and limits would diverge: refuse at startup."""
    with pytest.raises(SettingsError, match="LVS_WORKERS"):
        Settings.from_env({"LVS_DATA_DIR": str(tmp_path), "LVS_WORKERS": "2"})
    shared = Settings.from_env(
        {
            "LVS_DATA_DIR": str(tmp_path),
            "LVS_WORKERS": "2",
            "LVS_CACHE_URL": "redis://127.0.0.1:6379/0",
            "LVS_RATE_LIMIT_STORAGE": "redis://127.0.0.1:6379/0",
        }
    )
    assert shared.workers == 2


def test_accel_redirect_needs_a_trusted_proxy_and_a_plain_prefix() -> None:
    with pytest.raises(SettingsError, match="LVS_TRUSTED_PROXIES"):
        Settings.from_env({"LVS_ACCEL_REDIRECT": "/_lvs_media/"})
    with pytest.raises(SettingsError, match="not a location prefix"):
        Settings.from_env({"LVS_ACCEL_REDIRECT": "/a/./b/", "LVS_TRUSTED_PROXIES": "127.0.0.1"})
    s = Settings.from_env({"LVS_ACCEL_REDIRECT": "/_lvs_media/", "LVS_TRUSTED_PROXIES": "::1"})
    assert s.accel_redirect == "/_lvs_media/"
    assert Settings.from_env({}).accel_redirect == ""
