"""Which phrase-list entries sound most like a transcript.

Whisper writes what it hears, and on an accent or a clipped telephone line it often writes a
near miss that is spelled nothing like the entry: "Po-san" or "p, c" for "person", "Ma Gen-C"
for "emergency", "new" for "no". Spelling similarity (`difflib`) misses those; the sounds do
not. Each text becomes a phone sequence through a pronunciation dictionary (PocketSphinx's, its
first pronunciation of each word), and entries are ranked by phone edit distance over the
longer sequence. The ranking only proposes entries: Whisper's own check (`WhisperEngine.verify`)
still decides (`speech.asr.second_opinion`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from speech.asr.metrics import edit_distance

Phones = Callable[[str], Sequence[str] | None]
"""A text's phones (ARPAbet), or None when the dictionary lacks one of its words."""


def sound_similarity(a: Sequence[str], b: Sequence[str]) -> float:
    """1 - phone edit distance / the longer length: 1.0 the same sounds, 0.0 nothing shared."""
    longer = max(len(a), len(b))
    return 1.0 - edit_distance(a, b) / longer if longer else 1.0


def sounding_like(
    text: str, phrases: Sequence[str], phones: Phones, n: int, floor: float = 0.0
) -> list[str]:
    """Up to `n` entries of `phrases` whose phones are nearest `text`'s and at least `floor`
    similar, nearest first (list order breaks ties); none when `text` has no phones (a word
    outside the dictionary)."""
    heard = phones(text)
    if not heard or n <= 0:
        return []
    ranked = []
    for k, phrase in enumerate(phrases):
        said = phones(phrase)
        if not said:
            continue
        similarity = sound_similarity(heard, said)
        if similarity >= floor:
            ranked.append((-similarity, k, phrase))
    ranked.sort()
    return [phrase for _, _, phrase in ranked[:n]]
