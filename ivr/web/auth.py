"""Sign-in for the web pages: signed session cookies, CSRF tokens, roles.

- Session: an `itsdangerous`-signed cookie (`ivr_session`: user id, the user's session version,
  a CSRF token), HttpOnly, SameSite=Strict, Secure when the public URL is https, 12 h at most.
  Changing a password or disabling a user bumps the version and ends every session.
- CSRF: every state-changing request from the pages carries the session's token, in the
  `X-CSRF-Token` header (JavaScript) or a `csrf` form field (HTML forms); the sign-in form uses a
  signed double-submit cookie. Websockets must come from the same origin.
- Roles: `require_role("agent", "supervisor")` is the FastAPI dependency every page and API
  route uses; "admin" passes every check. Pages redirect to /login, APIs answer 401/403.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Form, HTTPException, Request, WebSocket
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ivr.web.auth_users import LockedOut, SignInError, User, UserBook

SESSION_COOKIE = "ivr_session"
LOGIN_CSRF_COOKIE = "ivr_login_csrf"
SESSION_MAX_AGE_S = 12 * 3600
CSRF_HEADER = "X-CSRF-Token"
TEMPLATES_DIR = Path(__file__).with_name("templates")
STATIC_DIR = Path(__file__).with_name("static")
# Content-Security-Policy of every page: no inline script, no third-party anything
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' blob:; connect-src 'self' ws: wss:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.autoescape = True  # every value is escaped (transcripts are caller-controlled)
router = APIRouter(tags=["web-auth"])


class SignInRequired(Exception):
    """A page was asked for without a session: the handler redirects to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__("sign in first")
        self.next_url = next_url


# ---------------------------------------------------------------------------- secrets
def secret_key(settings: Any) -> str:
    """The cookie signing key: `settings.web_secret_key` when set, else a random key kept in
    `<data_dir>/web-secret.key` (made once, mode 0600; instances sharing `data_dir` share it)."""
    configured = getattr(settings, "web_secret_key", "") or ""
    if configured:
        return configured
    path = Path(settings.data_dir) / "web-secret.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = path.open("x", encoding="ascii")
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with fd:
        path.chmod(0o600)
        key = secrets.token_urlsafe(48)
        fd.write(key)
    return key


def _state(app: FastAPI) -> Any:
    web = getattr(app.state, "web", None)
    if web is None:
        raise HTTPException(status_code=503, detail="the web pages are not set up in this app")
    return web


def _serializer(app: FastAPI) -> URLSafeTimedSerializer:
    return _state(app).serializer


def secure_cookies(settings: Any) -> bool:
    """Cookies are Secure when the public URL is https."""
    return str(getattr(settings, "public_base_url", "") or "").startswith("https://")


# ---------------------------------------------------------------------------- sessions
def _read_session(app: FastAPI, cookie: str | None) -> dict[str, Any] | None:
    if not cookie:
        return None
    try:
        data = _serializer(app).loads(cookie, salt="session", max_age=SESSION_MAX_AGE_S)
    except BadSignature:
        return None
    return data if isinstance(data, dict) else None


async def _user_of(app: FastAPI, cookie: str | None) -> tuple[User, str] | None:
    data = _read_session(app, cookie)
    if data is None:
        return None
    book: UserBook = _state(app).users
    user = await asyncio.to_thread(book.get, int(data.get("uid", 0)))
    if user is None or not user.active or user.session_version != data.get("v"):
        return None
    return user, str(data.get("csrf", ""))


def start_session(response: Response, request: Request, user: User) -> None:
    """Set the session cookie for `user` (a fresh CSRF token)."""
    token = secrets.token_urlsafe(32)
    value = _serializer(request.app).dumps(
        {"uid": user.id, "v": user.session_version, "csrf": token}, salt="session"
    )
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=SESSION_MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request.app.state.settings),
        path="/",
    )


def _has_role(user: User, roles: tuple[str, ...]) -> bool:
    return user.role == "admin" or user.role in roles


