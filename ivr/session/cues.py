"""Voice cues in a call: assess each caller utterance and decide what the call should do.

Cues are computed on the caller's audio only (the inbound track), against the caller's own
baseline (learned from their first calm answers, and kept on their profile). What the call does
with them (thresholds from settings, `CueConfig`):

- level "elevated" the first time: calmer, slower speech for the rest of the call and a person
  offered at once;
- level "high" with a baseline, or any level with words of distress (help, a fall, pain, fear,
  a scam): the call is handed to the escalation flow with the cues as evidence. Prosody alone
  without a baseline is never enough to escalate (cold scores raise false alarms on some
  voices); it gets the calmer treatment instead.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from speech.cues import Assessment, CueConfig, CueTracker
from speech.cues.lexical import LEXICAL_CUES

log = logging.getLogger(__name__)

ESCALATING_WORD_CUES = frozenset({"asking_for_help", "pain", "fall", "fear", "scam"})


@dataclass(frozen=True)
class CueOutcome:
    """What one utterance's assessment means for the call."""

    assessment: Assessment
    calm_down: bool  # first time elevated: slower, calmer, offer a person
    escalate: bool
    reason: str  # "distress" or "scam" when escalating


class CallCues:
    """Per call: the cue tracker and the policy above."""

    def __init__(
        self,
        config: CueConfig,
        *,
        baseline: dict[str, Any] | None = None,
        languages: list[str] | None = None,
    ) -> None:
        self.config = config
        self.tracker = CueTracker(baseline, config, languages=languages)
        self.calmed = False
        self.timeline: list[dict[str, Any]] = []  # every cue of the call, for the agent

    async def assess(
        self, audio: bytes, sample_rate: int, text: str, pauses: list[float], offset_s: float
    ) -> CueOutcome | None:
        """Assess one utterance off the event loop; None if the audio could not be analysed."""
        try:
            assessment, _features = await asyncio.to_thread(
                self.tracker.assess,
                audio,
                sample_rate,
                text=text or None,
                pauses=pauses,
                offset_s=offset_s,
            )
        except Exception:  # a cue failure never affects the call
            log.exception("voice cues failed on one utterance")
            return None
        self.timeline.extend(c.to_dict() for c in assessment.cues)
        words = {c.name for c in assessment.cues if c.name in LEXICAL_CUES}
        level = assessment.level
        escalate = bool(words & ESCALATING_WORD_CUES) and level != "none"
        if level == "high" and assessment.baseline_used:
            escalate = True
        calm_down = level != "none" and not self.calmed and not escalate
        if calm_down:
            self.calmed = True
        reason = "scam" if "scam" in words else "distress"
        return CueOutcome(assessment, calm_down, escalate, reason)

    def baseline_dict(self) -> dict[str, Any] | None:
        """The caller's baseline to keep on their profile, or None if it is still empty."""
        baseline = self.tracker.baseline
        return None if baseline.empty else baseline.to_dict()

    @property
    def learned_this_call(self) -> int:
        """Utterances of this call learned into the baseline."""
        return self.tracker.learned_this_call
