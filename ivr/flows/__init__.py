"""Flow files: `default.yaml` (the default flow), `prompts/<lang>.yaml`, `intents/<lang>.yaml`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ivr.dialog.flow import Flow, load_flow
from ivr.dialog.lexicon import Lexicon, load_lexicon
from ivr.dialog.prompts import Prompts, load_prompts

FLOWS_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class DialogBundle:
    """A validated flow with the prompts and intents lexicon of one language."""

    flow: Flow
    prompts: Prompts
    lexicon: Lexicon


def prompts_path(language: str = "en") -> Path:
    """The bundled prompts file of `language`."""
    return FLOWS_DIR / "prompts" / f"{language}.yaml"


def lexicon_path(language: str = "en") -> Path:
    """The bundled intents lexicon of `language`."""
    return FLOWS_DIR / "intents" / f"{language}.yaml"


def load_lexicon_for(language: str = "en") -> Lexicon:
    """The bundled intents lexicon of `language`."""
    return load_lexicon(lexicon_path(language))


def load_bundle(flow: str | Path = "default", language: str = "en") -> DialogBundle:
    """Load and validate a flow (bundled name or path) with the bundled `language` files."""
    path = Path(flow)
    if not path.suffix:
        path = FLOWS_DIR / f"{flow}.yaml"
    prompts = load_prompts(prompts_path(language))
    lexicon = load_lexicon_for(language)
    return DialogBundle(load_flow(path, prompts=prompts, lexicon=lexicon), prompts, lexicon)
