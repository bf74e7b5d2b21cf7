"""Flow, prompt and lexicon files: validation with clear errors, plain language, vocabulary."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from ivr.dialog.backend import InMemoryBackend
from ivr.dialog.engine import DialogEngine
from ivr.dialog.flow import FlowError, load_flow
from ivr.dialog.lexicon import LexiconError, load_lexicon, normalise
from ivr.dialog.prompts import MAX_WORDS_PER_SENTENCE, load_prompts, sentences
from ivr.dialog.spoken import amount_words, date_words, digits_spoken
from ivr.dialog.yamlfile import read_yaml
from ivr.flows import FLOWS_DIR, lexicon_path, load_bundle, prompts_path

DEFAULT = read_yaml(FLOWS_DIR / "default.yaml")
PROMPTS = load_prompts(prompts_path("en"))
LEXICON = load_lexicon(lexicon_path("en"))


def write(tmp_path: Path, data: Any, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def flow_error(tmp_path: Path, data: Any, **kw: Any) -> str:
    path = write(tmp_path, data)
    with pytest.raises(FlowError) as info:
        load_flow(path, prompts=kw.get("prompts", PROMPTS), lexicon=kw.get("lexicon", LEXICON))
    return str(info.value)


def edited() -> dict[str, Any]:
    return copy.deepcopy(DEFAULT)


def test_default_flow_loads_with_its_prompts_and_intents() -> None:
    bundle = load_bundle()
    assert bundle.flow.start == "greeting"
    assert bundle.flow.global_keys == {
        "0": "person",
        "*": "back",
        "#": "more_time",
        "9": "repeat",
        "8": "language",
    }
    menus = [s for s in bundle.flow.states.values() if s.type == "menu"]
    assert menus and all(len(m.choices) <= 4 for m in menus)


def test_yes_and_no_are_words_not_booleans() -> None:
    assert "yes" in LEXICON.intents and "no" in LEXICON.intents
    confirm = load_bundle().flow.states["confirm_goodbye"]
    assert (confirm.yes, confirm.no) == ("goodbye", "@return")


def test_menu_with_more_than_four_choices_is_refused(tmp_path: Path) -> None:
    data = edited()
    choices = data["states"]["main_menu"]["choices"]
    choices.append({"intents": ["goodbye"], "key": "5", "next": "confirm_goodbye"})
    msg = flow_error(tmp_path, data)
    assert "bad.yaml: state 'main_menu': menu has 5 choices; at most 4 allowed" in msg


def test_unknown_target_state_is_refused(tmp_path: Path) -> None:
    data = edited()
    data["states"]["anything_else"]["yes"] = "main_menuu"
    msg = flow_error(tmp_path, data)
    assert "bad.yaml: state 'anything_else': unknown target state 'main_menuu'" in msg


def test_choice_without_a_key_has_no_keypad_path(tmp_path: Path) -> None:
    data = edited()
    del data["states"]["main_menu"]["choices"][2]["key"]
    msg = flow_error(tmp_path, data)
    assert "state 'main_menu': choice 'progress' has no keypad key (no keypad path)" in msg


def test_open_question_without_keys_has_no_keypad_path(tmp_path: Path) -> None:
    data = edited()
    del data["states"]["report_problem"]["keys"]
    msg = flow_error(tmp_path, data)
    assert "state 'report_problem': free_form state has no 'keys'" in msg


def test_prompt_that_never_mentions_its_key_is_refused(tmp_path: Path) -> None:
    data = edited()
    data["states"]["main_menu"]["choices"][0]["key"] = "5"
    msg = flow_error(tmp_path, data)
    assert "state 'main_menu': prompt never mentions key 5 (no keypad path)" in msg
    assert "state 'main_menu': reprompt never mentions key 5" in msg


def test_menu_key_reserved_for_a_global_meaning_is_refused(tmp_path: Path) -> None:
    data = edited()
    data["states"]["main_menu"]["choices"][3]["key"] = "0"
    msg = flow_error(tmp_path, data)
    assert "state 'main_menu': key '0' is reserved everywhere for 'person'" in msg


def test_keypad_standard_meanings_are_required(tmp_path: Path) -> None:
    data = edited()
    data["global_keys"]["*"] = "repeat"
    msg = flow_error(tmp_path, data)
    assert "global_keys: '*' must be 'back' (ISO/IEC 13714)" in msg


def test_unknown_intent_is_refused(tmp_path: Path) -> None:
    data = edited()
    data["states"]["main_menu"]["choices"][0]["intents"] = ["acount"]
    msg = flow_error(tmp_path, data)
    assert "bad.yaml: state 'main_menu': unknown intent 'acount'" in msg
    assert "intents/en.yaml" in msg


def test_unknown_prompt_key_is_refused(tmp_path: Path) -> None:
    data = edited()
    data["states"]["welcome"]["say"] = ["welcom"]
    msg = flow_error(tmp_path, data)
    assert "bad.yaml: state 'welcome': unknown prompt key 'welcom'" in msg
    assert "prompts/en.yaml" in msg


def test_unreachable_state_is_refused(tmp_path: Path) -> None:
    data = edited()
    data["states"]["orphan"] = {"type": "message", "say": ["goodbye"], "next": "main_menu"}
    msg = flow_error(tmp_path, data)
    assert "bad.yaml: state 'orphan': unreachable from start 'greeting'" in msg


def test_step_outcomes_must_all_lead_somewhere(tmp_path: Path) -> None:
    data = edited()
    del data["states"]["check_pin"]["outcomes"]["locked"]
    data["states"]["identify"]["run"] = "identify_by_fingerprint"
    msg = flow_error(tmp_path, data)
    assert "state 'check_pin': step 'verify_account': outcomes ['locked'] have no target" in msg
    assert "state 'identify': unknown step 'identify_by_fingerprint'" in msg


def test_malformed_state_is_named(tmp_path: Path) -> None:
    data = edited()
    data["states"]["welcome"]["colour"] = "blue"
    data["states"]["goodbye"]["type"] = "wave"
    msg = flow_error(tmp_path, data)
    assert "state 'welcome': fields ['colour'] are not allowed in a message state" in msg
    assert "state 'goodbye': type 'wave' is not one of" in msg


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    data = edited()
    data["states"]["anything_else"]["yes"] = "nowhere"
    data["states"]["welcome"]["say"] = ["nothing"]
    path = write(tmp_path, data)
    with pytest.raises(FlowError) as info:
        load_flow(path, prompts=PROMPTS, lexicon=LEXICON)
    assert len(info.value.problems) == 2


def test_reprompt_not_shorter_and_long_sentence_are_refused(tmp_path: Path) -> None:
    data = yaml.safe_load(prompts_path("en").read_text(encoding="utf-8"))
    data["prompts"]["main_menu_reprompt"] = data["prompts"]["main_menu"] + " Please."
    data["prompts"]["goodbye"] = "Thank you " + "very " * 20 + "much."
    prompts = load_prompts(write(tmp_path, data, "en.yaml"))
    msg = flow_error(tmp_path, edited(), prompts=prompts)
    assert "state 'main_menu': reprompt 'main_menu_reprompt'" in msg
    assert "must be shorter than the first prompt" in msg
    assert f"en.yaml: prompt 'goodbye': sentence over {MAX_WORDS_PER_SENTENCE} words" in msg


def test_unknown_placeholder_and_missing_engine_prompt_are_refused(tmp_path: Path) -> None:
    data = yaml.safe_load(prompts_path("en").read_text(encoding="utf-8"))
    data["prompts"]["welcome"] = "Thank you, {first_name}."
    del data["prompts"]["timeout_warning"]
    prompts = load_prompts(write(tmp_path, data, "en.yaml"))
    msg = flow_error(tmp_path, edited(), prompts=prompts)
    assert "state 'welcome': prompt 'welcome' uses unknown placeholders ['first_name']" in msg
    assert "prompt 'timeout_warning' (spoken by the engine) is missing" in msg


def test_structure_is_checked_even_without_prompts_and_lexicon(tmp_path: Path) -> None:
    data = edited()
    data["states"]["anything_else"]["yes"] = "nowhere"
    with pytest.raises(FlowError, match="state 'anything_else': unknown target state 'nowhere'"):
        load_flow(write(tmp_path, data))


def test_engine_refuses_prompts_that_do_not_fit_the_flow(tmp_path: Path) -> None:
    data = yaml.safe_load(prompts_path("en").read_text(encoding="utf-8"))
    del data["prompts"]["main_menu"]
    prompts = load_prompts(write(tmp_path, data, "en.yaml"))
    flow = load_bundle().flow
    with pytest.raises(FlowError, match="state 'main_menu': unknown prompt key 'main_menu'"):
        DialogEngine(flow, prompts, InMemoryBackend(), lexicon=LEXICON)


def test_unreadable_files_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(FlowError, match="missing.yaml: cannot read flow"):
        load_flow(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("states: [unclosed", encoding="utf-8")
    with pytest.raises(FlowError, match="broken.yaml: cannot read flow"):
        load_flow(broken)


# ----- lexicon ------------------------------------------------------------------------------


def test_lexicon_has_the_required_phrases() -> None:
    expect = {
        "yes": ["yes", "yeah", "yes please", "correct", "that's right"],
        "repeat": ["repeat", "say that again", "pardon", "what"],
        "slower": ["slower", "slow down", "speak slower"],
        "person": ["person", "operator", "agent", "a real person", "talk to someone", "human"],
        "emergency": ["emergency", "i've fallen", "i fell", "chest pain", "i can't breathe"],
        "help": ["help"],
        "more_time": ["more time", "wait", "hold on"],
        "back": ["back"],
    }
    for intent, phrases in expect.items():
        assert set(phrases) <= set(LEXICON.phrases(intent)), intent
    assert LEXICON.words_to_digits("four seven one nine") == "4719"
    assert LEXICON.words_to_digits("oh two double five, triple nine") == "0255999"
    assert LEXICON.words_to_digits("my number is 4719") == "4719"
    assert LEXICON.words_to_digits("hello there") == ""


def test_normalise_handles_case_punctuation_and_curly_apostrophes() -> None:
    assert normalise("  I\u2019ve   FALLEN!! ") == "i've fallen"
    assert normalise("Yes, please.") == "yes please"


def test_lexicon_refuses_a_phrase_in_two_intents(tmp_path: Path) -> None:
    data = {"intents": {"yes": ["yes", "right"], "back": ["right"]}, "digits": {}}
    with pytest.raises(LexiconError, match="'right' belongs to both 'yes' and 'back'"):
        load_lexicon(write(tmp_path, data, "xx.yaml"))


def test_lexicon_needs_every_digit(tmp_path: Path) -> None:
    digits = {w: i for i, w in enumerate("zero one two three four five six seven eight".split())}
    with pytest.raises(LexiconError, match=r"no digit word for \['9'\]"):
        load_lexicon(write(tmp_path, {"intents": {"yes": ["yes"]}, "digits": digits}, "xx.yaml"))


def test_every_phrase_word_is_in_the_recognizer_vocabulary() -> None:
    """The bundled English recognizer (PocketSphinx en-us) must know every word we listen for."""
    import pocketsphinx

    dictionary = Path(pocketsphinx.get_model_path()) / "en-us" / "cmudict-en-us.dict"
    assert dictionary.is_file(), f"PocketSphinx en-us dictionary missing at {dictionary}"
    known = {line.split()[0].split("(")[0] for line in dictionary.open(encoding="utf-8")}
    words = {w for ps in LEXICON.intents.values() for p in ps for w in p.split()}
    words |= set(LEXICON.digit_words) | set(LEXICON.multipliers)
    assert len(words) > 50
    assert sorted(words - known) == []


# ----- plain language -----------------------------------------------------------------------


def test_every_prompt_is_plain_short_sentences() -> None:
    for key, text in PROMPTS.texts.items():
        for sentence in sentences(text):
            assert len(sentence.split()) <= MAX_WORDS_PER_SENTENCE, (key, sentence)


def test_every_menu_and_question_prompt_offers_keys_and_words() -> None:
    flow = load_bundle().flow
    for state in flow.states.values():
        if state.type in ("menu", "confirm"):
            text = " ".join(PROMPTS.texts[p.key] for p in state.say)
            assert "press 1" in text, state.name
            assert "say " in text.lower(), state.name


# ----- spoken forms -------------------------------------------------------------------------

GBP = PROMPTS.currencies["GBP"]


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("1234.50", "one thousand two hundred and thirty four pounds and fifty pence"),
        ("1.00", "one pound"),
        ("0", "zero pounds"),
        ("0.01", "one penny"),
        ("-12.05", "minus twelve pounds and five pence"),
        ("99.999", "one hundred pounds"),
    ],
)
def test_amounts_in_words(amount: str, words: str) -> None:
    assert amount_words(Decimal(amount), GBP) == words


def test_dates_in_words() -> None:
    today = date(2025, 3, 1)
    assert date_words(date(2025, 3, 14), today) == "Friday the fourteenth of March"
    assert date_words(date(2026, 1, 2), today) == "Friday the second of January twenty twenty six"


def test_reference_is_spoken_digit_by_digit() -> None:
    assert digits_spoken("400001") == "4 0 0 0 0 1"
    assert digits_spoken("AB 12") == "A B 1 2"
