"""Declarative dialog flows: the YAML format, its model, and validation on load.

A flow file holds `name`, `start`, `defaults`, `global_intents` (intent -> state or built-in
`@repeat`, `@slower`, `@more_time`, `@back`), `global_keys` (keypad key -> global intent),
`fallbacks.failures` (where to go after too many failed inputs) and `states`. Each state has a
`type`:

- `message`: `say` its prompts, then go to `next`.
- `action`: `run` a backend step (see `ivr.dialog.builtins.STEPS`) with `args`; `outcomes`
  maps each outcome of the step to a state.
- `menu`: `say`, `reprompt`, and `choices` (at most four): each `{intents: [...], key: "1",
  next: state}`.
- `confirm`: `say`, `reprompt`, `yes: state`, `no: state` (keys 1 = yes, 2 = no).
- `digits`: a digit-string entry (`store` variable, `min_digits`, `max_digits`, `secret`,
  `zero_for_person`), then `next`. `#` ends the entry, `*` clears it (or goes back when empty).
- `free_form`: an open question; the caller's words go to `store`, then `next`; `keys` gives
  the keypad path (key -> state).
- `transfer`: `say`, then hand over to a person with `reason` and `priority`.
- `hangup`: `say`, then end the call.

Prompts in `say` are keys, or mappings `{key, interruptible: false, when: variable, slow: true}`.
Input states may set `timeout_s`, `back` (state or `@repeat`), `on_failures` (state) and
`on_silence` (state: where to go instead of `on_failures` when every failed try at this
question was silence, nothing heard and no key pressed).
Targets may be `@return`: back to the question asked before this one (after "goodbye?" or
"a person?" is declined).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ivr.dialog.builtins import KNOWN_VARIABLES, STEPS
from ivr.dialog.lexicon import Lexicon
from ivr.dialog.prompts import MAX_WORDS_PER_SENTENCE, Prompts, long_sentences
from ivr.dialog.yamlfile import read_yaml

MAX_MENU_CHOICES = 4
STATE_TYPES = (
    "message",
    "action",
    "menu",
    "confirm",
    "digits",
    "free_form",
    "transfer",
    "hangup",
)
INPUT_TYPES = frozenset({"menu", "confirm", "digits", "free_form"})
GLOBAL_BUILTINS = frozenset({"@repeat", "@slower", "@more_time", "@back"})
RETURN = "@return"
REPEAT = "@repeat"
CONFIRM_KEYS = {"1": "yes", "2": "no"}  # ISO/IEC 13714
VALID_KEYS = frozenset("0123456789*#")
# Prompt keys the engine itself speaks; every prompts file must have them.
ENGINE_PROMPTS = (
    "timeout_warning",
    "more_time_ack",
    "slower_ack",
    "slowest_ack",
    "digits_cleared",
    "digits_continue",
    "status_received",
    "status_in_progress",
    "status_waiting_for_customer",
    "status_resolved",
    "step_failed",  # the apology when a backend step fails (then the flow's person path)
)
# Intents the engine relies on.
REQUIRED_GLOBALS = ("repeat", "slower", "more_time", "back", "person", "emergency")

_COMMON = {"type", "say"}
_INPUT = _COMMON | {"reprompt", "timeout_s", "back", "on_failures", "on_silence"}
_FIELDS: dict[str, set[str]] = {
    "message": _COMMON | {"next"},
    "action": {"type", "run", "args", "outcomes"},
    "menu": _INPUT | {"choices"},
    "confirm": _INPUT | {"yes", "no"},
    "digits": _INPUT | {"store", "min_digits", "max_digits", "secret", "zero_for_person", "next"},
    "free_form": _INPUT | {"store", "keys", "next"},
    "transfer": _COMMON | {"reason", "priority"},
    "hangup": _COMMON | {"reason"},
}


class FlowError(ValueError):
    """A flow file is invalid. `problems` lists each one as "file: state 'x': what is wrong"."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid dialog flow:\n  " + "\n  ".join(problems))


