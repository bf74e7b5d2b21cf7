"""Accent pronunciation variants: espeak-ng IPA to ARPAbet, and variants that only one
dialect's recognizer offers (real espeak-ng, real PocketSphinx, real Asterisk speech)."""

from __future__ import annotations

import pytest
from corpus import prompt

from dialects.engines import engine_for
from dialects.lexicon import AccentLexicon, espeak_ipa, ipa_to_arpabet
from ivr.flows.packs import pack_library
from speech.asr.registry import get_engine, recognize
from speech.wav import read_wav


@pytest.mark.parametrize(
    ("ipa", "phones"),
    [
        ("sˈɪks", "S IH K S"),
        ("θrˈiː", "TH R IY"),
        ("t̪ɹˈiː", "T R IY"),  # Caribbean "three": the dental mark is dropped
        ("bˈɒðɐ", "B AA DH AH"),
        ("slˈoːɜ", "S L OW ER"),
        ("ɐkˈʌʉnt", "AH K AW N T"),  # Scottish "account"
        ("ˈɒpɜrˌeːtɜ", "AA P ER EY T ER"),  # r after an r-coloured vowel is part of it
        ("tʃˈiəz", "CH IY AH Z"),
        ("tˈa:", "T AA"),  # ASCII colon as a length mark
    ],
)
def test_ipa_to_arpabet(ipa, phones):
    assert ipa_to_arpabet(ipa) == phones


def test_ipa_without_a_mapping_or_a_vowel_gives_no_variant():
    assert ipa_to_arpabet("qˈɪks") is None  # uvular stop: no ARPAbet phone
    assert ipa_to_arpabet("ʔ") is None
    assert ipa_to_arpabet("st") is None  # no vowel


def test_espeak_voices_differ_where_accents_do():
    us = espeak_ipa(["bother", "slower"], "en-us")
    scots = espeak_ipa(["bother", "slower"], "en-gb-scotland")
    assert set(us) == set(scots) == {"bother", "slower"}
    assert ipa_to_arpabet(us["bother"]) == "B AA DH ER"
    assert ipa_to_arpabet(scots["slower"]) == "S L OW ER"
    lex = AccentLexicon("en-gb-x-rp")
    assert lex(["bother"]) == {"bother": ["B AA DH AH"]}  # UK: non-rhotic


def test_unknown_espeak_voice_is_a_clear_error():
    with pytest.raises(ValueError, match="no-such-voice"):
        espeak_ipa(["hello"], "no-such-voice")


@pytest.fixture(scope="module")
def engine():
    return get_engine("en", "pocketsphinx")


def test_a_variant_is_offered_by_its_own_view_only(engine):
    # a deliberately wrong "accent": goodbye said as "hello"; the real recording says hello
    view = engine.with_variants("test-accent", lambda words: {"goodbye": ["HH AH L OW"]})
    audio = read_wav(prompt("hello").path)
    phrases = ["goodbye", "thank you", "please try again"]
    heard = recognize(view, audio, phrases)
    plain = recognize(engine, audio, phrases)
    assert heard.text == "goodbye"  # the variant matched, reported as the plain word
    assert [w.word for w in heard.words] == ["goodbye"]
    assert plain.text != "goodbye" or plain.rejected
    assert "HH AH L OW" not in engine.pronunciations("goodbye")
    with pytest.raises(Exception, match="bad variant tag"):
        engine.with_variants("bad tag!", lambda words: {})


def test_dialect_packs_get_variants_and_base_packs_do_not():
    lib = pack_library()
    scots = engine_for(lib.resolve("en-scotland")).engine
    base = engine_for(lib.resolve("en")).engine
    assert scots.variant_tag == "en_scotland"
    assert base.variant_tag is None
    # espeak-ng's Scottish "person" is /pesən/; "slower" is as the dictionary has it
    names = scots._expansions(["slower", "person"])
    assert names == {"person": ["person__en_scotland1"]}


@pytest.mark.slow
@pytest.mark.parametrize("dialect", ["en-scotland", "en-caribbean", "en-gb"])
def test_accent_variants_cost_nothing_on_real_standard_speech(dialect):
    # the menu set of real human telephone prompts (tests/test_asr_phrases_en.py), heard by a
    # dialect's recognizer: its variants must not pull standard speech away from its words
    from test_asr_phrases_en import IN_LIST, PHRASES, PS_TOP_BAR

    from speech.asr.phrases import match_phrase

    # PocketSphinx's own choice (without the Whisper listener, which would mask the variants)
    eng = engine_for(pack_library().resolve(dialect)).engine.with_listener(None)
    assert eng.variant_tag
    items = [(ph, prompt(n).path) for ph, names in IN_LIST.items() for n in names]
    top = [
        match_phrase(recognize(eng, read_wav(p), PHRASES).text, PHRASES) == ph for ph, p in items
    ]
    print(
        f"\n{dialect} recognizer on {len(items)} real clips: top choice {sum(top) / len(top):.3f}"
    )
    assert sum(top) / len(top) >= PS_TOP_BAR