def require_role(*roles: str, page: bool = False) -> Any:
    """A dependency giving the signed-in `User` if their role is one of `roles` (admin always
    passes). State-changing methods also need the session's CSRF token. Without a session:
    401 (or, with `page=True`, a redirect to /login); wrong role: 403."""

    async def dependency(request: Request) -> User:
        found = await _user_of(request.app, request.cookies.get(SESSION_COOKIE))
        if found is None:
            if page:
                raise SignInRequired(request.url.path)
            raise HTTPException(status_code=401, detail="sign in first")
        user, csrf = found
        if not _has_role(user, roles):
            raise HTTPException(status_code=403, detail=f"this needs the role {' or '.join(roles)}")
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            sent = request.headers.get(CSRF_HEADER, "")
            if not sent and request.headers.get("content-type", "").startswith(
                "application/x-www-form-urlencoded"
            ):
                sent = str((await request.form()).get("csrf", ""))
            if not csrf or not hmac.compare_digest(sent.encode(), csrf.encode()):
                raise HTTPException(status_code=403, detail="missing or wrong CSRF token")
        request.state.user = user
        request.state.csrf = csrf
        return user

    dependency.roles = roles  # type: ignore[attr-defined]
    return dependency


async def websocket_user(websocket: WebSocket, *roles: str) -> User | None:
    """The signed-in user of a websocket with one of `roles`, or None (then close it). The
    websocket must come from this site (Origin matches Host), so another site cannot open it
    with the user's cookie."""
    origin = websocket.headers.get("origin", "")
    host = websocket.headers.get("host", "")
    if not origin or urlsplit(origin).netloc != host:
        return None
    found = await _user_of(websocket.app, websocket.cookies.get(SESSION_COOKIE))
    if found is None or not _has_role(found[0], roles):
        return None
    return found[0]


def security_headers(response: Response) -> Response:
    """The headers of every page: CSP, no sniffing, no framing, no referrer, no caching."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page from `templates/` (autoescaped), with the user and CSRF token in the context."""
    context.setdefault("user", getattr(request.state, "user", None))
    context.setdefault("csrf", getattr(request.state, "csrf", ""))
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    return security_headers(response)


def home_for(user: User) -> str:
    """Where a user lands after signing in."""
    return "/kiosk" if user.role == "kiosk_staff" else "/agent"


def _safe_next(next_url: str) -> str:
    """Only local paths (never another site) after sign-in."""
    if next_url.startswith("/") and not next_url.startswith("//") and "\\" not in next_url:
        return next_url
    return ""


# ---------------------------------------------------------------------------- routes
@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "") -> HTMLResponse:
    """The sign-in form (with a double-submit CSRF token)."""
    token = secrets.token_urlsafe(32)
    response = render(request, "login.html", login_csrf=token, next=_safe_next(next), error="")
    _set_login_csrf(request, response, token)
    return response


def _set_login_csrf(request: Request, response: Response, token: str) -> None:
    signed = _serializer(request.app).dumps(token, salt="login-csrf")
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        signed,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request.app.state.settings),
        path="/login",
    )


@router.post("/login")
async def login(
    request: Request,
    username: str = Form(default="", max_length=200),
    password: str = Form(default="", max_length=1000),
    csrf: str = Form(default=""),
    next: str = Form(default=""),
) -> Response:
    """Check the password (lock-out after repeated failures) and start a session."""
    expected = ""
    try:
        expected = _serializer(request.app).loads(
            request.cookies.get(LOGIN_CSRF_COOKIE, ""), salt="login-csrf", max_age=3600
        )
    except BadSignature:
        pass
    if not expected or not hmac.compare_digest(str(expected).encode(), csrf.encode()):
        return _login_again(request, "The form expired. Please sign in again.", next, 403)
    client = request.client.host if request.client else ""
    book: UserBook = _state(request.app).users
    try:
        user = await asyncio.to_thread(book.authenticate, username, password, client)
    except LockedOut as exc:
        return _login_again(request, str(exc), next, 429)
    except SignInError as exc:
        return _login_again(request, str(exc), next, 401)
    response = RedirectResponse(_safe_next(next) or home_for(user), status_code=303)
    start_session(response, request, user)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


def _login_again(request: Request, error: str, next_url: str, status: int) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        status_code=status,
        login_csrf=token,
        next=_safe_next(next_url),
        error=error,
    )
    _set_login_csrf(request, response, token)
    return response


@router.post("/logout")
async def logout(
    request: Request,
    user: User = Depends(require_role("agent", "kiosk_staff", "supervisor")),
) -> Response:
    """End the session (the CSRF token comes in the form)."""
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/api/me")
async def me(
    user: User = Depends(require_role("agent", "kiosk_staff", "supervisor")),
) -> dict[str, Any]:
    """Who is signed in."""
    return user.to_dict()


async def sign_in_redirect(request: Request, exc: SignInRequired) -> Response:
    """Exception handler: pages without a session go to /login?next=..."""
    return RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)
