"""English phrase-list recognition on real telephone speech (Asterisk prompts, 8 kHz).

Two sets:
- the menu set: 39 clips (digits 0-9 and 24 other words/phrases) each recognised against one IVR
  phrase list of 44 entries; the list also holds entries no clip says ("yes", "operator", ...),
  as a real menu would; 30 other real clips are out of list;
- the broad set (the general check, no word chosen by hand): every distinct short prompt of the
  corpus (1-3 words, 192 of them), each against a seeded random list of 25 transcripts with and
  without itself. Its words are split in two halves by a hash: the engine's rejection threshold
  (`REJECT_COST`) was chosen on half 0 only; rejection is asserted on half 1.
"""

from __future__ import annotations

import numpy as np
import pytest
from corpus import prompt, short_prompt_trials

from speech.asr.metrics import accuracy
from speech.asr.phrases import match_phrase
from speech.asr.pocketsphinx_engine import PocketSphinxEngine
from speech.asr.registry import get_engine, recognize
from speech.asr.whisper_engine import PIP_NAMES
from speech.wav import Audio, read_wav

# expected phrase -> Asterisk prompts that say it
IN_LIST = {
    "zero": ["digits/0"],
    "one": ["digits/1"],
    "two": ["digits/2"],
    "three": ["digits/3"],
    "four": ["digits/4"],
    "five": ["digits/5"],
    "six": ["digits/6"],
    "seven": ["digits/7"],
    "eight": ["digits/8"],
    "nine": ["digits/9"],
    "goodbye": ["goodbye", "vm-goodbye"],
    "thank you": ["auth-thankyou", "privacy-thankyou"],
    "hello": ["hello"],
    "no": ["vm-no"],
    "please try again": ["please-try-again", "vm-pls-try-again"],
    "one moment please": ["one-moment-please"],
    "i'm sorry": ["im-sorry"],
    "transfer": ["pbx-transfer"],
    "extension": ["extension", "vm-extension"],
    "telephone number": ["telephone-number"],
    "password": ["vm-password"],
    "message": ["vm-message"],
    "urgent": ["vm-Urgent"],
    "today": ["digits/today"],
    "tomorrow": ["digits/tomorrow"],
    "yesterday": ["digits/yesterday"],
    "first": ["vm-first", "digits/h-1"],
    "last": ["vm-last"],
    "pound": ["digits/pound"],
    "star": ["digits/star"],
    "new": ["vm-INBOX"],
    "saved": ["vm-saved"],
    "time": ["time"],
    "number": ["number"],
}
NOT_SPOKEN = [
    "yes",
    "operator",
    "agent",
    "help",
    "cancel",
    "repeat",
    "main menu",
    "emergency",
    "representative",
    "slower",
]
PHRASES = list(IN_LIST) + NOT_SPOKEN
# real speech that is none of the entries
OUT_OF_LIST = [
    "activated",
    "added",
    "hours",
    "letters/b",
    "letters/q",
    "phonetic/a_p",
    "phonetic/z_p",
    "phonetic/g_p",
    "phonetic/k_p",
    "enabled",
    "disabled",
    "digits/dollars",
    "digits/thousand",
    "vm-Work",
    "vm-Family",
    "vm-Friends",
    "speed-dial",
    "location",
    "removed",
    "for",
    "with",
    "calling",
    "digits/mon-2",
    "digits/mon-7",
    "vm-received",
    "spy-console",
    "uppercase",
    "lowercase",
    "is",
    "your",
]

# Measured with PocketSphinx en-us (telephone front end) and Whisper base as its listener
# (`speech.asr.second_opinion`; without the listener, in brackets):
#   menu set: accepted and right 39/39 = 1.00 (36/39 = 0.923; top choice 37/39 = 0.949; naive
#             baseline 0.846); out-of-list clips rejected 27/30 = 0.90 (21/30 = 0.70; 24/30
#             before a sure PocketSphinx answer was held to Whisper's check too)
#   broad set: accepted and right 0.990 (0.922; 0.984 before that check); held-out half 1:
#             in-list accepted 1.000 (0.964), out-of-list rejected 0.910 (0.712; 0.80 before
#             that check); the listener's bars were chosen on half 0 only
ACCEPTED_BAR = 0.95
BROAD_ACCEPTED_BAR = 0.97
HELD_OUT_ACCEPT_BAR = 0.97
HELD_OUT_REJECT_BAR = 0.88
MENU_REJECT_BAR = 0.86
# PocketSphinx alone (the engine without its listener): its own figures
PS_TOP_BAR = 0.94
PS_BROAD_TOP_BAR = 0.93


def _items():
    return [(phrase, name) for phrase, names in IN_LIST.items() for name in names]


@pytest.fixture(scope="module")
def engine():
    eng = get_engine("en", "pocketsphinx")
    assert eng.listener is not None, f"Whisper base must be installed: pip install {PIP_NAMES}"
    return eng


@pytest.fixture(scope="module")
def ps_alone(engine):
    return engine.with_listener(None)


@pytest.fixture(scope="module")
def broad(engine):
    """(trial, recognition) for every in-list and out-of-list trial of the broad set."""
    inl, ool = short_prompt_trials(lambda w: not engine.missing_words([w]))
    assert len(inl) >= 150 and all(len(t.phrases) >= 20 for t in inl + ool)
    run = [(t, recognize(engine, read_wav(t.prompt.path), t.phrases)) for t in inl + ool]
    return [r for r in run if r[0].in_list], [r for r in run if not r[0].in_list]


