"""Optional household password (LVS_PASSWORD): when set, every page needs a login.

The password is hashed with Argon2 once at start-up and compared with Argon2 (slow on purpose);
attempts are rate-limited per client; a successful login marks the session cookie."""

from __future__ import annotations

import hmac
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from litestar import Controller, MediaType, Request, Response, get, post
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_303_SEE_OTHER,
    HTTP_401_UNAUTHORIZED,
    HTTP_429_TOO_MANY_REQUESTS,
)
from litestar.types import ASGIApp, Receive, Scope, Send

from lvs.web.ratings import safe_next

__all__ = ["AUTH_KEY", "LoginController", "LoginRequiredMiddleware", "PasswordCheck"]

AUTH_KEY = "auth"
OPEN_PATHS = ("/login", "/static/", "/favicon")


class PasswordCheck:
    """Holds the Argon2 hash of the household password (never the password itself)."""

    def __init__(self, password: str) -> None:
        self._hasher = PasswordHasher()
        self._hash = self._hasher.hash(password)
        # A per-process token in the session, so a cookie from before a password change (or
        # from another lvs) does not pass.
        self.token = self._hasher.hash(password + ":session")[-22:]

    def verify(self, attempt: str) -> bool:
        try:
            return self._hasher.verify(self._hash, attempt)
        except VerificationError:
            return False

    def session_ok(self, session: object) -> bool:
        value = session.get(AUTH_KEY) if isinstance(session, dict) else None
        return isinstance(value, str) and hmac.compare_digest(value, self.token)


class LoginRequiredMiddleware(ASGIMiddleware):
    """Everything but the login page and static files needs a logged-in session."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, check: PasswordCheck) -> None:
        self.check = check

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        path: str = scope["path"]
        session = scope.get("session") or {}
        if path.startswith(OPEN_PATHS) or self.check.session_ok(session):
            await next_app(scope, receive, send)
            return
        response: Response[Any]
        if path.startswith("/api/"):
            response = Response(
                {"status_code": 401, "detail": "Log in first (POST /login)."},
                status_code=HTTP_401_UNAUTHORIZED,
                media_type=MediaType.JSON,
            )
        else:
            query = scope.get("query_string", b"").decode("latin-1")
            target = path + (f"?{query}" if query else "")
            response = Redirect(path="/login", query_params={"next": target}, status_code=303)
        await response.to_asgi_response(app=None, request=Request(scope))(scope, receive, send)


class LoginController(Controller):
    path = "/login"
    include_in_schema = False

    @get("/", name="login")
    async def form(self, next: str = "/") -> Template:
        return Template(template_name="pages/login.html", context={"next": safe_next(next)})

    @post("/", name="login:post", status_code=HTTP_303_SEE_OTHER)
    async def login(self, request: Request[Any, Any, Any]) -> Response[Any]:
        form = await request.form()
        next_url = safe_next(form.get("next"))
        decision = await request.app.state.login_limiter.hit(request)
        if not decision.allowed:
            return Template(
                template_name="pages/login.html",
                context={"next": next_url, "error": "Too many attempts. Try again later."},
                status_code=HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(decision.retry_after)},
            )
        check: PasswordCheck = request.app.state.password_check
        if not check.verify(str(form.get("password", ""))):
            return Template(
                template_name="pages/login.html",
                context={"next": next_url, "error": "That password is not right."},
                status_code=HTTP_401_UNAUTHORIZED,
            )
        session = dict(request.session)
        session[AUTH_KEY] = check.token
        request.set_session(session)
        flash(request, "Welcome back.", category="success")
        return Redirect(path=next_url, status_code=HTTP_303_SEE_OTHER)

    @post("/logout", name="logout", status_code=HTTP_303_SEE_OTHER)
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        session = dict(request.session)
        session.pop(AUTH_KEY, None)
        request.set_session(session)
        return Redirect(path="/login", status_code=HTTP_303_SEE_OTHER)
