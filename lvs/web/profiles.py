"""Household profiles: "Who's watching?", picking a profile (with its PIN), and managing them.

Every page and action works without JavaScript (forms, 303 with a flash message); the JSON twins
at ``/api/profiles`` call the same service (``lvs.services.profiles``).

Rules (also in the README):

* Until the household names its first profile, nothing changes: no picker, every browser is its
  own anonymous profile. Anyone who passed the household password may make the first one, which
  becomes the admin; after that only an admin profile manages profiles.
* Picking a profile puts its id in this browser's signed session; any device that picks it sees
  the same ratings, favorites, history and positions. "Continue as guest" goes back to this
  browser's own anonymous identity (its data is kept aside while a profile is picked).
* A profile with a PIN needs it, from anyone, every time it is picked; PIN attempts are limited
  per client and per profile (429 with Retry-After).
* A restricted profile cannot go back to being the guest (a guest sees everything), and can only
  move to another profile by picking it, with that profile's PIN if it has one: give the grown-up
  profiles a PIN."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from litestar import Controller, MediaType, Request, Response, delete, get, patch, post, put
from litestar.exceptions import PermissionDeniedException
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy.ext.asyncio import AsyncSession

from lvs.services.allowance import Allowance
from lvs.services.errors import InvalidInput
from lvs.services.profiles import AVATARS, Profile, ProfileService
from lvs.web.answers import url
from lvs.web.deps import SERVICES, allowance_of
from lvs.web.errors import Problem, shows_errors
from lvs.web.identity import peek_user_id, pick_guest, pick_profile, picked_profile
from lvs.web.inputs import (
    NoFields,
    PickInput,
    PinInput,
    ProfileInput,
    ProfileUpdate,
    ProfileUpdateForm,
    RestrictInput,
    form_of,
    json_of,
)
from lvs.web.ratelimit import HOUSEHOLD, RateLimited, WriteLimiter

__all__ = ["DeleteView", "ManageView", "PickerView", "ProfileApiController", "ProfileController"]


# -- template contexts ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PickerView:
    """ "Who's watching?": every profile, which one this browser is, and whether it may manage."""

    profiles: list[Profile]
    current: uuid.UUID | None
    guest_allowed: bool
    can_manage: bool
    error: str | None = None
    error_for: str | None = None  # the profile whose PIN was wrong
    avatars: dict[str, str] = field(default_factory=lambda: AVATARS)


@dataclass(frozen=True, slots=True)
class ManageView:
    profiles: list[Profile]
    folders: list[str]
    tags: list[tuple[str, str]]
    avatars: dict[str, str] = field(default_factory=lambda: AVATARS)


@dataclass(frozen=True, slots=True)
class DeleteView:
    profile: Profile


# -- helpers --------------------------------------------------------------------------------------


def actor(request: Request[Any, Any, Any]) -> uuid.UUID | None:
    """Who asks to manage profiles: the profile this browser picked (None: not on one)."""
    return peek_user_id(request) if picked_profile(request) is not None else None


async def picker_view(
    request: Request[Any, Any, Any],
    profiles: ProfileService,
    allowance: Allowance,
    *,
    error: str | None = None,
    error_for: str | None = None,
) -> PickerView:
    everyone = await profiles.all()
    me = actor(request)
    admin = any(p.id == me and p.is_admin for p in everyone)
    return PickerView(
        profiles=everyone,
        current=me,
        guest_allowed=not allowance.restricted,
        can_manage=admin or not everyone,
        error=error,
        error_for=error_for,
    )


async def picker_again(
    request: Request[Any, Any, Any], session: AsyncSession, problem: Problem
) -> Response[Any] | None:
    """A wrong PIN or too many tries: the picker again, the message by that profile's form."""
    service = ProfileService(session, request.app.state.write_gate)
    allowance = await allowance_of(request, session)
    view = await picker_view(
        request,
        service,
        allowance,
        error=problem.message,
        error_for=str(request.path_params.get("profile_id", "")),
    )
    return Template(
        template_name="pages/profiles.html",
        context={"view": view},
        status_code=problem.status,
        headers=problem.headers,
        media_type=MediaType.HTML,
    )


