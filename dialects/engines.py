"""Choosing the recognizer of a pack: its ASR choices in order, the first one installed wins."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from dialects.lexicon import accent_lexicon
from dialects.model import AsrChoice, DialectPack
from speech.asr.base import Engine, ModelNotInstalledError
from speech.asr.registry import get_engine, list_models


class RecognitionUnavailable(ModelNotInstalledError):
    """No recognizer of a pack is installed; the message names the pack and what to install."""


@dataclass
class PackEngine:
    """The engine chosen for a pack, which choice it was, and whether it is a fallback."""

    engine: Engine
    choice: AsrChoice
    fallback: bool
    tried: list[str] = field(default_factory=list)  # why earlier choices were not used
    added_words: list[str] = field(default_factory=list)


def _model_matches(choice: AsrChoice, engine: Engine) -> bool:
    if choice.model is None:
        return True
    return getattr(engine, "model_name", None) == choice.model


def dialect_engine(engine: Engine, pack: DialectPack) -> tuple[Engine, list[str]]:
    """`engine` made ready for `pack`: the pack's own pronunciations are added (words the
    dictionary lacks, PocketSphinx), and a dialect pack (not a language's base pack) gets its
    accent variants (`dialects.lexicon`, from its TTS voice's espeak-ng rules) for its phrase
    lists only. Returns the engine to use and the words added."""
    added: list[str] = []
    if pack.pronunciations and hasattr(engine, "add_words"):
        added = engine.add_words(pack.pronunciations)
    if not pack.is_base and hasattr(engine, "with_variants") and shutil.which("espeak-ng"):
        engine = engine.with_variants(pack.id, accent_lexicon(pack.tts.voice))
    return engine, added


def engine_for(pack: DialectPack, models_dir: Path | None = None) -> PackEngine:
    """The recognizer for `pack`; PocketSphinx gets the pack's pronunciations added.

    Raises `RecognitionUnavailable` naming every choice tried when none is installed.
    """
    tried: list[str] = []
    for n, choice in enumerate(pack.asr):
        if choice.model is not None:
            names = {m.name for m in list_models(models_dir)}
            if choice.model not in names:
                tried.append(f"{choice}: model {choice.model} is not installed")
                continue
        try:
            engine = get_engine(choice.language, choice.engine, models_dir)
        except ModelNotInstalledError as exc:
            tried.append(f"{choice}: {exc}")
            continue
        if not _model_matches(choice, engine):
            tried.append(f"{choice}: got {getattr(engine, 'model_name', '?')} instead")
            continue
        engine, added = dialect_engine(engine, pack)
        return PackEngine(engine, choice, n > 0, tried, added)
    if not pack.asr:
        tried.append("the pack names no recognizer (asr:)")
    raise RecognitionUnavailable(
        f"speech recognition for {pack.name} ({pack.id}) is not available: "
        + "; ".join(tried)
        + ". Prompts, wording and the voice still work; callers can use the keypad."
    )
