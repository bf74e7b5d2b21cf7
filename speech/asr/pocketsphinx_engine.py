"""PocketSphinx recognizer with the English model bundled in the `pocketsphinx` wheel.

Used for English when no Vosk English model is installed. The model is 16 kHz wideband; the
telephone front end (measured on real Asterisk 8 kHz prompts, see `tests/test_asr_phrases_en.py`):

- 8 kHz audio is brought to 16 kHz with soxr and given a low deterministic noise floor (about
  -64 dBFS), so runs of digital silence and the empty 4-8 kHz band do not produce extreme log
  energies;
- cepstral mean normalisation is live (running) and starts every utterance from a fixed prior
  measured on telephone speech through this same front end (`TELEPHONE_CMN`), instead of the
  model's wideband prior or a batch mean dominated by the utterance's silence. The decoder's
  feature state is reset before every decode, so a result never depends on earlier calls;
- the model's own noise removal is off (its estimate carried over between utterances), and the
  grammar result is the Viterbi path (no lattice best-path rescoring, which lost to it here).

The stock `feat.params` of the model overrides decoder arguments, so these settings are written
into a private copy of the model folder (symbolic links plus an edited `feat.params`).

Confidence is an acoustic match score: the recognised words' acoustic cost per frame, which
PocketSphinx already measures against the best-scoring senone of each frame (an unconstrained
background model), mapped to 0..1 by a logistic curve centred on `REJECT_COST`. Phrase-list
results below `min_confidence` (default 0.5, i.e. that cost) are rejected as out of list.

Decoders are expensive (acoustic model + 26 MB language model), so one pool of them is kept
per process and front end, shared by every stream: a stream buffers its audio and borrows a
decoder only while decoding, so the pool grows only with real concurrency. Each decoder keeps
the grammars it has compiled, keyed by phrase list and mode.
"""

from __future__ import annotations

import atexit
import copy
import hashlib
import math
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from speech.asr.base import ASRError, BufferedStream, Recognition, Word
from speech.asr.phrases import checked_phrase_list, match_phrase, normalize_phrases, split_sequence
from speech.asr.second_opinion import combine
from speech.asr.whisper_engine import WhisperEngine, spoken_text, whisper_recognition
from speech.resample import resample_array

MODEL_RATE = 16000
FRAME_RATE = 100  # PocketSphinx frames per second
DITHER_RMS = 20.0  # noise floor added to band-limited audio (int16 units)
PARTIAL_EVERY_S = 0.5
# Running cepstral mean of real 8 kHz telephone speech after this front end (soxr to 16 kHz +
# DITHER_RMS noise floor): measured over 105 Asterisk prompts of >= 5 words (none of them is
# a phrase-list test clip). `telephone_cmn_prior` recomputes it.
TELEPHONE_CMN = "55.53,12.32,-7.25,19.43,-0.94,-4.54,1.77,-11.41,10.77,-8.55,-6.13,1.34,-9.84"
WIDEBAND_CMN = "40,3,-1,0,0,0,0,0,0,0,0,0,0"  # the model's own prior (cmninit)
# Acoustic cost per frame of the recognised words (log base 1.0001, against the best senone of
# each frame) at which confidence is 0.5. Chosen on half of the words of a held-out set so that
# about 98% of correct in-list results pass (see tests/test_asr_phrases_en.py).
REJECT_COST = 37.0
COST_SCALE = 4.0
_MAX_GRAMMARS = 32
_FILLERS = {"<s>", "</s>", "<sil>", "(NULL)", "[NOISE]", "[SPEECH]"}
_FEAT_OVERRIDES = {"-cmn": "live", "-remove_noise": "no"}
# Search beams of phrase-list decoding: PocketSphinx's defaults. Wider beams (1e-80) found the
# right phrase more often on unusual voices but, since a path's acoustic cost is measured
# against the best active path of each frame, they also raised every cost, and out-of-list
# rejection on held-out real speech fell from 0.71 to 0.60 at the same acceptance.
GRAMMAR_BEAMS: dict[str, float] = {}


