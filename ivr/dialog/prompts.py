"""Prompt wording of one language: key -> text with `{placeholders}`, and plain-language checks."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ivr.dialog.yamlfile import read_yaml

MAX_WORDS_PER_SENTENCE = 20
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class PromptError(ValueError):
    """A prompts file is malformed or a prompt cannot be filled in."""


@dataclass(frozen=True)
class Prompts:
    """Prompt texts by key, and currency words for amounts (`currencies`)."""

    language: str
    texts: dict[str, str]
    currencies: dict[str, dict[str, str]] = field(default_factory=dict)
    source: str = ""

    def __contains__(self, key: object) -> bool:
        return key in self.texts

    def placeholders(self, key: str) -> set[str]:
        """The `{names}` used in prompt `key`."""
        return {name for _, name, _, _ in string.Formatter().parse(self.texts[key]) if name}

    def render(self, key: str, values: Mapping[str, object]) -> str:
        """Prompt `key` with its placeholders filled from `values` (clear error if missing)."""
        try:
            template = self.texts[key]
        except KeyError:
            raise PromptError(f"{self.source}: no prompt {key!r}") from None
        missing = self.placeholders(key) - set(values)
        if missing:
            raise PromptError(
                f"{self.source}: prompt {key!r} needs {sorted(missing)}, which are not known yet"
            )
        return template.format_map(dict(values))


def load_prompts(path: str | Path) -> Prompts:
    """Read a prompts YAML file: `language:`, `prompts: {key: text}`, optional `currencies:`."""
    path = Path(path)
    try:
        data = read_yaml(path)
    except (OSError, yaml.YAMLError) as exc:
        raise PromptError(f"{path}: cannot read prompts: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("prompts"), dict):
        raise PromptError(f"{path}: expected a mapping with a 'prompts:' mapping")
    texts: dict[str, str] = {}
    for key, text in data["prompts"].items():
        if not isinstance(text, str) or not text.strip():
            raise PromptError(f"{path}: prompt {key!r}: expected non-empty text")
        try:
            list(string.Formatter().parse(text))
        except ValueError as exc:
            raise PromptError(f"{path}: prompt {key!r}: bad placeholder: {exc}") from exc
        texts[str(key)] = " ".join(text.split())
    currencies = data.get("currencies") or {}
    for code, words in currencies.items():
        need = {"one", "many", "minor_one", "minor_many"}
        if not isinstance(words, dict) or not need <= set(words):
            raise PromptError(f"{path}: currency {code!r}: needs words for {sorted(need)}")
    return Prompts(
        language=str(data.get("language", path.stem)),
        texts=texts,
        currencies={str(k): {kk: str(vv) for kk, vv in v.items()} for k, v in currencies.items()},
        source=str(path),
    )


def sentences(text: str) -> list[str]:
    """The sentences of a prompt (split after . ! ? followed by space)."""
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


def long_sentences(text: str, limit: int = MAX_WORDS_PER_SENTENCE) -> list[str]:
    """Sentences of `text` longer than `limit` words (plain-language rule)."""
    return [s for s in sentences(text) if len(s.split()) > limit]
