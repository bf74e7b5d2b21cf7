"""Sign-in, sessions, CSRF, roles, lock-out and the audit of views, over real HTTP against a real
app (SQLite file), plus the agent actions' rules (exclusive accept, outcomes, follow-ups)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import websockets
from sqlalchemy import select
from test_web_support import PASSWORD, WebServer, client_for, sign_in, web_server

from carestore.errors import AlreadyExists, InvalidValue
from carestore.escalation_models import AuditRow
from carestore.web_models import FollowUpRow, UserRow
from emergency_contact.records import Trigger
from ivr.web.auth import secure_cookies
from ivr.web.auth_users import LockedOut, SignInError, UserBook


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    with web_server(tmp_path_factory.mktemp("web-auth")) as srv:
        yield srv


def _escalation(server: WebServer, sid: str, words: str = "please help me") -> tuple[int, int]:
    store = server.store
    customer = store.customer_by_phone("+441632960002") or store.create_customer(
        "Mr Arthur Penn", "55667788", phone="+441632960002"
    )
    store.start_call(call_sid=sid, channel="phone", from_number=customer.phone, to_number=None)
    store.identify_call(sid, customer.id)
    store.add_segment(sid, "caller", words, intent="help", confidence=0.9,
                      audio_start_s=0.5, audio_end_s=2.0)  # fmt: skip
    decision = server.escalation.trigger(sid, customer.id, Trigger("help_request"))
    return decision.escalation_id, customer.id


def _audit(server: WebServer, **where: object) -> list[AuditRow]:
    with server.store.read() as session:
        query = select(AuditRow)
        for k, v in where.items():
            query = query.where(getattr(AuditRow, k) == v)
        rows = list(session.scalars(query))
        session.expunge_all()  # keep the loaded values after the read transaction ends
        return rows


def test_passwords_are_argon2_and_bad_users_are_refused(server: WebServer) -> None:
    with server.store.read() as session:
        row = session.scalars(select(UserRow).where(UserRow.username == "alice")).one()
        assert row.password_hash.startswith("$argon2id$")
        assert PASSWORD not in row.password_hash
    book = UserBook(server.store)
    with pytest.raises(InvalidValue, match="at least 10"):
        book.add("shorty", "abc", "agent")
    with pytest.raises(InvalidValue, match="unknown role"):
        book.add("carol", PASSWORD, "janitor")
    with pytest.raises(InvalidValue, match="username"):
        book.add("<script>", PASSWORD, "agent")
    with pytest.raises(AlreadyExists):
        book.add("Alice", PASSWORD, "agent")


def test_session_cookie_flags_and_wrong_password(server: WebServer) -> None:
    ok = sign_in(server.base_url, "alice")
    assert ok.status_code == 303 and ok.headers["location"] == "/agent"
    cookie = ok.headers["set-cookie"]
    assert "ivr_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # http test server
    assert secure_cookies(type("S", (), {"public_base_url": "https://ivr.example.org"})())
    bad = sign_in(server.base_url, "alice", "not the password")
    assert bad.status_code == 401 and "wrong username or password" in bad.text
    unknown = sign_in(server.base_url, "nobody-here", "whatever whatever")
    assert unknown.status_code == 401 and "wrong username or password" in unknown.text


def test_login_form_needs_its_csrf_token(server: WebServer) -> None:
    with httpx.Client(base_url=server.base_url) as c:
        c.get("/login")
        r = c.post("/login", data={"username": "alice", "password": PASSWORD, "csrf": "forged"})
        assert r.status_code == 403 and "expired" in r.text
        assert "ivr_session" not in r.headers.get("set-cookie", "")


def test_lock_out_after_five_failures_is_audited(server: WebServer) -> None:
    UserBook(server.store).add("dora", PASSWORD, "agent")
    for _ in range(5):
        assert sign_in(server.base_url, "dora", "wrong password!").status_code == 401
    # now even the right password is refused
    locked = sign_in(server.base_url, "dora", PASSWORD)
    assert locked.status_code == 429 and "too many failed sign-ins" in locked.text
    with pytest.raises(LockedOut):
        UserBook(server.store).authenticate("dora", PASSWORD)
    assert [a.data["username"] for a in _audit(server, action="user_locked_out")] == ["dora"]
    # an administrator unlocks: the right password works again, a wrong one is just wrong
    UserBook(server.store).unlock("dora", "admin-test")
    assert sign_in(server.base_url, "dora", PASSWORD).status_code == 303
    with pytest.raises(SignInError):
        UserBook(server.store).authenticate("dora", "wrong again!")


def test_roles_and_csrf_on_every_route(server: WebServer) -> None:
    esc_id, customer_id = _escalation(server, "CAroles001")
    with httpx.Client(base_url=server.base_url) as anon:
        assert anon.get("/api/agent/queue").status_code == 401
        assert anon.get(f"/api/kiosk/customers/{customer_id}").status_code == 401
        page = anon.get("/agent")
        assert page.status_code == 303 and page.headers["location"] == "/login?next=/agent"
        assert anon.get("/kiosk").headers["location"] == "/login?next=/kiosk"
    kim = client_for(server.base_url, "kim")  # kiosk staff
    alice = client_for(server.base_url, "alice")  # agent
    sam = client_for(server.base_url, "sam")  # supervisor: both
    assert kim.get("/api/agent/queue").status_code == 403
    assert kim.get(f"/agent/escalations/{esc_id}").status_code == 403
    assert kim.post(f"/api/agent/escalations/{esc_id}/accept").status_code == 403
    assert alice.get("/api/kiosk/customers", params={"q": "Penn"}).status_code == 403
    assert alice.get("/kiosk").status_code == 403
    assert sam.get("/api/agent/queue").status_code == 200
    assert sam.get("/api/kiosk/customers", params={"q": "Penn"}).status_code == 200
    # a POST without the session's CSRF token is refused, and changes nothing
    token = alice.headers.pop("X-CSRF-Token")
    r = alice.post(f"/api/agent/escalations/{esc_id}/notes", json={"text": "x"})
    assert r.status_code == 403 and "CSRF" in r.text
    r = alice.post(
        f"/api/agent/escalations/{esc_id}/notes", json={"text": "x"}, headers={"X-CSRF-Token": "no"}
    )
    assert r.status_code == 403
    assert alice.get(f"/api/agent/escalations/{esc_id}").json()["notes"] == []
    alice.headers["X-CSRF-Token"] = token
    assert (
        alice.post(f"/api/agent/escalations/{esc_id}/notes", json={"text": "x"}).status_code == 201
    )
    # signing out with the form's token ends the session
    out = alice.post("/logout", data={"csrf": token})
    assert out.status_code == 303
    assert alice.get("/api/agent/queue").status_code == 401
    for c in (kim, sam, alice):
        c.close()


def test_a_changed_password_ends_old_sessions(server: WebServer) -> None:
    UserBook(server.store).add("erin", PASSWORD, "agent")
    erin = client_for(server.base_url, "erin")
    assert erin.get("/api/agent/queue").status_code == 200
    UserBook(server.store).set_password("erin", "another long password", "admin-test")
    assert erin.get("/api/agent/queue").status_code == 401
    erin.close()


def test_every_view_of_personal_data_is_audited(server: WebServer) -> None:
    esc_id, customer_id = _escalation(server, "CAaudit001")
    alice = client_for(server.base_url, "alice")
    assert alice.get(f"/agent/escalations/{esc_id}").status_code == 200
    assert alice.get(f"/api/agent/escalations/{esc_id}").status_code == 200
    kim = client_for(server.base_url, "kim")
    assert kim.get(f"/api/kiosk/customers/{customer_id}").status_code == 200
    assert kim.get("/api/kiosk/customers", params={"q": "Penn"}).json()[0]["id"] == customer_id
    alice.close()
    kim.close()
    views = _audit(server, action="viewed")
    seen = {(a.actor, a.entity, a.entity_id, a.data["what"]) for a in views}
    assert ("alice", "escalation", esc_id, "handoff_page") in seen
    assert ("alice", "escalation", esc_id, "handoff_api") in seen
    assert ("kim", "customer", customer_id, "kiosk_customer") in seen
    search = [a for a in views if a.data["what"] == "customer_search" and a.actor == "kim"]
    assert search and customer_id in search[-1].data["results"]
    assert all(a.customer_id == customer_id for a in views if a.entity_id == esc_id)
    assert all(a.at <= datetime.now(UTC) for a in views)


def test_agent_actions(server: WebServer) -> None:
    esc_id, customer_id = _escalation(server, "CAactions01")
    ticket = server.store.create_ticket("Card not arrived", customer_id=customer_id)
    alice = client_for(server.base_url, "alice")
    bob = client_for(server.base_url, "bob")
    queue = alice.get("/api/agent/queue").json()
    assert esc_id in [q["id"] for q in queue]
    assert alice.post(f"/api/agent/escalations/{esc_id}/accept").json()["agent_id"] == "alice"
    taken = bob.post(f"/api/agent/escalations/{esc_id}/accept")
    assert taken.status_code == 409 and "alice" in taken.json()["detail"]
    assert esc_id not in [q["id"] for q in alice.get("/api/agent/queue").json()]
    r = alice.post(
        f"/api/agent/tickets/{ticket.reference}/status",
        json={"status": "in_progress", "note": "checking", "escalation_id": esc_id},
    )
    assert r.json() == {"reference": ticket.reference, "status": "in_progress"}
    assert server.store.get_ticket(ticket.reference).status == "in_progress"
    bad = alice.post(f"/api/agent/tickets/{ticket.reference}/status", json={"status": "gone"})
    assert bad.status_code == 422
    due = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    f1 = alice.post(
        f"/api/agent/escalations/{esc_id}/follow-ups",
        json={"kind": "follow_up", "due_at": due.isoformat(), "note": "check she is well"},
    )
    f2 = alice.post(f"/api/agent/escalations/{esc_id}/follow-ups", json={"kind": "satisfaction"})
    assert f1.status_code == 201 and f2.status_code == 201
    naive = alice.post(
        f"/api/agent/escalations/{esc_id}/follow-ups", json={"due_at": "2030-01-01T10:00:00"}
    )
    assert naive.status_code == 422
    with server.store.read() as session:
        rows = session.scalars(select(FollowUpRow).where(FollowUpRow.escalation_id == esc_id)).all()
        assert sorted(r.kind for r in rows) == ["follow_up", "satisfaction"]
        assert all(r.customer_id == customer_id and r.status == "pending" for r in rows)
        assert [r.due_at for r in rows if r.kind == "follow_up"] == [due]
    assert (
        alice.post(
            f"/api/agent/escalations/{esc_id}/resolve", json={"outcome": "made up", "note": ""}
        ).status_code
        == 422
    )
    done = alice.post(
        f"/api/agent/escalations/{esc_id}/resolve",
        json={"outcome": "helped_on_call", "note": "card reissued"},
    )
    assert done.json()["state"] == "resolved"
    notes = alice.get(f"/api/agent/escalations/{esc_id}").json()["notes"]
    assert [n["kind"] for n in notes] == ["ticket", "outcome"]
    assert notes[1]["text"] == "helped_on_call: card reissued"
    alice.close()
    bob.close()


def test_websockets_need_a_session_and_this_origin(server: WebServer) -> None:
    alice = client_for(server.base_url, "alice")
    cookie = f"ivr_session={alice.cookies['ivr_session']}"
    ws_url = server.base_url.replace("http://", "ws://") + "/agent/live"

    async def attempt(headers: dict[str, str]) -> str:
        async with websockets.connect(ws_url, additional_headers=headers) as ws:
            return await asyncio.wait_for(ws.recv(), 30)

    first = asyncio.run(attempt({"Cookie": cookie, "Origin": server.base_url}))
    assert '"type": "queue"' in first or '"type":"queue"' in first
    for headers in (
        {"Cookie": cookie, "Origin": "http://evil.example"},
        {"Origin": server.base_url},
    ):
        with pytest.raises(websockets.exceptions.InvalidStatus) as info:
            asyncio.run(attempt(headers))
        assert info.value.response.status_code == 403  # refused before the handshake
    alice.close()
