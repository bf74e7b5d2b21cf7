"""Measuring dialect awareness on the fixture set (used by `bench/dialects.py` and the tests).

Three pipelines over the same audio and the same real recognizer: the base pack only, the
caller's dialect pack (awareness), and the union of every candidate pack of the language (what
an unknown caller is heard with while detection runs).
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dialects.acoustic import CandidateHeard, CandidateList, candidate_hearings
from dialects.detect import DialectDetector
from dialects.engines import dialect_engine
from dialects.model import DialectPack
from ivr.dialog.backend import InMemoryBackend
from ivr.dialog.engine import DialogEngine, listen_order
from ivr.flows import DialogBundle, load_bundle
from ivr.flows.packs import pack_library
from ivr.settings import Settings
from speech.asr.base import Engine
from speech.asr.phrases import accepted_phrase
from speech.asr.registry import recognize
from speech.wav import read_wav

SERVICE_MIN_CONFIDENCE = Settings.model_fields["asr_min_confidence"].default

FIXTURES = Path(__file__).resolve().parents[2] / "audio_fixtures" / "dialects"


@dataclass(frozen=True)
class Utterance:
    """One row of the fixture manifest."""

    path: Path
    dialect: str
    kind: str  # "specific" (the dialect's own expression) or "standard"
    state: str
    intent: str
    text: str


@dataclass(frozen=True)
class Heard:
    """What one pipeline made of one utterance."""

    text: str
    phrase: str | None
    intent: str | None
    confidence: float


def load_manifest(folder: Path = FIXTURES) -> list[Utterance]:
    """The fixture rows (FileNotFoundError naming the regeneration script if absent)."""
    path = folder / "manifest.csv"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: run .venv/bin/python audio_fixtures/make_dialect_fixtures.py"
        )
    with open(path, encoding="utf-8") as fh:
        return [
            Utterance(
                folder / r["file"], r["dialect"], r["kind"], r["state"], r["intent"], r["text"]
            )
            for r in csv.DictReader(fh)
        ]


class StatePhrases:
    """Phrase lists per dialog state for one bundle, or the union of several."""

    def __init__(self, bundles: Iterable[DialogBundle]) -> None:
        self.engines = [
            DialogEngine(b.flow, b.prompts, InMemoryBackend(), lexicon=b.lexicon, dialect=b.dialect)
            for b in bundles
        ]
        self._cache: dict[str, dict[str, str]] = {}

    def phrase_intents(self, state: str) -> dict[str, str]:
        """phrase -> intent in `state` (the first bundle wins a phrase two of them have), in
        the order a call's recognizer gets them: every bundle's dialect expressions last."""
        if state not in self._cache:
            listens = [eng.listen_in(state) for eng in self.engines]
            merged: dict[str, str] = {}
            for listen in listens:
                for p, i in listen.phrase_intents.items():
                    merged.setdefault(p, i)
            own = [eng.lexicon.own for eng in self.engines]
            self._cache[state] = {p: merged[p] for p in listen_order(merged, *own)}
        return self._cache[state]

    def hear(self, engine: Engine, utt: Utterance) -> Heard:
        """Recognise `utt` against the phrase list of its state; map the phrase to its intent."""
        pi = self.phrase_intents(utt.state)
        rec = recognize(engine, read_wav(utt.path), list(pi))
        # the same acceptance as a call (the service's confidence bar, see ivr.settings)
        phrase = accepted_phrase(
            rec.phrase,
            rec.text,
            rec.confidence,
            rec.rejected,
            pi,
            SERVICE_MIN_CONFIDENCE,
            rec.doubted,
        )
        return Heard(rec.text, phrase, pi.get(phrase) if phrase else None, rec.confidence)


@dataclass
class IntentScore:
    """Intent accuracy of one pipeline on one dialect, overall and per kind."""

    right: dict[str, int] = field(default_factory=lambda: {"specific": 0, "standard": 0})
    total: dict[str, int] = field(default_factory=lambda: {"specific": 0, "standard": 0})
    errors: list[tuple[str, str | None, str]] = field(default_factory=list)

    def add(self, utt: Utterance, heard: Heard) -> None:
        self.total[utt.kind] += 1
        if heard.intent == utt.intent:
            self.right[utt.kind] += 1
        else:
            self.errors.append((utt.text, heard.intent, heard.text))

    def accuracy(self, kind: str | None = None) -> float:
        """Share of utterances whose intent was right (of `kind`, or all)."""
        kinds = [kind] if kind else list(self.total)
        total = sum(self.total[k] for k in kinds)
        return sum(self.right[k] for k in kinds) / total if total else 0.0


def add_pronunciations(engine: Engine, packs: Iterable[DialectPack]) -> None:
    """Give `engine` the packs' own pronunciations (PocketSphinx), as `engine_for` does."""
    for pack in packs:
        if pack.pronunciations and hasattr(engine, "add_words"):
            engine.add_words(pack.pronunciations)


def pack_engine(engine: Engine, pack: DialectPack) -> Engine:
    """`engine` as a call in `pack`'s dialect gets it from `engine_for` (pronunciations and,
    for a dialect pack, its accent variants)."""
    return dialect_engine(engine, pack)[0]