@dataclass(frozen=True)
class PromptRef:
    """One prompt of a state."""

    key: str
    interruptible: bool = True
    when: str | None = None
    slow: bool = False


@dataclass(frozen=True)
class Choice:
    """A menu choice: what the caller may say (intents) or press (key), and where it leads."""

    intents: tuple[str, ...]
    key: str
    next: str


@dataclass(frozen=True)
class State:
    """One state of a flow (fields not used by its type keep their defaults)."""

    name: str
    type: str
    say: tuple[PromptRef, ...] = ()
    reprompt: str | None = None
    next: str | None = None
    choices: tuple[Choice, ...] = ()
    yes: str | None = None
    no: str | None = None
    keys: dict[str, str] = field(default_factory=dict)
    run: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    outcomes: dict[str, str] = field(default_factory=dict)
    store: str | None = None
    min_digits: int = 1
    max_digits: int = 12
    secret: bool = False
    zero_for_person: bool = True
    back: str | None = None
    on_failures: str | None = None
    on_silence: str | None = None
    reason: str = ""
    priority: str = "normal"
    timeout_s: float | None = None

    @property
    def takes_input(self) -> bool:
        return self.type in INPUT_TYPES

    def key_targets(self) -> dict[str, str]:
        """Keypad key -> intent (menu, confirm) or target state (free_form)."""
        if self.type == "menu":
            return {c.key: c.intents[0] for c in self.choices}
        if self.type == "confirm":
            return dict(CONFIRM_KEYS)
        if self.type == "free_form":
            return dict(self.keys)
        return {}

    def intents(self) -> tuple[str, ...]:
        """The intents this state accepts besides the global ones."""
        if self.type == "menu":
            return tuple(i for c in self.choices for i in c.intents)
        if self.type == "confirm":
            return ("yes", "no")
        return ()

    def targets(self) -> list[str]:
        """Every state this one can lead to."""
        out = [self.next, self.yes, self.no, self.back, self.on_failures, self.on_silence]
        out += [c.next for c in self.choices]
        out += list(self.keys.values()) + list(self.outcomes.values())
        return [t for t in out if t]


@dataclass(frozen=True)
class FlowDefaults:
    """Timing and rate settings of a flow."""

    timeout_s: float = 10.0
    warn_before_timeout_s: float = 4.0
    after_warning_s: float = 8.0
    more_time_s: float = 30.0
    free_form_timeout_s: float = 15.0
    max_failures: int = 3
    rate_step_wpm: int = 15
    min_rate_wpm: int = 110


@dataclass(frozen=True)
class Flow:
    """A validated dialog flow."""

    name: str
    start: str
    states: dict[str, State]
    global_intents: dict[str, str]
    global_keys: dict[str, str]
    failures_state: str
    defaults: FlowDefaults = FlowDefaults()
    source: str = ""

    def prompt_keys(self) -> set[str]:
        """Every prompt key the flow uses (with the engine's own)."""
        keys = set(ENGINE_PROMPTS)
        for s in self.states.values():
            keys |= {p.key for p in s.say}
            if s.reprompt:
                keys.add(s.reprompt)
        return keys


def load_flow(
    path: str | Path, *, prompts: Prompts | None = None, lexicon: Lexicon | None = None
) -> Flow:
    """Read and validate a flow file; with `prompts`/`lexicon`, also check it against them.

    Raises `FlowError` listing every problem (file, state, what is wrong).
    """
    path = Path(path)
    try:
        data = read_yaml(path)
    except (OSError, yaml.YAMLError) as exc:
        raise FlowError([f"{path}: cannot read flow: {exc}"]) from exc
    flow = parse_flow(data, source=str(path))
    validate_flow(flow, prompts=prompts, lexicon=lexicon)
    return flow


