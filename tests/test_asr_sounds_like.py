"""Entries that sound like Whisper's words join the short list Whisper checks
(`speech.asr.sounds_like`, `speech.asr.second_opinion.shortlist`), with the real PocketSphinx
pronunciation dictionary."""

from __future__ import annotations

import pytest
from corpus import prompt

from speech.asr.base import Recognition
from speech.asr.pocketsphinx_engine import PocketSphinxEngine
from speech.asr.registry import get_engine, recognize
from speech.asr.second_opinion import NEAR_BY_SOUND, SOUND_FLOOR, VERIFY_BAR, combine, shortlist
from speech.asr.sounds_like import sound_similarity, sounding_like
from speech.asr.whisper_engine import Heard
from speech.wav import read_wav

MENU = ["pardon", "person", "help", "emergency", "goodbye", "account", "no", "yes", "two"]


@pytest.fixture(scope="module")
def phones():
    return PocketSphinxEngine().phones


def test_similarity_is_shared_sounds_over_the_longer_sequence():
    assert sound_similarity(("P", "ER", "S", "AH", "N"), ("P", "ER", "S", "AH", "N")) == 1.0
    assert sound_similarity(("N", "UW"), ("N", "OW")) == 0.5
    assert sound_similarity(("N", "OW"), ("Y", "EH", "S")) == 0.0
    assert sound_similarity((), ()) == 1.0


def test_a_transcript_is_read_as_the_dictionary_says_it(phones):
    # punctuation and hyphens go, as in spoken_text; each word by its first pronunciation
    assert phones("Po-san.") == ("P", "OW", "S", "AE", "N")
    assert phones("person") == ("P", "ER", "S", "AH", "N")
    assert phones("Ma Gen-C")[:3] == ("M", "AA", "JH")
    assert phones("zqxv blorft") is None  # a word the dictionary lacks: no sounds to compare


def test_near_misses_spelled_unlike_the_entry_are_found_by_sound(phones):
    assert sounding_like("Po-san", MENU, phones, 1) == ["person"]
    assert sounding_like("Ma Gen-C", MENU, phones, 1) == ["emergency"]
    assert sounding_like("new", MENU, phones, 2)[0] in ("no", "two")
    assert "no" in sounding_like("new", MENU, phones, 2)
    assert sounding_like("Po-san", MENU, phones, 0) == []
    assert sounding_like("zqxv", MENU, phones, 2) == []
    # the floor: nearest is not enough when nothing is shared ("hello" vs "goodbye": 0.0)
    assert sounding_like("hello", ["goodbye", "thank you"], phones, 2) == ["goodbye", "thank you"]
    assert sounding_like("hello", ["goodbye", "thank you"], phones, 2, SOUND_FLOOR) == []
    assert sounding_like("Po-san", MENU, phones, 1, SOUND_FLOOR) == ["person"]


def _ps(text: str, conf: float) -> Recognition:
    return Recognition(text, [], conf, "pocketsphinx", "pocketsphinx-en-us", None, True, 0.8)


def test_the_short_list_offers_what_sounds_like_whisper_words(phones):
    # PocketSphinx's path said "pardon"; Whisper wrote "Po-san", spelled like no entry
    ps, heard = _ps("pardon", 0.03), Heard("Po-san", 0.3)
    assert shortlist(ps, heard, MENU) == ["pardon"]  # spelling alone finds nothing
    listed = shortlist(ps, heard, MENU, phones)
    assert listed[0] == "pardon" and "person" in listed and len(listed) <= 1 + NEAR_BY_SOUND

    def verify(h, entries):  # Whisper finds "person" likelier than "pardon"
        return [VERIFY_BAR + 2 if e == "person" else VERIFY_BAR + 1 for e in entries]

    got = combine(ps, heard, MENU, verify=verify, phones=phones)
    assert got.phrase == "person" and not got.rejected and got.engine == "whisper"
    # without the dictionary the right entry is never checked: PocketSphinx's guess stands
    assert combine(ps, heard, MENU, verify=verify).phrase == "pardon"
    # the bar still guards what sound proposes
    far = combine(ps, heard, MENU, verify=lambda h, e: [VERIFY_BAR - 1] * len(e), phones=phones)
    assert far.phrase is None and far.doubted


def test_real_out_of_list_speech_is_not_matched_to_an_entry_that_shares_no_sound():
    """A real recording of "hello" against a 3-entry list: without the floor, the nearest
    entries by sound were the whole list, and Whisper's check passed "goodbye"."""
    engine = get_engine("en")
    assert engine.listener is not None, "Whisper base must be installed"
    audio = read_wav(prompt("hello").path)
    rec = recognize(engine, audio, ["goodbye", "thank you", "please try again"])
    assert rec.rejected and rec.phrase is None, rec
