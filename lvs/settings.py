"""One frozen Settings object, built from ``LVS_*`` environment variables and CLI flags.

Every field carries its environment variable, its default and a help line in its metadata; the
README's settings table is checked against them by a test (tests/unit/test_settings.py).
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

__all__ = ["Settings", "SettingsError", "setting_docs"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: An nginx location prefix for LVS_ACCEL_REDIRECT: nothing nginx would decode or split.
_ACCEL_PREFIX = re.compile(r"/([A-Za-z0-9._~-]+/)+")
_HOST = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?|\[[0-9a-f:.]+\]", re.IGNORECASE)


#: H.264 encoders LVS_VIDEO_ENCODER may name (PyAV's wheel carries them; hardware ones need
#: the hardware and fall back to libx264).
VIDEO_ENCODERS = frozenset({"libx264", "h264_nvenc", "h264_qsv", "h264_vaapi", "h264_v4l2m2m"})


class SettingsError(ValueError):
    """A setting has a value lvs cannot use; the message names the variable."""


def _doc(env: str, help: str, default: str) -> dict[str, str]:
    return {"env": env, "help": help, "default": default}


@dataclass(frozen=True, slots=True)
class Settings:
    library: tuple[Path, ...] = field(
        default=(),
        metadata=_doc(
            "LVS_LIBRARY",
            "Video folders to index, separated by the OS path separator (`:` on Linux/macOS). "
            "`--library DIR` (repeatable) on the command line. Empty: a generated demo library.",
            "(empty: demo library)",
        ),
    )
    data_dir: Path = field(
        default_factory=lambda: Path(platformdirs.user_data_dir("lvs", appauthor=False)),
        metadata=_doc(
            "LVS_DATA_DIR",
            "Where lvs keeps its database, thumbnails, secret key and demo library.",
            "the platform's user data folder (`~/.local/share/lvs` on Linux)",
        ),
    )
    db_path: Path | None = field(
        default=None,
        metadata=_doc("LVS_DB_PATH", "The SQLite database file.", "`$LVS_DATA_DIR/lvs.db`"),
    )
    database_url: str | None = field(
        default=None,
        metadata=_doc(
            "LVS_DATABASE_URL",
            "Any SQLAlchemy async URL (e.g. `postgresql+asyncpg://host/db`); wins over "
            "LVS_DB_PATH.",
            "(unset: SQLite at LVS_DB_PATH)",
        ),
    )
    host: str = field(
        default="127.0.0.1",
        metadata=_doc(
            "LVS_HOST",
            "Address to listen on. Use `0.0.0.0` to serve other devices on your network.",
            "`127.0.0.1`",
        ),
    )
    port: int = field(default=8000, metadata=_doc("LVS_PORT", "Port to listen on.", "`8000`"))
    workers: int = field(
        default=1,
        metadata=_doc(
            "LVS_WORKERS",
            "Server worker processes (`--workers`). More than one needs LVS_CACHE_URL and "
            "LVS_RATE_LIMIT_STORAGE on Redis, so every worker sees the same caches and limits.",
            "`1`",
        ),
    )
    secret_key: str | None = field(
        default=None,
        repr=False,
        metadata=_doc(
            "LVS_SECRET_KEY",
            "Key that signs cookies and CSRF tokens (at least 32 characters). Unset: a random "
            "key is generated once and kept in `$LVS_DATA_DIR/secret_key`.",
            "(generated)",
        ),
    )
    password: str | None = field(
        default=None,
        repr=False,
        metadata=_doc(
            "LVS_PASSWORD",
            "A household password: when set, every page needs a login (the session cookie "
            "remembers it). Unset: no login, so keep lvs on 127.0.0.1 or a trusted network.",
            "(unset: no login)",
        ),
    )
    page_size: int = field(
        default=24,
        metadata=_doc("LVS_PAGE_SIZE", "Videos per library page (1–200).", "`24`"),
    )
    rate_limit: str = field(
        default="10/minute",
        metadata=_doc(
            "LVS_RATE_LIMIT",
            "Rating writes allowed per client, in the `limits` package's notation.",
            "`10/minute`",
        ),
    )
    write_rate_limit: str = field(
        default="300/minute",
        metadata=_doc(
            "LVS_WRITE_RATE_LIMIT",
            "Other writes allowed per client (favorites, tags, views, resume positions).",
            "`300/minute`",
        ),
    )
    rate_limit_storage: str = field(
        default="memory://",
        metadata=_doc(
            "LVS_RATE_LIMIT_STORAGE",
            "Where rate-limit counters live: `memory://`, or `redis://host:6379/0` to share "
            "them between workers and instances.",
            "`memory://`",
        ),
    )
    trusted_proxies: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            "LVS_TRUSTED_PROXIES",
            "Comma-separated IPs/CIDRs of reverse proxies whose `X-Forwarded-For`/`Forwarded` "
            "headers are believed. Empty: the socket peer is the client.",
            "(empty)",
        ),
    )
    cache_url: str | None = field(
        default=None,
        metadata=_doc(
            "LVS_CACHE_URL",
            "Cache store for rating summaries: unset for in-process memory, or "
            "`redis://host:6379/0` to share it between workers and instances.",
            "(unset: memory)",
        ),
    )
    cache_ttl: int = field(
        default=3600,
        metadata=_doc("LVS_CACHE_TTL", "Seconds a cached rating summary lives.", "`3600`"),
    )
    redis_timeout: float = field(
        default=2.0,
        metadata=_doc(
            "LVS_REDIS_TIMEOUT",
            "Seconds to wait for Redis (connecting, and each answer) before giving up on it: "
            "a Redis that hangs then costs a request at most this long, after which the rate "
            "limiter lets writes through and rating summaries come from the database.",
            "`2`",
        ),
    )
    allowed_hosts: tuple[str, ...] = field(
        default=(),
        metadata=_doc(
            "LVS_ALLOWED_HOSTS",
            "Comma-separated extra names lvs answers to in the `Host` header (e.g. "
            "`tv.local,videos.example.org`; `*.example.org` for every subdomain), on top of "
            "localhost, this machine's own names and any IP address. `*` answers every name "
            "(turns off the DNS-rebinding protection).",
            "(empty)",
        ),
    )
    accel_redirect: str = field(
        default="",
        metadata=_doc(
            "LVS_ACCEL_REDIRECT",
            "Behind nginx: the prefix of an `internal` location that serves files by their "
            "absolute path (e.g. `/_lvs_media/`, see deploy/nginx/lvs.conf). Video streams and "
            "converted segments are then answered, after lvs's own checks, with "
            "`X-Accel-Redirect: <prefix><path>` and nginx sends the bytes. Only answers to a "
            "peer in LVS_TRUSTED_PROXIES are redirected; anyone else gets the bytes from lvs.",
            "(empty: lvs sends the bytes)",
        ),
    )
    max_conversions: int = field(
        default_factory=lambda: max(1, (os.cpu_count() or 1) // 2),
        metadata=_doc(
            "LVS_MAX_CONVERSIONS",
            "Viewers (client addresses) that videos are converted for at once, across all "
            "workers, where the browser cannot play a file as it is (HEVC, AVI, MPEG-2, AC-3 "
            '...); one more gets a friendly "busy, try again" (503 + Retry-After). Each '
            "conversion takes a core or two.",
            "half the CPU cores (at least 1)",
        ),
    )
    transcode_max_height: int = field(
        default=1080,
        metadata=_doc(
            "LVS_TRANSCODE_MAX_HEIGHT",
            "Converted video is scaled down to at most this many lines (240–2160).",
            "`1080`",
        ),
    )
    conversion_cache_mb: int = field(
        default=5000,
        metadata=_doc(
            "LVS_CONVERSION_CACHE_MB",
            "Disk space for converted segments in `$LVS_DATA_DIR/conversions`, reused by "
            "every viewer; the least recently watched go first past this size.",
            "`5000`",
        ),
    )
    video_encoder: str = field(
        default="libx264",
        metadata=_doc(
            "LVS_VIDEO_ENCODER",
            "H.264 encoder for conversions: `libx264` (software), or a hardware one where the "
            "machine has it: `h264_nvenc`, `h264_qsv`, `h264_vaapi`, `h264_v4l2m2m`. A "
            "hardware encoder that fails falls back to libx264.",
            "`libx264`",
        ),
    )
    watch: bool = field(
        default=True,
        metadata=_doc(
            "LVS_WATCH",
            "`lvs serve` watches the library folders and indexes new, changed, moved and "
            "deleted videos on its own (one process does, however many workers). `0` turns "
            "watching off (the library then changes only with `lvs scan` or a restart).",
            "`1`",
        ),
    )
    watch_settle_seconds: float = field(
        default=5.0,
        metadata=_doc(
            "LVS_WATCH_SETTLE_SECONDS",
            "A new or changed file is indexed once its size and modification time have not "
            "changed for this many seconds (so a file still being copied is not indexed "
            "half-way).",
            "`5`",
        ),
    )
    rescan_minutes: int = field(
        default=30,
        metadata=_doc(
            "LVS_RESCAN_MINUTES",
            "Minutes between incremental rescans of the library while serving, for changes "
            "no event reports (network mounts such as SMB and NFS send none). `0`: off.",
            "`30`",
        ),
    )
    jobs_url: str | None = field(
        default=None,
        metadata=_doc(
            "LVS_JOBS_URL",
            "Redis for background jobs (scrub previews): a `redis://` URL makes runners on "
            "several machines take turns, never running one job twice at once. Unset: "
            "LVS_CACHE_URL when that is set, else jobs run in the serving machine only.",
            "(unset: LVS_CACHE_URL)",
        ),
    )
    log_level: str = field(
        default="info",
        metadata=_doc("LVS_LOG_LEVEL", "debug, info, warning or error.", "`info`"),
    )

    # -- derived -------------------------------------------------------------------------------

    @property
    def proxy_networks(self) -> tuple[IPNetwork, ...]:
        return parse_networks(",".join(self.trusted_proxies))

    @property
    def sqlite_path(self) -> Path:
        return self.db_path if self.db_path is not None else self.data_dir / "lvs.db"

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.sqlite_path}"

    @property
    def thumbs_dir(self) -> Path:
        return self.data_dir / "thumbnails"

    @property
    def conversions_dir(self) -> Path:
        return self.data_dir / "conversions"

    @property
    def previews_dir(self) -> Path:
        return self.data_dir / "previews"

    @property
    def jobs_redis_url(self) -> str | None:
        return self.jobs_url or self.cache_url

    @property
    def demo_dir(self) -> Path:
        return self.data_dir / "demo"

    @property
    def is_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite")

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with the given (already parsed) fields replaced; None values are ignored."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def ensure_secret_key(self) -> str:
        """The configured key, or the one kept in the data folder (created on first use)."""
        if self.secret_key:
            return self.secret_key
        key_file = self.data_dir / "secret_key"
        try:
            return key_file.read_text().strip()
        except FileNotFoundError:
            pass
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        tmp = key_file.with_name(f".secret_key.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key)
        try:
            os.link(tmp, key_file)  # atomic, and never replaces a key another process made
        except FileExistsError:
            key = key_file.read_text().strip()
        finally:
            tmp.unlink()
        return key

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``LVS_*`` variables; keyword overrides (CLI flags) win."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = f.metadata["env"]
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                continue
            values[f.name] = _parse(f.name, name, raw.strip())
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if not 1 <= self.port <= 65535:
            raise SettingsError(f"LVS_PORT: {self.port} is not a port number (1–65535)")
        if not 1 <= self.page_size <= 200:
            raise SettingsError(f"LVS_PAGE_SIZE: {self.page_size} is not between 1 and 200")
        if not 1 <= self.workers <= 64:
            raise SettingsError(f"LVS_WORKERS: {self.workers} is not between 1 and 64")
        if self.workers > 1 and (
            not self.cache_url or not self.rate_limit_storage.startswith(("redis", "rediss"))
        ):
            raise SettingsError(
                "LVS_WORKERS: with more than one worker, set LVS_CACHE_URL and "
                "LVS_RATE_LIMIT_STORAGE to a redis:// URL (in-process memory is not shared "
                "between workers, so caches would go stale and limits would multiply)"
            )
        if not 1 <= self.max_conversions <= 64:
            raise SettingsError(
                f"LVS_MAX_CONVERSIONS: {self.max_conversions} is not between 1 and 64"
            )
        if not 240 <= self.transcode_max_height <= 2160:
            raise SettingsError(
                f"LVS_TRANSCODE_MAX_HEIGHT: {self.transcode_max_height} is not between 240 and 2160"
            )
        if self.conversion_cache_mb < 100:
            raise SettingsError("LVS_CONVERSION_CACHE_MB: must be at least 100")
        if self.video_encoder not in VIDEO_ENCODERS:
            raise SettingsError(
                f"LVS_VIDEO_ENCODER: {self.video_encoder!r} is not one of "
                + ", ".join(sorted(VIDEO_ENCODERS))
            )
        if not 0.5 <= self.watch_settle_seconds <= 3600:
            raise SettingsError("LVS_WATCH_SETTLE_SECONDS: must be from 0.5 to 3600 seconds")
        if not 0 <= self.rescan_minutes <= 10080:
            raise SettingsError("LVS_RESCAN_MINUTES: must be from 0 (off) to 10080 (a week)")
        if self.jobs_url and not self.jobs_url.startswith(("redis://", "rediss://")):
            raise SettingsError(f"LVS_JOBS_URL: {self.jobs_url!r} must be a redis:// URL")
        if self.cache_ttl < 1:
            raise SettingsError("LVS_CACHE_TTL: must be at least 1 second")
        if not 0.1 <= self.redis_timeout <= 60:
            raise SettingsError("LVS_REDIS_TIMEOUT: must be from 0.1 to 60 seconds")
        if self.accel_redirect:
            parts = self.accel_redirect.split("/")
            if not _ACCEL_PREFIX.fullmatch(self.accel_redirect) or {".", ".."} & set(parts):
                raise SettingsError(
                    f"LVS_ACCEL_REDIRECT: {self.accel_redirect!r} is not a location prefix "
                    "such as /_lvs_media/ (starts and ends with /; letters, digits, . _ - ~)"
                )
            if not self.trusted_proxies:
                raise SettingsError(
                    "LVS_ACCEL_REDIRECT: set LVS_TRUSTED_PROXIES to the proxy's address too "
                    "(only answers to it are redirected)"
                )
        for host in self.allowed_hosts:
            if host != "*" and ("*" in host[2:] or not _HOST.fullmatch(host.removeprefix("*."))):
                raise SettingsError(
                    f"LVS_ALLOWED_HOSTS: {host!r} is not a host name (or `*`, `*.example.org`)"
                )
        if self.secret_key is not None and len(self.secret_key) < 32:
            raise SettingsError("LVS_SECRET_KEY: must be at least 32 characters")
        if self.log_level not in {"debug", "info", "warning", "error"}:
            raise SettingsError(
                f"LVS_LOG_LEVEL: {self.log_level!r} is not debug/info/warning/error"
            )
        from limits import parse_many

        for env_name, value in (
            ("LVS_RATE_LIMIT", self.rate_limit),
            ("LVS_WRITE_RATE_LIMIT", self.write_rate_limit),
        ):
            try:
                parse_many(value)
            except ValueError as exc:
                raise SettingsError(f"{env_name}: {value!r} is not valid: {exc}") from exc
        if self.rate_limit_storage.split("://", 1)[0] not in {"memory", "redis", "rediss"}:
            raise SettingsError(
                f"LVS_RATE_LIMIT_STORAGE: {self.rate_limit_storage!r} must start with "
                "memory:// or redis://"
            )
        if self.cache_url and not self.cache_url.startswith(("redis://", "rediss://")):
            raise SettingsError(f"LVS_CACHE_URL: {self.cache_url!r} must be a redis:// URL")


def _parse(attr: str, env_name: str, raw: str) -> Any:
    try:
        if attr == "library":
            return tuple(Path(p).expanduser() for p in raw.split(os.pathsep) if p)
        if attr in {"data_dir", "db_path"}:
            return Path(raw).expanduser()
        if attr in {
            "port",
            "page_size",
            "cache_ttl",
            "workers",
            "max_conversions",
            "transcode_max_height",
            "conversion_cache_mb",
            "rescan_minutes",
        }:
            return int(raw)
        if attr == "watch":
            return _parse_bool(raw)
        if attr in {"redis_timeout", "watch_settle_seconds"}:
            return float(raw)
        if attr == "allowed_hosts":
            return tuple(h.strip().lower().rstrip(".") for h in raw.split(",") if h.strip())
        if attr == "trusted_proxies":
            return tuple(str(net) for net in parse_networks(raw))
        if attr == "log_level":
            return raw.lower()
    except ValueError as exc:
        raise SettingsError(f"{env_name}: {raw!r} is not valid: {exc}") from exc
    return raw


def _parse_bool(raw: str) -> bool:
    value = raw.lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected 1/0, true/false, yes/no or on/off")


def parse_networks(raw: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(p.strip(), strict=False) for p in raw.split(",") if p.strip())


def setting_docs() -> list[dict[str, str]]:
    """Name, env var, default and help of every setting (for the README and `lvs settings`)."""
    return [{"name": f.name, **f.metadata} for f in fields(Settings)]