def model_dir() -> str:
    """The folder of the wheel's English model (`en-us`)."""
    import pocketsphinx

    return os.path.join(pocketsphinx.get_model_path(), "en-us")


_HMM_LOCK = threading.Lock()
_HMM_DIR: str | None = None


def _telephone_hmm_dir() -> str:
    """A private copy of the acoustic model folder (links) whose feat.params has our settings."""
    global _HMM_DIR
    with _HMM_LOCK:
        if _HMM_DIR is None:
            src = os.path.join(model_dir(), "en-us")
            dst = tempfile.mkdtemp(prefix="ivr-ps-hmm-")
            atexit.register(shutil.rmtree, dst, True)
            params: dict[str, str] = {}
            for name in os.listdir(src):
                if name == "feat.params":
                    with open(os.path.join(src, name)) as fh:
                        for line in fh:
                            if line.strip():
                                key, _, value = line.strip().partition(" ")
                                params[key] = value.strip()
                else:
                    os.symlink(os.path.join(src, name), os.path.join(dst, name))
            params.update(_FEAT_OVERRIDES)
            with open(os.path.join(dst, "feat.params"), "w") as fh:
                fh.writelines(f"{k} {v}\n" for k, v in params.items())
            _HMM_DIR = dst
        return _HMM_DIR


@dataclass
class _Slot:
    decoder: object
    grammars: OrderedDict[str, str]
    words_added: int = 0  # how many of the pool's added words this decoder has


class _AddedWords:
    """Words added at run time, (word, phones) in order, for every decoder of some pools."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[tuple[str, str]] = []


class _DecoderPool:
    """Process-wide pool of loaded decoders (created on demand, reused forever).

    `tuned` selects the telephone front end's decoder settings; False keeps the model's stock
    settings (the naive baseline of the benchmarks and tests). `grammar_only` decoders carry no
    language model (a third of the memory) and search with `GRAMMAR_BEAMS`; they serve
    phrase lists only."""

    def __init__(
        self, tuned: bool, grammar_only: bool = False, words: _AddedWords | None = None
    ) -> None:
        self.tuned = tuned
        self.grammar_only = grammar_only
        self._lock = threading.Lock()
        self._idle: list[_Slot] = []
        self.created = 0
        self.words = words or _AddedWords()

    @property
    def added_words(self) -> list[tuple[str, str]]:
        return self.words.items

    def _new(self) -> _Slot:
        from pocketsphinx import Decoder

        base = model_dir()
        extra: dict[str, object] = {"bestpath": False} if self.tuned else {}
        lm: str | None = os.path.join(base, "en-us.lm.bin")
        if self.grammar_only:
            extra.update(GRAMMAR_BEAMS)
            lm = None
        try:
            hmm = _telephone_hmm_dir() if self.tuned else os.path.join(base, "en-us")
            dec = Decoder(
                hmm=hmm,
                dict=os.path.join(base, "cmudict-en-us.dict"),
                lm=lm,
                loglevel="FATAL",
                **extra,
            )
        except Exception as exc:
            raise ASRError(f"could not load the PocketSphinx model at {base}: {exc}") from exc
        self.created += 1
        return _Slot(dec, OrderedDict())

    @contextmanager
    def borrow(self) -> Iterator[_Slot]:
        """A decoder for this thread's exclusive use until the block ends."""
        with self._lock:
            slot = self._idle.pop() if self._idle else None
        if slot is None:
            slot = self._new()
        with self.words.lock:
            todo = self.added_words[slot.words_added :]
        for n, (word, phones) in enumerate(todo):
            if slot.decoder.lookup_word(word) is None:
                # rebuilding the searches once, after the last word, is enough
                slot.decoder.add_word(word, phones, n == len(todo) - 1)
        slot.words_added += len(todo)
        try:
            yield slot
        finally:
            with self._lock:
                self._idle.append(slot)


