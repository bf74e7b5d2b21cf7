"""Shared helpers of the web tests (no tests here): a real app with real engines on a real
uvicorn server, staff users, signed-in HTTP clients."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from ivr.app import build_deps, create_app
from ivr.session.call import SessionDeps
from ivr.settings import Settings
from ivr.twilio.local_server import LocalServer
from ivr.web.auth_users import UserBook

PASSWORD = "correct horse battery staple"
USERS = {
    "alice": "agent",
    "bob": "agent",
    "kim": "kiosk_staff",
    "sam": "supervisor",
}


@dataclass
class WebServer:
    base_url: str
    settings: Settings
    deps: SessionDeps
    app: object

    @property
    def store(self):  # noqa: ANN201
        return self.deps.store

    @property
    def escalation(self):  # noqa: ANN201
        return self.app.state.escalation


def make_settings(data_dir: Path, database_url: str = "") -> Settings:
    return Settings(data_dir=data_dir, database_url=database_url, agent_number="+441632960999")


@contextmanager
def web_server(
    data_dir: Path, *, deps: SessionDeps | None = None, database_url: str = "", seed: bool = True
) -> Iterator[WebServer]:
    """A real app (install_web) with real engines on 127.0.0.1."""
    settings = make_settings(data_dir, database_url)
    deps = deps or build_deps(settings)
    if seed:
        book = UserBook(deps.store)
        for name, role in USERS.items():
            if book.by_name(name) is None:
                book.add(name, PASSWORD, role, name.title())
    app = create_app(settings, deps)  # create_app installs the web pages itself
    server = LocalServer(app)
    base = server.start()
    settings.public_base_url = base
    try:
        yield WebServer(base, settings, deps, app)
    finally:
        server.stop()


CSRF_RE = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
LOGIN_CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def sign_in(base_url: str, username: str, password: str = PASSWORD) -> httpx.Response:
    """A fresh client's sign-in answer (the client is closed)."""
    with httpx.Client(base_url=base_url) as client:
        return _post_login(client, username, password)


def _post_login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    page = client.get("/login")
    token = LOGIN_CSRF_RE.search(page.text).group(1)
    return client.post(
        "/login", data={"username": username, "password": password, "csrf": token, "next": ""}
    )


def client_for(base_url: str, username: str, password: str = PASSWORD) -> httpx.Client:
    """A signed-in client whose POSTs carry the CSRF header."""
    client = httpx.Client(base_url=base_url)
    answer = _post_login(client, username, password)
    assert answer.status_code == 303, f"sign-in of {username} failed: {answer.status_code}"
    home = client.get(answer.headers["location"])
    assert home.status_code == 200, home.text
    client.headers["X-CSRF-Token"] = CSRF_RE.search(home.text).group(1)
    return client
