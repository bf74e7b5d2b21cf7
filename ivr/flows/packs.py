"""Dialect packs for the dialog: a pack (with its base) becomes the call's prompts and lexicon.

`dialects` knows nothing of flows; here a resolved pack is laid over the flow's own language
files (when its base pack asks for them) and checked against the flows the service runs (by
default every shipped flow: `default` for calls people make, `outbound` for calls the service
places): an intent or prompt is fine when any of those flows uses it; an unknown intent, a
prompt key some flow needs that neither the pack nor its base provides, or a phrase outside the
recognizer's vocabulary is reported with file and line.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dialects.engines import RecognitionUnavailable, engine_for
from dialects.loader import PACKS_DIR, PackLibrary, validate_pack
from dialects.model import DialectPack, PackError, PackIssue
from ivr.dialog.flow import Flow, FlowError, load_flow, validate_flow
from ivr.dialog.lexicon import Lexicon, load_lexicon
from ivr.dialog.prompts import Prompts, load_prompts


@dataclass(frozen=True)
class LanguagePack:
    """A resolved dialect pack with the prompts and lexicon the dialog engine takes."""

    pack: DialectPack
    prompts: Prompts
    lexicon: Lexicon


@functools.lru_cache(maxsize=4)
def pack_library(folder: str | None = None) -> PackLibrary:
    """The packs of `folder` (default: the shipped `dialects/packs/`), read once per process."""
    return PackLibrary(Path(folder) if folder else PACKS_DIR)


def service_flow_names() -> list[str]:
    """Names of the shipped flows the service runs (`ivr/flows/*.yaml`: default, outbound)."""
    from ivr.flows import FLOWS_DIR

    return sorted(p.stem for p in FLOWS_DIR.glob("*.yaml"))


def service_flows() -> list[Flow]:
    """The shipped flows, read (structure only: each pack's wording is checked against them)."""
    from ivr.flows import flow_path

    return [load_flow(flow_path(name)) for name in service_flow_names()]


def _flow_files(language: str) -> tuple[Prompts | None, Lexicon | None]:
    from ivr.flows import lexicon_path, prompts_path

    p, lx = prompts_path(language), lexicon_path(language)
    return (
        load_prompts(p) if p.is_file() else None,
        load_lexicon(lx) if lx.is_file() else None,
    )


def _base_files(pack: DialectPack) -> tuple[Prompts | None, Lexicon | None]:
    return _flow_files(pack.language) if pack.flow_language_files else (None, None)


def language_pack(dialect: str, folder: str | None = None) -> LanguagePack:
    """Prompts and lexicon of `dialect`: its base chain laid over the flow's language files.

    Raises `PackError` (file and line) when the pack cannot be read or a phrase would mean
    two intents.
    """
    lib = pack_library(folder)
    pack = lib.resolve(dialect)
    base_prompts, base_lex = _base_files(pack)
    if pack.flow_language_files and (base_prompts is None or base_lex is None):
        f = lib.files[pack.base]
        raise PackError(
            [
                PackIssue(
                    f.path,
                    f.line("flow_language_files"),
                    f"no flow language files for {pack.language!r}",
                )
            ]
        )
    texts = dict(base_prompts.texts) if base_prompts else {}
    texts.update(pack.prompt_texts())
    intents: dict[str, list[str]] = {
        i: list(ps) for i, ps in (base_lex.intents.items() if base_lex else [])
    }
    owner = {p: i for i, ps in intents.items() for p in ps}
    inherited = set(owner)
    problems: list[PackIssue] = []
    for intent, phrases in pack.intents.items():
        have = intents.setdefault(intent, [])
        for ph in phrases:
            if owner.get(ph.text, intent) != intent:
                problems.append(
                    PackIssue(
                        ph.origin.file,
                        ph.origin.line,
                        f"phrase {ph.text!r} is {intent!r} here but {owner[ph.text]!r} in the base",
                    )
                )
            elif ph.text not in have:
                have.append(ph.text)
                owner[ph.text] = intent
    if problems:
        raise PackError(problems)
    in_open = dict(base_lex.in_open_answers) if base_lex else {}
    for intent, phrases in pack.in_open_answers.items():
        in_open[intent] = tuple(dict.fromkeys(in_open.get(intent, ()) + phrases))
    currencies = dict(base_prompts.currencies) if base_prompts else {}
    currencies.update(pack.currencies)
    source = pack.files[-1]
    own = {ph.text for phs in pack.intents.values() for ph in phs if ph.origin.pack == pack.id}
    prompts = Prompts(pack.language, texts, currencies, source=source)
    lexicon = Lexicon(
        language=pack.language,
        intents={i: tuple(ps) for i, ps in intents.items()},
        digit_words={**(base_lex.digit_words if base_lex else {}), **pack.digits},
        multipliers={**(base_lex.multipliers if base_lex else {}), **pack.multipliers},
        in_open_answers=in_open,
        source=source,
        own=frozenset() if pack.is_base else own - inherited,
    )
    return LanguagePack(pack, prompts, lexicon)


def check_pack(
    dialect: str,
    flow: Flow | Iterable[Flow] | None = None,
    *,
    folder: str | None = None,
    models_dir: Path | None = None,
    vocabulary: bool = True,
) -> list[PackIssue]:
    """Every problem of `dialect` against `flow` (one flow, several, or by default every
    shipped flow: `service_flows()`) and its recognizer, with file and line.

    Against several flows a pack may carry the intents and prompts of any of them; a prompt
    key is missing only when a flow uses it and neither the pack nor its base provides it.
    A missing recognizer is a warning (wording and voice still work; the keypad too).
    """
    flows = _as_flows(flow)
    lib = pack_library(folder)
    lp: LanguagePack | None = None
    try:
        lp = language_pack(dialect, folder)
        pack = lp.pack
    except PackError as exc:
        try:
            pack = lib.resolve(dialect)
        except PackError:
            return exc.issues
        # the pack reads but its phrases clash with the base: validate_pack reports each
    base_prompts, base_lex = _base_files(pack)
    known: set[str] = set()
    prompt_keys: set[str] = set()
    for f in flows:
        known |= set(f.global_intents)
        for s in f.states.values():
            known |= set(s.intents())
        prompt_keys |= f.prompt_keys()
    missing_words = None
    issues: list[PackIssue] = []
    if vocabulary:
        try:
            chosen = engine_for(pack, models_dir)
            missing_words = chosen.engine.missing_words
        except RecognitionUnavailable as exc:
            f = lib.files[dialect]
            issues.append(PackIssue(f.path, f.line("asr"), str(exc), "warning"))
    issues += validate_pack(
        pack,
        lib,
        intents=known,
        prompt_keys=prompt_keys,
        provided_prompts=base_prompts.texts if base_prompts else (),
        provided_phrases={p: i for i, ps in base_lex.intents.items() for p in ps}
        if base_lex
        else None,
        missing_words=missing_words,
    )
    if lp is not None:
        for f in flows:
            issues += _flow_rule_issues(lp, f)
    if base_lex is not None and missing_words is not None:
        # the flow's own phrases go to the same recognizer
        for intent, phrases in base_lex.intents.items():
            gaps = missing_words(list(phrases))
            if gaps:
                issues.append(
                    PackIssue(
                        base_lex.source,
                        1,
                        f"intent {intent!r}: words "
                        f"{', '.join(gaps)} not in the recognizer's vocabulary",
                    )
                )
    return issues


def _as_flows(flow: Flow | Iterable[Flow] | None) -> list[Flow]:
    if flow is None:
        return service_flows()
    if isinstance(flow, Flow):
        return [flow]
    flows = list(flow)
    if not flows:
        raise ValueError("check_pack: no flow to check the pack against")
    return flows


_PROMPT_IN_PROBLEM = re.compile(r"(?:prompt|reprompt) '([^']+)'")


def _flow_rule_issues(lp: LanguagePack, flow: Flow) -> list[PackIssue]:
    """The flow's own rules on this wording (reprompts shorter, keys mentioned, short
    sentences), each placed at the line of the prompt it is about."""
    try:
        validate_flow(flow, prompts=lp.prompts, lexicon=lp.lexicon)
    except FlowError as exc:
        out = []
        for problem in exc.problems:
            keys = [k for k in _PROMPT_IN_PROBLEM.findall(problem) if k in lp.pack.prompts]
            if keys:
                o = lp.pack.prompts[keys[-1]].origin
                out.append(PackIssue(o.file, o.line, problem))
            else:
                out.append(PackIssue(lp.pack.files[-1], 1, problem))
        return out
    return []