_TUNED_WORDS = _AddedWords()
_POOLS = {
    True: _DecoderPool(True, grammar_only=True, words=_TUNED_WORDS),
    False: _DecoderPool(False),
}
_FREE_POOLS = {True: _DecoderPool(True, words=_TUNED_WORDS), False: _POOLS[False]}


def _jsgf(
    phrases: Sequence[str],
    sequence: bool,
    alone: Sequence[str] = (),
    expand: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """The grammar; `expand` maps a word to the names of its accent variants (alternatives)."""

    def words(p: str) -> str:
        if not expand:
            return p
        return " ".join(
            f"( {' | '.join([w, *expand[w]])} )" if expand.get(w) else w for w in p.split()
        )

    loop = [p for p in phrases if p not in alone]
    alts = " | ".join(f"( {words(p)} )" for p in (loop if sequence else phrases))
    body = f"( {alts} )+" if sequence else alts
    if sequence and alone:
        body = " | ".join([f"( {body} )"] + [f"( {words(p)} )" for p in alone])
    return f"#JSGF V1.0;\ngrammar ivr;\npublic <utt> = {body} ;\n"


def _activate(
    slot: _Slot,
    phrases: list[str] | None,
    sequence: bool,
    alone: Sequence[str] = (),
    expand: Mapping[str, Sequence[str]] | None = None,
) -> None:
    dec = slot.decoder
    if not phrases:
        dec.activate_search("_default")
        return
    text = ("+" if sequence else "") + "\n".join(phrases) + "\n!" + "\n".join(alone)
    if expand:
        text += "\n@" + "\n".join(f"{w}={','.join(v)}" for w, v in sorted(expand.items()))
    key = "g" + hashlib.sha1(text.encode()).hexdigest()[:16]
    if key not in slot.grammars:
        dec.add_jsgf_string(key, _jsgf(phrases, sequence, alone, expand))
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


VARIANT_MARK = "__"  # dictionary name of an accent variant: "<word>__<tag><n>"


def _clean(word: str) -> str:
    word = word.split("(", 1)[0] if word.endswith(")") else word
    return word.split(VARIANT_MARK, 1)[0]


def cost_to_confidence(cost: float) -> float:
    """Map an acoustic cost per frame (see `REJECT_COST`) to a 0..1 confidence."""
    z = (cost - REJECT_COST) / COST_SCALE
    return 1.0 / (1.0 + math.exp(min(50.0, max(-50.0, z))))


@dataclass
class _Decoded:
    text: str
    words: list[Word]
    cost: float  # acoustic cost per frame of the recognised words (inf when nothing)


def _decode(
    slot: _Slot,
    pcm: bytes,
    phrases: list[str] | None,
    sequence: bool,
    cmn: str | None,
    alone: Sequence[str] = (),
    expand: Mapping[str, Sequence[str]] | None = None,
) -> _Decoded:
    dec = slot.decoder
    _activate(slot, phrases, sequence, alone, expand)
    if cmn:
        dec.set_cmn(cmn)  # every utterance starts from the same prior: no history
    dec.start_utt()
    dec.process_raw(pcm, full_utt=True)
    dec.end_utt()
    hyp = dec.hyp()
    if hyp is None or not hyp.hypstr:
        return _Decoded("", [], math.inf)
    logmath = dec.get_logmath()
    words = []
    total_cost, total_frames = 0.0, 0
    for seg in dec.seg() or []:
        if seg.word in _FILLERS or seg.word.startswith(("++", "[", "+")):
            continue
        frames = max(1, seg.end_frame - seg.start_frame + 1)
        cost = -logmath.log(max(seg.ascore, 1e-300))
        total_cost += cost
        total_frames += frames
        words.append(
            Word(
                _clean(seg.word),
                round(seg.start_frame / FRAME_RATE, 3),
                round((seg.end_frame + 1) / FRAME_RATE, 3),
                round(cost_to_confidence(cost / frames), 3),
            )
        )
    cost = total_cost / total_frames if total_frames else math.inf
    return _Decoded(hyp.hypstr, words, cost)


class PocketSphinxStream(BufferedStream):
    """Buffers one utterance and decodes it with a pooled decoder (whole utterance at once)."""

    def __init__(
        self,
        engine: PocketSphinxEngine,
        sample_rate: int,
        phrases: list[str] | None,
        sequence: bool = False,
        alone: Sequence[str] = (),
        expand: Mapping[str, Sequence[str]] | None = None,
    ):
        super().__init__(sample_rate)
        self._alone = list(alone)
        self._expand = dict(expand or {})
        self._engine = engine
        self._phrases = phrases
        self._sequence = sequence
        self._partial = ""
        self._partial_at = 0

    def _run(self, samples: np.ndarray) -> _Decoded:
        eng = self._engine
        pcm = _prepare(samples, self.sample_rate, eng.dither)
        prior = eng.cmn_prior(self.sample_rate)
        with (eng.pool if self._phrases else eng.free_pool).borrow() as slot:
            return _decode(
                slot, pcm, self._phrases, self._sequence, prior, self._alone, self._expand
            )

    def partial(self) -> str:
        """Best hypothesis over the audio so far (recomputed at most every 0.5 s of audio)."""
        if self._done or not self._bytes:
            return ""
        if (self._bytes - self._partial_at) / 2 >= PARTIAL_EVERY_S * self.sample_rate:
            self._partial = " ".join(_clean(t) for t in self._run(self._samples()).text.split())
            self._partial_at = self._bytes
        return self._partial

    def finish(self) -> Recognition:
        """Decode the whole utterance and return the result (with the engine's listener, if
        it has one: Whisper's second opinion on a phrase list, Whisper alone for free form)."""
        samples = self.take_samples()
        listener = self._engine.listener
        if listener is not None and len(samples):
            if not self._phrases:
                heard = listener.hear(samples, self.sample_rate, long=True)
                return whisper_recognition(heard, len(samples) / self.sample_rate, None)
            context = None if self._sequence else self._phrases
            opinion = listener.listen_soon(samples, self.sample_rate, context)  # alongside
            rec = self._recognition(samples)
            if opinion is None:
                return rec
            return combine(
                rec,
                opinion.result(),
                self._phrases,
                self._sequence,
                listener.verify,
                self._engine.phones,
                listener.relisten,
            )
        return self._recognition(samples)

    def _recognition(self, samples: np.ndarray) -> Recognition:
        out = self._run(samples) if len(samples) else _Decoded("", [], math.inf)
        text = " ".join(_clean(t) for t in out.text.split())
        confidence = cost_to_confidence(out.cost) if out.words else 0.0
        rec = Recognition(
            text=text,
            words=out.words,
            confidence=round(confidence, 3),
            engine="pocketsphinx",
            model=self._engine.model_name,
            audio_seconds=len(samples) / self.sample_rate,
        )
        if self._phrases:
            # a path that never reached the grammar's end state comes back as a fragment
            if self._sequence:
                rec.items = split_sequence(text, self._phrases) or []
                rec.phrase = " ".join(rec.items) or None
            else:
                rec.phrase = match_phrase(text, self._phrases)
            rec.rejected = rec.phrase is None or confidence < self._engine.min_confidence
            if rec.rejected:
                rec.phrase = None
                rec.items = []
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
        min_confidence: float = 0.5,
        telephone_front_end: bool = True,
    ) -> None:
        """`dither` is the noise floor (int16 RMS) added to sub-16 kHz audio; `min_confidence`
        rejects phrase-list results whose confidence falls below it (0 accepts every path that
        reached the grammar's end). `telephone_front_end=False` keeps the model's stock
        decoder settings (batch CMN, noise removal, lattice best path): the naive baseline."""
        if language.split("-")[0].lower() != "en":
            raise ASRError(f"the PocketSphinx model is English only, not {language!r}")
        self.language = "en"
        self.model_name = "pocketsphinx-en-us"
        self.dither = dither
        self.min_confidence = min_confidence
        self.pool = _POOLS[telephone_front_end]  # phrase lists
        self.free_pool = _FREE_POOLS[telephone_front_end]  # free-form (with the language model)
        self.variant_tag: str | None = None
        self.listener: WhisperEngine | None = None
        self._lexicon: Callable[[list[str]], Mapping[str, Sequence[str]]] | None = None
        self._variant_names: dict[str, list[str]] = {}
        self._variant_lock = threading.Lock()
        self._word_phones: dict[str, tuple[str, ...]] = {}  # shared by views, like the dictionary
        with self.pool.borrow():
            pass  # load one decoder now so errors surface at construction

    def with_listener(self, listener: WhisperEngine | None) -> PocketSphinxEngine:
        """This engine with Whisper as its listener (`speech.asr.second_opinion`), or, with
        None, without one (what dialect evidence hears with while the listener is busy)."""
        view = copy.copy(self)
        view.listener = listener
        return view

    def with_variants(
        self, tag: str, lexicon: Callable[[list[str]], Mapping[str, Sequence[str]]]
    ) -> PocketSphinxEngine:
        """This engine with accent pronunciation variants (a dialect's recognizer).

        `lexicon(words)` returns word -> ARPAbet pronunciations for the words of a phrase list
        (e.g. `dialects.lexicon.AccentLexicon`). Each variant the dictionary lacks enters it
        under its own name ("slower__en_scotland1") and only this view's grammars offer it, as
        an alternative to the word: other dialects and free-form decoding are unchanged, while
        the decoders (and their memory) stay shared. Results name the plain word."""
        if not tag.replace("-", "").replace("_", "").isalnum():
            raise ASRError(f"bad variant tag {tag!r}")
        view = copy.copy(self)
        view.variant_tag = tag.replace("-", "_").lower()
        view._lexicon = lexicon
        view._variant_names = {}
        view._variant_lock = threading.Lock()
        return view

    def _expansions(self, phrases: Sequence[str]) -> dict[str, list[str]]:
        """word -> names of its accent variants, for the words of `phrases` (view only)."""
        if self._lexicon is None or not phrases:
            return {}
        words = list(dict.fromkeys(w for p in phrases for w in p.split()))
        with self._variant_lock:
            new = [w for w in words if w not in self._variant_names]
            if new:
                found = self._lexicon(new)
                add: dict[str, str] = {}
                for w in new:
                    have = set(self.pronunciations(w))
                    names = []
                    for phones in found.get(w, ()):
                        phones = " ".join(phones.upper().split())
                        if phones in have:
                            continue
                        have.add(phones)
                        name = f"{w}{VARIANT_MARK}{self.variant_tag}{len(names) + 1}"
                        add[name] = phones
                        names.append(name)
                    self._variant_names[w] = names
                try:
                    self.add_words(add)
                except ASRError:  # a phone the model lacks: drop this batch's variants
                    for w in new:
                        self._variant_names[w] = []
            return {w: self._variant_names[w] for w in words if self._variant_names.get(w)}

    def pronunciations(self, word: str) -> list[str]:
        """The dictionary's pronunciations of `word` (ARPAbet), alternates included."""
        out: list[str] = []
        with self.pool.borrow() as slot:
            phones = slot.decoder.lookup_word(word)
            n = 1
            while phones is not None:
                out.append(" ".join(phones.split()))
                n += 1
                phones = slot.decoder.lookup_word(f"{word}({n})")
        return out

    def cmn_prior(self, sample_rate: int) -> str | None:
        """The cepstral-mean prior each utterance at `sample_rate` starts from (None: stock)."""
        if not self.pool.tuned:
            return None
        return TELEPHONE_CMN if sample_rate < MODEL_RATE else WIDEBAND_CMN

    def open_stream(
        self,
        sample_rate: int,
        phrases: Sequence[str] | None = None,
        *,
        sequence: bool = False,
        alone: Sequence[str] | None = None,
    ) -> PocketSphinxStream:
        """Open a stream; with `phrases`, decode against a JSGF grammar of exactly those, or
        with `sequence=True` of any run of them ("four seven one nine"). Entries of `alone`
        (commands such as "operator") are then heard only as the whole utterance, never
        inside a run."""
        plist = checked_phrase_list(
            self, sample_rate, phrases, sequence, "the PocketSphinx English dictionary"
        )
        lone = [p for p in normalize_phrases(alone) if p in plist] if alone and plist else []
        expand = self._expansions(plist) if plist else {}
        return PocketSphinxStream(self, sample_rate, plist, sequence, lone, expand)

    def add_words(self, pronunciations: Mapping[str, str]) -> list[str]:
        """Add words to every decoder's dictionary (ARPAbet phones, e.g. {"nowt": "N AW T"}).

        Dialect packs use this for words the dictionary lacks. Words it already has are left
        alone; returns the words added. Added words are process-wide, like the decoders.
        Raises `ASRError` for a bad pronunciation.
        """
        new: list[tuple[str, str]] = []
        with self.pool.borrow() as slot:
            for word, phones in pronunciations.items():
                word, phones = word.strip().lower(), " ".join(str(phones).upper().split())
                if not word or not phones:
                    raise ASRError(f"bad pronunciation for {word!r}: {phones!r}")
                if slot.decoder.lookup_word(word) is None and word not in dict(new):
                    new.append((word, phones))
            for n, (word, phones) in enumerate(new):
                try:
                    # existing searches are rebuilt once, with the last word; grammars compiled
                    # later look words up as they compile
                    slot.decoder.add_word(word, phones, n == len(new) - 1)
                except RuntimeError as exc:
                    raise ASRError(f"bad pronunciation for {word!r}: {phones!r}: {exc}") from exc
                with self.pool.words.lock:
                    self.pool.added_words.append((word, phones))
                    if slot.words_added == len(self.pool.added_words) - 1:
                        slot.words_added += 1
        return [w for w, _ in new]

    def phones(self, text: str) -> tuple[str, ...] | None:
        """`text`'s phones by the dictionary's first pronunciation of each word (a transcript's
        punctuation and digits read as `spoken_text` does), or None when a word is missing."""
        out: list[str] = []
        for word in spoken_text(text).split():
            found = self._word_phones.get(word)
            if found is None:
                said = self.pronunciations(word)
                if not said:
                    return None  # not kept: a pack may add the word later
                found = self._word_phones[word] = tuple(said[0].split())
            out += found
        return tuple(out)

    def missing_words(self, phrases: Sequence[str]) -> list[str]:
        """Words of `phrases` that the pronunciation dictionary lacks."""
        missing: list[str] = []
        with self.pool.borrow() as slot:
            for phrase in normalize_phrases(phrases):
                for word in phrase.split():
                    if word not in missing and slot.decoder.lookup_word(word) is None:
                        missing.append(word)
        return missing


def telephone_cmn_prior(clips: Sequence[np.ndarray], rate: int = 8000) -> str:
    """The running cepstral mean the telephone front end reaches over `clips` (real speech at
    `rate`), as `TELEPHONE_CMN` is written. Features do not depend on the search, so a one-word
    grammar keeps this fast."""
    with _POOLS[True].borrow() as slot:
        dec = slot.decoder
        _activate(slot, ["hello"], False)
        dec.set_cmn(WIDEBAND_CMN)
        for samples in clips:
            dec.start_utt()
            dec.process_raw(_prepare(samples, rate, DITHER_RMS), full_utt=True)
            dec.end_utt()
        return dec.get_cmn()


def decoders_loaded() -> int:
    """How many decoders this process has loaded (for benchmarks and tests)."""
    pools = {id(p): p for p in [*_POOLS.values(), *_FREE_POOLS.values()]}
    return sum(p.created for p in pools.values())
