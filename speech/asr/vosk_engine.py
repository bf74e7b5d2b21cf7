"""Vosk (Kaldi) recognizer: one `vosk.Model` per model path per process, shared by all streams.

Phrase-list mode passes the list as a Vosk grammar (plus "[unk]", so speech that is not in the
list comes out as "[unk]" and is rejected); free-form mode decodes with the model's own graph.
A Vosk grammar already accepts any run of its entries, so sequence mode (digit strings) uses
the same grammar and splits the words heard into entries; plain phrase-list mode accepts only
a single entry. `Recognition.confidence` is the lowest word confidence (Kaldi's posterior).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from speech.asr.base import ASRError, ModelNotInstalledError, Recognition, Word
from speech.asr.phrases import checked_phrase_list, match_phrase, normalize_phrases, split_sequence

log = logging.getLogger(__name__)

UNK = "[unk]"
DEFAULT_MIN_CONFIDENCE = 0.5

_MODELS: dict[str, object] = {}
_MODELS_LOCK = threading.Lock()


def _vosk():
    import vosk

    vosk.SetLogLevel(-1)
    return vosk


def load_model(path: Path):
    """The process-wide `vosk.Model` for `path` (loaded on first use, then shared)."""
    key = str(Path(path).resolve())
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            if not (Path(key) / "am").is_dir() and not (Path(key) / "final.mdl").exists():
                raise ModelNotInstalledError(f"{key} is not a Vosk model folder (no am/)")
            try:
                model = _vosk().Model(key)
            except Exception as exc:  # vosk raises a bare Exception on load failure
                raise ASRError(f"could not load the Vosk model at {key}: {exc}") from exc
            _MODELS[key] = model
        return model


class VoskStream:
    """One Vosk recognizer over one utterance (or call)."""

    def __init__(
        self,
        engine: VoskEngine,
        sample_rate: int,
        phrases: list[str] | None,
        min_confidence: float,
        sequence: bool = False,
        alone: list[str] | None = None,
    ) -> None:
        vosk = _vosk()
        self.sample_rate = sample_rate
        self._engine = engine
        self._phrases = phrases
        self._sequence = sequence
        self._alone = alone or []
        self._min_conf = min_confidence
        if phrases:
            grammar = phrases + ([UNK] if engine.has_unk else [])
            self._rec = vosk.KaldiRecognizer(
                engine.model, float(sample_rate), json.dumps(grammar, ensure_ascii=False)
            )
        else:
            self._rec = vosk.KaldiRecognizer(engine.model, float(sample_rate))
        self._rec.SetWords(True)
        self._results: list[dict] = []
        self._bytes = 0
        self._done = False

    def accept(self, pcm: bytes) -> None:
        """Feed PCM16 mono audio at `sample_rate`."""
        if self._done:
            raise ASRError("stream already finished")
        if not pcm:
            return
        self._bytes += len(pcm)
        if self._rec.AcceptWaveform(pcm):
            self._results.append(json.loads(self._rec.Result()))

    def partial(self) -> str:
        """The current partial hypothesis."""
        if self._done:
            return ""
        done = " ".join(r.get("text", "") for r in self._results).strip()
        part = json.loads(self._rec.PartialResult()).get("partial", "")
        return " ".join(t for t in (done, part) if t and t != UNK).strip()

    def finish(self) -> Recognition:
        """Flush and return the final result."""
        if self._done:
            raise ASRError("stream already finished")
        self._done = True
        self._results.append(json.loads(self._rec.FinalResult()))
        words: list[Word] = []
        for r in self._results:
            for w in r.get("result", []):
                words.append(
                    Word(
                        str(w["word"]),
                        round(float(w["start"]), 3),
                        round(float(w["end"]), 3),
                        round(float(w.get("conf", 1.0)), 3),
                    )
                )
        heard = [w for w in words if w.word != UNK]
        text = " ".join(w.word for w in heard)
        if not text:
            text = " ".join(r.get("text", "") for r in self._results if r.get("text")).strip()
            text = " ".join(t for t in text.split() if t != UNK)
        conf = min((w.conf for w in words), default=0.0)
        rec = Recognition(
            text=text,
            words=words,
            confidence=round(conf, 3),
            engine="vosk",
            model=self._engine.model_name,
            audio_seconds=self._bytes / 2 / self.sample_rate,
        )
        if self._phrases:
            has_unk = any(w.word == UNK for w in words)
            if self._sequence:
                rec.items = split_sequence(text, self._phrases) or []
                if len(rec.items) > 1 and set(rec.items) & set(self._alone):
                    rec.items = []  # a command inside a run of digits: not a valid answer
                rec.phrase = " ".join(rec.items) or None
            else:
                rec.phrase = match_phrase(text, self._phrases)
            if rec.phrase is None or has_unk or conf < self._min_conf:
                rec.rejected = True
                rec.phrase = None
                rec.items = []
        elif not text:
            rec.rejected = True
        return rec


class VoskEngine:
    """A Vosk model shared by any number of streams (see `load_model`)."""

    name = "vosk"

    def __init__(
        self,
        model_path: str | Path,
        language: str,
        model_name: str | None = None,
        *,
        min_confidence: float = DEFAULT_MIN_CONFIDENCE,
    ) -> None:
        """Load (or reuse) the model at `model_path`. `min_confidence` is the phrase-list
        rejection threshold (the lowest word confidence of the match must reach it)."""
        self.model_path = Path(model_path)
        self.language = language
        self.model_name = model_name or self.model_path.name
        self.min_confidence = min_confidence
        self.model = load_model(self.model_path)
        self.has_unk = self.model.vosk_model_find_word(UNK) >= 0

    def open_stream(
        self,
        sample_rate: int,
        phrases: Sequence[str] | None = None,
        *,
        sequence: bool = False,
        alone: Sequence[str] | None = None,
    ) -> VoskStream:
        """Open a stream at `sample_rate`; with `phrases`, decode in phrase-list mode (one
        entry), or with `sequence=True` any run of entries (digit strings, PINs); entries of
        `alone` count only as the whole utterance (a run holding one is rejected).

        Raises `ASRError` naming any phrase word the model cannot recognise.
        """
        plist = checked_phrase_list(
            self, sample_rate, phrases, sequence, f"the vocabulary of Vosk model {self.model_name}"
        )
        lone = normalize_phrases(alone) if alone else []
        return VoskStream(self, sample_rate, plist, self.min_confidence, sequence, lone)

    def missing_words(self, phrases: Sequence[str]) -> list[str]:
        """Words of `phrases` the model's vocabulary lacks (Vosk itself only logs them)."""
        missing: list[str] = []
        for phrase in normalize_phrases(phrases):
            for word in phrase.split():
                if word not in missing and self.model.vosk_model_find_word(word) < 0:
                    missing.append(word)
        return missing
