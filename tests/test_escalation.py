"""The escalation workflow on real SQLite and PostgreSQL: policy, triggers from the caller's
words, state machine (nobody accepts, SMS acceptance, the confirmation loop), the agent queue
(order, exclusive accept under a race, SLA breach and fallback), the package's masking, links."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import timedelta

import pytest
from escalation_fixtures import add_customer_with_contacts, make_service
from sqlalchemy import update

from carestore import NotFound, Store
from carestore.escalation_models import HandoffTokenRow, OutboxRow
from carestore.timeutil import utcnow
from emergency_contact import webhooks
from emergency_contact.links import LinkError
from emergency_contact.masking import mask_text
from emergency_contact.outbox import outbox_rows
from emergency_contact.policy import Policy, PolicyError
from emergency_contact.records import Trigger
from emergency_contact.service import Conflict

SON = "+441632960012"


def _call(store: Store, sid: str, customer_id: int | None, *said: tuple[str, str | None]) -> None:
    store.start_call(sid, from_number="+441632960001", customer_id=customer_id)
    t = 1.0
    for text, intent in said:
        extra = {"dtmf": True} if text.startswith("[key") else None
        store.add_segment(
            sid, "caller", text, intent=intent, audio_start_s=t, audio_end_s=t + 1.5, extra=extra
        )
        t += 3


def test_policy_file_is_checked() -> None:
    policy = Policy.load()
    assert policy.rule("emergency_word").actions == ("transfer", "notify_contacts")
    assert policy.sla_for("critical") < policy.sla_for("low")
    assert policy.contacts.confirm_after_s == 1800  # the default: 30 minutes
    assert policy.emergency_number("+441632960001") == "999"
    assert policy.emergency_number("+12025550143") == "911"
    assert policy.emergency_number("+821012345678") == "119"
    assert policy.emergency_number(None) == "112"
    assert policy.emergency_number("+441632960001", override="112") == "112"
    assert policy.life_threatening_phrase("Help! I've fallen and can't get up") == "i've fallen"
    assert policy.life_threatening_phrase("할머니가 넘어졌어요") == "넘어졌"
    assert policy.life_threatening_phrase("what is my balance") is None
    with pytest.raises(PolicyError, match="unknown trigger"):
        Policy.from_dict({"triggers": {"sneeze": {"actions": ["transfer"]}}})
    with pytest.raises(PolicyError, match="no rule for triggers"):
        Policy.from_dict({"triggers": {"keypad": {"actions": ["transfer"]}}})
    with pytest.raises(ValueError, match="unknown trigger kind"):
        policy.rule("sneeze")


def test_triggers_from_the_callers_words(store: Store) -> None:
    svc = make_service(store)
    _call(store, "CA-fall", None, ("yes", "yes"), ("help i've fallen", "emergency"))
    _call(store, "CA-help", None, ("please help", "help"))
    _call(store, "CA-scam", None, ("someone wants me to buy gift cards", None))
    _call(store, "CA-key", None, ("[key 0]", None))
    _call(store, "CA-lost", None, ("what", None), ("what", None))
    fall = svc.trigger_for_call("CA-fall", "help", "urgent")
    assert fall.kind == "emergency_word" and fall.evidence["life_threatening"] == "i've fallen"
    assert "fall" in fall.evidence["cues"]
    assert svc.trigger_for_call("CA-help", "help").kind == "help_request"
    assert svc.trigger_for_call("CA-scam", "caller_asked").kind == "scam_signal"
    key = svc.trigger_for_call("CA-key", "caller_asked")
    assert key.kind == "keypad" and key.evidence["key"] == "0"
    assert svc.trigger_for_call("CA-lost", "repeated_failure").kind == "repeated_failure"
    assert svc.trigger_for_call("CA-unknown", "caller_asked").kind == "person_request"

    decision = svc.on_transfer("CA-fall", None, "help", "urgent")
    assert decision.severity == "critical" and decision.transfer
    assert [n.key for n in decision.notices] == ["emergency_services", "stay_on_line"]
    assert "112" in decision.notices[0].text and decision.notices[0].repeat == 2
    esc = svc.get(decision.escalation_id)
    assert esc.state == "supervisor"  # caller not identified: nobody to notify
    again = svc.trigger("CA-fall", None, Trigger("distress", "high"))
    assert again.escalation_id == decision.escalation_id  # one escalation per call
    low = svc.on_transfer("CA-unknown", None, "caller_asked")
    assert low.severity == "low" and not low.notices and not low.notify_contacts


def test_bad_triggers_and_contacts_without_consent(store: Store) -> None:
    svc = make_service(store)
    with pytest.raises(NotFound, match="no customer"):
        svc.trigger(None, 12345, Trigger("kiosk_button"))
    with pytest.raises(ValueError, match="unknown trigger kind"):
        svc.trigger(None, None, Trigger("sneeze"))
    with pytest.raises(ValueError, match="severity"):
        svc.trigger(None, None, Trigger("kiosk_button", severity="apocalyptic"))
    cid, ids = add_customer_with_contacts(
        store,
        svc,
        [
            {"name": "A", "relationship": "son", "phone": "+441632960011", "consent": False},
            {"name": "B", "relationship": "son", "phone": "+441632960012", "consent": False},
        ],
    )
    d = svc.trigger(None, cid, Trigger("kiosk_button"), actor="staff:amy")
    esc = svc.get(d.escalation_id)
    assert esc.state == "supervisor" and esc.contact_plan == []
    assert outbox_rows(store, esc.id) == []  # nobody without consent is ever contacted
    events = svc.events(esc.id)
    assert [e.contact_id for e in events if e.kind == "contact_skipped"] == ids
    moved = next(e for e in events if e.kind == "state")
    assert moved.data == {"from": "open", "to": "supervisor", "reason": "no consented contact"}


def test_contacts_in_order_then_supervisor(store: Store) -> None:
    policy = Policy.load().with_timing(answer_wait_s=0.0, rounds=2, round_backoff_s=(0.0, 0.0))
    svc = make_service(store, policy)
    cid, ids = add_customer_with_contacts(
        store,
        svc,
        [
            {"name": "A", "relationship": "daughter", "phone": "+441632960011"},
            {"name": "B", "relationship": "son", "phone": SON, "channel": "sms"},
        ],
    )
    d = svc.trigger(None, cid, Trigger("kiosk_button"), actor="staff:amy")
    for _ in range(10):
        svc.process_due()
    esc = svc.get(d.escalation_id)
    assert esc.state == "supervisor" and esc.contact_round == 1
    rows = outbox_rows(store, esc.id)
    assert [(r["contact_id"], r["kind"]) for r in rows] == [
        (ids[0], "contact_call"),
        (ids[1], "contact_sms"),
        (ids[0], "contact_call"),
        (ids[1], "contact_sms"),
    ]
    assert len({r["key"] for r in rows}) == 4
    kinds = [e.kind for e in svc.events(esc.id)]
    assert kinds.count("contact_attempt") == 4 and "nobody_accepted" in kinds
    # duplicate or stale callbacks change nothing
    assert not svc.advance(esc.id, rows[0]["key"].rsplit(":", 1)[0], "call no-answer")


def test_sms_reply_accepts_and_the_loop_is_closed(store: Store) -> None:
    policy = Policy.load().with_timing(confirm_after_s=0.0, confirm_wait_s=0.0)
    svc = make_service(store, policy)
    cid, ids = add_customer_with_contacts(
        store,
        svc,
        [
            {"name": "B", "relationship": "son", "phone": SON, "channel": "both"},
        ],
    )
    d = svc.trigger(None, cid, Trigger("kiosk_button"), actor="staff:amy")
    with store.write() as session:  # as if the worker had sent them
        session.execute(update(OutboxRow).values(status="sent"))
    reply = webhooks.sms_reply(svc, {"From": SON, "Body": "maybe later"})
    assert "did not understand" in reply and svc.get(d.escalation_id).state == "notifying"
    reply = webhooks.sms_reply(svc, {"From": SON, "Body": " Yes! "})
    assert "noted that you are helping" in reply
    esc = svc.get(d.escalation_id)
    assert esc.state == "accepted" and esc.accepted_contact_id == ids[0]
    stranger = webhooks.sms_reply(svc, {"From": "+441632960099", "Body": "yes"})
    assert "did not understand" in stranger  # not a contact we texted: nothing accepted
    assert "noted that you are helping" in webhooks.sms_reply(svc, {"From": SON, "Body": "ok"})
    svc.process_due()  # the confirmation call is due at once here
    assert svc.get(d.escalation_id).state == "confirming"
    confirm = [r for r in outbox_rows(store, esc.id) if r["kind"] == "confirm_call"]
    assert len(confirm) == 1 and confirm[0]["to"] == SON
    svc.process_due()  # nobody confirmed in time: raised again
    esc = svc.get(d.escalation_id)
    assert esc.state == "supervisor" and esc.raised_count == 1
    assert "raised_again" in [e.kind for e in svc.events(esc.id)]


def test_agent_queue_order_exclusive_accept_and_sla_breach(store: Store) -> None:
    policy = replace(
        Policy.load(), sla_seconds={"low": 60, "medium": 60, "high": 0.2, "critical": 0.2}
    )
    svc = make_service(store, policy)
    low = svc.trigger("CA1", None, Trigger("person_request")).escalation_id
    scam = svc.trigger("CA2", None, Trigger("scam_signal")).escalation_id
    crit = svc.trigger("CA3", None, Trigger("emergency_word", evidence={"words": ["chest pain"]}))
    assert crit.severity == "critical"
    assert [e.id for e in svc.queue()] == [crit.escalation_id, scam, low]

    results: list[str] = []
    barrier = threading.Barrier(4)

    def take(agent: str) -> None:
        barrier.wait()
        try:
            svc.accept_agent(scam, agent)
            results.append("ok:" + agent)
        except Conflict:
            results.append("409")

    threads = [threading.Thread(target=take, args=(f"agent{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results)[:3] == ["409", "409", "409"] and results.count("409") == 3
    with pytest.raises(Conflict, match="held by agent"):
        svc.accept_agent(scam, "latecomer")

    time.sleep(0.3)
    assert svc.process_due() >= 1
    esc = svc.get(crit.escalation_id)
    assert esc.agent_status == "breached"
    kinds = [e.kind for e in svc.events(esc.id)]
    assert "sla_breach" in kinds and "fallback" in kinds
    stats = svc.stats()
    assert stats["escalations"] == 3 and stats["sla_breaches"] == 1
    assert stats["answered"] == 1 and stats["waiting"] == 2
    assert [e.id for e in svc.queue()] == [crit.escalation_id, low]  # breached stays queued


def test_package_masks_numbers_and_links_expire(store: Store) -> None:
    svc = make_service(store)
    cid, _ = add_customer_with_contacts(store, svc, [])
    _call(
        store,
        "CA9",
        cid,
        ("my account is 1122 3344", "digits"),
        ("[key 7]", None),
        ("my card is 4111 1111 1111 1111 and i fell", "emergency"),
    )
    store.add_segment("CA9", "system", "Your balance is 35 pounds.")
    d = svc.on_transfer("CA9", None, "help")  # the customer comes from the call record
    package = svc.package(d.escalation_id)
    text = str(package)
    for secret in ("1122 3344", "11223344", "4111 1111", "[key 7]"):
        assert secret not in text, secret
    assert package["caller_words"][0] == "my account is •••• ••44"
    assert package["caller_words"][1] == "[key •]"
    assert "35 pounds" in package["transcript"][-1]["text"]
    assert {c["name"] for c in package["cues"]} >= {"fall"}
    assert package["caller"]["name"] == "Mrs Edith Harper"
    assert mask_text("one two three four five six") == "[6 digits spoken]"

    token = d.handoff_url.rsplit("/", 1)[1]
    grant, view = svc.open_link(token, "test-viewer")
    assert grant.audience == "agent" and view["caller_words"] == package["caller_words"]
    with pytest.raises(LinkError, match="not valid"):
        svc.open_link(token + "x", "test-viewer")
    with store.write() as session:
        session.execute(update(HandoffTokenRow).values(expires_at=utcnow() - timedelta(1)))
    with pytest.raises(LinkError, match="expired"):
        svc.open_link(token, "test-viewer")
    from emergency_contact.audit import audit_entries

    with store.read() as session:
        actions = [e.action for e in audit_entries(session, entity="escalation")]
    assert actions[:2] == ["handoff_link_expired", "handoff_link_viewed"]


def test_a_graver_trigger_on_the_same_call_adds_the_contacts(store: Store) -> None:
    svc = make_service(store)
    cid, ids = add_customer_with_contacts(
        store,
        svc,
        [
            {"name": "A", "relationship": "daughter", "phone": "+441632960011"},
        ],
    )
    first = svc.trigger("CA-x", cid, Trigger("person_request"))
    assert first.severity == "low" and outbox_rows(store) == []
    second = svc.trigger("CA-x", cid, Trigger("help_request"))
    esc = svc.get(first.escalation_id)
    assert second.escalation_id == esc.id and esc.severity == "high"
    assert esc.state == "notifying" and esc.actions == ["transfer", "notify_contacts"]
    assert [r["contact_id"] for r in outbox_rows(store)] == ids
