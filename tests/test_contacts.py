"""Emergency contacts with consent on real SQLite and PostgreSQL, and their HTTP API on a real
server: E.164 numbers, order, consent, hours, audit of every change, clear errors."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from escalation_fixtures import AUTH_TOKEN, EscalationSettings, escalation_app, make_service
from pydantic import ValidationError
from test_web_support import PASSWORD, client_for

from carestore import InvalidPhoneNumber, InvalidValue, NotFound, Store
from emergency_contact.contacts import ConsentIn, ContactBook, ContactIn, ContactUpdate
from ivr.twilio.local_server import LocalServer
from ivr.web.auth_users import UserBook


def _customer(store: Store, phone: str = "+441632960001") -> int:
    return store.create_customer("Mrs Edith Harper", "11223344", phone=phone).id


def test_contacts_ordered_e164_consent_and_audit(store: Store) -> None:
    book = ContactBook(store, default_region="GB")
    cid = _customer(store)
    a = book.add(
        cid, ContactIn(name="Susan", relationship="daughter", phone="01632 960011"), "staff:amy"
    )
    b = book.add(
        cid,
        ContactIn(
            name="Peter",
            relationship="son",
            phone="+44 (0)1632-960012",
            channel="sms",
            consent=ConsentIn(given_by="Peter", method="kiosk"),
        ),
        "staff:amy",
    )
    c = book.add(
        cid,
        ContactIn(name="Lee", relationship="neighbour", phone="+12025550143", position=1),
        "staff:bob",
    )
    assert (a.phone, b.phone, c.phone) == ("+441632960011", "+441632960012", "+12025550143")
    assert [x.id for x in book.list(cid)] == [c.id, a.id, b.id]  # Lee inserted first
    assert [x.position for x in book.list(cid)] == [1, 2, 3]
    assert not a.has_consent and b.has_consent and b.consent_method == "kiosk"

    now = datetime.now(UTC)
    chosen, skipped = book.reachable(cid, "low", now)
    assert [x.id for x in chosen] == [b.id]
    assert {x.id: why for x, why in skipped} == {
        a.id: "no consent on record",
        c.id: "no consent on record",
    }
    book.record_consent(cid, a.id, ConsentIn(given_by="Mrs Harper", method="phone"), "staff:amy")
    book.reorder(cid, [b.id, a.id, c.id], "staff:amy")
    assert [x.id for x in book.reachable(cid, "low", now)[0]] == [b.id, a.id]
    book.withdraw_consent(cid, b.id, "Peter")
    assert [x.id for x in book.reachable(cid, "high", now)[0]] == [a.id]
    book.update(cid, a.id, ContactUpdate(phone="+441632960019", language="ko"), "staff:bob")
    assert book.get(a.id).phone == "+441632960019" and book.get(a.id).has_consent
    book.remove(cid, c.id, "staff:bob")
    assert [x.position for x in book.list(cid)] == [1, 2]

    log = book.audit_log(cid)
    assert [e.action for e in log][::-1] == [
        "contact_added",
        "contact_added",
        "contact_added",
        "consent_recorded",
        "contacts_reordered",
        "consent_withdrawn",
        "contact_updated",
        "contact_removed",
    ]
    assert {e.actor for e in log} == {"staff:amy", "staff:bob", "Peter"}
    updated = next(e for e in log if e.action == "contact_updated")
    assert updated.data["before"]["phone"] == "+441632960011"
    assert updated.data["after"]["phone"] == "+441632960019"


def test_quiet_hours_are_kept_unless_urgent(store: Store) -> None:
    book = ContactBook(store)
    cid = _customer(store)
    consent = ConsentIn(given_by="Susan", method="staff")
    day = book.add(
        cid,
        ContactIn(
            name="Susan",
            relationship="daughter",
            phone="+441632960011",
            call_from="08:00",
            call_until="21:00",
            timezone="Europe/London",
            consent=consent,
        ),
        "staff",
    )
    night = datetime(2025, 1, 15, 2, 30, tzinfo=UTC)  # 02:30 in London
    noon = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
    assert [c.id for c in book.reachable(cid, "medium", noon)[0]] == [day.id]
    chosen, skipped = book.reachable(cid, "medium", night)
    assert chosen == [] and skipped[0][1] == "outside the hours they may be called"
    assert [c.id for c in book.reachable(cid, "high", night)[0]] == [day.id]  # urgent


def test_bad_contacts_are_refused_clearly(store: Store) -> None:
    book = ContactBook(store)
    cid = _customer(store)
    with pytest.raises(InvalidPhoneNumber, match="country code"):
        book.add(cid, ContactIn(name="A", relationship="son", phone="01632 960011"), "staff")
    with pytest.raises(InvalidPhoneNumber, match="not a valid"):
        book.add(cid, ContactIn(name="A", relationship="son", phone="+44 12"), "staff")
    with pytest.raises(NotFound, match="no customer"):
        book.add(cid + 99, ContactIn(name="A", relationship="son", phone="+441632960011"), "x")
    book.add(cid, ContactIn(name="A", relationship="son", phone="+441632960011"), "staff")
    with pytest.raises(InvalidValue, match="already an emergency contact"):
        book.add(cid, ContactIn(name="B", relationship="son", phone="+441632960011"), "staff")
    with pytest.raises(ValueError, match="actor"):
        book.add(cid, ContactIn(name="C", relationship="son", phone="+441632960012"), " ")
    with pytest.raises(ValidationError, match="HH:MM"):
        ContactIn(name="A", relationship="son", phone="+441632960011", call_from="8am")
    with pytest.raises(ValidationError, match="time zone"):
        ContactIn(name="A", relationship="son", phone="+441632960011", timezone="Mars/Base")
    with pytest.raises(ValidationError, match="channel"):
        ContactIn(name="A", relationship="son", phone="+441632960011", channel="pigeon")
    with pytest.raises(ValidationError, match="timezone"):
        ConsentIn(given_by="A", method="phone", at=datetime(2025, 1, 1))
    assert len(book.list(cid)) == 1  # nothing half-added
    assert len(book.audit_log(cid)) == 1


def test_contacts_api_over_http(tmp_path) -> None:  # noqa: ANN001
    from carestore import upgrade

    url = f"sqlite:///{tmp_path / 'ivr.db'}"
    upgrade(url)
    store = Store(url)
    cid = _customer(store)
    settings = EscalationSettings(data_dir=tmp_path, twilio_auth_token=AUTH_TOKEN)
    svc = make_service(store)
    UserBook(store).add("amy", PASSWORD, "kiosk_staff", "Amy")
    with LocalServer(escalation_app(svc, settings)) as server:
        body = {
            "name": "Susan Harper",
            "relationship": "daughter",
            "phone": "+44 1632 960011",
            "consent": {"given_by": "Susan Harper", "method": "phone"},
        }
        # nobody signed in: no personal data, no changes
        for method, path in (
            ("GET", f"/api/customers/{cid}/contacts"),
            ("POST", f"/api/customers/{cid}/contacts"),
            ("GET", f"/api/customers/{cid}/audit"),
        ):
            anonymous = httpx.request(
                method, f"{server.base_url}{path}", json=body, headers={"X-Actor": "staff:amy"}
            )
            assert anonymous.status_code == 401, (method, path, anonymous.text)
        api = client_for(server.base_url, "amy")
        # signed in, but a change without the session's CSRF token is refused
        no_csrf = api.post(
            f"/api/customers/{cid}/contacts", json=body, headers={"X-CSRF-Token": ""}
        )
        assert no_csrf.status_code == 403 and "CSRF" in no_csrf.json()["detail"]
        assert api.get(f"/api/customers/{cid}/contacts").json() == []
        # the signed-in user is the actor: a claimed X-Actor is ignored
        api.headers["X-Actor"] = "staff:someone-else"
        r = api.post(f"/api/customers/{cid}/contacts", json=body)
        assert r.status_code == 201, r.text
        susan = r.json()
        assert susan["phone"] == "+441632960011" and susan["has_consent"]
        r = api.post(
            f"/api/customers/{cid}/contacts",
            json={"name": "Tom", "relationship": "son", "phone": "+441632960012"},
        )
        tom = r.json()
        assert r.status_code == 201 and not tom["has_consent"]

        bad = api.post(f"/api/customers/{cid}/contacts", json={**body, "phone": "12345"})
        assert bad.status_code == 422 and "country code" in bad.json()["detail"]
        unknown = api.post(f"/api/customers/{cid + 50}/contacts", json=body)
        assert unknown.status_code == 404 and "no customer" in unknown.json()["detail"]
        extra = api.post(f"/api/customers/{cid}/contacts", json={**body, "nickname": "Sue"})
        assert extra.status_code == 422

        r = api.post(
            f"/api/customers/{cid}/contacts/{tom['id']}/consent",
            json={"given_by": "Tom", "method": "kiosk"},
        )
        assert r.status_code == 200 and r.json()["has_consent"]
        r = api.put(
            f"/api/customers/{cid}/contacts/order", json={"contact_ids": [tom["id"], susan["id"]]}
        )
        assert [c["id"] for c in r.json()] == [tom["id"], susan["id"]]
        bad_order = api.put(f"/api/customers/{cid}/contacts/order", json={"contact_ids": [1]})
        assert bad_order.status_code == 422
        r = api.patch(f"/api/customers/{cid}/contacts/{susan['id']}", json={"channel": "both"})
        assert r.json()["channel"] == "both"
        r = api.delete(f"/api/customers/{cid}/contacts/{tom['id']}/consent")
        assert not r.json()["has_consent"]
        assert api.delete(f"/api/customers/{cid}/contacts/{tom['id']}").status_code == 204
        assert api.delete(f"/api/customers/{cid}/contacts/{tom['id']}").status_code == 404
        listed = api.get(f"/api/customers/{cid}/contacts").json()
        assert [c["name"] for c in listed] == ["Susan Harper"]
        audit = api.get(f"/api/customers/{cid}/audit").json()
        changes = [a for a in audit if a["action"] != "viewed"]
        assert len(changes) == 7 and {a["actor"] for a in changes} == {"amy"}
        views = [a for a in audit if a["action"] == "viewed"]
        assert [v["data"]["what"] for v in views] == ["contacts_api", "contacts_api"]
        assert {(v["actor"], v["data"]["role"]) for v in views} == {("amy", "kiosk_staff")}
        api.close()
    # the audit trail's own view is recorded too (after it was read)
    last = ContactBook(store).audit_log(cid)[0]
    assert (last.action, last.actor, last.data["what"]) == ("viewed", "amy", "audit_api")
    store.close()
