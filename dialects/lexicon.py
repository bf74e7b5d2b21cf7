"""Accent pronunciation variants: how a dialect says the words of its phrase lists.

Dialect ASR adds accent-specific pronunciations to the recognizer's dictionary (standard
practice: the acoustic model stays, the lexicon learns the accent). Here the variants come from
espeak-ng's letter-to-sound rules for the dialect's own voice (`espeak-ng -v en-gb-scotland -q
--ipa`), mapped from IPA to the ARPAbet phone set of the PocketSphinx en-us model: Scottish
"slower" is /sloːɜ/ -> S L OW ER, Caribbean "three" /t̪ɹiː/ -> T R IY, UK "bother" /bɒðɐ/ ->
B AA DH AH. A variant only joins that dialect's recognizer (see
`PocketSphinxEngine.with_variants`), next to the dictionary's own pronunciation.

espeak-ng is a system package the service already needs for its voice. Phonemisation runs once
per word and voice in a process (one espeak-ng call per batch of new words), then is cached.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import unicodedata
from collections.abc import Mapping, Sequence
from functools import cache

# IPA (as espeak-ng writes it, stress and length marks removed first where noted) -> ARPAbet.
# Longest match first; diphthongs before their parts.
_IPA = {
    # diphthongs and long vowels
    "aɪə": "AY AH",
    "aʊə": "AW AH",
    "aɪ": "AY",
    "ɑɪ": "AY",
    "ɐɪ": "AY",
    "ʌɪ": "AY",
    "aʊ": "AW",
    "ɐʊ": "AW",
    "ʌʊ": "AW",
    "ʌʉ": "AW",
    "æʊ": "AW",
    "aʉ": "AW",
    "ɔɪ": "OY",
    "oɪ": "OY",
    "eɪ": "EY",
    "ei": "EY",
    "əʊ": "OW",
    "oʊ": "OW",
    "əu": "OW",
    "ɪə": "IH AH",
    "iə": "IY AH",
    "eə": "EH AH",
    "ɛə": "EH AH",
    "ʊə": "UH AH",
    "ɔə": "AO AH",
    "oə": "OW AH",
    "ɑː": "AA",
    "ɔː": "AO",
    "ɜː": "ER",
    "iː": "IY",
    "uː": "UW",
    "ʉː": "UW",
    "eː": "EY",
    "oː": "OW",
    "ɛː": "EH",
    "aː": "AA",
    "əl": "AH L",
    # short vowels
    "ɑ": "AA",
    "ɒ": "AA",
    "ɔ": "AO",
    "æ": "AE",
    "a": "AE",
    "ʌ": "AH",
    "ə": "AH",
    "ɐ": "AH",
    "ɚ": "ER",
    "ɝ": "ER",
    "ɜ": "ER",
    "ɛ": "EH",
    "e": "EH",
    "ɪ": "IH",
    "ᵻ": "IH",
    "ɨ": "IH",
    "i": "IY",
    "ʊ": "UH",
    "ʉ": "UW",
    "u": "UW",
    "o": "OW",
    "ɵ": "OW",
    "ø": "ER",
    "y": "UW",
    # consonants
    "tʃ": "CH",
    "dʒ": "JH",
    "p": "P",
    "b": "B",
    "t": "T",
    "d": "D",
    "k": "K",
    "ɡ": "G",
    "g": "G",
    "f": "F",
    "v": "V",
    "θ": "TH",
    "ð": "DH",
    "s": "S",
    "z": "Z",
    "ʃ": "SH",
    "ʒ": "ZH",
    "h": "HH",
    "x": "K",
    "χ": "K",
    "m": "M",
    "n": "N",
    "ŋ": "NG",
    "l": "L",
    "ɫ": "L",
    "ɬ": "L",
    "ɹ": "R",
    "r": "R",
    "ɾ": "D",
    "ɻ": "R",
    "j": "Y",
    "w": "W",
    "ʍ": "W",
    "ʔ": "",  # glottal stop: no ARPAbet phone; the neighbours carry the word
}
_DROP = set("ˈˌ.‿-|'") | {"\u0361", "\u035c"}  # stress, syllable, linking, tie bars
_LONGEST = max(len(k) for k in _IPA)
_VOWELS = {
    "AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW",
}  # fmt: skip


def ipa_to_arpabet(ipa: str) -> str | None:
    """ARPAbet phones for one word of espeak-ng IPA ("sˈɪks" -> "S IH K S"); None when a symbol
    has no mapping or the word has no vowel (a guess would do more harm than no variant)."""
    text = "".join(
        c
        for c in unicodedata.normalize("NFD", ipa)
        if c not in _DROP and not unicodedata.combining(c)
    ).replace(":", "ː")
    phones: list[str] = []
    i = 0
    while i < len(text):
        for n in range(min(_LONGEST, len(text) - i), 0, -1):
            piece = text[i : i + n]
            if piece in _IPA:
                if _IPA[piece]:
                    phones += _IPA[piece].split()
                i += n
                break
        else:
            if text[i] == "ː":  # a length mark after a short vowel: the vowel is enough
                i += 1
                continue
            return None
    # a doubled consonant is one phone; an r after an r-coloured vowel is part of it
    collapsed = [
        p
        for k, p in enumerate(phones)
        if k == 0 or (p != phones[k - 1] or p in _VOWELS) and (p, phones[k - 1]) != ("R", "ER")
    ]
    return " ".join(collapsed) if _VOWELS & set(collapsed) else None


class EspeakMissingError(RuntimeError):
    """espeak-ng is not installed (the Debian package `espeak-ng`)."""


@cache
def _voices(exe: str) -> frozenset[str]:
    """Voice names espeak-ng accepts: languages (en-gb-scotland), files (gmw/en-gb-scotland)
    and file stems."""
    listing = subprocess.run([exe, "--voices"], capture_output=True, text=True, check=False)
    names: set[str] = set()
    for line in listing.stdout.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5:
            names |= {cols[1].lower(), cols[4].lower(), cols[4].rsplit("/", 1)[-1].lower()}
    return frozenset(names)


def espeak_ipa(words: Sequence[str], voice: str) -> dict[str, str]:
    """espeak-ng's IPA for each of `words` in `voice` (one call; words espeak splits or
    merges are phonemised one at a time). Raises `EspeakMissingError`, or `ValueError` for a
    voice espeak-ng does not know."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise EspeakMissingError("espeak-ng is not installed (apt-get install espeak-ng)")
    words = [w for w in dict.fromkeys(words) if w.strip()]
    if voice.lower() not in _voices(exe):  # espeak-ng would quietly use another voice
        raise ValueError(f"espeak-ng has no voice {voice!r} (see espeak-ng --voices)")

    def run(items: Sequence[str]) -> list[str]:
        done = subprocess.run(
            [exe, "-v", voice, "-q", "--ipa"],
            input="\n".join(items) + "\n",
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0 or done.stderr.strip():
            raise ValueError(f"espeak-ng voice {voice!r}: {done.stderr.strip() or 'failed'}")
        return done.stdout.split()

    if not words:
        return {}
    tokens = run(words)
    if len(tokens) == len(words):
        return dict(zip(words, tokens, strict=True))
    out = {}
    for w in words:
        toks = run([w])
        if len(toks) == 1:
            out[w] = toks[0]
    return out


class AccentLexicon:
    """Pronunciation variants of one espeak-ng voice, computed on demand and cached.

    Calling it with words returns word -> ARPAbet variants for the words espeak-ng phonemises
    into the model's phone set (words with an apostrophe or a digit included)."""

    def __init__(self, voice: str) -> None:
        self.voice = voice
        self._cache: dict[str, str | None] = {}
        self._lock = threading.Lock()

    def __call__(self, words: Sequence[str]) -> Mapping[str, Sequence[str]]:
        """word -> [ARPAbet phones] for those of `words` that have a variant."""
        with self._lock:
            new = [w for w in dict.fromkeys(words) if w not in self._cache]
            if new:
                ipa = espeak_ipa(new, self.voice)
                for w in new:
                    self._cache[w] = ipa_to_arpabet(ipa[w]) if w in ipa else None
            return {w: [p] for w in words if (p := self._cache.get(w))}


@cache
def accent_lexicon(voice: str) -> AccentLexicon:
    """The process's shared lexicon of `voice` (packs with the same voice share one)."""
    return AccentLexicon(voice)
