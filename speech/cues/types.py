"""Data records shared by the cue modules."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Cue:
    """One named cue: strength 0..1, the seconds of audio it came from, and why (plain words
    an agent can check)."""

    name: str
    strength: float
    start_s: float
    end_s: float
    evidence: str
    kind: str = "prosody"  # "prosody" or "lexical"

    def to_dict(self) -> dict:
        """Plain dict for JSON and storage."""
        return {
            "name": self.name,
            "kind": self.kind,
            "strength": round(self.strength, 4),
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "evidence": self.evidence,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Cue:
        """Inverse of `to_dict`."""
        return cls(
            name=str(data["name"]),
            strength=float(data["strength"]),
            start_s=float(data["start_s"]),
            end_s=float(data["end_s"]),
            evidence=str(data.get("evidence", "")),
            kind=str(data.get("kind", "prosody")),
        )


@dataclass(frozen=True)
class Assessment:
    """The fused judgement on one utterance: `distress` 0..1, every cue found (including weak
    ones), each cue's contribution to the score, whether a caller baseline was used, and how
    certain the prosodic part is (lower on a cold start)."""

    distress: float
    cues: list[Cue]
    contributions: dict[str, float]
    baseline_used: bool
    certainty: float = 1.0
    level: str = "none"  # "none" | "elevated" | "high" per the config thresholds
    features: dict[str, float | None] = field(default_factory=dict)

    def cue(self, name: str) -> Cue | None:
        """The cue called `name`, if present."""
        return next((c for c in self.cues if c.name == name), None)

    def strength(self, name: str) -> float:
        """Strength of cue `name` (0 when absent)."""
        c = self.cue(name)
        return c.strength if c else 0.0

    def to_dict(self) -> dict:
        """Plain dict for JSON and storage (top-level `distress`)."""
        return {
            "distress": round(self.distress, 4),
            "level": self.level,
            "baseline_used": self.baseline_used,
            "certainty": round(self.certainty, 3),
            "contributions": {k: round(v, 4) for k, v in self.contributions.items()},
            "cues": [c.to_dict() for c in self.cues],
            "features": self.features,
        }
