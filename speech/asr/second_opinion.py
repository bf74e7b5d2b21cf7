"""Combining PocketSphinx's phrase-list result with Whisper's transcript of the same answer.

PocketSphinx decodes against the grammar, so it always names an entry and is cheap; on 8 kHz
telephone speech its wideband model confuses words whose cues lie above 4 kHz ("two" heard as
"new", "six" as "eight"), and its confidence (an acoustic match score) is low for any voice
unlike its US training speakers, accented callers included. Whisper hears the answer with the
phrase list as its context (`WhisperEngine.listen_soon`), which primes it for the list's
words ("aye", "nae bother", "summat") without forcing them. The rule:

- Whisper's transcript is one of the entries (or, in sequence mode, a run of them; or one
  entry said over and over): that entry, with PocketSphinx's word timings when it heard the
  same, and the higher of the two confidences (the answer was heard the same way twice). But
  when it is not the entry PocketSphinx's best path spells, the list's pull may have tipped
  Whisper to a listed word ("bye" for "back", "no" for "nope"): Whisper hears the clip again
  without the list (`WhisperEngine.relisten`, a short decode of the kept encoding), and if
  that plain hearing names PocketSphinx's entry, two of the three opinions agree and it
  stands;
- otherwise PocketSphinx's answer stands with a confidence of at least `DOUBT_BAR`, unless
  Whisper's check of it (`WhisperEngine.verify`, below) is under `JOINT_VERIFY_BAR`: an
  acoustic match score is sure of the nearest entry even for speech that is none of them
  ("nineteen" for a real "Monday" at 0.95, checked at -18), so such an answer is treated as
  an unsure one. Unless Whisper, hearing the clip again without the list, names it ("repeat
  now," primed, "repeat that." plain): then two of three opinions are for it, and it stands;
- otherwise Whisper checks a short list (`shortlist`): PocketSphinx's entry, the entries
  spelled most like Whisper's words and those that sound most like them
  (`speech.asr.sounds_like`: "Po-san" -> "person", "new" -> "no"). Each is scored by how much
  less likely Whisper finds it than its own words on the same clip (`WhisperEngine.verify`);
  the best one stands if it is within `VERIFY_BAR`. Failing that, PocketSphinx's own entry
  still stands when both recognizers half agree: its confidence is at least `JOINT_CONFIDENCE`
  and Whisper's check of it at least `JOINT_VERIFY_BAR` (two weak opinions for the same entry,
  neither enough alone). Failing that too, PocketSphinx's entry, however unsure, stands when
  Whisper hearing the clip again without the list names it (two of three opinions, as above;
  primed "one more time.", plain "more time."). Else the answer is rejected as not understood
  and marked `doubted`, so a service's looser confidence bar does not take it back;
- Whisper busy (every slot taken), or its decode ran on without ending even without the list
  as context (looping on audio it could not make out, `Heard.ended`): PocketSphinx's result
  alone, as it was. A looping transcript is no baseline to check entries against: any short
  entry scores close to it.

Every bar was chosen on half 0 of the broad set of real Asterisk prompts, never on dialect
fixtures. `DOUBT_BAR`: the highest bar that cost at most one in-list answer there.
`VERIFY_BAR`: the most lenient bar that cost no out-of-list rejection on half 0. It was -6
(0.617 at 0 and at -6, 0.593 at -8) until sure answers were held to the check too (below);
chosen again by the same rule with that check in place, it is -7 (0.926 from -4 to -7, 0.901
at -7.5 and -8), and on half 1 -7 accepts and rejects exactly what -6 did (in-list 0.991,
out-of-list rejection 0.910). The joint bars by the same rule, on a grid (confidence 0.3-0.5, check
-7 to -12): at 0.4, checks of -7 to -9 keep every out-of-list rejection of half 0 (0.617) and
accept one more in-list answer (0.975 against 0.963); -10 loses a rejection, as does
confidence 0.3 at -7. The entries that sound like Whisper's words (`NEAR_BY_SOUND`) changed no
answer of either half (in-list 0.975 and 0.991, out-of-list rejection 0.605 and 0.802, at 1 to
4 entries and any similarity floor). Two are checked, as for spelling, if they share at least
half their phones (`SOUND_FLOOR`): with no floor, the nearest entries of a short list can
share nothing ("goodbye" for a real "hello" against a 3-entry list, which Whisper's check then
passed). Each entry checked costs about 0.12 s more (0.23 s for one), and ranking a 160-entry
list by sound 3 ms. On the held-out half 1, listening with the list as context and checking
the short list accept 0.991 of in-list answers (0.946 before) and reject 0.80 of out-of-list
ones (0.82 before) (tests/test_asr_phrases_en.py); the joint bars change neither.

Holding a sure answer to the joint check bar too was chosen the same way: on half 0 every
bar from -7 to -9 vetoes the same answers, and -9 is the bar already there. It rejects 0.926
of out-of-list answers on half 0 (0.617 without) and 0.910 on half 1 (0.802), and accepts
0.988 of in-list answers on half 0 (0.975: one sure, wrong answer vetoed, and the short list
found the right one) and 0.991 on half 1 (unchanged). It costs one check (about 0.23 s) on
sure answers whose Whisper transcript is no entry, 72 of the 384 trials. It costs right
answers on voices Whisper hears worse than PocketSphinx does: the espeak-ng US English
fixtures lose three sure, right answers that Whisper misheard ("i" for "i took a fall").

The plain hearing has no bar to choose: on the real broad set the two disagreed on 9 of 384
trials (a short decode each) and the plain hearing never sided with PocketSphinx, so no
answer changed; on the dialect fixtures each time it did, it named what was said ("back",
"nope", "yeah"). Asked about a vetoed sure answer (39 of the 384 real trials, all out of
list or wrong), it never named PocketSphinx's entry; on the fixtures it did once, for the
right entry ("repeat that"). Asked also about every PocketSphinx entry that the checks left
rejected, unsure ones included, it changed no answer of either real half (in-list 0.988 and
0.991, out-of-list rejection 0.926 and 0.910) and none of the dialect fixtures with this
machine's arithmetic; with oneDNN held to AVX2 (the int8 arithmetic of a CPU without VNNI) it
made one fixture right ("more time") and none wrong. It costs a short decode on answers about
to be rejected.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import replace

from speech.asr.base import Recognition
from speech.asr.phrases import match_phrase
from speech.asr.sounds_like import Phones, sounding_like
from speech.asr.whisper_engine import MODEL_NAME, Heard, even_words, match_loosely, spoken_text

DOUBT_BAR = 0.7  # PocketSphinx confidence an answer needs when Whisper heard something else
VERIFY_BAR = -7.0  # log P(entry) - log P(Whisper's own words) an entry needs, see the module
JOINT_CONFIDENCE = 0.4  # PocketSphinx's confidence, with its entry checked at JOINT_VERIFY_BAR
JOINT_VERIFY_BAR = -9.0
NEAR_ENTRIES = 2  # entries spelled like Whisper's words that are checked too
NEAR_CUTOFF = 0.6  # difflib similarity they need
NEAR_BY_SOUND = 2  # entries that sound most like Whisper's words that are checked too
SOUND_FLOOR = 0.5  # phone similarity they need (half the phones in place)

Verifier = Callable[[Heard, list[str]], list[float] | None]
Relistener = Callable[[Heard], Heard | None]


def _own_entry(primary: Recognition, phrases: list[str]) -> str | None:
    """PocketSphinx's entry: the one it passed, else the one its best path spells (rejected)."""
    return primary.phrase or match_phrase(primary.text, phrases)


