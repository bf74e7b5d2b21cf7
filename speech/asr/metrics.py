"""Recognition metrics: word-level edit distance, word error rate, phrase accuracy."""

from __future__ import annotations

from collections.abc import Sequence


def edit_distance(ref: Sequence[str], hyp: Sequence[str]) -> int:
    """Levenshtein distance between two token sequences (substitution, insertion, deletion)."""
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def word_error_rate(refs: Sequence[str], hyps: Sequence[str]) -> float:
    """Corpus WER: total word edits over total reference words (texts split on whitespace)."""
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    edits = sum(edit_distance(r.split(), h.split()) for r, h in zip(refs, hyps, strict=True))
    words = sum(len(r.split()) for r in refs)
    if words == 0:
        raise ValueError("references hold no words")
    return edits / words


def accuracy(expected: Sequence[str | None], got: Sequence[str | None]) -> float:
    """Share of items where `got` equals `expected` (None counts as an answer too)."""
    if len(expected) != len(got):
        raise ValueError(f"{len(expected)} expected but {len(got)} results")
    if not expected:
        raise ValueError("no items")
    return sum(e == g for e, g in zip(expected, got, strict=True)) / len(expected)