async def pin_limit(request: Request[Any, Any, Any], profile: Profile) -> None:
    """A PIN attempt counts against this client and against the profile (so many clients
    cannot share the guessing): 429 past either."""
    state = request.app.state
    by_client: WriteLimiter = state.pin_limiter
    by_profile: WriteLimiter = state.pin_profile_limiter
    for decision in (
        await by_client.hit(request),
        await by_profile.hit_key(str(profile.id)),
    ):
        if not decision.allowed:
            raise RateLimited(decision.retry_after, "PIN attempts")


async def open_profile(
    request: Request[Any, Any, Any],
    profiles: ProfileService,
    profile_id: uuid.UUID,
    pin: str | None,
) -> Profile:
    """The profile, once its PIN (if it has one) is right; this browser is then that profile."""
    profile = await profiles.get(profile_id)
    if profile.has_pin:
        await pin_limit(request, profile)
        if not await profiles.check_pin(profile, pin):
            raise InvalidInput("is not right", field="pin", label="PIN")
    pick_profile(request, profile.id, profile.name, profile.avatar)
    return profile


def leave_for_guest(request: Request[Any, Any, Any], allowance: Allowance) -> None:
    if allowance.restricted:
        raise PermissionDeniedException(
            "A restricted profile cannot continue as guest: pick a profile"
        )
    pick_guest(request)


def profile_json(p: Profile) -> dict[str, Any]:
    return {
        "id": str(p.id),
        "name": p.name,
        "avatar": p.avatar,
        "is_admin": p.is_admin,
        "has_pin": p.has_pin,
        "restricted": p.restricted,
        "folders": list(p.folders),
        "tags": list(p.tags),
    }


def _back(request: Request[Any, Any, Any], message: str, name: str = "profiles:manage") -> Redirect:
    flash(request, message, category="success")
    return Redirect(path=url(request, name), status_code=HTTP_303_SEE_OTHER)


# -- pages and forms ------------------------------------------------------------------------------