def english_dialects() -> list[str]:
    """Ids of the shipped English dialect packs (not the base)."""
    lib = pack_library()
    return [i for i in lib.of_language("en") if lib.files[i].inherits]


def intent_scores(
    engine: Engine, rows: list[Utterance], dialect: str, base: str = "en"
) -> tuple[IntentScore, IntentScore]:
    """(base-only, dialect-aware) intent scores of `dialect`'s rows."""
    base_bundle = load_bundle(dialect=base)
    base_pipe = StatePhrases([base_bundle])
    base_engine = pack_engine(engine, base_bundle.pack)
    aware = load_bundle(dialect=dialect)
    aware_engine = pack_engine(engine, aware.pack)
    aware_pipe = StatePhrases([aware])
    base_score, aware_score = IntentScore(), IntentScore()
    for utt in rows:
        if utt.dialect != dialect:
            continue
        base_score.add(utt, base_pipe.hear(base_engine, utt))
        aware_score.add(utt, aware_pipe.hear(aware_engine, utt))
    return base_score, aware_score


@dataclass
class DetectionResult:
    """Synthetic callers of one dialect: how many were detected within `max_turns` answers,
    and after how many answers."""

    dialect: str
    callers: int = 0
    detected: int = 0
    turns: list[int] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.detected / self.callers if self.callers else 0.0

    @property
    def mean_turns(self) -> float:
        return sum(self.turns) / len(self.turns) if self.turns else float("nan")


def synthetic_callers(
    rows: list[Utterance], ids: list[str], callers_per_dialect: int, max_turns: int, seed: int
) -> Iterator[tuple[str, list[Utterance]]]:
    """(dialect, answers) of each synthetic unknown caller: for every dialect of `ids` but the
    base (the first), `callers_per_dialect` callers each giving `max_turns` answers drawn at
    random from that dialect's fixtures. The same seed gives the same callers."""
    rng = random.Random(seed)
    for dialect in ids[1:]:
        mine = [u for u in rows if u.dialect == dialect]
        for _ in range(callers_per_dialect):
            yield dialect, rng.sample(mine, max_turns)


def detection(
    engine: Engine,
    rows: list[Utterance],
    *,
    language: str = "en",
    callers_per_dialect: int = 20,
    max_turns: int = 3,
    seed: int = 7,
    acoustic: bool = True,
) -> dict[str, DetectionResult]:
    """Synthetic unknown callers: each gives `max_turns` answers drawn at random from its
    dialect's fixtures (own and standard expressions alike), heard with the union of every
    candidate pack; the detector starts on the base pack. A caller counts as detected when the
    detector is on the right dialect after at most `max_turns` answers. With `acoustic`, each
    answer is also heard by every candidate's own recognizer (as a call in that dialect hears
    it: its phrases, accent variants and primed listener) and what each understood goes to
    the detector (`dialects.acoustic`)."""
    lib = pack_library()
    ids = lib.of_language(language)
    packs = [lib.resolve(i) for i in ids]
    bundles = [load_bundle(dialect=i) for i in ids]
    union = StatePhrases(bundles)
    add_pronunciations(engine, packs)
    own = [
        (i, StatePhrases([b]), pack_engine(engine, b.pack))
        for i, b in zip(ids, bundles, strict=True)
    ]
    heard: dict[Path, Heard] = {}
    by_model: dict[Path, dict[str, CandidateHeard]] = {}
    out: dict[str, DetectionResult] = {}
    for dialect, answers in synthetic_callers(rows, ids, callers_per_dialect, max_turns, seed):
        res = out.setdefault(dialect, DetectionResult(dialect))
        det = DialectDetector(packs, start=ids[0])
        res.callers += 1
        first = 0
        for turn, utt in enumerate(answers, start=1):
            if utt.path not in heard:
                heard[utt.path] = union.hear(engine, utt)
            h = heard[utt.path]
            if acoustic and utt.path not in by_model:
                by_model[utt.path] = candidate_hearings(
                    read_wav(utt.path),
                    {
                        i: CandidateList.of(eng, pipe.phrase_intents(utt.state))
                        for i, pipe, eng in own
                    },
                    SERVICE_MIN_CONFIDENCE,
                )
            if h.phrase or acoustic:  # an answer not understood still has model evidence
                det.observe(h.phrase or "", h.confidence, by_model.get(utt.path))
            if det.current == dialect and not first:
                first = turn
        if det.current == dialect:  # right after the answers, not just once on the way
            res.detected += 1
            res.turns.append(first)
    return out


def detection_ceiling(
    rows: list[Utterance],
    *,
    language: str = "en",
    callers_per_dialect: int = 20,
    max_turns: int = 3,
    seed: int = 7,
) -> float:
    """The share of the same synthetic callers as `detection` (same seed, same answers) the
    detector gets right when every answer is heard exactly as scripted: what the words can
    tell at best, since answers in standard words say nothing of a dialect."""
    lib = pack_library()
    ids = lib.of_language(language)
    packs = [lib.resolve(i) for i in ids]
    right = total = 0
    for dialect, answers in synthetic_callers(rows, ids, callers_per_dialect, max_turns, seed):
        det = DialectDetector(packs, start=ids[0])
        for utt in answers:
            det.observe(utt.text, 1.0)
        total += 1
        right += det.current == dialect
    return right / total if total else 0.0
