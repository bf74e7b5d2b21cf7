"""Calls the service places, in the customer's own language, and the rule packs are checked by.

- A Korean customer (preferred dialect `ko` on the profile) gets a check-in call through the
  real app (scheduler loop, outbox worker, Twilio REST stand-in, media websocket, Vosk Korean
  recognizer, espeak-ng `ko` voice), hears it in Korean, answers "네" (synthesized with espeak-ng's
  Korean voice) and the call completes as "well".
- Amounts and dates of outbound prompts are worded for each language.
- `ivr dialects check` validates a pack against every flow the service runs (default +
  outbound): an intent or prompt any of them uses is fine; a key some flow speaks is missing
  only when neither the pack nor its base words it. `--flow` checks one flow.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from call_fixtures import closed_call, said_in, wait_key
from outbound_rig import Rig, answered, day_zone, outbound_rig, run
from typer.testing import CliRunner

from dialects.loader import PACKS_DIR
from ivr.cli import app
from ivr.dialog.spoken import amount_words, date_words
from ivr.flows import load_bundle
from ivr.flows.packs import check_pack, service_flow_names


def _hangul(text: str) -> bool:
    return any("\uac00" <= ch <= "\ud7a3" for ch in text)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with outbound_rig(Path(tmp_path_factory.mktemp("outbound-ko"))) as r:
        yield r


def test_korean_customer_gets_a_korean_checkin_and_answers_ne(rig: Rig) -> None:
    phone = "+821012345678"
    zone = day_zone()
    cid = rig.add_customer("김순자", phone, "30000801", zone, language="ko", dialect="ko")
    # a weekly plan three days from now, so the call says when the next one is
    local_today = datetime.now(UTC).astimezone(ZoneInfo(zone)).date()
    rig.consent(cid, weekday=(local_today.weekday() + 3) % 7, time_of_day="10:30")
    call = rig.outbound.schedule(cid, "checkin", actor="test")
    created = rig.wait_calls_to(phone)[0]

    async def person(sim) -> None:  # noqa: ANN001
        await wait_key(sim, "confirm_identity")
        await sim.say_pcm(said_in("ko", "네"))
        await wait_key(sim, "checkin_ask")
        await sim.say_pcm(said_in("ko", "네"))

    sim = run(answered(rig, created, person))
    assert "<Hangup" in (sim.action_twiml or ""), sim.action_twiml
    closed_call(rig.store, created.sid)
    done = rig.wait_call(call.id, lambda c: c.status == "completed")
    assert done.outcome == "well" and done.attempts == 1

    events = [e for e in rig.events if e.call_sid == created.sid]
    start = next(e for e in events if e.kind == "start")
    assert start.data["dialect"] == "ko", start.data
    prompts = [e.data for e in events if e.kind == "prompt"]
    keys = [p["key"] for p in prompts]
    assert keys[:3] == ["outbound_hello", "listening_notice", "confirm_identity"], keys
    assert "checkin_glad" in keys and "transfer_person" not in keys
    assert {p["voice"] for p in prompts} == {"ko"}, prompts  # espeak-ng's Korean voice
    assert all(_hangul(p["text"]) for p in prompts), [p["text"] for p in prompts]
    by_key = {p["key"]: p["text"] for p in prompts}
    assert "김순자 님" in by_key["confirm_identity"]
    assert rig.settings.service_name in by_key["outbound_hello"]
    # the next call's date in Korean words ("12월 4일 금요일"), never an English weekday
    nxt = by_key["checkin_next_call"]
    assert "월 " in nxt and "일 " in nxt and "요일" in nxt, nxt
    assert not any(day in nxt for day in ("Monday", "Friday", "Sunday", "the ")), nxt

    caller = [s for s in rig.store.transcript(created.sid) if s.speaker == "caller"]
    spoken = [s for s in caller if not (s.extra or {}).get("dtmf")]
    # both answers were spoken "네" and understood by the Korean recognizer (no keypad)
    assert [s.intent for s in spoken] == ["yes", "yes"], [(s.text, s.intent) for s in caller]
    assert all(s.extra.get("dialect") == "ko" for s in spoken), [s.extra for s in spoken]
    assert all(s.text in ("네", "예", "응") for s in spoken), [s.text for s in spoken]
    system = [s for s in rig.store.transcript(created.sid) if s.speaker == "system"]
    assert system and all(_hangul(s.text) for s in system)


def test_outbound_amounts_and_dates_in_each_language() -> None:
    today = date(2026, 11, 25)
    krw = load_bundle("outbound", dialect="ko").prompts.currencies["KRW"]
    cny = load_bundle("outbound", dialect="cmn").prompts.currencies["CNY"]
    # outbound calls say them with `digits=True`: the same words as inbound calls in Korean
    # and Chinese; English numbers in digits, the key words the slow TTS pauses around
    assert amount_words(Decimal("12500"), krw, "ko", digits=True) == "만 이천오백 원"
    assert date_words(date(2026, 12, 4), today, "ko", digits=True) == "12월 4일 금요일"
    assert date_words(date(2027, 1, 14), today, "ko", digits=True) == "2027년 1월 14일 목요일"
    # commas keep a large amount one number (five bare digits are read as a reference)
    assert amount_words(Decimal("12500.50"), cny, "cmn", digits=True) == "12,500 元 50 分"
    assert date_words(date(2026, 12, 4), today, "cmn", digits=True) == "12月4日 星期五"
    assert date_words(date(2026, 12, 4), today, digits=True) == "Friday the 4th of December"
    ko = load_bundle("outbound", dialect="ko-gyeongsang").prompts  # inherits the base's
    text = ko.render("reminder_payment", {"reminder_amount": "삼만 원", "reminder_date": "x"})
    assert text.startswith("다음 납부 금액은 삼만 원 입니다.")
    yue = load_bundle("outbound", dialect="yue").prompts
    assert "撳 1" in yue.texts["checkin_ask"] and "短訊" in yue.texts["reminder_choice"]


def test_packs_are_checked_against_every_flow_the_service_runs() -> None:
    assert service_flow_names() == ["default", "outbound"]
    outbound = load_bundle("outbound").flow
    # en-gb has main-menu words (account, problem, progress) only the default flow uses
    alone = [i for i in check_pack("en-gb", outbound, vocabulary=False) if i.severity == "error"]
    assert any("unknown intent 'account'" in i.message for i in alone), alone
    assert check_pack("en-gb", vocabulary=False) == []
    # Korean words text_me, which only the outbound flow uses
    assert [i for i in check_pack("ko") if i.severity == "error"] == []


def test_a_prompt_only_the_outbound_flow_speaks_is_still_required(tmp_path: Path) -> None:
    shutil.copy(PACKS_DIR / "ko-gyeongsang.yaml", tmp_path / "ko-gyeongsang.yaml")
    lines = (PACKS_DIR / "ko.yaml").read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [ln for ln in lines if not ln.startswith("  checkin_glad:")]
    assert len(kept) == len(lines) - 1
    (tmp_path / "ko.yaml").write_text("".join(kept), encoding="utf-8")
    prompts_line = next(n for n, ln in enumerate(kept, 1) if ln.startswith("prompts:"))
    default = load_bundle().flow
    # the default flow alone does not speak it (and does not know text_me, the outbound
    # flow's intent: that is why a pack is checked against every flow)
    alone = check_pack("ko", default, folder=str(tmp_path), vocabulary=False)
    assert [i.message.split(" (")[0] for i in alone] == ["unknown intent 'text_me'"], alone
    for pid in ("ko", "ko-gyeongsang"):  # the regional pack inherits the gap
        issues = check_pack(pid, folder=str(tmp_path), vocabulary=False)
        missing = [i for i in issues if "prompts missing for the flow" in i.message]
        assert missing and "checkin_glad" in missing[0].message, issues
        assert (Path(missing[0].file).name, missing[0].line) == ("ko.yaml", prompts_line)

    runner = CliRunner()
    bad = runner.invoke(app, ["dialects", "check", "--packs-dir", str(tmp_path), "ko"])
    assert bad.exit_code == 1 and "checkin_glad" in bad.output, bad.output
    only_default = runner.invoke(
        app, ["dialects", "check", "--packs-dir", str(tmp_path), "--flow", "default", "ko"]
    )
    assert "checkin_glad" not in only_default.output, only_default.output
    assert "unknown intent 'text_me'" in only_default.output.replace("\n", "")


def test_cli_checks_all_flows_by_default_and_one_with_flow() -> None:
    runner = CliRunner()
    every = runner.invoke(app, ["dialects", "check", "en-gb", "ko", "yue"])
    assert every.exit_code == 0, every.output
    assert "flow(s): default, outbound" in every.output
    one = runner.invoke(app, ["dialects", "check", "--flow", "outbound", "en-gb"])
    assert one.exit_code == 1 and "unknown intent 'account'" in one.output, one.output
    missing = runner.invoke(app, ["dialects", "check", "--flow", "nowhere", "en"])
    assert missing.exit_code == 2 and "cannot read the flow" in missing.output
