"""Prompt parsing for slow speech: sentences, key words, pause markers, and the reply rate."""

from __future__ import annotations

import math

import pytest

from speech.tts.rate import reply_rate_for
from speech.tts.text import (
    MAX_PROMPT_CHARS,
    Pause,
    PromptSyntaxError,
    Speak,
    find_key_spans,
    parse_markers,
    plan,
    speech_text,
    split_sentences,
)


def test_split_sentences_on_terminal_punctuation() -> None:
    assert split_sentences("Hello there. How are you? Fine!  Thanks.") == [
        "Hello there.",
        "How are you?",
        "Fine!",
        "Thanks.",
    ]


def test_split_sentences_keeps_abbreviations_decimals_and_initials() -> None:
    text = "Dr. Smith paid $3.50 at 9 a.m. today. J. Brown called, e.g. about No. 5."
    assert split_sentences(text) == [
        "Dr. Smith paid $3.50 at 9 a.m. today.",
        "J. Brown called, e.g. about No. 5.",
    ]


def test_split_sentences_blank_lines_cjk_and_lowercase_continuation() -> None:
    assert split_sentences("First line\n\nSecond line") == ["First line", "Second line"]
    assert split_sentences("你好。请稍等。") == ["你好。", "请稍等。"]
    assert split_sentences("안녕하세요. 도와 드릴까요?") == ["안녕하세요.", "도와 드릴까요?"]
    assert split_sentences("It costs 5 vs. 6 dollars.") == ["It costs 5 vs. 6 dollars."]


def test_key_spans_find_amounts_dates_times_references() -> None:
    s = "You owe $12.50 by March 3rd, 2025 at 3:30 pm, reference 4 7 1 9 or AB-48213."
    kinds = [(k.kind, k.text) for k in find_key_spans(s)]
    assert kinds == [
        ("amount", "$12.50"),
        ("date", "March 3rd, 2025"),
        ("time", "3:30 pm"),
        ("digits", "4 7 1 9"),
        ("reference", "AB-48213"),
    ]


def test_key_spans_more_forms() -> None:
    got = [(k.kind, k.text) for k in find_key_spans("Pay 25 dollars or 10% on 12/03/2024.")]
    assert got == [("amount", "25 dollars"), ("amount", "10%"), ("date", "12/03/2024")]
    got = [(k.kind, k.text) for k in find_key_spans("Account 4821379, press 2, the 14th of May")]
    assert got == [("reference", "4821379"), ("number", "2"), ("date", "14th of May")]
    assert find_key_spans("No numbers here at all.") == []


def test_parse_markers_forms() -> None:
    assert parse_markers("a [pause] b [pause 1.5] c [PAUSE 250ms] d [pause 2s]") == [
        "a ",
        None,
        " b ",
        1.5,
        " c ",
        0.25,
        " d ",
        2.0,
    ]
    assert parse_markers("no markers [here]") == ["no markers [here]"]


@pytest.mark.parametrize(
    "text", ["a [pause soon] b", "a [pause 99] b", "a [pause 1.5 b", "[pause ms]", "[pause -1]"]
)
def test_bad_markers_are_clear_errors(text: str) -> None:
    with pytest.raises(PromptSyntaxError, match="pause marker"):
        plan(text, 0.7, 0.3)


def test_plan_sentence_pauses_and_marker_override() -> None:
    segs = plan("Hello there. How are you?", 0.8, 0.3)
    assert segs == [Speak("Hello there."), Pause(0.8), Speak("How are you?")]
    # a marker replaces the automatic sentence pause where it stands; two markers add up
    segs = plan("Hello there. [pause 2] [pause 0.5] How are you?", 0.8, 0.3)
    assert segs == [Speak("Hello there."), Pause(2.5, explicit=True), Speak("How are you?")]
    # leading and trailing markers give leading and trailing silence; automatic ones do not
    segs = plan("[pause 1] Hello. [pause 0.4]", 0.8, 0.3)
    assert segs == [Pause(1.0, explicit=True), Speak("Hello."), Pause(0.4, explicit=True)]
    assert plan("[pause] Hi", 0.9, 0.3)[0] == Pause(0.9, explicit=True)


def test_plan_key_word_pauses_and_digit_by_digit_references() -> None:
    segs = plan("Your reference is 4 7 1 9. Thank you.", 0.7, 0.3)
    assert segs == [
        Speak("Your reference is"),
        Pause(0.3),
        Speak("4", "digits"),
        Pause(0.15),
        Speak("7", "digits"),
        Pause(0.15),
        Speak("1", "digits"),
        Pause(0.15),
        Speak("9", "digits"),
        Pause(0.7),
        Speak("Thank you."),
    ]
    segs = plan("Pay $5 now.", 0.7, 0.25)
    assert segs == [Speak("Pay"), Pause(0.25), Speak("$5", "amount"), Pause(0.25), Speak("now.")]
    assert speech_text(plan("Ref AB-123 ok", 0.7, 0.3)) == "Ref AB 1 2 3 ok"


def test_plan_drops_unspeakable_pieces_and_limits_length() -> None:
    assert plan("...  !!", 0.7, 0.3) == []
    with pytest.raises(PromptSyntaxError, match="split it"):
        plan("word " * (MAX_PROMPT_CHARS // 5 + 1), 0.7, 0.3)


def test_reply_rate_for_follows_caller_within_bounds() -> None:
    assert reply_rate_for(None) == 140
    assert reply_rate_for(140) == 140
    slow, fast = reply_rate_for(126), reply_rate_for(160)
    assert 120 <= slow < 140 < fast <= 170
    assert reply_rate_for(60) == 120
    assert reply_rate_for(260) == 170
    assert reply_rate_for(160, weight=1.0) == 160
    assert reply_rate_for(160, weight=0.0) == 140
    assert reply_rate_for(None, base=110) == 120  # a base outside the bounds is clamped
    rates = [reply_rate_for(w) for w in range(80, 260, 5)]
    assert rates == sorted(rates)  # never slower for a faster caller


@pytest.mark.parametrize("bad", [0, -5, math.nan, math.inf, "fast"])
def test_reply_rate_for_rejects_bad_measurements(bad: object) -> None:
    with pytest.raises(ValueError, match="caller_wpm"):
        reply_rate_for(bad)  # type: ignore[arg-type]
