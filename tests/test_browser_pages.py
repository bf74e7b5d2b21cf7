"""The agent console and the kiosk page in a real browser (Playwright driving Debian's
Chromium), against a real app with real speech engines: sign in, see an escalation arrive live,
read the hostile transcript as text and the cue timeline, accept, resolve; on the kiosk, start a
visit, speak through a fake microphone playing a WAV, see the transcript, register a contact,
escalate, and watch the agent page follow the visit live. Screenshots go to tests/artifacts/;
axe-core checks both pages (no serious or critical violations)."""

from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import expect
from test_web_support import PASSWORD, WebServer, web_server

from emergency_contact.records import Trigger
from speech.tts import VoiceSettings, synthesize
from speech.wav import Audio, write_wav

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).with_name("artifacts")
HOSTILE = '<script>window.__pwned=1</script><b>bold</b> "><img src=x onerror="window.__pwned=2">'
WAIT_MS = 120_000


def _chromium() -> str:
    if not CHROMIUM.is_file() or shutil.which(str(CHROMIUM)) is None:
        raise AssertionError(
            f"{CHROMIUM} is missing: apt-get install chromium (scripts/setup.sh --dev)"
        )
    return str(CHROMIUM)


def _mic_wav(path: Path) -> Path:
    """The visitor's voice for the fake microphone: 'yes', then silence (Chromium loops it)."""
    audio = synthesize("yes", VoiceSettings(voice="en-us", rate_wpm=140, pitch=40))
    rate = audio.sample_rate
    silence = np.zeros(int(rate * 0.6), dtype=np.int16)
    tail = np.zeros(int(rate * 2.6), dtype=np.int16)
    samples = np.concatenate([silence, audio.samples.astype(np.int16), tail])
    write_wav(path, Audio(samples, rate))
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    with web_server(tmp_path_factory.mktemp("web-browser")) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from playwright.sync_api import sync_playwright

    wav = _mic_wav(tmp_path_factory.mktemp("mic") / "visitor-yes.wav")
    args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}",
        "--autoplay-policy=no-user-gesture-required",
    ]
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=_chromium(), args=args)
        try:
            yield b
        finally:
            b.close()


def _sign_in(browser, base: str, username: str):  # noqa: ANN001, ANN202
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    return context, page


def _axe(page, name: str) -> list[dict]:  # noqa: ANN001
    """axe-core on the page: the serious and critical violations (report saved)."""
    page.add_script_tag(url="/static/vendor/axe.min.js")
    result = page.evaluate(
        """async () => await axe.run(document, {runOnly: {type: 'tag', values:
            ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice']}})"""
    )
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"axe-{name}.json").write_text(json.dumps(result["violations"], indent=1))
    assert result["passes"], "axe ran no checks"
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["html"] for n in v["nodes"]][:3]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def _seed_call(server: WebServer) -> tuple[int, str]:
    store = server.store
    customer = store.customer_by_phone("+441632960001") or store.create_customer(
        "Mrs Edith Harper", "11223344", phone="+441632960001"
    )
    sid = "CAbrowser0001"
    store.start_call(call_sid=sid, channel="phone", from_number=customer.phone, to_number=None)
    store.identify_call(sid, customer.id)
    store.add_segment(sid, "system", "Hello. How can I help?", intent="greeting", confidence=1.0,
                      audio_start_s=0.0, audio_end_s=0.0)  # fmt: skip
    store.add_segment(sid, "caller", HOSTILE, intent=None, confidence=0.4,
                      audio_start_s=1.0, audio_end_s=3.0)  # fmt: skip
    store.add_segment(sid, "caller", "help me I have fallen and I can't get up", intent="help",
                      confidence=0.81, audio_start_s=5.0, audio_end_s=8.5)  # fmt: skip
    store.create_ticket("The heating engineer did not come", customer_id=customer.id, call_sid=sid)
    return customer.id, sid