def parse_flow(data: Any, source: str = "<flow>") -> Flow:
    """Build a `Flow` from parsed YAML, reporting every malformed part at once."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise FlowError([f"{source}: expected a mapping at the top level"])
    states_data = data.get("states")
    if not isinstance(states_data, dict) or not states_data:
        raise FlowError([f"{source}: 'states:' must be a non-empty mapping"])
    states: dict[str, State] = {}
    for name, raw in states_data.items():
        where = f"{source}: state {name!r}"
        try:
            states[str(name)] = _parse_state(str(name), raw)
        except (TypeError, ValueError) as exc:
            problems.append(f"{where}: {exc}")
    try:
        defaults = FlowDefaults(**(data.get("defaults") or {}))
    except TypeError as exc:
        problems.append(f"{source}: defaults: {exc}")
        defaults = FlowDefaults()
    global_intents = {str(k): str(v) for k, v in (data.get("global_intents") or {}).items()}
    global_keys = {str(k): str(v) for k, v in (data.get("global_keys") or {}).items()}
    failures = str((data.get("fallbacks") or {}).get("failures", ""))
    if not failures:
        problems.append(f"{source}: fallbacks.failures: missing (where to go after failures)")
    if "start" not in data:
        problems.append(f"{source}: 'start:' is missing")
    if problems:
        raise FlowError(problems)
    return Flow(
        name=str(data.get("name", Path(source).stem)),
        start=str(data["start"]),
        states=states,
        global_intents=global_intents,
        global_keys=global_keys,
        failures_state=failures,
        defaults=defaults,
        source=source,
    )


def _parse_state(name: str, raw: Any) -> State:
    if not isinstance(raw, dict):
        raise ValueError("expected a mapping")
    kind = raw.get("type")
    if kind not in STATE_TYPES:
        raise ValueError(f"type {kind!r} is not one of {', '.join(STATE_TYPES)}")
    unknown = set(raw) - _FIELDS[kind]
    if unknown:
        raise ValueError(f"fields {sorted(unknown)} are not allowed in a {kind} state")
    say = tuple(_parse_prompt(p) for p in _as_list(raw.get("say", [])))
    choices = tuple(_parse_choice(c) for c in _as_list(raw.get("choices", [])))
    keys = {str(k): str(v) for k, v in (raw.get("keys") or {}).items()}
    outcomes = {str(k): str(v) for k, v in (raw.get("outcomes") or {}).items()}
    opt = {k: raw[k] for k in ("reprompt", "next", "yes", "no", "run", "store", "back") if k in raw}
    opt |= {k: raw[k] for k in ("on_failures", "on_silence", "reason", "priority") if k in raw}
    opt = {k: str(v) for k, v in opt.items()}
    return State(
        name=name,
        type=kind,
        say=say,
        choices=choices,
        keys=keys,
        outcomes=outcomes,
        args=dict(raw.get("args") or {}),
        min_digits=int(raw.get("min_digits", 1)),
        max_digits=int(raw.get("max_digits", 12)),
        secret=bool(raw.get("secret", False)),
        zero_for_person=bool(raw.get("zero_for_person", True)),
        timeout_s=float(raw["timeout_s"]) if "timeout_s" in raw else None,
        **opt,
    )


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    raise ValueError(f"expected a list, got {value!r}")


def _parse_prompt(raw: Any) -> PromptRef:
    if isinstance(raw, str):
        return PromptRef(raw)
    if isinstance(raw, dict) and "key" in raw:
        extra = set(raw) - {"key", "interruptible", "when", "slow"}
        if extra:
            raise ValueError(f"prompt {raw['key']!r}: unknown fields {sorted(extra)}")
        return PromptRef(
            key=str(raw["key"]),
            interruptible=bool(raw.get("interruptible", True)),
            when=str(raw["when"]) if raw.get("when") else None,
            slow=bool(raw.get("slow", False)),
        )
    raise ValueError(f"prompt {raw!r}: expected a key or a mapping with 'key'")


def _parse_choice(raw: Any) -> Choice:
    if not isinstance(raw, dict):
        raise ValueError(f"choice {raw!r}: expected a mapping")
    intents = raw.get("intents", raw.get("intent"))
    if isinstance(intents, str):
        intents = [intents]
    if not intents:
        raise ValueError(f"choice {raw!r}: no intents")
    if "next" not in raw:
        raise ValueError(f"choice {raw!r}: no 'next' state")
    key = raw.get("key")
    return Choice(tuple(str(i) for i in intents), "" if key is None else str(key), str(raw["next"]))


def validate_flow(
    flow: Flow, *, prompts: Prompts | None = None, lexicon: Lexicon | None = None
) -> None:
    """Check a flow's structure, and its prompts and intents when given; raise `FlowError`."""
    problems = _structure_problems(flow)
    if prompts is not None:
        problems += _prompt_problems(flow, prompts)
    if lexicon is not None:
        problems += _intent_problems(flow, lexicon)
    if problems:
        raise FlowError(problems)


