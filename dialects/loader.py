"""Reading dialect pack files, applying inheritance, and validating packs (file AND line).

A pack file (YAML, `dialects/packs/<id>.yaml`):

    id: en-scotland            # the file's stem
    name: Scottish English
    language: en               # en, ko, cmn
    inherits: en               # the language's base pack (absent in a base pack)
    tts: {voice: en-gb-scotland, rate_wpm: 135}
    asr:                       # tried in order; the first installed one is used
      - {engine: vosk, language: en-gb}
      - {engine: pocketsphinx, language: en}
    pronunciations: {nae: N EY}   # ARPAbet, added to PocketSphinx's dictionary
    intents: {yes: [aye, aye that's right], ...}   # added to the base pack's phrases
    prompts: {ask_account: "... then press the hash key."}   # replaces the base wording
    digits / multipliers / in_open_answers / currencies   # as in the flow's lexicon files

A base pack may set `flow_language_files: true`: it then builds on the dialog's own prompt and
intent files of its language (`ivr/flows/prompts/en.yaml`, `ivr/flows/intents/en.yaml`), which
the application layer supplies; otherwise it must carry every prompt and intent itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from dialects.model import (
    AsrChoice,
    DialectPack,
    Origin,
    PackError,
    PackFile,
    PackIssue,
    Phrase,
    Prompt,
    TtsChoice,
    normalise,
)
from dialects.yamllines import read_lined_yaml

PACKS_DIR = Path(__file__).resolve().parent / "packs"
ENGINES = (None, "vosk", "pocketsphinx")
_TOP_KEYS = {
    "id",
    "name",
    "language",
    "inherits",
    "tts",
    "asr",
    "pronunciations",
    "intents",
    "prompts",
    "digits",
    "multipliers",
    "in_open_answers",
    "currencies",
    "flow_language_files",
}


def read_pack_file(path: str | Path) -> tuple[PackFile | None, list[PackIssue]]:
    """Parse one pack file; returns the pack (None if unusable) and the problems found."""
    path = Path(path)
    src = str(path)
    try:
        doc = read_lined_yaml(path)
    except OSError as exc:
        return None, [PackIssue(src, 1, f"cannot read pack: {exc}")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        return None, [PackIssue(src, line, f"not valid YAML: {exc}")]
    data, line = doc.data, doc.line
    if not isinstance(data, dict):
        return None, [PackIssue(src, 1, "expected a mapping at the top level")]
    issues: list[PackIssue] = []

    def bad(msg: str, *where: Any) -> None:
        issues.append(PackIssue(src, line(*where), msg))

    for key in data:
        if key not in _TOP_KEYS:
            bad(f"unknown field {key!r} (known: {', '.join(sorted(_TOP_KEYS))})", key)
    pack_id = str(data.get("id") or path.stem)
    if pack_id != path.stem:
        bad(f"id {pack_id!r} differs from the file name {path.stem!r}", "id")
    language = str(data.get("language") or "")
    if not language:
        bad("'language:' is missing")
    inherits = data.get("inherits")
    inherits = str(inherits) if inherits else None

    tts = None
    raw_tts = data.get("tts")
    if raw_tts is not None:
        if not isinstance(raw_tts, dict) or not raw_tts.get("voice"):
            bad("tts: expected {voice: NAME, rate_wpm: N}", "tts")
        else:
            rate = raw_tts.get("rate_wpm", 140)
            if not isinstance(rate, int) or not 80 <= rate <= 220:
                bad(f"tts.rate_wpm {rate!r}: expected a whole number from 80 to 220", "tts")
                rate = 140
            tts = TtsChoice(str(raw_tts["voice"]), rate)

    asr: list[AsrChoice] = []
    for n, raw in enumerate(data.get("asr") or []):
        if not isinstance(raw, dict) or not raw.get("language"):
            bad("asr: each choice needs {engine, language[, model]}", "asr", n)
            continue
        engine = raw.get("engine")
        if engine not in ENGINES:
            bad(f"asr: unknown engine {engine!r} (use vosk or pocketsphinx)", "asr", n)
            continue
        model = raw.get("model")
        asr.append(AsrChoice(str(raw["language"]), engine, str(model) if model else None))

    pron: dict[str, str] = {}
    for word, phones in (data.get("pronunciations") or {}).items():
        if not isinstance(phones, str) or not phones.split():
            bad(f"pronunciation of {word!r}: expected phones like 'N AW T'", "pronunciations", word)
            continue
        pron[normalise(str(word))] = " ".join(phones.upper().split())

    intents: dict[str, tuple[Phrase, ...]] = {}
    raw_intents = data.get("intents") or {}
    if not isinstance(raw_intents, dict):
        bad("intents: expected intent -> list of phrases", "intents")
        raw_intents = {}
    for intent, phrases in raw_intents.items():
        intent = str(intent)
        if not isinstance(phrases, list) or not phrases:
            bad(f"intent {intent!r}: expected a non-empty list of phrases", "intents", intent)
            continue
        out: list[Phrase] = []
        for n, raw in enumerate(phrases):
            text = normalise(str(raw))
            where = Origin(pack_id, src, line("intents", intent, n))
            if not text:
                issues.append(PackIssue(src, where.line, f"intent {intent!r}: empty phrase"))
            elif text not in [p.text for p in out]:
                out.append(Phrase(text, intent, where))
        intents[intent] = tuple(out)

    prompts: dict[str, Prompt] = {}
    raw_prompts = data.get("prompts") or {}
    if not isinstance(raw_prompts, dict):
        bad("prompts: expected key -> text", "prompts")
        raw_prompts = {}
    for key, text in raw_prompts.items():
        if not isinstance(text, str) or not text.strip():
            bad(f"prompt {key!r}: expected non-empty text", "prompts", key)
            continue
        origin = Origin(pack_id, src, line("prompts", key))
        prompts[str(key)] = Prompt(str(key), " ".join(text.split()), origin)

    digits: dict[str, str] = {}
    for word, digit in (data.get("digits") or {}).items():
        if str(digit) not in "0123456789" or len(str(digit)) != 1:
            bad(f"digit word {word!r} maps to {digit!r}, not 0-9", "digits", word)
            continue
        digits[normalise(str(word))] = str(digit)
    multipliers = {normalise(str(k)): int(v) for k, v in (data.get("multipliers") or {}).items()}
    in_open = {
        str(i): tuple(normalise(str(p)) for p in ps or [])
        for i, ps in (data.get("in_open_answers") or {}).items()
    }
    currencies = {
        str(c): {str(k): str(v) for k, v in (w or {}).items()}
        for c, w in (data.get("currencies") or {}).items()
    }
    pack = PackFile(
        id=pack_id,
        name=str(data.get("name") or pack_id),
        language=language,
        inherits=inherits,
        path=src,
        tts=tts,
        asr=tuple(asr),
        pronunciations=pron,
        intents=intents,
        prompts=prompts,
        digits=digits,
        multipliers=multipliers,
        in_open_answers=in_open,
        currencies=currencies,
        flow_language_files=bool(data.get("flow_language_files", False)),
        line_of=dict(doc.lines),
    )
    return pack, issues


class PackLibrary:
    """Every pack file of a folder, with inheritance applied on request.

    `issues` holds the problems found while reading (file and line); `resolve(id)` raises
    `PackError` for an unknown id, a broken inheritance chain, or a file that did not parse.
    """

    def __init__(self, folder: str | Path = PACKS_DIR) -> None:
        self.folder = Path(folder)
        self.files: dict[str, PackFile] = {}
        self.issues: list[PackIssue] = []
        if not self.folder.is_dir():
            raise PackError([PackIssue(str(self.folder), 1, "no such pack folder")])
        for path in sorted(self.folder.glob("*.yaml")):
            pack, issues = read_pack_file(path)
            self.issues += issues
            if pack is not None:
                self.files[pack.id] = pack
        self._resolved: dict[str, DialectPack] = {}

    def ids(self) -> list[str]:
        """Pack ids, base packs first within each language."""
        files = self.files
        return sorted(files, key=lambda i: (files[i].language, bool(files[i].inherits), i))

    def of_language(self, language: str) -> list[str]:
        """Ids of the packs of `language` (its base pack first)."""
        return [i for i in self.ids() if self.files[i].language == language]

    def chain(self, pack_id: str) -> list[PackFile]:
        """The pack and its ancestors, base first (PackError on unknown ids or cycles)."""
        out: list[PackFile] = []
        seen: set[str] = set()
        current: str | None = pack_id
        child: PackFile | None = None
        while current is not None:
            if current not in self.files:
                where = (child.path, child.line("inherits")) if child else (str(self.folder), 1)
                known = ", ".join(self.ids())
                raise PackError([PackIssue(*where, f"unknown pack {current!r} (known: {known})")])
            if current in seen:
                assert child is not None
                raise PackError([PackIssue(child.path, child.line("inherits"), "cycle")])
            seen.add(current)
            child = self.files[current]
            out.append(child)
            current = child.inherits
        return out[::-1]

    def resolve(self, pack_id: str) -> DialectPack:
        """The pack `pack_id` with its inheritance applied."""
        if pack_id in self._resolved:
            return self._resolved[pack_id]
        chain = self.chain(pack_id)
        own = [i for i in self.issues if i.file in {p.path for p in chain}]
        if own:
            raise PackError(own)
        base, leaf = chain[0], chain[-1]
        problems: list[PackIssue] = []
        for p in chain[1:]:
            if p.language != base.language:
                problems.append(
                    PackIssue(
                        p.path,
                        p.line("language"),
                        f"language {p.language!r} differs from its base pack's {base.language!r}",
                    )
                )
        tts = next((p.tts for p in reversed(chain) if p.tts), None)
        if tts is None:
            problems.append(PackIssue(leaf.path, 1, "no tts voice in the pack or its base"))
        asr = next((p.asr for p in reversed(chain) if p.asr), ())
        if problems:
            raise PackError(problems)
        intents: dict[str, list[Phrase]] = {}
        prompts: dict[str, Prompt] = {}
        pron: dict[str, str] = {}
        digits: dict[str, str] = {}
        multipliers: dict[str, int] = {}
        in_open: dict[str, tuple[str, ...]] = {}
        currencies: dict[str, dict[str, str]] = {}
        for p in chain:
            for intent, phrases in p.intents.items():
                have = intents.setdefault(intent, [])
                texts = {x.text for x in have}
                have += [x for x in phrases if x.text not in texts]
            prompts.update(p.prompts)
            pron.update(p.pronunciations)
            digits.update(p.digits)
            multipliers.update(p.multipliers)
            for intent, phrases in p.in_open_answers.items():
                in_open[intent] = tuple(dict.fromkeys(in_open.get(intent, ()) + phrases))
            currencies.update(p.currencies)
        pack = DialectPack(
            id=leaf.id,
            name=leaf.name,
            language=base.language,
            chain=tuple(p.id for p in chain),
            files=tuple(p.path for p in chain),
            tts=tts,  # type: ignore[arg-type]
            asr=tuple(asr),
            pronunciations=pron,
            intents={i: tuple(ps) for i, ps in intents.items()},
            prompts=prompts,
            digits=digits,
            multipliers=multipliers,
            in_open_answers=in_open,
            currencies=currencies,
            flow_language_files=base.flow_language_files,
        )
        self._resolved[pack_id] = pack
        return pack


def validate_pack(
    pack: DialectPack,
    library: PackLibrary,
    *,
    intents: Iterable[str] | None = None,
    prompt_keys: Iterable[str] | None = None,
    provided_prompts: Iterable[str] = (),
    provided_phrases: dict[str, str] | None = None,
    missing_words: Callable[[list[str]], list[str]] | None = None,
) -> list[PackIssue]:
    """Problems of a resolved pack against the dialog flow and the recognizer, with file+line.

    - `intents`: the intents the flows know (all flows the pack serves); a pack intent
      outside them is reported.
    - `prompt_keys`: every key the flows speak; keys neither in the pack nor in
      `provided_prompts` (the flow's own language file) are reported at the pack's `prompts:`.
    - `provided_phrases`: phrase -> intent of the flow's own lexicon, to find a phrase given
      two meanings.
    - `missing_words(phrases)`: the recognizer's vocabulary check (after the pack's
      pronunciations were added); every phrase with an unknown word is reported.
    """
    issues: list[PackIssue] = []
    files = [library.files[i] for i in pack.chain]
    leaf = files[-1]
    if intents is not None:
        known = set(intents)
        for f in files:
            for intent in f.intents:
                if intent not in known:
                    issues.append(
                        PackIssue(
                            f.path,
                            f.line("intents", intent),
                            f"unknown intent {intent!r} "
                            f"(no flow uses it; known: {', '.join(sorted(known))})",
                        )
                    )
            for intent in f.in_open_answers:
                if intent not in known:
                    issues.append(
                        PackIssue(
                            f.path,
                            f.line("in_open_answers", intent),
                            f"unknown intent {intent!r} in in_open_answers",
                        )
                    )
    if prompt_keys is not None:
        have = set(pack.prompts) | set(provided_prompts)
        missing = sorted(set(prompt_keys) - have)
        if missing:
            holder = files[0]
            issues.append(
                PackIssue(
                    holder.path,
                    holder.line("prompts"),
                    f"prompts missing for the flow (pack {pack.id}): {', '.join(missing)}",
                )
            )
    owner: dict[str, tuple[str, str]] = {
        p: (i, "the flow's own lexicon") for p, i in (provided_phrases or {}).items()
    }
    for intent, phrases in pack.intents.items():
        for ph in phrases:
            other = owner.get(ph.text)
            if other and other[0] != intent:
                issues.append(
                    PackIssue(
                        ph.origin.file,
                        ph.origin.line,
                        f"phrase {ph.text!r} is {intent!r} here but {other[0]!r} in {other[1]}",
                    )
                )
            else:
                owner[ph.text] = (intent, str(ph.origin))
    if not pack.digits and not pack.flow_language_files:
        issues.append(PackIssue(files[0].path, 1, "a base pack needs 'digits:' (0-9 words)"))
    elif pack.digits and set("0123456789") - set(pack.digits.values()):
        gaps = sorted(set("0123456789") - set(pack.digits.values()))
        line = files[0].line("digits")
        issues.append(PackIssue(files[0].path, line, f"no digit word for {gaps}"))
    if missing_words is not None:
        all_phrases = [ph for ps in pack.intents.values() for ph in ps]
        all_phrases += [
            Phrase(w, "digits", Origin(f.id, f.path, f.line("digits", w)))
            for f in files
            for w in f.digits
        ]
        unknown = set(missing_words([p.text for p in all_phrases]))
        for ph in all_phrases:
            words = [w for w in ph.text.split() if w in unknown]
            if words:
                issues.append(
                    PackIssue(
                        ph.origin.file,
                        ph.origin.line,
                        f"phrase {ph.text!r}: {', '.join(words)} not in the "
                        f"recognizer's vocabulary (add a pronunciation or "
                        f"choose another spelling)",
                    )
                )
    del leaf
    return issues