class ProfileController(Controller):
    path = "/profiles"
    dependencies = SERVICES

    @get("/", name="profiles")
    async def picker(
        self, request: Request[Any, Any, Any], profiles: ProfileService, allowance: Allowance
    ) -> Template:
        """Who's watching? (with the form that makes the household's first profile)."""
        view = await picker_view(request, profiles, allowance)
        return Template(template_name="pages/profiles.html", context={"view": view})

    @post(
        "/{profile_id:uuid}/pick",
        name="profile:pick",
        status_code=HTTP_303_SEE_OTHER,
        dependencies=form_of(PickInput),
        opt=shows_errors(picker_again, 400, 429),
    )
    async def pick(
        self,
        request: Request[Any, Any, Any],
        profile_id: uuid.UUID,
        form: PickInput,
        profiles: ProfileService,
    ) -> Redirect:
        profile = await open_profile(request, profiles, profile_id, form.pin)
        return _back(request, f"Hi, {profile.name}.", "home")

    @post(
        "/guest",
        name="profile:guest",
        status_code=HTTP_303_SEE_OTHER,
        dependencies=form_of(NoFields),
    )
    async def guest(
        self, request: Request[Any, Any, Any], form: NoFields, allowance: Allowance
    ) -> Redirect:
        leave_for_guest(request, allowance)
        return _back(request, "You are watching as a guest on this browser.", "home")

    @get("/manage", name="profiles:manage")
    async def manage(self, request: Request[Any, Any, Any], profiles: ProfileService) -> Template:
        everyone = await profiles.all()
        if everyone and not any(p.id == actor(request) and p.is_admin for p in everyone):
            raise PermissionDeniedException("Only an admin profile can manage profiles")
        view = ManageView(everyone, await profiles.folder_choices(), await profiles.tag_choices())
        return Template(template_name="pages/profiles_manage.html", context={"view": view})

    @post(
        "/",
        name="profile:create",
        status_code=HTTP_303_SEE_OTHER,
        guards=[HOUSEHOLD],
        dependencies=form_of(ProfileInput),
    )
    async def create(
        self, request: Request[Any, Any, Any], form: ProfileInput, profiles: ProfileService
    ) -> Redirect:
        first = not await profiles.any_named()
        adopt = peek_user_id(request) if form.adopt and picked_profile(request) is None else None
        profile = await profiles.create(
            actor(request), form.name, form.avatar, form.pin, adopt=adopt
        )
        if first:  # the household's first profile is the admin: this browser becomes it
            pick_profile(request, profile.id, profile.name, profile.avatar)
        return _back(request, f"Profile “{profile.name}” created.")

    @post(
        "/{profile_id:uuid}/update",
        name="profile:update",
        status_code=HTTP_303_SEE_OTHER,
        guards=[HOUSEHOLD],
        dependencies=form_of(ProfileUpdateForm),
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        profile_id: uuid.UUID,
        form: ProfileUpdateForm,
        profiles: ProfileService,
    ) -> Redirect:
        profile = await profiles.update(
            actor(request), profile_id, name=form.name, avatar=form.avatar, is_admin=form.is_admin
        )
        if profile.id == peek_user_id(request):  # the header shows the new name
            pick_profile(request, profile.id, profile.name, profile.avatar)
        return _back(request, f"Profile “{profile.name}” saved.")

    @post(
        "/{profile_id:uuid}/pin",
        name="profile:pin",
        status_code=HTTP_303_SEE_OTHER,
        guards=[HOUSEHOLD],
        dependencies=form_of(PinInput),
    )
    async def pin(
        self,
        request: Request[Any, Any, Any],
        profile_id: uuid.UUID,
        form: PinInput,
        profiles: ProfileService,
    ) -> Redirect:
        profile = await profiles.set_pin(actor(request), profile_id, form.pin)
        said = "PIN set" if form.pin else "PIN removed"
        return _back(request, f"{said} for “{profile.name}”.")

    @post(
        "/{profile_id:uuid}/restrict",
        name="profile:restrict",
        status_code=HTTP_303_SEE_OTHER,
        guards=[HOUSEHOLD],
        dependencies=form_of(RestrictInput),
    )
    async def restrict(
        self,
        request: Request[Any, Any, Any],
        profile_id: uuid.UUID,
        form: RestrictInput,
        profiles: ProfileService,
    ) -> Redirect:
        profile = await profiles.restrict(
            actor(request), profile_id, form.restricted, form.folders, form.tags
        )
        said = "now sees only what is ticked" if profile.restricted else "sees everything"
        return _back(request, f"“{profile.name}” {said}.")

    @get("/{profile_id:uuid}/delete", name="profile:confirm-delete")
    async def confirm_delete(
        self, request: Request[Any, Any, Any], profile_id: uuid.UUID, profiles: ProfileService
    ) -> Template:
        everyone = await profiles.all()
        if not any(p.id == actor(request) and p.is_admin for p in everyone):
            raise PermissionDeniedException("Only an admin profile can manage profiles")
        view = DeleteView(await profiles.get(profile_id))
        return Template(template_name="pages/profile_delete.html", context={"view": view})

    @post(
        "/{profile_id:uuid}/delete",
        name="profile:delete",
        status_code=HTTP_303_SEE_OTHER,
        guards=[HOUSEHOLD],
        dependencies=form_of(NoFields),
    )
    async def delete(
        self,
        request: Request[Any, Any, Any],
        profile_id: uuid.UUID,
        form: NoFields,
        profiles: ProfileService,
    ) -> Redirect:
        profile = await profiles.delete(actor(request), profile_id)
        if profile.id == peek_user_id(request):  # deleted the one this browser was on
            pick_guest(request)
        return _back(request, f"Profile “{profile.name}” deleted, with everything it had.")


# -- the JSON twins -------------------------------------------------------------------------------


