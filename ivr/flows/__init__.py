"""Flow files: `default.yaml` (the default flow), `prompts/<lang>.yaml`, `intents/<lang>.yaml`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.dialog.flow import Flow, load_flow
from ivr.dialog.lexicon import Lexicon, load_lexicon
from ivr.dialog.prompts import Prompts, load_prompts

FLOWS_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class DialogBundle:
    """A validated flow with the prompts and intents lexicon of one language (and dialect:
    `dialect` is the pack id, `pack` the resolved `dialects.model.DialectPack`)."""

    flow: Flow
    prompts: Prompts
    lexicon: Lexicon
    dialect: str | None = None
    pack: Any = None


def prompts_path(language: str = "en") -> Path:
    """The bundled prompts file of `language`."""
    return FLOWS_DIR / "prompts" / f"{language}.yaml"


def lexicon_path(language: str = "en") -> Path:
    """The bundled intents lexicon of `language`."""
    return FLOWS_DIR / "intents" / f"{language}.yaml"


def load_lexicon_for(language: str = "en") -> Lexicon:
    """The bundled intents lexicon of `language`."""
    return load_lexicon(lexicon_path(language))


def flow_path(flow: str | Path = "default") -> Path:
    """The file of a bundled flow name, or `flow` itself when it is a path."""
    path = Path(flow)
    return path if path.suffix else FLOWS_DIR / f"{flow}.yaml"


def load_bundle(
    flow: str | Path = "default", language: str = "en", dialect: str | None = None
) -> DialogBundle:
    """Load and validate a flow (bundled name or path) with the bundled `language` files, or,
    with `dialect` (a pack id such as "en-scotland", "ko-gyeongsang"), with that dialect
    pack laid over its language's base pack (`language` is then the pack's)."""
    path = flow_path(flow)
    if dialect is None:
        prompts = load_prompts(prompts_path(language))
        lexicon = load_lexicon_for(language)
        return DialogBundle(load_flow(path, prompts=prompts, lexicon=lexicon), prompts, lexicon)
    from ivr.flows.packs import language_pack

    lp = language_pack(dialect)
    loaded = load_flow(path, prompts=lp.prompts, lexicon=lp.lexicon)
    return DialogBundle(loaded, lp.prompts, lp.lexicon, dialect=dialect, pack=lp.pack)