@pytest.mark.slow
def test_phrase_list_accuracy_beats_naive_baseline(engine, ps_alone):
    assert len(PHRASES) >= 20 and len(IN_LIST) >= 30
    # plain grammar, stock decoder settings, no noise floor, no rejection
    naive = PocketSphinxEngine(dither=0.0, min_confidence=0.0, telephone_front_end=False)
    expected, top, accepted, got_naive, wrong, ps_top = [], [], [], [], [], []
    for phrase, name in _items():
        audio = read_wav(prompt(name).path)
        assert audio.sample_rate == 8000
        rec = recognize(engine, audio, PHRASES)
        up = Audio(np.repeat(audio.samples, 2), 16000)  # naive sample-doubling to 16 kHz
        expected.append(phrase)
        top.append(match_phrase(rec.text, PHRASES))
        accepted.append(rec.phrase)
        got_naive.append(recognize(naive, up, PHRASES).phrase)
        ps_top.append(match_phrase(recognize(ps_alone, audio, PHRASES).text, PHRASES))
        if rec.phrase != phrase:
            wrong.append((name, phrase, rec.text, rec.confidence))
        if rec.phrase is not None:
            assert rec.words and all(0 <= w.start < w.end for w in rec.words)
            if rec.engine == "pocketsphinx":  # Whisper's matches are accepted by rule
                assert rec.confidence >= engine.min_confidence
            else:
                assert rec.engine == "whisper" and rec.model == "whisper-base"
        assert 0.0 <= rec.confidence <= 1.0
    acc_top, acc = accuracy(expected, top), accuracy(expected, accepted)
    acc_naive, acc_ps = accuracy(expected, got_naive), accuracy(expected, ps_top)
    print(
        f"\nphrase-list accuracy (PocketSphinx en-us + Whisper base listener, {len(expected)} "
        f"real 8 kHz clips, {len(PHRASES)}-entry list): accepted and right {acc:.3f} (top "
        f"choice {acc_top:.3f}); PocketSphinx alone top choice {acc_ps:.3f}; naive baseline "
        f"{acc_naive:.3f}; wrong or rejected: {wrong}"
    )
    assert acc >= ACCEPTED_BAR, wrong
    assert acc_ps >= PS_TOP_BAR
    assert acc > acc_ps > acc_naive


@pytest.mark.slow
def test_out_of_list_menu_speech_is_rejected(engine):
    rejected = []
    for name in OUT_OF_LIST:
        rec = recognize(engine, read_wav(prompt(name).path), PHRASES)
        rejected.append(rec.rejected)
        if rec.rejected:
            assert rec.phrase is None
    rate = sum(rejected) / len(rejected)
    print(f"\nout-of-list rejection rate (menu list): {rate:.3f} of {len(rejected)} real clips")
    assert rate >= MENU_REJECT_BAR


@pytest.mark.slow
def test_broad_short_prompt_accuracy(broad, ps_alone):
    inl, _ = broad
    top = sum(match_phrase(r.text, t.phrases) == t.text for t, r in inl) / len(inl)
    ps = [recognize(ps_alone, read_wav(t.prompt.path), t.phrases) for t, _ in inl]
    ps_top = sum(
        match_phrase(r.text, t.phrases) == t.text for (t, _), r in zip(inl, ps, strict=True)
    )
    ok = sum(r.phrase == t.text for t, r in inl) / len(inl)
    wrong = [(t.prompt.name, r.text) for t, r in inl if match_phrase(r.text, t.phrases) != t.text]
    print(
        f"\nbroad set: {len(inl)} real short prompts, 25-entry lists: top choice {top:.3f}, "
        f"accepted and right {ok:.3f}; PocketSphinx alone top choice {ps_top / len(inl):.3f}; "
        f"wrong: {wrong}"
    )
    assert ok >= BROAD_ACCEPTED_BAR
    assert ps_top / len(inl) >= PS_BROAD_TOP_BAR


@pytest.mark.slow
def test_rejection_on_held_out_half(broad):
    inl, ool = broad
    print(
        "\nheld-out half 1 (threshold chosen on half 0): min_confidence -> "
        "in-list accepted / out-of-list rejected"
    )
    table = {}
    for th in (0.0, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9):
        acc = [
            match_phrase(r.text, t.phrases) is not None and r.confidence >= th
            for t, r in inl
            if t.half == 1
        ]
        rej = [
            match_phrase(r.text, t.phrases) is None or r.confidence < th
            for t, r in ool
            if t.half == 1
        ]
        table[th] = (sum(acc) / len(acc), sum(rej) / len(rej))
        print(f"  {th:.1f}: {table[th][0]:.3f} / {table[th][1]:.3f}")
    held_in = [t for t, _ in inl if t.half == 1]
    accept = sum(not r.rejected for t, r in inl if t.half == 1) / len(held_in)
    reject = [r.rejected for t, r in ool if t.half == 1]
    reject_rate = sum(reject) / len(reject)
    print(
        f"  engine default: in-list accepted {accept:.3f}, out-of-list rejected {reject_rate:.3f}"
    )
    assert accept >= HELD_OUT_ACCEPT_BAR
    assert reject_rate >= HELD_OUT_REJECT_BAR
    # confidence is graded: a stricter threshold never accepts more nor rejects less
    assert table[0.9][0] <= table[0.5][0] <= table[0.0][0]
    assert table[0.9][1] >= table[0.5][1] >= table[0.0][1]
