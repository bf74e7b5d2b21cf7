"""Detecting an unknown caller's dialect from their first answers.

Each candidate pack holds its own phrases (those its file adds) and the phrases it inherits.
A caller of a dialect is modelled as using one of its own expressions with probability
`own_share`, else one of the inherited ones, each uniformly; smoothed by `epsilon` for words
outside the pack: P(phrase | dialect) = (1 - eps) * (share_own / |own| if own, else
(1 - share_own) / |inherited| if inherited) + eps / |all phrases|. So a phrase only one
dialect has ("nae bother") weighs much more than one every pack shares ("yes"), which favours
the plainest pack having it (a caller who only says standard words stays on the base pack),
and a UK Standard phrase points to the UK pack rather than to the packs inheriting it.
Each answer's evidence is scaled by the recognizer's confidence. When each candidate's own
recognizer (its lexicon, its accent variants, its primed listener: `dialects.acoustic`) heard
the answer too, every candidate also scores what it understood itself by the same lexicon
model, P(its phrase | it) times its confidence (a phrase it did not understand scores the
floor): a dialect whose own recognizer found one of its own expressions gains, a dialect that
heard only a shared word gains little. The detector switches only when
the best dialect's posterior passes `threshold` AND it leads the current one by `margin`
(log-odds): hysteresis, so one odd answer does not flip the voice back and forth. The caller's
own choice (`override`) always wins and stops automatic switching.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dialects.acoustic import CandidateHeard
from dialects.model import DialectPack, normalise


@dataclass(frozen=True)
class DialectDecision:
    """A switch to `dialect`: `source` is "detected" or "caller"; `turns` the answers seen."""

    dialect: str
    previous: str | None
    source: str
    posterior: float
    turns: int
    evidence: tuple[str, ...] = ()


@dataclass
class _Candidate:
    id: str
    own: frozenset[str]
    inherited: frozenset[str]
    tokens: list[list[str]] = field(default_factory=list)

    @property
    def phrases(self) -> frozenset[str]:
        return self.own | self.inherited


class DialectDetector:
    """Scores answers against candidate dialects; `observe()` returns a decision on a switch.

    `candidates`: resolved packs (or id -> phrases). `start`: the dialect in use at the start
    (default: the first candidate, normally the language's base pack).
    """

    def __init__(
        self,
        candidates: Iterable[DialectPack] | Mapping[str, Iterable[str]],
        *,
        start: str | None = None,
        threshold: float = 0.7,
        margin: float = 2.0,
        epsilon: float = 0.05,
        own_share: float = 0.7,
    ) -> None:
        items: list[tuple[str, set[str], set[str]]]
        if isinstance(candidates, Mapping):
            items = [(str(k), {normalise(p) for p in v}, set()) for k, v in candidates.items()]
        else:
            items = []
            for pack in candidates:
                # own = what this pack's file adds (everything, for a base pack)
                own = {
                    ph.text
                    for phs in pack.intents.values()
                    for ph in phs
                    if ph.origin.pack == pack.id or pack.is_base
                }
                items.append((pack.id, own, set(pack.phrase_intents()) - own))
        if not items:
            raise ValueError("DialectDetector needs at least one candidate dialect")
        self.candidates = [
            _Candidate(i, frozenset(own), frozenset(inh), [p.split() for p in sorted(own | inh)])
            for i, own, inh in items
        ]
        ids = [c.id for c in self.candidates]
        if start is not None and start not in ids:
            raise ValueError(f"start dialect {start!r} is not a candidate ({', '.join(ids)})")
        self.current: str = start or ids[0]
        self.threshold = threshold
        self.margin = margin
        self.epsilon = epsilon
        self.own_share = own_share
        self.locked = False
        self.turns = 0
        self.scores: dict[str, float] = dict.fromkeys(ids, 0.0)
        self.evidence: list[str] = []
        self._vocab = len(set().union(*(c.phrases for c in self.candidates))) or 1

    def _phrases_in(self, norm: str, cand: _Candidate) -> list[str]:
        if norm in cand.phrases:
            return [norm]
        words = norm.split()
        found = [" ".join(t) for t in cand.tokens if _contains(words, t)]
        return sorted(found, key=len, reverse=True)[:1]

    def log_likelihoods(self, text: str) -> dict[str, float]:
        """Each candidate's log-likelihood of having produced `text` (0 for all if no phrase
        of any candidate is in it: such an answer says nothing about the dialect)."""
        norm = normalise(text)
        if any(norm in c.phrases for c in self.candidates):  # a whole phrase beats a part
            hits = {c.id: [norm] if norm in c.phrases else [] for c in self.candidates}
        else:
            hits = {c.id: self._phrases_in(norm, c) for c in self.candidates}
        if not norm or not any(hits.values()):
            return dict.fromkeys(self.scores, 0.0)
        return {
            c.id: self._smoothed(self._p_phrase(c, hits[c.id][0]) if hits[c.id] else 0.0)
            for c in self.candidates
        }

    def _p_phrase(self, cand: _Candidate, phrase: str) -> float:
        """P(phrase | cand) of the lexicon model (0 for a phrase outside the pack)."""
        share = self.own_share if cand.inherited else 1.0
        if phrase in cand.own:
            return share / len(cand.own)
        if phrase in cand.inherited:
            return (1 - share) / len(cand.inherited)
        return 0.0

    def _smoothed(self, p: float) -> float:
        return math.log((1 - self.epsilon) * p + self.epsilon / self._vocab)

    def hearing_log_likelihoods(self, hearings: Mapping[str, CandidateHeard]) -> dict[str, float]:
        """Each heard candidate's log-likelihood of the answer as its own recognizer heard it:
        P(its phrase | it) times its confidence, smoothed (candidates without a hearing are
        left out)."""
        out = {}
        for c in self.candidates:
            h = hearings.get(c.id)
            if h is None:
                continue
            p = self._p_phrase(c, normalise(h.phrase)) if h.phrase else 0.0
            out[c.id] = self._smoothed(p * _unit(h.confidence))
        return out

    def posteriors(self) -> dict[str, float]:
        """Each candidate's probability given the answers so far (uniform prior)."""
        top = max(self.scores.values())
        weights = {k: math.exp(v - top) for k, v in self.scores.items()}
        total = sum(weights.values())
        return {k: w / total for k, w in weights.items()}

    def observe(
        self,
        text: str,
        confidence: float = 1.0,
        hearings: Mapping[str, CandidateHeard] | None = None,
    ) -> DialectDecision | None:
        """Add one answer (the recognised words and the recognizer's confidence 0..1).

        `hearings`: candidate id -> how that candidate's own recognizer heard this answer
        (`dialects.acoustic`), when they were consulted. Returns a `DialectDecision` when the
        evidence is now clear enough to switch, else None.
        """
        self.turns += 1
        conf = _unit(confidence)
        ll = self.log_likelihoods(text)
        top = max(ll.values())
        for k, v in ll.items():
            self.scores[k] += conf * (v - top)
        self._add_hearings(hearings)
        if any(v != top for v in ll.values()):
            self.evidence.append(normalise(text))
        return self._decide()

    def add_hearings(self, hearings: Mapping[str, CandidateHeard]) -> DialectDecision | None:
        """The candidates' own hearings of the answer last observed, arriving after it: a live
        call replies on the words at once and weighs the slower evidence when it is ready.
        Scores are sums, so they end as if both had come together."""
        self._add_hearings(hearings)
        return self._decide()

    def _add_hearings(self, hearings: Mapping[str, CandidateHeard] | None) -> None:
        ll = self.hearing_log_likelihoods(hearings or {})
        if len(ll) < 2:  # one candidate's hearing alone compares it with nothing
            return
        top = max(ll.values())
        for k, v in ll.items():
            self.scores[k] += v - top

    def _decide(self) -> DialectDecision | None:
        if self.locked:
            return None
        post = self.posteriors()
        best = max(post, key=lambda k: (post[k], k == self.current))
        if best == self.current:
            return None
        if post[best] < self.threshold:
            return None
        if self.scores[best] - self.scores[self.current] < self.margin:
            return None
        return self._switch(best, "detected", post[best])

    def override(self, dialect: str, source: str = "caller") -> DialectDecision:
        """The caller (or staff) chose `dialect`: switch and stop automatic switching."""
        self.locked = True
        return self._switch(dialect, source, 1.0)

    def _switch(self, dialect: str, source: str, posterior: float) -> DialectDecision:
        previous, self.current = self.current, dialect
        return DialectDecision(
            dialect, previous, source, round(posterior, 3), self.turns, tuple(self.evidence)
        )


def _unit(value: float) -> float:
    """A confidence clamped to 0..1."""
    return min(max(float(value), 0.0), 1.0)


def _contains(words: list[str], tokens: list[str]) -> bool:
    n = len(tokens)
    return any(words[i : i + n] == tokens for i in range(len(words) - n + 1))