def _heard_plainly(
    heard: Heard, entry: str, phrases: list[str], relisten: Relistener | None
) -> bool:
    """True when Whisper, hearing the clip of `heard` again without the list as context
    (`relisten`), names `entry` (PocketSphinx's): then two of three opinions are for it."""
    plain = relisten(heard) if relisten is not None else None
    return plain is not None and plain.ended and match_loosely(plain.text, phrases) == [entry]


def _stands(primary: Recognition, entry: str) -> Recognition:
    """PocketSphinx's `entry` accepted on two opinions: as sure as an answer PocketSphinx
    passes on its own."""
    confidence = max(primary.confidence, DOUBT_BAR)
    return replace(primary, phrase=entry, rejected=False, confidence=confidence)


def shortlist(
    primary: Recognition, heard: Heard, phrases: list[str], phones: Phones | None = None
) -> list[str]:
    """The entries worth checking when Whisper's words are none of them: PocketSphinx's entry
    (its best path, even if it rejected it), then up to `NEAR_ENTRIES` spelled most like
    Whisper's words ("Pearson" -> "person"), then, given a pronunciation dictionary
    (`phones`), the `NEAR_BY_SOUND` that sound most like them ("Po-san" -> "person")."""
    out = []
    entry = _own_entry(primary, phrases)
    if entry is not None:
        out.append(entry)
    said = spoken_text(heard.text)
    if said:
        near = difflib.get_close_matches(said, phrases, n=NEAR_ENTRIES, cutoff=NEAR_CUTOFF)
        if phones is not None:
            near += sounding_like(said, phrases, phones, NEAR_BY_SOUND, SOUND_FLOOR)
        out += [p for p in dict.fromkeys(near) if p not in out]
    return out


