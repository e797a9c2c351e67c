"""Household profiles: named people ("Mum", "Dad", "Kids") that any browser can pick.

A profile is a ``users`` row with a name; the anonymous per-browser users (no name) stay as they
are, and are "this browser's profile" (the guest). Until the household names its first profile
nothing changes. The first profile made is the admin; only an admin manages profiles (this
service checks it: ``actor`` is who asks).

A PIN is 4 digits, kept as its Argon2 hash and verified in a worker thread (Argon2 is slow on
purpose); attempts are rate-limited by the web side, per profile and per client.

Restricted profiles see only their allowance (``lvs.services.allowance``): the top-level folders
and tags listed in ``profile_allowances``."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from lvs.db.models import Media, ProfileAllowance, Tag, User
from lvs.services.allowance import ALL, Allowance
from lvs.services.errors import InvalidInput
from lvs.services.writes import WriteGate, run_write

__all__ = [
    "AVATARS",
    "NotAllowed",
    "Profile",
    "ProfileService",
    "UnknownProfile",
    "parse_avatar",
    "parse_pin",
    "parse_profile_name",
]

MAX_NAME = 40
MAX_PROFILES = 50
AVATARS: dict[str, str] = {
    "red": "#c0392b",
    "orange": "#d35400",
    "yellow": "#b7950b",
    "green": "#1e8449",
    "teal": "#117a65",
    "blue": "#2471a3",
    "purple": "#7d3c98",
    "grey": "#5d6d7e",
}
"""Avatar colours a profile can have (name -> CSS colour); the name is what is stored."""

_PIN = re.compile(r"[0-9]{4}")
_HASHER = PasswordHasher()


class UnknownProfile(LookupError):
    """No named profile has this id (a 404)."""


class NotAllowed(PermissionError):
    """Only an admin profile may do this (a 403)."""


@dataclass(frozen=True, slots=True)
class Profile:
    """A named profile as pages and the API show it (never its PIN or hash)."""

    id: uuid.UUID
    name: str
    avatar: str
    is_admin: bool
    has_pin: bool
    restricted: bool
    folders: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def colour(self) -> str:
        return AVATARS.get(self.avatar, AVATARS["grey"])

    @property
    def initial(self) -> str:
        return self.name[:1].upper()

    @property
    def allowance(self) -> Allowance:
        if not self.restricted:
            return ALL
        return Allowance(True, frozenset(self.folders), frozenset(self.tags))


def parse_profile_name(raw: object) -> str:
    name = " ".join(str(raw or "").split())
    if not name:
        raise InvalidInput("must not be empty", field="name", label="Name", value=name)
    if len(name) > MAX_NAME:
        raise InvalidInput(
            f"must be at most {MAX_NAME} characters", field="name", label="Name", value=name[:64]
        )
    return name


def parse_avatar(raw: object) -> str:
    avatar = str(raw or "grey")
    if avatar not in AVATARS:
        raise InvalidInput(f"must be one of {', '.join(AVATARS)}", field="avatar", label="Avatar")
    return avatar


def parse_pin(raw: object, *, required: bool = False) -> str | None:
    """A PIN as typed: 4 digits; empty means none (an error when ``required``)."""
    pin = str(raw or "").strip()
    if not pin and not required:
        return None
    if not _PIN.fullmatch(pin):
        raise InvalidInput("must be 4 digits", field="pin", label="PIN")
    return pin


def _hash_pin(pin: str) -> str:
    return _HASHER.hash(pin)


def _pin_matches(pin_hash: str, pin: str) -> bool:
    try:
        return _HASHER.verify(pin_hash, pin)
    except (VerificationError, InvalidHashError):
        return False


class ProfileService:
    def __init__(self, session: AsyncSession, gate: WriteGate) -> None:
        self.session = session
        self.gate = gate

    # -- reading -------------------------------------------------------------------------------

    async def any_named(self) -> bool:
        """Whether the household has named a profile yet (before that, nothing changes)."""
        found = await self.session.scalar(select(User.id).where(User.name.is_not(None)).limit(1))
        return found is not None

    async def all(self) -> list[Profile]:
        """Every named profile, by name."""
        users = (
            await self.session.scalars(
                select(User).where(User.name.is_not(None)).order_by(func.lower(User.name), User.id)
            )
        ).all()
        allowed = await self._allowances([u.id for u in users])
        return [self._profile(u, allowed.get(u.id, ([], []))) for u in users]

    async def find(self, profile_id: uuid.UUID | None) -> Profile | None:
        """The named profile with this id (None for an anonymous user, or none)."""
        if profile_id is None:
            return None
        user = await self.session.scalar(
            select(User).where(User.id == profile_id, User.name.is_not(None))
        )
        if user is None:
            return None
        allowed = await self._allowances([user.id])
        return self._profile(user, allowed.get(user.id, ([], [])))

    async def get(self, profile_id: uuid.UUID) -> Profile:
        found = await self.find(profile_id)
        if found is None:
            raise UnknownProfile(profile_id)
        return found

    async def allowance(self, user_id: uuid.UUID | None) -> Allowance:
        """What this user may watch: ``ALL`` unless it is a restricted profile."""
        return await self.profile_allowance(user_id) or ALL

    async def profile_allowance(self, user_id: uuid.UUID | None) -> Allowance | None:
        """What this profile may watch, or None when it is no (longer a) named profile. One
        query on the key, a second only for a restricted profile."""
        if user_id is None:
            return None
        restricted = await self.session.scalar(
            select(User.restricted).where(User.id == user_id, User.name.is_not(None))
        )
        if restricted is None:
            return None
        if not restricted:
            return ALL
        rows = (
            await self.session.execute(
                select(ProfileAllowance.kind, ProfileAllowance.value).where(
                    ProfileAllowance.user_id == user_id
                )
            )
        ).all()
        return Allowance(
            True,
            frozenset(v for k, v in rows if k == "folder"),
            frozenset(v for k, v in rows if k == "tag"),
        )

    async def check_pin(self, profile: Profile, pin: str | None) -> bool:
        """Whether ``pin`` opens this profile (any PIN does when it has none). Argon2 runs in a
        worker thread: it takes tens of milliseconds on purpose."""
        if not profile.has_pin:
            return True
        if pin is None:
            return False
        pin_hash = await self.session.scalar(select(User.pin_hash).where(User.id == profile.id))
        if pin_hash is None:
            return True
        return await anyio.to_thread.run_sync(_pin_matches, pin_hash, pin)

    async def folder_choices(self) -> list[str]:
        """Top-level folders with present videos, for the allowance form."""
        rows = await self.session.scalars(
            select(Media.top_folder)
            .where(Media.missing.is_(False), Media.top_folder.is_not(None))
            .distinct()
            .order_by(Media.top_folder)
        )
        return [str(r) for r in rows.all()]

    async def tag_choices(self) -> list[tuple[str, str]]:
        """Every tag as (key, name), for the allowance form."""
        rows = await self.session.execute(select(Tag.key, Tag.name).order_by(func.lower(Tag.name)))
        return [(str(k), str(n)) for k, n in rows.all()]

    # -- writing (admin only, except the first profile) ----------------------------------------

    async def _require_admin(self, actor: uuid.UUID | None) -> None:
        """Only an admin manages profiles; before the first profile exists, anyone (who passed
        the household password) may make it."""
        if not await self.any_named():
            return
        is_admin = None
        if actor is not None:
            is_admin = await self.session.scalar(
                select(User.is_admin).where(User.id == actor, User.name.is_not(None))
            )
        if not is_admin:
            raise NotAllowed("Only an admin profile can manage profiles")

    async def create(
        self,
        actor: uuid.UUID | None,
        name: str,
        avatar: str,
        pin: str | None = None,
        *,
        adopt: uuid.UUID | None = None,
    ) -> Profile:
        """A new profile; the household's first one is the admin. With ``adopt`` (an anonymous
        browser's user id), that user is named instead, so its ratings, favorites, history and
        positions become the profile's and follow it to every device."""
        await self._require_admin(actor)
        first = not await self.any_named()
        count = await self.session.scalar(
            select(func.count()).select_from(User).where(User.name.is_not(None))
        )
        if int(count or 0) >= MAX_PROFILES:
            raise InvalidInput(f"at most {MAX_PROFILES} profiles", field="name", label="Profiles")
        pin_hash = None if pin is None else await anyio.to_thread.run_sync(_hash_pin, pin)
        new_id = uuid.uuid4()
        if adopt is not None:
            anonymous = await self.session.scalar(
                select(User.id).where(User.id == adopt, User.name.is_(None))
            )
            new_id = anonymous or new_id

        async def work() -> None:
            now = datetime.now(UTC)
            if new_id == adopt:
                await self.session.execute(
                    update(User)
                    .where(User.id == adopt)
                    .values(
                        name=name, avatar=avatar, is_admin=first, pin_hash=pin_hash, updated_at=now
                    )
                )
                return
            self.session.add(
                User(
                    id=new_id,
                    name=name,
                    avatar=avatar,
                    is_admin=first,
                    pin_hash=pin_hash,
                    created_at=now,
                    updated_at=now,
                )
            )

        await run_write(self.session, self.gate, work)
        return await self.get(new_id)

    async def update(
        self,
        actor: uuid.UUID | None,
        profile_id: uuid.UUID,
        *,
        name: str | None = None,
        avatar: str | None = None,
        is_admin: bool | None = None,
    ) -> Profile:
        """Rename, recolour, or make (or stop being) an admin: at least one admin stays."""
        await self._require_admin(actor)
        profile = await self.get(profile_id)
        values: dict[str, object] = {"updated_at": datetime.now(UTC)}
        if name is not None:
            values["name"] = name
        if avatar is not None:
            values["avatar"] = avatar
        if is_admin is not None:
            if not is_admin and profile.is_admin and await self._admins() <= 1:
                raise InvalidInput(
                    "must stay on for the last admin", field="is_admin", label="Admin"
                )
            values["is_admin"] = is_admin

        async def work() -> None:
            await self.session.execute(update(User).where(User.id == profile_id).values(**values))

        await run_write(self.session, self.gate, work)
        return await self.get(profile_id)

    async def set_pin(
        self, actor: uuid.UUID | None, profile_id: uuid.UUID, pin: str | None
    ) -> Profile:
        """Set (or with None, remove) a profile's PIN."""
        await self._require_admin(actor)
        await self.get(profile_id)
        pin_hash = None if pin is None else await anyio.to_thread.run_sync(_hash_pin, pin)

        async def work() -> None:
            await self.session.execute(
                update(User)
                .where(User.id == profile_id)
                .values(pin_hash=pin_hash, updated_at=datetime.now(UTC))
            )

        await run_write(self.session, self.gate, work)
        return await self.get(profile_id)

    async def restrict(
        self,
        actor: uuid.UUID | None,
        profile_id: uuid.UUID,
        restricted: bool,
        folders: Iterable[str] = (),
        tags: Iterable[str] = (),
    ) -> Profile:
        """Limit a profile to these top-level folders and tags (or lift the limit). An admin
        cannot be restricted (it could no longer manage anything it cannot see)."""
        await self._require_admin(actor)
        profile = await self.get(profile_id)
        if restricted and profile.is_admin:
            raise InvalidInput(
                "cannot be set on an admin profile", field="restricted", label="Restriction"
            )
        wanted = [("folder", f) for f in sorted(set(folders))] + [
            ("tag", t.casefold()) for t in sorted(set(tags))
        ]
        for _, value in wanted:
            if not value or len(value) > 1024:
                raise InvalidInput("has an empty or too long entry", field="folders")

        async def work() -> None:
            now = datetime.now(UTC)
            await self.session.execute(
                update(User)
                .where(User.id == profile_id)
                .values(restricted=restricted, updated_at=now)
            )
            await self.session.execute(
                delete(ProfileAllowance).where(ProfileAllowance.user_id == profile_id)
            )
            if restricted:
                for kind, value in wanted:
                    self.session.add(
                        ProfileAllowance(
                            user_id=profile_id,
                            kind=kind,
                            value=value,
                            created_at=now,
                            updated_at=now,
                        )
                    )

        await run_write(self.session, self.gate, work)
        return await self.get(profile_id)

    async def delete(self, actor: uuid.UUID | None, profile_id: uuid.UUID) -> Profile:
        """Delete a profile and everything it has (ratings, favorites, history, positions: the
        foreign keys cascade). The last admin cannot be deleted while other profiles remain."""
        await self._require_admin(actor)
        profile = await self.get(profile_id)
        named = await self.session.scalar(
            select(func.count()).select_from(User).where(User.name.is_not(None))
        )
        if profile.is_admin and await self._admins() <= 1 and int(named or 0) > 1:
            raise InvalidInput(
                "is the last admin: make another profile admin first", field="profile"
            )

        async def work() -> None:
            await self.session.execute(delete(User).where(User.id == profile_id))

        await run_write(self.session, self.gate, work)
        return profile

    # -- helpers -------------------------------------------------------------------------------

    async def _admins(self) -> int:
        n = await self.session.scalar(
            select(func.count())
            .select_from(User)
            .where(User.name.is_not(None), User.is_admin.is_(True))
        )
        return int(n or 0)

    async def _allowances(
        self, ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[list[str], list[str]]]:
        if not ids:
            return {}
        rows = await self.session.execute(
            select(ProfileAllowance.user_id, ProfileAllowance.kind, ProfileAllowance.value)
            .where(ProfileAllowance.user_id.in_(ids))
            .order_by(ProfileAllowance.value)
        )
        out: dict[uuid.UUID, tuple[list[str], list[str]]] = {}
        for user_id, kind, value in rows.all():
            folders, tags = out.setdefault(user_id, ([], []))
            (folders if kind == "folder" else tags).append(value)
        return out

    @staticmethod
    def _profile(user: User, allowed: tuple[list[str], list[str]]) -> Profile:
        return Profile(
            id=user.id,
            name=user.name or "",
            avatar=user.avatar or "grey",
            is_admin=bool(user.is_admin),
            has_pin=user.pin_hash is not None,
            restricted=bool(user.restricted),
            folders=tuple(allowed[0]),
            tags=tuple(allowed[1]),
        )
