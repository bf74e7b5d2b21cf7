"""PocketSphinx recognizer with the English model bundled in the `pocketsphinx` wheel.

Used for English when no Vosk English model is installed. The model is 16 kHz, so telephone
audio (8 kHz) is brought to 16 kHz with soxr and given a low deterministic noise floor
(about -64 dBFS): telephone prompts and endpointed utterances carry runs of digital silence
and an empty 4-8 kHz band, whose log energies otherwise distort cepstral mean normalisation.
Measured on the Asterisk prompts this lifts phrase-list accuracy from about 82% to about 92%.

Decoders are expensive (acoustic model + 26 MB language model), so one pool of them is kept
per process and shared by every stream: a stream buffers its audio and borrows a decoder only
while decoding, so streams stay independent and the pool grows only with real concurrency.
Each decoder keeps the grammars it has compiled, keyed by phrase list.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from speech.asr.base import ASRError, Recognition, Word
from speech.asr.phrases import match_phrase, normalize_phrases
from speech.resample import resample_array

MODEL_RATE = 16000
FRAME_RATE = 100  # PocketSphinx frames per second
DITHER_RMS = 20.0  # noise floor added to band-limited audio (int16 units)
PARTIAL_EVERY_S = 0.5
_MAX_GRAMMARS = 32
_FILLERS = {"<s>", "</s>", "<sil>", "[NOISE]", "[SPEECH]"}


def model_dir() -> str:
    """The folder of the wheel's English model (`en-us`)."""
    import pocketsphinx

    return os.path.join(pocketsphinx.get_model_path(), "en-us")


@dataclass
class _Slot:
    decoder: object
    grammars: OrderedDict[str, str]
    words_added: int = 0  # how many of the pool's added words this decoder has


class _DecoderPool:
    """Process-wide pool of loaded decoders (created on demand, reused forever)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_Slot] = []
        self.created = 0
        self.added_words: list[tuple[str, str]] = []  # (word, phones) for every decoder

    def _new(self) -> _Slot:
        from pocketsphinx import Decoder

        base = model_dir()
        try:
            dec = Decoder(
                hmm=os.path.join(base, "en-us"),
                dict=os.path.join(base, "cmudict-en-us.dict"),
                lm=os.path.join(base, "en-us.lm.bin"),
                loglevel="FATAL",
                remove_noise=False,  # its noise estimate carries over between utterances
            )
        except Exception as exc:
            raise ASRError(f"could not load the PocketSphinx model at {base}: {exc}") from exc
        self.created += 1
        slot = _Slot(dec, OrderedDict())
        # Feature state (the running cepstral mean) carries over between utterances and a cold
        # decoder starts from the model's wideband prior; one second of the telephone noise
        # floor moves it near where telephone audio leaves it, so a new decoder's first
        # utterance is decoded like the later ones.
        _decode(slot, _prepare(np.zeros(8000, np.int16), 8000, DITHER_RMS), None)
        return slot

    @contextmanager
    def borrow(self) -> Iterator[_Slot]:
        """A decoder for this thread's exclusive use until the block ends."""
        with self._lock:
            slot = self._idle.pop() if self._idle else None
        if slot is None:
            slot = self._new()
        for word, phones in self.added_words[slot.words_added :]:
            if slot.decoder.lookup_word(word) is None:
                slot.decoder.add_word(word, phones, True)
        slot.words_added = len(self.added_words)
        try:
            yield slot
        finally:
            with self._lock:
                self._idle.append(slot)


_POOL = _DecoderPool()


def _jsgf(phrases: Sequence[str]) -> str:
    alts = " | ".join(f"( {p} )" for p in phrases)
    return f"#JSGF V1.0;\ngrammar ivr;\npublic <utt> = {alts} ;\n"


def _activate(slot: _Slot, phrases: list[str] | None) -> None:
    dec = slot.decoder
    if not phrases:
        dec.activate_search("_default")
        return
    key = "g" + hashlib.sha1("\n".join(phrases).encode()).hexdigest()[:16]
    if key not in slot.grammars:
        dec.add_jsgf_string(key, _jsgf(phrases))
        slot.grammars[key] = key
        while len(slot.grammars) > _MAX_GRAMMARS:
            old, _ = slot.grammars.popitem(last=False)
            dec.remove_search(old)
    slot.grammars.move_to_end(key)
    dec.activate_search(key)


def _prepare(samples: np.ndarray, rate: int, dither: float) -> bytes:
    """Bring audio to the model rate; band-limited audio gets the deterministic noise floor."""
    x = resample_array(samples, rate, MODEL_RATE) if rate != MODEL_RATE else samples
    if rate < MODEL_RATE and dither > 0 and len(x):
        noise = np.random.default_rng(0).normal(0.0, dither, len(x))
        x = np.clip(np.round(x.astype(np.float64) + noise), -32768, 32767).astype(np.int16)
    return x.astype("<i2").tobytes()


def _clean(word: str) -> str:
    return word.split("(", 1)[0] if word.endswith(")") else word


def _decode(slot: _Slot, pcm: bytes, phrases: list[str] | None) -> tuple[str, list[Word], float]:
    dec = slot.decoder
    _activate(slot, phrases)
    dec.start_utt()
    dec.process_raw(pcm, full_utt=True)
    dec.end_utt()
    hyp = dec.hyp()
    if hyp is None:
        return "", [], 0.0
    logmath = dec.get_logmath()
    words = []
    for seg in dec.seg():
        if seg.word in _FILLERS or seg.word.startswith("++") or seg.word.startswith("["):
            continue
        conf = min(1.0, max(0.0, logmath.exp(seg.prob)))
        words.append(
            Word(
                _clean(seg.word),
                round(seg.start_frame / FRAME_RATE, 3),
                round((seg.end_frame + 1) / FRAME_RATE, 3),
                round(conf, 3),
            )
        )
    overall = min(1.0, max(0.0, logmath.exp(hyp.prob)))
    return hyp.hypstr, words, overall