def test_agent_console_in_browser(server: WebServer, browser) -> None:  # noqa: ANN001
    customer_id, sid = _seed_call(server)
    context, page = _sign_in(browser, server.base_url, "alice")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.wait_for_url("**/agent")
    page.get_by_text("Live: new items appear here by themselves.").wait_for(timeout=WAIT_MS)
    # an escalation raised now (in another thread, as a call session would) appears live
    decision: list = []
    t = threading.Thread(
        target=lambda: decision.append(
            server.escalation.trigger(sid, customer_id, Trigger("help_request", None, {}))
        )
    )
    t.start()
    t.join()
    esc_id = decision[0].escalation_id
    link = page.get_by_role("link", name=f"Escalation {esc_id}")
    link.wait_for(timeout=WAIT_MS)
    row = page.locator("#queue-body tr", has=link)
    assert "high" in row.inner_text()
    expect(row.locator(".waiting")).to_have_text(re.compile(r"^\d+ s$|min"))
    expect(row.locator(".deadline")).to_have_text(re.compile(r"^(in|overdue by) \d+ s$"))
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "agent-queue.png"), full_page=True)
    link.click()
    page.wait_for_url(f"**/agent/escalations/{esc_id}")
    transcript = page.locator("#transcript")
    text = transcript.inner_text()
    # the hostile words are shown as text, never run or parsed as HTML
    assert "<script>window.__pwned=1</script>" in text
    assert '"><img src=x onerror=' in text
    assert transcript.locator("img, script, b").count() == 0
    assert page.evaluate("window.__pwned === undefined")
    assert not dialogs
    assert "I can't get up" in page.locator("#words-h + table").inner_text()
    assert "help" in page.locator("#words-h + table").inner_text()
    # the cue timeline: bars for the cues found in the words, and the score line
    svg = page.locator("svg#cue-timeline")
    assert svg.locator("rect.cue").count() >= 1
    assert svg.locator("polyline.score").count() == 1
    labels = svg.locator("text.label").all_text_contents()
    assert any(lbl in ("fall", "asking_for_help", "pain") for lbl in labels), labels
    assert "Mrs Edith Harper" in page.locator("#profile-h + dl").inner_text()
    page.screenshot(path=str(ARTIFACTS / "agent-handoff.png"), full_page=True)
    assert _axe(page, "agent-handoff") == []
    page.get_by_role("button", name="Accept").click()
    page.get_by_text("You have this item.").wait_for(timeout=WAIT_MS)
    assert server.escalation.get(esc_id).agent_id == "alice"
    page.get_by_label("Add a note").fill("Spoke to her; neighbour is going round.")
    page.get_by_role("button", name="Save note").click()
    page.get_by_text("Note saved.").wait_for(timeout=WAIT_MS)
    page.get_by_label("Outcome").select_option("contact_reached")
    page.get_by_label("What was done").fill("neighbour with her")
    page.get_by_role("button", name="Resolve").click()
    page.get_by_text("Resolved: contact reached.").wait_for(timeout=WAIT_MS)
    assert server.escalation.get(esc_id).state == "resolved"
    context.close()


def test_kiosk_visit_in_browser(server: WebServer, browser) -> None:  # noqa: ANN001
    if server.store.customer_by_phone("+441632960001") is None:
        _seed_call(server)
    context, page = _sign_in(browser, server.base_url, "kim")
    page.wait_for_url("**/kiosk")
    size = page.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert size >= 20, f"kiosk body text is {size}px"
    page.get_by_label("Name or phone number").fill("Harper")
    page.get_by_role("button", name="Find").click()
    page.get_by_role("button", name="Mrs Edith Harper, +441632960001").click()
    page.get_by_role("button", name="Start talking").click()
    page.get_by_text("Microphone on: the visitor can speak.").wait_for(timeout=WAIT_MS)
    lines = page.locator("#kiosk-transcript li")
    # the system speaks first (asks who is visiting), then the visitor's 'yes' is recognised
    page.locator("#kiosk-transcript li.who-caller").first.wait_for(timeout=WAIT_MS)
    first = page.locator("#kiosk-transcript li.who-caller").first
    said = first.locator(".text").inner_text()
    # real recognition of a synthesized 'yes' (the phrase list has yes, yeah, ...)
    assert "yes" in first.locator(".intent").inner_text(), first.inner_text()
    assert lines.count() >= 2
    calls = server.store.calls_for_customer(server.store.customer_by_phone("+441632960001").id)
    kiosk_calls = [c for c in calls if c.channel == "kiosk"]
    assert kiosk_calls, "the visit is not stored as a kiosk call"
    visit_sid = kiosk_calls[0].call_sid
    # contacts with consent
    page.get_by_label("Name", exact=True).fill("Tom Harper")
    page.get_by_label("Relationship").fill("son")
    page.get_by_label("Phone", exact=True).fill("+441632960123")
    page.get_by_label("Consent given by (name), or leave empty if not yet").fill("Tom Harper")
    page.get_by_role("button", name="Save contact").click()
    page.get_by_text("consent given by Tom Harper").wait_for(timeout=WAIT_MS)
    page.screenshot(path=str(ARTIFACTS / "kiosk.png"), full_page=True)
    assert _axe(page, "kiosk") == []
    # the one button: family / emergency contacts, with the transcript attached
    page.get_by_role("button", name="Call family / emergency contacts").click()
    page.get_by_text("Emergency contacts are being called").wait_for(timeout=WAIT_MS)
    esc = server.escalation.for_call(visit_sid)
    assert esc is not None and esc.channel == "kiosk" and esc.trigger_kind == "kiosk_button"
    package = server.escalation.package(esc.id)
    assert said in package["caller_words"], (said, package["caller_words"])
    # an agent follows the visit live: new lines appear while the visitor keeps talking
    agent_ctx, agent = _sign_in(browser, server.base_url, "alice")
    agent.wait_for_url("**/agent")
    agent.goto(f"/agent/escalations/{esc.id}")
    before = agent.locator("#transcript li").count()
    agent.locator("#transcript li").nth(before).wait_for(timeout=WAIT_MS)
    agent.screenshot(path=str(ARTIFACTS / "agent-live-kiosk.png"), full_page=True)
    agent_ctx.close()
    page.get_by_role("button", name="End the visit").click()
    page.get_by_text("Visit ended.").wait_for(timeout=WAIT_MS)
    assert server.store.get_call(visit_sid).ended_at is not None
    context.close()
