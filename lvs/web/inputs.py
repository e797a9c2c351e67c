"""Text that clients send, checked once, and the typed inputs each action reads.

* Query parameters (``QueryTextMiddleware``): a control character in a name or value is a 400
  that names the parameter, on every route. They are never part of a search, a tag, a folder or
  a sort, and PostgreSQL text cannot hold NUL at all (a NUL that reached a query was a 500 there
  and a silent mismatch on SQLite).
* Form bodies (``read_form``): strictly UTF-8, else a 400; not a form at all, a 415.
* JSON bodies (``json_body``): ``application/json`` only (415), a JSON object (400 naming
  ``body``).
* Each action's fields: a small frozen dataclass (``RatingInput``, ``FavoriteForm``, ...) whose
  ``parse`` reads a form's or a JSON object's fields and raises ``InvalidInput`` naming the field.
  A handler asks for one with ``dependencies=form_of(RatingInput)`` or ``json_of(...)`` and
  gets it as its ``form`` (or ``payload``) argument; the field rules themselves live with the
  services that own them (a rating's value, a tag's name), so both renderings check the same
  things."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, Self, TypeVar
from urllib.parse import parse_qsl, urlsplit

import msgspec
from litestar import Request
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.middleware import ASGIMiddleware
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_415_UNSUPPORTED_MEDIA_TYPE
from litestar.types import ASGIApp, Receive, Scope, Send

from lvs.db.models import MAX_ID
from lvs.services.activity import MAX_SECONDS
from lvs.services.errors import InvalidInput
from lvs.services.profiles import parse_avatar, parse_pin, parse_profile_name
from lvs.services.queue import MAX_SEED, QueueRef, parse_ref
from lvs.services.ratings import parse_rating_value

__all__ = [
    "CONTROL",
    "MAX_SECONDS",
    "FavoriteForm",
    "FavoriteJson",
    "LoopInput",
    "MoveInput",
    "NoFields",
    "PickInput",
    "PinInput",
    "PlaylistAddForm",
    "PlaylistItemJson",
    "PlaylistNameInput",
    "PlaylistPatch",
    "PositionInput",
    "ProfileInput",
    "ProfileUpdate",
    "ProfileUpdateForm",
    "QueryTextMiddleware",
    "QueueParams",
    "RatingInput",
    "RestrictInput",
    "TagInput",
    "bad_request",
    "form_of",
    "json_body",
    "json_of",
    "parse_seconds",
    "queue_params",
    "read_form",
    "safe_next",
]

CONTROL = re.compile(r"[\x00-\x1f\x7f]")
"""C0 control characters and DEL."""

FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def bad_request(field: str, message: str) -> HTTPException:
    """A 400 whose JSON names the field: ``{"detail": "value: ...", "errors": [...]}``."""
    return HTTPException(
        status_code=HTTP_400_BAD_REQUEST,
        detail=f"{field}: {message}",
        extra=[{"field": field, "message": message}],
    )


def _check_text(field: str, value: str) -> None:
    if CONTROL.search(value):
        raise bad_request(CONTROL.sub("?", field)[:64], "must not contain control characters")


class QueryTextMiddleware(ASGIMiddleware):
    """400 for a query parameter (name or value) with a control character, on every route."""

    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        raw: bytes = scope.get("query_string", b"")
        if b"%" in raw or CONTROL.search(raw.decode("latin-1")):
            for name, value in parse_qsl(
                raw.decode("latin-1"), keep_blank_values=True, errors="replace"
            ):
                _check_text(name, name)
                _check_text(name, value)
        await next_app(scope, receive, send)


async def read_form(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The request's form fields (text only; the last value of a repeated field); a 400 for a
    body that is not UTF-8, a 415 for one that is not a form at all."""
    kind = request.content_type[0]
    body = await request.body()
    if kind not in FORM_TYPES and body:
        raise HTTPException(status_code=HTTP_415_UNSUPPORTED_MEDIA_TYPE, detail="Send a form")
    try:
        if kind == "multipart/form-data":
            form = await request.form()
            fields = {k: v for k, v in form.items() if isinstance(v, str)}
        else:  # strictly UTF-8, raw or percent-encoded (Litestar would guess instead)
            pairs = parse_qsl(body.decode(), keep_blank_values=True, errors="strict")
            fields = dict(pairs)
    except HTTPException:
        raise
    except (ValueError, UnicodeError, RecursionError) as exc:
        raise bad_request("body", "not a readable form (forms are UTF-8)") from exc
    return fields


