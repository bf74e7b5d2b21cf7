"""Combining PocketSphinx's phrase-list result with Whisper's transcript of the same answer.

PocketSphinx decodes against the grammar, so it always names an entry and is cheap; on 8 kHz
telephone speech its wideband model confuses words whose cues lie above 4 kHz ("two" heard as
"new", "six" as "eight"). Whisper transcribes freely, so when its words are exactly an entry of
the list they are very likely right (on real Asterisk prompts: every such match on the menu set,
186 of 192 on the broad set). The rule:

- Whisper's transcript is one of the entries (or, in sequence mode, a run of them): that entry,
  with PocketSphinx's word timings when it heard the same, and the higher of the two
  confidences (the answer was heard the same way twice);
- otherwise the two disagree: PocketSphinx's answer stands only with a confidence of at least
  `DOUBT_BAR` (else it is rejected as not understood), so speech that is none of the entries,
  which the grammar forces onto the nearest one, is turned away more often;
- Whisper busy (every slot taken): PocketSphinx's result alone, as it was.

`DOUBT_BAR` was chosen on half 0 of the broad set of real Asterisk prompts (the highest bar
that cost at most one in-list answer there: 0.963 -> 0.951 accepted, out-of-list rejected
0.52 -> 0.62); on the held-out half 1 it keeps in-list acceptance at 0.946 and lifts
out-of-list rejection from 0.71 to 0.82 (tests/test_asr_phrases_en.py).
"""

from __future__ import annotations

from dataclasses import replace

from speech.asr.base import Recognition
from speech.asr.whisper_engine import MODEL_NAME, Heard, even_words, match_loosely

DOUBT_BAR = 0.7  # PocketSphinx confidence an answer needs when Whisper heard something else


def combine(
    primary: Recognition, heard: Heard | None, phrases: list[str], sequence: bool = False
) -> Recognition:
    """The answer, from PocketSphinx's `primary` result and Whisper's `heard` (see the module)."""
    if heard is None:
        return primary
    run = match_loosely(heard.text, phrases, sequence)
    if not run:
        if primary.phrase is None or primary.confidence >= DOUBT_BAR:
            return primary
        return replace(primary, phrase=None, items=[], rejected=True)
    phrase = " ".join(run)
    agree = primary.phrase == phrase or " ".join(primary.text.split()) == phrase
    words = (primary.words if agree else []) or even_words(
        phrase, primary.audio_seconds, heard.confidence
    )
    confidence = max(heard.confidence, primary.confidence if agree else 0.0)
    return replace(
        primary,
        text=phrase,
        words=words,
        confidence=round(confidence, 3),
        engine="pocketsphinx" if agree else "whisper",
        model=primary.model if agree else MODEL_NAME,
        phrase=phrase,
        items=run if sequence else [],
        rejected=False,
    )