def _structure_problems(flow: Flow) -> list[str]:
    src = flow.source
    problems: list[str] = []
    names = set(flow.states)

    def target_ok(target: str, allow: Iterable[str] = ()) -> bool:
        return target in names or target == RETURN or target in allow

    if flow.start not in names:
        problems.append(f"{src}: start state {flow.start!r} does not exist")
    for intent, target in flow.global_intents.items():
        if not target_ok(target, GLOBAL_BUILTINS):
            problems.append(f"{src}: global intent {intent!r}: unknown target {target!r}")
    for intent in REQUIRED_GLOBALS:
        if intent not in flow.global_intents:
            problems.append(f"{src}: global_intents: {intent!r} is required")
    for key, intent in flow.global_keys.items():
        if key not in VALID_KEYS:
            problems.append(f"{src}: global key {key!r} is not a keypad key")
        if intent not in flow.global_intents:
            problems.append(f"{src}: global key {key!r}: {intent!r} is not a global intent")
    for needed, key in (("person", "0"), ("back", "*"), ("more_time", "#")):
        if flow.global_keys.get(key) != needed:
            problems.append(f"{src}: global_keys: {key!r} must be {needed!r} (ISO/IEC 13714)")
    if not target_ok(flow.failures_state):
        problems.append(f"{src}: fallbacks.failures: unknown state {flow.failures_state!r}")

    for s in flow.states.values():
        where = f"{src}: state {s.name!r}"
        for target in s.targets():
            allow = {REPEAT} if target == s.back else set()
            if not target_ok(target, allow):
                problems.append(f"{where}: unknown target state {target!r}")
        problems += [f"{where}: {p}" for p in _state_problems(s, flow)]

    reachable = _reachable(flow)
    for name in flow.states:
        if name not in reachable:
            problems.append(f"{src}: state {name!r}: unreachable from start {flow.start!r}")
    return problems


