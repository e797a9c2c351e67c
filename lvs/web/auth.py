"""Optional household password (LVS_PASSWORD): when set, every page needs a login.

The password is hashed with Argon2 once at start-up and compared with Argon2 (slow on purpose);
attempts are rate-limited per client. A successful login is a row in ``auth_sessions`` whose
token the session cookie carries (``lvs.services.auth_sessions``): every worker process accepts
it, and logout or "sign out everywhere" ends it even in a copied cookie."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from litestar import Controller, MediaType, Request, Response, get, post
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.middleware import ASGIMiddleware
from litestar.plugins.flash import flash
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_303_SEE_OTHER,
    HTTP_401_UNAUTHORIZED,
    HTTP_429_TOO_MANY_REQUESTS,
)
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy.exc import SQLAlchemyError

from lvs.services.auth_sessions import AuthSessions
from lvs.services.writes import DatabaseBusy
from lvs.web.inputs import read_form, safe_next

__all__ = [
    "AUTH_KEY",
    "LoginController",
    "LoginRequiredMiddleware",
    "PasswordCheck",
    "database_or_503",
]

AUTH_KEY = "auth"
OPEN_PATHS = ("/login", "/static/", "/favicon")


class PasswordCheck:
    """Holds the Argon2 hash of the household password (never the password itself)."""

    def __init__(self, password: str) -> None:
        self._hasher = PasswordHasher()
        self._hash = self._hasher.hash(password)

    def verify(self, attempt: str) -> bool:
        try:
            return self._hasher.verify(self._hash, attempt)
        except VerificationError:
            return False


@asynccontextmanager
async def database_or_503() -> AsyncIterator[None]:
    """The login table is unreachable or locked: a clean 503 to retry, never a 500."""
    try:
        yield
    except (SQLAlchemyError, OSError, DatabaseBusy) as exc:
        raise HTTPException(
            status_code=503, detail="Busy, try again", headers={"Retry-After": "5"}
        ) from exc


class LoginRequiredMiddleware(ASGIMiddleware):
    """Everything but the login page and static files needs a logged-in session."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, logins: AuthSessions) -> None:
        self.logins = logins

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        path: str = scope["path"]
        if path.startswith(OPEN_PATHS):
            await next_app(scope, receive, send)
            return
        session = scope.get("session")
        token = session.get(AUTH_KEY) if isinstance(session, dict) else None
        if token is not None:
            async with database_or_503():
                if await self.logins.valid(token):
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
        form = await read_form(request)
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
        logins: AuthSessions = request.app.state.logins
        async with database_or_503():
            token = await logins.start()
        session = dict(request.session)
        session[AUTH_KEY] = token
        request.set_session(session)
        flash(request, "Welcome back.", category="success")
        return Redirect(path=next_url, status_code=HTTP_303_SEE_OTHER)

    @post("/logout", name="logout", status_code=HTTP_303_SEE_OTHER)
    async def logout(self, request: Request[Any, Any, Any]) -> Redirect:
        """Log this browser out: its login ends for every copy of the cookie too."""
        logins: AuthSessions = request.app.state.logins
        session = dict(request.session)
        async with database_or_503():
            await logins.end(session.pop(AUTH_KEY, None))
        request.set_session(session)
        return Redirect(path="/login", status_code=HTTP_303_SEE_OTHER)

    @post("/logout-everywhere", name="logout:everywhere", status_code=HTTP_303_SEE_OTHER)
    async def logout_everywhere(self, request: Request[Any, Any, Any]) -> Redirect:
        """Sign out every browser of the household (a lost phone, a shared password)."""
        logins: AuthSessions = request.app.state.logins
        async with database_or_503():
            await logins.end_all()
        session = dict(request.session)
        session.pop(AUTH_KEY, None)
        request.set_session(session)
        flash(request, "Every browser has been signed out.", category="success")
        return Redirect(path="/login", status_code=HTTP_303_SEE_OTHER)