class ProfileApiController(Controller):
    """``/api/profiles``: the same service, as JSON (writes need ``application/json``)."""

    path = "/api/profiles"
    tags = ["profiles"]
    dependencies = SERVICES

    @get("/", name="api:profiles")
    async def list_profiles(
        self, request: Request[Any, Any, Any], profiles: ProfileService
    ) -> dict[str, Any]:
        """Every profile (never a PIN), and which one this caller is (null: not on one)."""
        me = actor(request)
        return {
            "profiles": [profile_json(p) for p in await profiles.all()],
            "current": None if me is None else str(me),
        }

    @post(
        "/{profile_id:uuid}/pick",
        name="api:profile:pick",
        status_code=200,
        dependencies=json_of(PickInput),
    )
    async def pick(
        self,
        request: Request[Any, Any, Any],
        profile_id: uuid.UUID,
        payload: PickInput,
        profiles: ProfileService,
    ) -> dict[str, Any]:
        """Become this profile: ``{"pin": "1234"}`` when it has one."""
        return profile_json(await open_profile(request, profiles, profile_id, payload.pin))

    @post("/guest", name="api:profile:guest", status_code=200, dependencies=json_of(NoFields))
    async def guest(
        self, request: Request[Any, Any, Any], payload: NoFields, allowance: Allowance
    ) -> dict[str, Any]:
        """Back to this browser's own anonymous identity."""
        leave_for_guest(request, allowance)
        return {"current": None}

    @post(
        "/",
        name="api:profile:create",
        status_code=201,
        guards=[HOUSEHOLD],
        dependencies=json_of(ProfileInput),
    )
    async def create(
        self, request: Request[Any, Any, Any], payload: ProfileInput, profiles: ProfileService
    ) -> dict[str, Any]:
        """``{"name": "Kids", "avatar": "green", "pin": null}``."""
        first = not await profiles.any_named()
        adopt = peek_user_id(request) if payload.adopt and picked_profile(request) is None else None
        profile = await profiles.create(
            actor(request), payload.name, payload.avatar, payload.pin, adopt=adopt
        )
        if first:
            pick_profile(request, profile.id, profile.name, profile.avatar)
        return profile_json(profile)

    @patch(
        "/{profile_id:uuid}",
        name="api:profile:update",
        guards=[HOUSEHOLD],
        dependencies=json_of(ProfileUpdate),
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        profile_id: uuid.UUID,
        payload: ProfileUpdate,
        profiles: ProfileService,
    ) -> dict[str, Any]:
        """Any of ``{"name", "avatar", "is_admin"}``."""
        profile = await profiles.update(
            actor(request),
            profile_id,
            name=payload.name,
            avatar=payload.avatar,
            is_admin=payload.is_admin,
        )
        return profile_json(profile)

    @put(
        "/{profile_id:uuid}/pin",
        name="api:profile:pin",
        guards=[HOUSEHOLD],
        dependencies=json_of(PinInput),
    )
    async def pin(
        self,
        request: Request[Any, Any, Any],
        profile_id: uuid.UUID,
        payload: PinInput,
        profiles: ProfileService,
    ) -> dict[str, Any]:
        """``{"pin": "1234"}``, or ``{"pin": null}`` to remove it."""
        return profile_json(await profiles.set_pin(actor(request), profile_id, payload.pin))

    @put(
        "/{profile_id:uuid}/allowance",
        name="api:profile:restrict",
        guards=[HOUSEHOLD],
        dependencies=json_of(RestrictInput),
    )
    async def restrict(
        self,
        request: Request[Any, Any, Any],
        profile_id: uuid.UUID,
        payload: RestrictInput,
        profiles: ProfileService,
    ) -> dict[str, Any]:
        """``{"restricted": true, "folders": ["Kids"], "tags": ["cartoons"]}``."""
        profile = await profiles.restrict(
            actor(request), profile_id, payload.restricted, payload.folders, payload.tags
        )
        return profile_json(profile)

    @delete("/{profile_id:uuid}", name="api:profile:delete", status_code=200, guards=[HOUSEHOLD])
    async def remove(
        self, request: Request[Any, Any, Any], profile_id: uuid.UUID, profiles: ProfileService
    ) -> dict[str, Any]:
        """Delete the profile and everything it has."""
        profile = await profiles.delete(actor(request), profile_id)
        if profile.id == peek_user_id(request):
            pick_guest(request)
        return profile_json(profile)