def _state_problems(s: State, flow: Flow) -> list[str]:
    out: list[str] = []
    need = {
        "message": ["next"],
        "action": ["run"],
        "confirm": ["yes", "no"],
        "digits": ["store", "next"],
        "free_form": ["store", "next"],
        "transfer": ["reason"],
    }.get(s.type, [])
    out += [f"{s.type} state needs {f!r}" for f in need if not getattr(s, f)]
    if s.takes_input and not s.say:
        out.append("an input state needs prompts in 'say'")
    if s.takes_input and not s.reprompt:
        out.append("an input state needs a shorter 'reprompt'")
    if s.type == "menu":
        if not s.choices:
            out.append("menu has no choices")
        if len(s.choices) > MAX_MENU_CHOICES:
            out.append(f"menu has {len(s.choices)} choices; at most {MAX_MENU_CHOICES} allowed")
        seen: set[str] = set()
        for c in s.choices:
            if not c.key:
                out.append(f"choice {c.intents[0]!r} has no keypad key (no keypad path)")
                continue
            if c.key in seen:
                out.append(f"key {c.key!r} is used by two choices")
            seen.add(c.key)
    if s.type == "free_form" and not s.keys:
        out.append("free_form state has no 'keys' (every prompt needs a keypad path)")
    for key in s.key_targets():
        if key not in VALID_KEYS:
            out.append(f"key {key!r} is not a keypad key")
        elif s.type != "confirm" and key in flow.global_keys:
            reserved = flow.global_keys[key]
            out.append(f"key {key!r} is reserved everywhere for {reserved!r}")
    if s.type == "digits":
        if not 1 <= s.min_digits <= s.max_digits:
            out.append(f"min_digits {s.min_digits} / max_digits {s.max_digits} are inconsistent")
    if s.type == "action":
        if s.run not in STEPS:
            out.append(f"unknown step {s.run!r} (known: {', '.join(sorted(STEPS))})")
        else:
            expected = set(STEPS[s.run][1])
            missing = expected - set(s.outcomes)
            extra = set(s.outcomes) - expected
            if missing:
                out.append(f"step {s.run!r}: outcomes {sorted(missing)} have no target")
            if extra:
                out.append(f"step {s.run!r}: unknown outcomes {sorted(extra)}")
    if s.type == "transfer" and s.priority not in ("normal", "urgent"):
        out.append(f"priority {s.priority!r} must be 'normal' or 'urgent'")
    for p in s.say:
        if p.when and p.when not in KNOWN_VARIABLES:
            out.append(f"prompt {p.key!r}: 'when: {p.when}' is not a known variable")
    if s.store and s.store not in KNOWN_VARIABLES | {"pin"}:
        out.append(f"store {s.store!r} is not a known variable")
    return out


def _reachable(flow: Flow) -> set[str]:
    roots = [flow.start, flow.failures_state, *flow.global_intents.values()]
    seen: set[str] = set()
    todo = [r for r in roots if r in flow.states]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += [t for t in flow.states[name].targets() if t in flow.states]
    return seen


def _prompt_problems(flow: Flow, prompts: Prompts) -> list[str]:
    src, psrc = flow.source, prompts.source
    out: list[str] = []
    for key in ENGINE_PROMPTS:
        if key not in prompts:
            out.append(f"{psrc}: prompt {key!r} (spoken by the engine) is missing")
    for s in flow.states.values():
        where = f"{src}: state {s.name!r}"
        keys = [p.key for p in s.say] + ([s.reprompt] if s.reprompt else [])
        missing = [k for k in keys if k not in prompts]
        out += [f"{where}: unknown prompt key {k!r} (not in {psrc})" for k in missing]
        if missing:
            continue
        for key in keys:
            unknown = prompts.placeholders(key) - KNOWN_VARIABLES
            if unknown:
                out.append(f"{where}: prompt {key!r} uses unknown placeholders {sorted(unknown)}")
        if s.takes_input and s.reprompt:
            first = " ".join(prompts.texts[p.key] for p in s.say)
            again = prompts.texts[s.reprompt]
            if len(again) >= len(first):
                out.append(
                    f"{where}: reprompt {s.reprompt!r} ({len(again)} chars) must be shorter "
                    f"than the first prompt ({len(first)} chars)"
                )
            for key in s.key_targets():
                if key.isdigit():
                    for label, text in (("prompt", first), ("reprompt", again)):
                        if not re.search(rf"(?<!\d){key}(?!\d)", text):
                            out.append(
                                f"{where}: {label} never mentions key {key} (no keypad path)"
                            )
    for key, text in prompts.texts.items():
        for sentence in long_sentences(text):
            out.append(
                f"{psrc}: prompt {key!r}: sentence over {MAX_WORDS_PER_SENTENCE} words: "
                f"{sentence!r}"
            )
    return out


def _intent_problems(flow: Flow, lexicon: Lexicon) -> list[str]:
    src = flow.source
    out: list[str] = []
    for intent in flow.global_intents:
        if intent not in lexicon.intents:
            out.append(f"{src}: global intent {intent!r} is unknown in {lexicon.source}")
    for s in flow.states.values():
        for intent in s.intents():
            if intent not in lexicon.intents:
                out.append(
                    f"{src}: state {s.name!r}: unknown intent {intent!r} (not in {lexicon.source})"
                )
    return out
