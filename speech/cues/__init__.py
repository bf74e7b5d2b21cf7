"""Explainable distress cues: prosody against the caller's own baseline, plus words heard.

Public API (see each module):

- `CueTracker(baseline=None, config=None, languages=None)` per call; `.assess(samples, rate,
  text=..., pauses=..., offset_s=...) -> (Assessment, ProsodyFeatures)`; `.baseline.to_dict()`
  to keep on the caller's profile.
- `assess_audio(...)`, `prosodic_cues(...)`, `lexical_cues(...)`, `fuse(...)` for single steps.
- `Cue`, `Assessment`, `CueConfig`, `CallerBaseline`.
"""

from speech.cues.assess import (
    CUE_FEATURES,
    PROSODIC_CUES,
    CueConfig,
    CueTracker,
    assess_audio,
    fuse,
    prosodic_cues,
)
from speech.cues.baseline import DEFAULT_PRIORS, CallerBaseline, FeaturePrior
from speech.cues.lexical import LEXICAL_CUES, find_phrases, lexical_cues, load_phrasebook
from speech.cues.types import Assessment, Cue

__all__ = [
    "CUE_FEATURES",
    "DEFAULT_PRIORS",
    "LEXICAL_CUES",
    "PROSODIC_CUES",
    "Assessment",
    "CallerBaseline",
    "Cue",
    "CueConfig",
    "CueTracker",
    "FeaturePrior",
    "assess_audio",
    "find_phrases",
    "fuse",
    "lexical_cues",
    "load_phrasebook",
    "prosodic_cues",
]