async def json_body(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The request's JSON object, or a 415/400 that says what is wrong.

    Requiring ``application/json`` is also what keeps the JSON API safe from cross-site forms:
    a page elsewhere cannot send that type without a CORS preflight, which lvs never allows."""
    if request.content_type[0] != "application/json":
        raise HTTPException(
            status_code=HTTP_415_UNSUPPORTED_MEDIA_TYPE, detail="Send application/json"
        )
    try:
        payload = msgspec.json.decode(await request.body())
    except (ValueError, RecursionError) as exc:
        # msgspec.DecodeError for bad syntax, UnicodeDecodeError for invalid UTF-8 inside a
        # string, RecursionError for arrays nested thousands deep: all the client's doing.
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise bad_request("body", f"malformed JSON ({reason})") from exc
    if not isinstance(payload, dict):
        raise bad_request("body", 'must be a JSON object like {"value": 4}')
    return payload


# -- single values --------------------------------------------------------------------------------


def safe_next(raw: object, fallback: str = "/") -> str:
    """A local path to go back to after a form POST (never another site)."""
    if not raw or not isinstance(raw, str):
        return fallback
    parts = urlsplit(raw)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or raw.startswith("//"):
        return fallback
    if "\\" in raw or any(ord(c) < 32 for c in raw):
        return fallback
    return raw


def parse_seconds(raw: object) -> float:
    """A playback position: a finite number of seconds from 0 to ``MAX_SECONDS``."""
    try:
        value = float("nan") if isinstance(raw, bool) else float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = float("nan")
    if not (0 <= value <= MAX_SECONDS):
        raise InvalidInput(
            f"must be a number of seconds from 0 to {MAX_SECONDS:.0f}",
            field="seconds",
            label="Position",
        )
    return value


# -- each action's fields -------------------------------------------------------------------------

Fields = dict[str, Any]


class Input(Protocol):
    @classmethod
    def parse(cls, fields: Fields) -> Self: ...


In = TypeVar("In", bound=Input)


@dataclass(frozen=True, slots=True)
class _Widget:
    """What every widget form also sends: where to go back to, and the card's compact look."""

    next: str | None
    compact: bool


def _widget(fields: Fields) -> _Widget:
    return _Widget(safe_next(fields.get("next"), "") or None, fields.get("compact") == "1")


@dataclass(frozen=True, slots=True)
class RatingInput:
    """``value`` 1–5 (the star form's button, or ``{"value": 4}``)."""

    value: int
    next: str | None = None
    compact: bool = False

    @classmethod
    def parse(cls, fields: Fields) -> Self:
        widget = _widget(fields)
        return cls(parse_rating_value(fields.get("value")), widget.next, widget.compact)


@dataclass(frozen=True, slots=True)
class FavoriteForm:
    """The heart: ``favorite=1`` (the default) or ``0``/``false``/``off``."""

    favorite: bool
    next: str | None = None
    compact: bool = False

    OFF: ClassVar[frozenset[str]] = frozenset({"0", "false", "off"})

    @classmethod
    def parse(cls, fields: Fields) -> Self:
        widget = _widget(fields)
        return cls(str(fields.get("favorite", "1")) not in cls.OFF, widget.next, widget.compact)


@dataclass(frozen=True, slots=True)
class FavoriteJson:
    """``{"favorite": true}``: strictly a JSON boolean."""

    favorite: bool

    @classmethod
    def parse(cls, fields: Fields) -> Self:
        wanted = fields.get("favorite")
        if not isinstance(wanted, bool):
            raise InvalidInput("must be true or false", field="favorite", label="Favorite")
        return cls(wanted)


@dataclass(frozen=True, slots=True)
class TagInput:
    """``name``: checked by the tag service (``normalise_tag``) as it is added."""

    name: object

    @classmethod
    def parse(cls, fields: Fields) -> Self:
        return cls(fields.get("name", "") if fields else "")


@dataclass(frozen=True, slots=True)
class PositionInput:
    """``seconds``: where the player is."""

    seconds: float

    @classmethod
    def parse(cls, fields: Fields) -> Self:
        return cls(parse_seconds(fields.get("seconds")))


@dataclass(frozen=True, slots=True)
class NoFields:
    """An action that takes nothing but the request itself (its CSRF token, its JSON ``{}``)."""

    @classmethod
    def parse(cls, fields: Fields) -> Self:
        return cls()


# -- playlists and queues -------------------------------------------------------------------------

_OFF = frozenset({"0", "false", "off", ""})


def _whole(raw: object, field: str, label: str, largest: int) -> int:
    """A whole number from 0 to ``largest``, as text (a form, a query) or a JSON integer."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 20:
        value = int(raw)
    else:
        value = -1
    if not 0 <= value <= largest:
        raise InvalidInput(f"must be a whole number from 0 to {largest}", field=field, label=label)
    return value


@dataclass(frozen=True, slots=True)
class PlaylistNameInput:
    """``name`` of a new or renamed playlist (checked by the playlist service)."""

    name: object

    @classmethod
    def parse(cls, fields: Fields) -> Self:
        return cls(fields.get("name", ""))


@dataclass(frozen=True, slots=True)
class PlaylistAddForm:
    """ "Add to playlist" on the watch page: ``playlist`` (an id, or ``new`` with a ``name``),
    and ``next``, the watch page to go back to (with its queue)."""

    playlist_id: int | None  # None: a new playlist called ``name``
    name: object
    next: str | None = None

    @classmethod
    def parse(cls, fields: Fields) -> Self:
        raw = fields.get("playlist", "")
        chosen = None if raw == "new" else _whole(raw, "playlist", "Playlist", MAX_ID)
        return cls(chosen, fields.get("name", ""), safe_next(fields.get("next"), "") or None)


@dataclass(frozen=True, slots=True)
class PlaylistItemJson:
    """``{"media_id": 12}``: the video to add."""

    media_id: int

    @classmethod
    def parse(cls, fields: Fields) -> Self:
        raw = fields.get("media_id")
        if isinstance(raw, str):  # a JSON number, not text
            raw = None
        return cls(_whole(raw, "media_id", "Video", MAX_ID))


@dataclass(frozen=True, slots=True)
class MoveInput:
    """``to``: ``up`` (one place earlier) or ``down``."""

    up: bool

    @classmethod
    def parse(cls, fields: Fields) -> Self:
        to = fields.get("to")
        if to not in {"up", "down"}:
            raise InvalidInput("must be up or down", field="to", label="Move")
        return cls(to == "up")


@dataclass(frozen=True, slots=True)
class LoopInput:
    """``loop``: ``1`` (start over after the last video) or ``0``."""

    loop: bool

    @classmethod
    def parse(cls, fields: Fields) -> Self:
        return cls(str(fields.get("loop", "0")).lower() not in _OFF)


@dataclass(frozen=True, slots=True)
class PlaylistPatch:
    """``{"name": "...", "loop": true}``: either or both."""

    name: object | None
    loop: bool | None

    @classmethod
    def parse(cls, fields: Fields) -> Self:
        loop = fields.get("loop")
        if loop is not None and not isinstance(loop, bool):
            raise InvalidInput("must be true or false", field="loop", label="Loop")
        if "name" not in fields and loop is None:
            raise InvalidInput('must have "name" or "loop"', field="body")
        return cls(fields.get("name"), loop)


@dataclass(frozen=True, slots=True)
class QueueParams:
    """The queue a watch page plays in, from its query: ``list`` (``lvs.services.queue``),
    ``i`` (the place in it), ``shuffle`` (a seed; ``/play`` also takes ``1`` as "pick one")
    and ``loop``."""

    ref: QueueRef | None
    i: int | None
    shuffle: int | None
    loop: bool

    @classmethod
    def parse(cls, fields: Fields) -> Self:
        raw = fields.get("list")
        ref = parse_ref(raw) if raw else None
        i = fields.get("i")
        shuffle = fields.get("shuffle")
        return cls(
            ref,
            None if i in (None, "") else _whole(i, "i", "Place", 100_000),
            None if shuffle in (None, "") else _whole(shuffle, "shuffle", "Shuffle", MAX_SEED),
            str(fields.get("loop", "")).lower() not in _OFF,
        )


def queue_params() -> dict[str, Provide]:
    """``dependencies=queue_params()``: the handler's ``queue`` is the query's queue."""

    def provide(request: Request[Any, Any, Any]) -> QueueParams:
        return QueueParams.parse(dict(request.query_params))

    return {"queue": Provide(provide, sync_to_thread=False)}


def form_of(kind: type[In]) -> dict[str, Provide]:
    """``dependencies=form_of(RatingInput)``: the handler's ``form`` is that, read from a form."""

    async def provide(request: Request[Any, Any, Any]) -> In:
        return kind.parse(await read_form(request))

    provide.__annotations__["return"] = kind
    return {"form": Provide(provide)}


def json_of(kind: type[In]) -> dict[str, Provide]:
    """``dependencies=json_of(FavoriteJson)``: the handler's ``payload``, read from a JSON
    object."""

    async def provide(request: Request[Any, Any, Any]) -> In:
        return kind.parse(await json_body(request))

    provide.__annotations__["return"] = kind
    return {"payload": Provide(provide)}


# -- household profiles ---------------------------------------------------------------------------


def _flag(raw: object) -> bool:
    """A checkbox (``1``/``on``) or a JSON boolean."""
    if isinstance(raw, bool):
        return raw
    return str(raw or "").lower() in {"1", "on", "true", "yes"}


@dataclass(frozen=True, slots=True)
class ProfileInput:
    """A new profile: ``name``, ``avatar`` (a colour name), an optional 4-digit ``pin``, and
    ``adopt`` (start from this browser's own ratings, favorites and history)."""

    name: str
    avatar: str
    pin: str | None = None
    adopt: bool = False

    @classmethod
    def parse(cls, fields: Fields) -> Self:
        return cls(
            parse_profile_name(fields.get("name")),
            parse_avatar(fields.get("avatar")),
            parse_pin(fields.get("pin")),
            _flag(fields.get("adopt")),
        )


@dataclass(frozen=True, slots=True)
class ProfileUpdate:
    """Rename or recolour a profile, or make it (or not) an admin."""

    name: str | None = None
    avatar: str | None = None
    is_admin: bool | None = None

    @classmethod
    def parse(cls, fields: Fields) -> Self:
        return cls(
            parse_profile_name(fields["name"]) if "name" in fields else None,
            parse_avatar(fields["avatar"]) if "avatar" in fields else None,
            _flag(fields["is_admin"]) if "is_admin" in fields else None,
        )


@dataclass(frozen=True, slots=True)
class ProfileUpdateForm(ProfileUpdate):
    """The manage page's form: an unticked "admin" box sends nothing, which means off."""

    @classmethod
    def parse(cls, fields: Fields) -> Self:
        return cls(
            parse_profile_name(fields.get("name")),
            parse_avatar(fields.get("avatar")),
            _flag(fields.get("is_admin")),
        )


@dataclass(frozen=True, slots=True)
class PinInput:
    """``pin``: 4 digits, or empty (``null`` in JSON) to remove the PIN."""

    pin: str | None

    @classmethod
    def parse(cls, fields: Fields) -> Self:
        return cls(parse_pin(fields.get("pin")))


@dataclass(frozen=True, slots=True)
class PickInput:
    """Picking a profile: its ``pin`` when it has one."""

    pin: str | None

    @classmethod
    def parse(cls, fields: Fields) -> Self:
        raw = fields.get("pin")
        return cls(None if raw in (None, "") else str(raw))


@dataclass(frozen=True, slots=True)
class RestrictInput:
    """``restricted`` and what it allows: ``folders``/``tags`` lists in JSON; in the form, one
    checkbox per choice named ``folder:<name>`` or ``tag:<key>``."""

    restricted: bool
    folders: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @classmethod
    def parse(cls, fields: Fields) -> Self:
        folders: list[str] = []
        tags: list[str] = []
        for name, kind, found in (("folders", "folder:", folders), ("tags", "tag:", tags)):
            listed = fields.get(name)
            if listed is not None:
                if not isinstance(listed, list) or not all(isinstance(v, str) for v in listed):
                    raise InvalidInput("must be a list of names", field=name)
                found += listed
            found += [k.removeprefix(kind) for k, v in fields.items() if k.startswith(kind) and v]
        return cls(_flag(fields.get("restricted")), tuple(folders), tuple(tags))
