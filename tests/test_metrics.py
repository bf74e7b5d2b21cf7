"""GET /metrics of the real app: scraped before, during and after a simulated call through the
real websocket, endpointer, recognizer, dialog and store; the escalation the call raises, its
SLA breach and a person accepting it; the escalation workflow's observer on SQLite and
PostgreSQL (figures equal `EscalationService.stats`), notification retries against the Twilio
stand-in, the bearer token, one registry per app, and labels that never carry a number."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest
from call_fixtures import AUTH_TOKEN, IvrServer, closed_call, fresh_caller, spoken, wait_key
from escalation_fixtures import (
    ACCOUNT_SID,
    FROM_NUMBER,
    add_customer_with_contacts,
    make_service,
)
from escalation_fixtures import AUTH_TOKEN as TWILIO_TOKEN
from prometheus_client.parser import text_string_to_metric_families
from test_web_support import PASSWORD, client_for
from twilio_standin import TwilioStandIn

from carestore import Store
from emergency_contact.notifier import TwilioNotifier
from emergency_contact.policy import Policy
from emergency_contact.records import Trigger
from emergency_contact.worker import OutboxWorker
from ivr.app import create_app
from ivr.metrics import ServiceMetrics
from ivr.reporting import ServiceReport, build_report
from ivr.settings import Settings
from ivr.twilio.simulator import TwilioCallSimulator
from ivr.web.auth_users import UserBook

Samples = dict[tuple[str, frozenset], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape, by (name, labels)."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(base: str, token: str = "") -> Samples:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.get(base + "/metrics", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return parse(answer.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape_until(base: str, done: Callable[[Samples], bool], what: str) -> Samples:
    """Scrape until `done` holds (the session's last events follow the stream's end)."""
    deadline = time.monotonic() + 20
    while True:
        samples = scrape(base)
        if done(samples):
            return samples
        if time.monotonic() > deadline:
            raise AssertionError(f"metrics never showed {what}")
        time.sleep(0.1)


def test_a_call_moves_the_metrics(ivr_server: IvrServer) -> None:
    srv = ivr_server
    # a caller of its own: the voice baseline this call learns stays with this customer, so no
    # later test's caller is compared with it
    phone = fresh_caller(srv, "Mr Arthur Pike").phone
    before = scrape(srv.base_url)
    stored_before = build_report(srv.deps.store, timedelta(hours=6))
    phone_calls = value(before, "ivr_calls_in_progress", channel="phone")
    during: dict[str, Samples] = {}

    async def scenario() -> TwilioCallSimulator:
        async with TwilioCallSimulator(srv.base_url, AUTH_TOKEN, from_=phone, speed=5) as call:
            await wait_key(call, "confirm_identity")
            during["greeted"] = await asyncio.to_thread(scrape, srv.base_url)
            await call.say_pcm(spoken("yes"))
            await wait_key(call, "main_menu")
            during["answered"] = await asyncio.to_thread(scrape, srv.base_url)
            await call.say_pcm(spoken("operator"))
            await call.wait_closed()
            return call

    call = asyncio.run(scenario())
    closed_call(srv.deps.store, call.call_sid)
    after = scrape_until(
        srv.base_url,
        lambda s: value(s, "ivr_calls_in_progress", channel="phone") == phone_calls,
        "the call ended",
    )

    # in progress: one more while the call runs, back afterwards
    greeted, answered = during["greeted"], during["answered"]
    assert value(greeted, "ivr_calls_in_progress", channel="phone") == phone_calls + 1
    assert value(answered, "ivr_calls_in_progress", channel="phone") == phone_calls + 1
    # recognitions by dialect: "yes" heard in English while the call runs; "operator" after
    heard = [e for e in srv.events_of(call.call_sid) if e.kind == "heard"]
    assert [e.data["dialect"] for e in heard] == ["en", "en"], [e.data for e in heard]
    rec = "ivr_recognitions_total"
    assert value(answered, rec, dialect="en") == value(before, rec, dialect="en") + 1
    assert value(after, rec, dialect="en") == value(before, rec, dialect="en") + 2
    conf = "ivr_recognition_confidence_count"
    assert value(after, conf, dialect="en") == value(before, conf, dialect="en") + 2
    no_match = sum(1 for e in heard if e.data["input_kind"] == "no_match")
    nm = "ivr_recognition_no_match_total"
    assert value(after, nm, dialect="en") == value(before, nm, dialect="en") + no_match
    # end of speech -> reply: one observation per answer that got a spoken reply
    latencies = [e.data for e in srv.events_of(call.call_sid) if e.kind == "reply_latency"]
    replies = len(latencies)
    # each answer was recognised from the audio settled during its trailing silence
    # (ivr.session.early), the same audio its end then carried
    assert all(d["early"] for d in latencies), latencies
    lat = "ivr_reply_latency_seconds_count"
    assert replies >= 2
    assert value(answered, lat) >= value(before, lat) + 1
    assert value(after, lat) == value(before, lat) + replies
    assert value(after, "ivr_reply_latency_seconds_sum") > value(
        before, "ivr_reply_latency_seconds_sum"
    )
    # handled: one more phone call, handed to a person
    handled = "ivr_calls_handled_total"
    for outcome in ("transferred", "completed", "caller_hung_up"):
        grew = value(after, handled, channel="phone", outcome=outcome) - value(
            before, handled, channel="phone", outcome=outcome
        )
        assert grew == (1 if outcome == "transferred" else 0), (outcome, grew)

    # the store tells the same story (`ivr report`): the call, its answers, and the request
    # for a person recorded against the question where it was made
    stored = build_report(srv.deps.store, timedelta(hours=6))

    def calls(r: ServiceReport) -> int:
        return sum(c.count for c in r.calls if (c.channel, c.outcome) == ("phone", "transferred"))

    def answers(r: ServiceReport) -> tuple[int, int]:
        en = [(d.recognitions, d.no_matches) for d in r.recognition if d.dialect == "en"]
        return en[0] if en else (0, 0)

    def person_at_menu(r: ServiceReport) -> int:
        return sum(p.person_requests for p in r.prompts if p.state == "main_menu")

    assert calls(stored) == calls(stored_before) + 1
    assert answers(stored)[0] == answers(stored_before)[0] + 2
    assert answers(stored)[1] == answers(stored_before)[1] + no_match
    assert person_at_menu(stored) == person_at_menu(stored_before) + 1

    # the escalation the request for a person started
    svc = srv.deps.escalation
    esc = svc.for_call(call.call_sid)
    assert esc is not None and esc.trigger_kind == "person_request"
    started = "ivr_escalations_total"
    labels = {"trigger": esc.trigger_kind, "severity": esc.severity}
    assert value(after, started, **labels) == value(before, started, **labels) + 1

    # nobody picked up the agent's phone: an SLA breach (or the worker found the SLA passed)
    async def dial_done() -> httpx.Response:
        async with TwilioCallSimulator(srv.base_url, AUTH_TOKEN, from_=phone) as sim:
            sim.call_sid = call.call_sid
            form = sim._form("in-progress") | {"DialCallStatus": "no-answer"}
            return await sim.post("/twilio/dial-done", form)

    assert asyncio.run(dial_done()).status_code == 200
    breaches = "ivr_escalation_sla_breaches_total"
    was = value(before, breaches, severity=esc.severity)
    breached = scrape_until(
        srv.base_url, lambda s: value(s, breaches, severity=esc.severity) > was, "the SLA breach"
    )
    assert value(breached, breaches, severity=esc.severity) == was + 1

    # a signed-in agent takes it: the time to a person is observed
    UserBook(srv.deps.store).add("metricsagent", PASSWORD, "agent", "Metrics Agent")
    agent = client_for(srv.base_url, "metricsagent")
    try:
        accepted = agent.post(f"/api/escalations/{esc.id}/accept")
        assert accepted.status_code == 200, accepted.text
    finally:
        agent.close()
    final = scrape(srv.base_url)
    waited = "ivr_escalation_time_to_person_seconds_count"
    assert value(final, waited, severity=esc.severity) == (
        value(before, waited, severity=esc.severity) + 1
    )
    answered_at = svc.get(esc.id).answered_at
    seconds = (answered_at - esc.created_at).total_seconds()
    slower = value(
        final, "ivr_escalation_time_to_person_seconds_bucket", severity=esc.severity, le="300.0"
    )
    assert slower == value(
        before, "ivr_escalation_time_to_person_seconds_bucket", severity=esc.severity, le="300.0"
    ) + (1 if seconds <= 300 else 0)
    share = value(final, "ivr_escalations_answered_within_15s_ratio")
    if seconds <= 15:  # this one counts as answered in time
        assert 0.0 < share <= 1.0
    else:  # and this one as not
        assert 0.0 <= share < 1.0
    # no caller's number, name or call id ever reaches the metrics
    text = httpx.get(srv.base_url + "/metrics", timeout=10).text
    assert phone not in text and phone.lstrip("+") not in text and call.call_sid not in text


def test_metrics_token(ivr_server: IvrServer) -> None:
    srv = ivr_server
    srv.settings.metrics_token = "scrape-secret"
    try:
        bare = httpx.get(srv.base_url + "/metrics", timeout=10)
        assert bare.status_code == 401 and bare.headers["www-authenticate"].startswith("Bearer")
        wrong = httpx.get(
            srv.base_url + "/metrics", headers={"Authorization": "Bearer guess"}, timeout=10
        )
        assert wrong.status_code == 401
        basic = httpx.get(srv.base_url + "/metrics", auth=("x", "scrape-secret"), timeout=10)
        assert basic.status_code == 401
        assert "ivr_calls_handled_total" in str(scrape(srv.base_url, "scrape-secret"))
    finally:
        srv.settings.metrics_token = ""
    assert httpx.get(srv.base_url + "/metrics", timeout=10).status_code == 200


def test_each_app_has_its_own_registry_and_labels_stay_bounded(tmp_path) -> None:  # noqa: ANN001
    one = create_app(Settings(data_dir=tmp_path / "a", database_url=""))
    two = create_app(Settings(data_dir=tmp_path / "b", database_url=""))
    m1: ServiceMetrics = one.state.metrics
    m2: ServiceMetrics = two.state.metrics
    assert m1.registry is not m2.registry
    m1.outbound_attempt("check_in", "answered")
    m1.outbound_attempt("check_in", "answered")
    m1.outbound_attempt("reminder", "+441632960001")  # a number is never a label value
    m1.outbound_attempt("Check In!", "no_answer")
    s1, s2 = parse(m1.exposition().decode()), parse(m2.exposition().decode())
    att = "ivr_outbound_attempts_total"
    assert value(s1, att, kind="check_in", outcome="answered") == 2
    assert value(s1, att, kind="reminder", outcome="other") == 1
    assert value(s1, att, kind="other", outcome="no_answer") == 1
    assert value(s2, att, kind="check_in", outcome="answered") == 0
    assert "441632960001" not in m1.exposition().decode()
    # at most 32 values of one label: the rest is "other"
    for n in range(40):
        m2.notification_retry(f"channel{n}")
    channels = {
        dict(labels)["channel"]
        for (name, labels) in parse(m2.exposition().decode())
        if name == "ivr_notification_retries_total"
    }
    assert len(channels) == 33 and "other" in channels
    # before any escalation was queued for a person, the share is NaN (alerts stay quiet)
    assert math.isnan(value(s1, "ivr_escalations_answered_within_15s_ratio"))


def test_escalation_observer_matches_the_stored_figures(store: Store) -> None:
    policy = replace(
        Policy.load(), sla_seconds={"low": 600, "medium": 600, "high": 600, "critical": 0.05}
    )
    svc = make_service(store, policy)
    metrics = ServiceMetrics()

    class Broken:
        def __getattr__(self, name: str):  # noqa: ANN204
            raise RuntimeError("a broken observer")

    svc.observers.add(Broken())  # logged; the workflow and the other observers carry on
    svc.observers.add(metrics)
    low = svc.trigger("CA-m1", None, Trigger("person_request"), channel="phone")
    scam = svc.trigger("CA-m2", None, Trigger("scam_signal"), channel="kiosk")
    crit = svc.trigger("CA-m3", None, Trigger("emergency_word", evidence={"words": ["chest pain"]}))
    svc.trigger("CA-m1", None, Trigger("person_request"))  # the same call again: no new one
    svc.accept_agent(low.escalation_id, "agent1")
    svc.agent_answered(low.escalation_id)  # answered once only
    deadline = time.monotonic() + 10
    while svc.get(crit.escalation_id).agent_status != "breached":
        svc.process_due()
        assert time.monotonic() < deadline, "the critical SLA never passed"
        time.sleep(0.02)
    svc.observers.remove(metrics)
    svc.accept_agent(scam.escalation_id, "agent2")  # no longer observed
    s = parse(metrics.exposition().decode())
    esc = "ivr_escalations_total"
    assert value(s, esc, trigger="person_request", severity=low.severity) == 1
    assert value(s, esc, trigger="scam_signal", severity=scam.severity) == 1
    assert value(s, esc, trigger="emergency_word", severity="critical") == 1
    assert sum(v for (n, _), v in s.items() if n == esc) == 3
    stats = svc.stats()
    assert stats["escalations"] == 3 and stats["sla_breaches"] == 1 and stats["answered"] == 2
    breaches = {
        dict(labels)["severity"]: v
        for (name, labels), v in s.items()
        if name == "ivr_escalation_sla_breaches_total"
    }
    assert breaches == {"critical": 1}
    waited = (
        svc.get(low.escalation_id).answered_at - svc.get(low.escalation_id).created_at
    ).total_seconds()
    count = "ivr_escalation_time_to_person_seconds_count"
    assert value(s, count, severity=low.severity) == 1
    assert value(s, "ivr_escalation_time_to_person_seconds_sum", severity=low.severity) == (
        pytest.approx(waited, abs=1e-3)
    )
    assert value(s, "ivr_escalations_answered_within_15s_ratio") == pytest.approx(
        (1 if waited <= 15 else 0) / 3
    )


def test_notification_retries_are_counted(store: Store) -> None:
    policy = Policy.load().with_timing(max_attempts=4, retry_base_s=0.05, answer_wait_s=60)
    svc = make_service(store, policy)
    cid, _ = add_customer_with_contacts(
        store, svc, [{"name": "A", "relationship": "daughter", "phone": "+441632960011"}]
    )
    metrics = ServiceMetrics()
    svc.observers.add(metrics)
    with TwilioStandIn(ACCOUNT_SID, TWILIO_TOKEN) as standin:
        standin.fail("Calls", 500, times=2)  # two failed attempts, then the call is placed
        notifier = TwilioNotifier(
            ACCOUNT_SID, TWILIO_TOKEN, FROM_NUMBER, api_base_url=standin.base_url
        )
        worker = OutboxWorker(svc, notifier, poll_s=0.05).start()
        try:
            svc.trigger(None, cid, Trigger("kiosk_button"), channel="kiosk", actor="staff")
            standin.wait_for(lambda: standin.created("Calls"), timeout=30, what="a created call")
        finally:
            worker.stop()
    s = parse(metrics.exposition().decode())
    assert value(s, "ivr_notification_retries_total", channel="call") == 2
    assert value(s, "ivr_notification_retries_total", channel="sms") == 0