def combine(
    primary: Recognition,
    heard: Heard | None,
    phrases: list[str],
    sequence: bool = False,
    verify: Verifier | None = None,
    phones: Phones | None = None,
    relisten: Relistener | None = None,
) -> Recognition:
    """The answer, from PocketSphinx's `primary` result and Whisper's `heard` (see the module);
    `verify` scores entries against Whisper's own words (`WhisperEngine.verify`), `phones`
    gives a text's phones for the entries that sound like them, `relisten` hears the clip
    again without the list (`WhisperEngine.relisten`)."""
    if heard is None or not heard.ended:
        return primary
    run = match_loosely(heard.text, phrases, sequence)
    own = _own_entry(primary, phrases)
    if run and not sequence and own is not None and run != [own]:
        # Whisper primed with the list named another entry than PocketSphinx: the list's pull
        # can tip it to a listed word, so it hears the clip again without the list
        if _heard_plainly(heard, own, phrases, relisten):
            # two of three opinions: PocketSphinx and Whisper free of the list
            return _stands(primary, own)
    if not run:
        sure = primary.phrase is not None and primary.confidence >= DOUBT_BAR
        if sure:
            # sure, unless Whisper's check of it is below even the joint bar
            check = verify(heard, [primary.phrase]) if verify is not None and not sequence else None
            if not check or check[0] >= JOINT_VERIFY_BAR:
                return primary
            if _heard_plainly(heard, primary.phrase, phrases, relisten):
                return primary
        listed = [] if sequence or verify is None else shortlist(primary, heard, phrases, phones)
        scores = verify(heard, listed) if listed and verify is not None else None
        if scores:
            best = max(range(len(listed)), key=lambda k: scores[k])
            if scores[best] >= VERIFY_BAR:
                entry = listed[best]
                if entry == own:
                    return _stands(primary, entry)  # heard by both
                run = [entry]
            elif (
                own is not None
                and primary.confidence >= JOINT_CONFIDENCE
                and scores[listed.index(own)] >= JOINT_VERIFY_BAR
            ):
                # half agreed by both: PocketSphinx's entry, as sure as PocketSphinx was
                return replace(primary, phrase=own, rejected=False)
        if not run:
            # PocketSphinx's unsure entry, named by Whisper free of the list: two of three
            # opinions ("more time": primed "one more time.", plain "more time."); a sure one
            # that got here was asked about already
            if (
                not sequence
                and not sure
                and own is not None
                and _heard_plainly(heard, own, phrases, relisten)
            ):
                return _stands(primary, own)
            return replace(primary, phrase=None, items=[], rejected=True, doubted=True)
    phrase = " ".join(run)
    agree = primary.phrase == phrase or " ".join(primary.text.split()) == phrase
    words = (primary.words if agree else []) or even_words(
        phrase, primary.audio_seconds, heard.confidence
    )
    # heard the same way twice: at least as sure as an answer PocketSphinx passes on its own
    confidence = max(heard.confidence, primary.confidence, DOUBT_BAR) if agree else heard.confidence
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