class PocketSphinxStream:
    """Buffers one utterance and decodes it with a pooled decoder (batch CMN, full utterance)."""

    def __init__(self, engine: PocketSphinxEngine, sample_rate: int, phrases: list[str] | None):
        self.sample_rate = sample_rate
        self._engine = engine
        self._phrases = phrases
        self._chunks: list[bytes] = []
        self._bytes = 0
        self._partial = ""
        self._partial_at = 0
        self._done = False

    def accept(self, pcm: bytes) -> None:
        """Feed PCM16 mono audio at `sample_rate`."""
        if self._done:
            raise ASRError("stream already finished")
        if len(pcm) % 2:
            raise ASRError("PCM16 audio must have an even number of bytes")
        self._chunks.append(bytes(pcm))
        self._bytes += len(pcm)

    def _samples(self) -> np.ndarray:
        return np.frombuffer(b"".join(self._chunks), dtype="<i2")

    def partial(self) -> str:
        """Best hypothesis over the audio so far (recomputed at most every 0.5 s of audio)."""
        if self._done or not self._bytes:
            return ""
        if (self._bytes - self._partial_at) / 2 >= PARTIAL_EVERY_S * self.sample_rate:
            pcm = _prepare(self._samples(), self.sample_rate, self._engine.dither)
            with _POOL.borrow() as slot:
                self._partial, _, _ = _decode(slot, pcm, self._phrases)
            self._partial_at = self._bytes
        return self._partial

    def finish(self) -> Recognition:
        """Decode the whole utterance and return the result."""
        if self._done:
            raise ASRError("stream already finished")
        self._done = True
        samples = self._samples()
        self._chunks = []
        text, words, overall = "", [], 0.0
        if len(samples):
            pcm = _prepare(samples, self.sample_rate, self._engine.dither)
            with _POOL.borrow() as slot:
                text, words, overall = _decode(slot, pcm, self._phrases)
        text = " ".join(_clean(t) for t in text.split())
        confidence = min([overall] + [w.conf for w in words]) if words else 0.0
        rec = Recognition(
            text=text,
            words=words,
            confidence=round(confidence, 3),
            engine="pocketsphinx",
            model=self._engine.model_name,
            audio_seconds=len(samples) / self.sample_rate,
        )
        if self._phrases:
            # a path that never reached the grammar's end state comes back as a fragment
            rec.phrase = match_phrase(text, self._phrases)
            rec.rejected = rec.phrase is None or confidence < self._engine.min_confidence
            if rec.rejected:
                rec.phrase = None
        elif not text:
            rec.rejected = True
        return rec


class PocketSphinxEngine:
    """English recognition with the `pocketsphinx` wheel's bundled en-us model."""

    name = "pocketsphinx"

    def __init__(
        self,
        language: str = "en",
        *,
        dither: float = DITHER_RMS,
        min_confidence: float = 0.0,
    ) -> None:
        """`dither` is the noise floor (int16 RMS) added to sub-16 kHz audio; `min_confidence`
        rejects phrase-list results whose posterior falls below it."""
        if language.split("-")[0].lower() != "en":
            raise ASRError(f"the PocketSphinx model is English only, not {language!r}")
        self.language = "en"
        self.model_name = "pocketsphinx-en-us"
        self.dither = dither
        self.min_confidence = min_confidence
        with _POOL.borrow():
            pass  # load one decoder now so errors surface at construction

    def open_stream(
        self, sample_rate: int, phrases: Sequence[str] | None = None
    ) -> PocketSphinxStream:
        """Open a stream; with `phrases`, decode against a JSGF grammar of exactly those."""
        if sample_rate <= 0:
            raise ASRError(f"bad sample rate {sample_rate}")
        plist = normalize_phrases(phrases) if phrases else None
        if plist:
            missing = self.missing_words(plist)
            if missing:
                raise ASRError(
                    "words not in the PocketSphinx English dictionary: " + ", ".join(missing)
                )
        return PocketSphinxStream(self, sample_rate, plist)

    def add_words(self, pronunciations: Mapping[str, str]) -> list[str]:
        """Add words to every decoder's dictionary (ARPAbet phones, e.g. {"nowt": "N AW T"}).

        Words the dictionary already has are left alone; returns the words added. Added words
        are process-wide, like the decoders. Raises `ASRError` for a bad pronunciation.
        """
        added: list[str] = []
        with _POOL.borrow() as slot:
            for word, phones in pronunciations.items():
                word, phones = word.strip().lower(), " ".join(str(phones).upper().split())
                if not word or not phones:
                    raise ASRError(f"bad pronunciation for {word!r}: {phones!r}")
                if slot.decoder.lookup_word(word) is not None:
                    continue
                try:
                    slot.decoder.add_word(word, phones, True)
                except RuntimeError as exc:
                    raise ASRError(f"bad pronunciation for {word!r}: {phones!r}: {exc}") from exc
                with _POOL._lock:
                    _POOL.added_words.append((word, phones))
                added.append(word)
        return added

    def missing_words(self, phrases: Sequence[str]) -> list[str]:
        """Words of `phrases` that the pronunciation dictionary lacks."""
        missing: list[str] = []
        with _POOL.borrow() as slot:
            for phrase in normalize_phrases(phrases):
                for word in phrase.split():
                    if word not in missing and slot.decoder.lookup_word(word) is None:
                        missing.append(word)
        return missing


def decoders_loaded() -> int:
    """How many decoders this process has loaded (for benchmarks and tests)."""
    return _POOL.created
