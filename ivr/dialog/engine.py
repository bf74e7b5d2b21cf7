"""The dialog engine: runs a validated flow, one caller input at a time. Pure logic, no audio.

Keypad meanings follow ISO/IEC 13714 everywhere: 0 a person, * back (in a digit entry: clear
what was typed, or back when nothing was typed), # ends an entry (elsewhere: more time),
1 yes, 2 no. ISO/IEC 13714 assigns no key to "repeat"; this flow uses 9 (outside the 1-4
menu range and away from the reserved keys), announced in no prompt but always active outside
digit entries, where 9 is a digit and "repeat" is said instead.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Collection, Iterable
from dataclasses import replace
from datetime import date
from typing import Any

from ivr.dialog.actions import (
    Action,
    Event,
    Hangup,
    Listen,
    Say,
    SetRate,
    Transfer,
    UserInput,
)
from ivr.dialog.backend import CustomerInfo, DialogBackend
from ivr.dialog.builtins import STEPS
from ivr.dialog.flow import REPEAT, RETURN, Flow, PromptRef, State, validate_flow
from ivr.dialog.lexicon import Lexicon, PhraseMatcher, normalise
from ivr.dialog.prompts import Prompts

log = logging.getLogger(__name__)

SAFETY_INTENTS = ("emergency", "help", "person")  # win over anything else heard with them
MAX_CHAIN = 100  # states passed without input before the flow is declared looping
SECRET_MASK = "***"
STEP_FAILED = "step_failed"  # the event, the apology prompt and the transfer reason


class DialogEngine:
    """One call's dialog: `start()`, then `handle(UserInput)` for each caller input.

    Both return the actions to perform in order; the list always ends with one `Listen`,
    `Transfer` or `Hangup`. After a `Transfer` or `Hangup`, `finished` is True and `handle`
    returns an empty list.

    A backend step that raises never ends or stalls the call: the failure is recorded
    (`Event("step_failed", {state, step, error})`), the caller hears an apology (prompt
    `step_failed`) and goes down the flow's own person path (the target of the `person`
    global intent), whose transfer then carries the reason "step_failed".
    """

    def __init__(
        self,
        flow: Flow,
        prompts: Prompts,
        backend: DialogBackend,
        caller_phone: str | None = None,
        call_sid: str = "",
        rate_wpm: int = 140,
        *,
        lexicon: Lexicon | None = None,
        today: Callable[[], date] = date.today,
        dialect: str | None = None,
        dialect_loader: Callable[[str], tuple[Prompts, Lexicon]] | None = None,
    ) -> None:
        """`dialect_loader(pack_id) -> (prompts, lexicon)` lets the caller's own choice of
        language (the flow's `set_dialect` step) switch the wording at once."""
        if lexicon is None:
            from ivr.flows import load_lexicon_for

            lexicon = load_lexicon_for(prompts.language)
        validate_flow(flow, prompts=prompts, lexicon=lexicon)
        self.flow = flow
        self.prompts = prompts
        self.lexicon = lexicon
        self.backend = backend
        self.caller_phone = caller_phone
        self.call_sid = call_sid
        self.rate_wpm = rate_wpm
        self.language = prompts.language
        self.dialect = dialect
        self.dialect_loader = dialect_loader
        self._global_from: str | None = None
        self.variables: dict[str, Any] = {}
        self.customer: CustomerInfo | None = None
        self.pending_customer: CustomerInfo | None = None
        self.finished = False
        self._today = today
        self._state: str | None = None
        self._where: str | None = None
        self._out: list[Action] = []
        self._chain_says: list[Say] = []
        self._last_says: list[Say] = []
        self._history: list[str] = []
        self._failures = 0
        self._silences = 0  # the failures at this question that were silence
        self._step_failed: str | None = None  # a step failed in the states being passed
        self._buffer = ""
        self._rate_changed = False
        self._matchers: dict[str, tuple[PhraseMatcher, dict[str, str]]] = {}
        self._global_phrases = {p: i for i in flow.global_intents for p in lexicon.phrases(i)}
        self._alerts = PhraseMatcher(
            {p: i for i, ps in lexicon.in_open_answers.items() for p in ps},
            priority=SAFETY_INTENTS,
        )

    # ----- public API -------------------------------------------------------------------

    @property
    def state(self) -> str | None:
        """The state waiting for input (None before `start()`); after the end, the last one."""
        return self._state

    @property
    def listen(self) -> Listen | None:
        """What the current state expects (None when the dialog has finished)."""
        if self.finished or self._state is None:
            return None
        return self._listen_for(self.flow.states[self._state])

    def start(self) -> list[Action]:
        """Begin the call: greeting and the first question."""
        if self._where is not None:
            raise RuntimeError("DialogEngine.start() called twice")
        self._out = []
        self._run(self.flow.start)
        return self._finish_reply()

    def handle(self, user_input: UserInput) -> list[Action]:
        """React to one caller input; return the actions to perform."""
        if self.finished:
            return []
        if self._state is None:
            raise RuntimeError("DialogEngine.handle() called before start()")
        self._out = []
        self._global_from = None
        kind = user_input.kind
        if kind == "timeout_warning":
            self._say_key(self.flow.states[self._state], "timeout_warning")
            self._emit_listen(self.flow.defaults.after_warning_s, 0.0)
        elif kind == "no_input":
            self._no_input()
        elif kind == "no_match":
            self._input_event(user_input, None)
            self._fail("no_match")
        elif kind == "dtmf":
            self._input_event(user_input, None)
            for key in user_input.digits:
                if self.finished:
                    break
                self._key(self.flow.states[self._state], key)
        else:
            self._speech(user_input)
        return self._finish_reply()

    def listen_in(self, state: str) -> Listen:
        """What input state `state` would expect (its phrase list and phrase -> intent map)."""
        s = self.flow.states.get(state)
        if s is None or not s.takes_input:
            raise KeyError(f"{state!r} is not an input state of flow {self.flow.name!r}")
        return self._listen_for(s)

    def set_language_pack(
        self, prompts: Prompts, lexicon: Lexicon, *, dialect: str | None = None, reask: bool = False
    ) -> list[Action]:
        """Speak and understand with other wording from now on (a dialect or language switch).

        The call keeps its state, variables, customer, history and rate. Returns the actions to
        perform: an `Event("dialect_changed")`, with `reask` the current question again in
        the new wording, and a `Listen` carrying the new phrase list (empty when finished).
        Raises `FlowError` (nothing changed) if the wording does not fit the flow.
        """
        validate_flow(self.flow, prompts=prompts, lexicon=lexicon)
        old = self.dialect
        self.prompts, self.lexicon, self.language = prompts, lexicon, prompts.language
        self.dialect = dialect
        self._matchers.clear()
        self._global_phrases = {p: i for i in self.flow.global_intents for p in lexicon.phrases(i)}
        self._alerts = PhraseMatcher(
            {p: i for i, ps in lexicon.in_open_answers.items() for p in ps},
            priority=SAFETY_INTENTS,
        )
        # what "repeat" replays is re-rendered in the new wording
        self._last_says = [
            replace(x, text=self.prompt_text(x.key)) for x in self._last_says if x.key in prompts
        ]
        out: list[Action] = [
            Event(
                "dialect_changed",
                {"from": old, "to": dialect, "language": self.language, "state": self._state},
            )
        ]
        if self.finished or self._state is None:
            return out
        if reask:
            out += list(self._last_says)
        out.append(self._listen_for(self.flow.states[self._state]))
        return out

    def intent_for(self, text_or_phrase: str) -> str | None:
        """The intent meant by what the caller said, in the current state's context.

        Exact phrases win; otherwise a phrase found inside the words counts (safety intents
        first, then the state's own intents, then global ones; ties give None).
        """
        if self._state is None or self.finished:
            every = {p: i for i, ps in self.lexicon.intents.items() for p in ps}
            return PhraseMatcher(every, priority=SAFETY_INTENTS).match(text_or_phrase)
        return self._matcher(self.flow.states[self._state])[0].match(text_or_phrase)

    # ----- ActionContext (used by the backend steps) -------------------------------------

    def emit(self, action: Action) -> None:
        """Add an action to the reply being built."""
        self._out.append(action)

    def identified(self, customer: CustomerInfo, method: str) -> None:
        """The caller is `customer`: apply or remember their speech rate."""
        self.customer = customer
        self.pending_customer = None
        self.variables["name"] = customer.name
        self._history.clear()
        self.emit(Event("customer_identified", {"customer_id": customer.id, "method": method}))
        if self._rate_changed:
            self.backend.set_preferred_rate(customer.id, self.rate_wpm)
        elif customer.preferred_rate_wpm and customer.preferred_rate_wpm != self.rate_wpm:
            self.rate_wpm = customer.preferred_rate_wpm
            self.emit(SetRate(self.rate_wpm))
            self.emit(Event("rate_changed", {"rate_wpm": self.rate_wpm, "source": "profile"}))

    def prompt_text(self, key: str) -> str:
        """A prompt's text filled with the known variables."""
        return self.prompts.render(key, self.variables)

    def currency_words(self, code: str) -> dict[str, str] | None:
        """Words for a currency in the call's language, if the prompts file has them."""
        return self.prompts.currencies.get(code)

    def switch_dialect(self, dialect: str, source: str) -> bool:
        """Load `dialect` with the `dialect_loader` and switch to it (False without one, or
        if it cannot be loaded: the call goes on in the current wording)."""
        if self.dialect_loader is None or dialect == self.dialect:
            return False
        try:
            prompts, lexicon = self.dialect_loader(dialect)
            for action in self.set_language_pack(prompts, lexicon, dialect=dialect):
                if isinstance(action, Event):
                    self.emit(Event(action.kind, {**action.data, "source": source}))
        except (ValueError, OSError) as exc:
            self.emit(Event("dialect_failed", {"dialect": dialect, "error": str(exc)}))
            return False
        return True

    def today(self) -> date:
        """Today's date (for "on Friday the fourteenth of March")."""
        return self._today()

    # ----- running states ---------------------------------------------------------------

    def _run(self, target: str) -> None:
        """Enter `target` and pass through states until one waits for input or the call ends."""
        self._chain_says = []
        self._step_failed = None
        for _ in range(MAX_CHAIN):
            if target == RETURN:
                # reached from a global request without a new question (a language change):
                # back to the question it interrupted; else the one asked before this one
                from_global = self._global_from is not None and self._global_from == self._state
                target = self._state if from_global and self._state else self._previous_state()
            s = self.flow.states[target]
            self.emit(Event("state", {"from": self._where, "to": target}))
            self._where = target
            if s.type == "message":
                self._say_state(s)
                target = s.next or ""
            elif s.type == "action":
                step, _ = STEPS[s.run or ""]
                try:
                    outcome = step(self, dict(s.args))
                    target = s.outcomes[outcome]
                except Exception as exc:  # a failing backend never drops the caller
                    next_target = self._after_step_failure(s, exc)
                    if next_target is None:
                        return
                    target = next_target
            elif s.type == "transfer":
                self._say_state(s)
                self._transfer(s.reason or "", s.priority, target)
                return
            elif s.type == "hangup":
                self._say_state(s)
                reason = s.reason or "goodbye"
                self.emit(Event("hangup", {"reason": reason}))
                self.emit(Hangup(reason))
                self.finished = True
                return
            else:
                self._say_state(s)
                self._state = target
                self._step_failed = None
                self._failures = 0
                self._silences = 0
                self._buffer = ""
                if not self._history or self._history[-1] != target:
                    self._history = (self._history + [target])[-20:]
                self._last_says = list(self._chain_says)
                self._emit_listen()
                return
        raise RuntimeError(f"{self.flow.source}: more than {MAX_CHAIN} states without input")

    def _transfer(self, reason: str, priority: str, target: str) -> None:
        """Hand the call to a person (the reason is "step_failed" after a failed step)."""
        reason = STEP_FAILED if self._step_failed else reason
        cid = self.customer.id if self.customer else None
        where = self._state or target
        self.emit(Event("transfer", {"reason": reason, "priority": priority}))
        self.emit(Transfer(reason, priority, customer_id=cid, state=where))
        self.finished = True

    def _after_step_failure(self, s: State, exc: Exception) -> str | None:
        """A backend step raised: record it, apologise, and return the state of the flow's
        person path (None when the call was handed on at once: a second failure on the way)."""
        step = s.run or ""
        log.error("step %s failed in state %s (call %s)", step, s.name, self.call_sid, exc_info=exc)
        error = f"{type(exc).__name__}: {exc}"[:500]
        self.emit(Event(STEP_FAILED, {"state": s.name, "step": step, "error": error}))
        again = self._step_failed is not None
        self._step_failed = step
        if not again:
            self._say_key(s, STEP_FAILED)
        person = self.flow.global_intents["person"]
        if again or person not in self.flow.states:
            # the person path itself failed (or is not a state): hand on without it
            self._transfer(STEP_FAILED, "normal", s.name)
            return None
        return person

    def _previous_state(self) -> str:
        """Where `@return` and "back" lead: the question asked before the current one."""
        if self._history and self._history[-1] == self._state:
            self._history.pop()
        return self._history[-1] if self._history else self.flow.start

    def _say_state(self, s: State) -> None:
        for ref in s.say:
            if ref.when and not self.variables.get(ref.when):
                continue
            self._say_ref(ref)

    def _say_ref(self, ref: PromptRef) -> None:
        rate = slow_rate(self.rate_wpm) if ref.slow else None
        say = Say(ref.key, self.prompt_text(ref.key), ref.interruptible, rate)
        self.emit(say)
        self._chain_says.append(say)

    def _say_key(self, s: State, key: str) -> None:
        """An extra prompt (acknowledgement, reprompt): not what "repeat" replays."""
        self.emit(Say(key, self.prompt_text(key)))

    def _emit_listen(self, timeout_s: float | None = None, warn_s: float | None = None) -> None:
        listen = self._listen_for(self.flow.states[self._state or ""])
        if timeout_s is not None:
            listen = replace(listen, timeout_s=timeout_s, warn_before_timeout_s=warn_s or 0.0)
        self.emit(listen)

    def _listen_for(self, s: State) -> Listen:
        d = self.flow.defaults
        _, phrase_intents = self._matcher(s)
        timeout = s.timeout_s or (d.free_form_timeout_s if s.type == "free_form" else d.timeout_s)
        return Listen(
            state=s.name,
            phrases=listen_order(phrase_intents, self.lexicon.own),
            phrase_intents=dict(phrase_intents),
            free_form=s.type == "free_form",
            digits=s.type == "digits",
            max_digits=s.max_digits if s.type == "digits" else 0,
            timeout_s=timeout,
            warn_before_timeout_s=min(d.warn_before_timeout_s, timeout / 2),
            secret=s.secret,
        )

    def _finish_reply(self) -> list[Action]:
        """Keep only the last Listen (type-ahead keys may pass through several states)."""
        out = self._out
        last = len(out) - 1
        kept = [a for n, a in enumerate(out) if not isinstance(a, Listen) or n == last]
        self._out = []
        return kept

    # ----- phrases and intents ----------------------------------------------------------

    def _matcher(self, s: State) -> tuple[PhraseMatcher, dict[str, str]]:
        cached = self._matchers.get(s.name)
        if cached:
            return cached
        phrases: dict[str, str] = dict(self._global_phrases)
        own = s.intents()
        for intent in own:
            phrases.update({p: intent for p in self.lexicon.phrases(intent)})
        if s.type == "digits":
            for word in [*self.lexicon.digit_words, *self.lexicon.multipliers]:
                phrases[word] = "digits"
            own = ("digits",)
        elif s.type in ("menu", "confirm"):
            canonical: dict[str, str] = {}
            for word, digit in self.lexicon.digit_words.items():
                canonical.setdefault(digit, word)
            keyed = {**self.flow.global_keys, **s.key_targets()}
            for key, intent in keyed.items():
                if key in canonical:
                    phrases[canonical[key]] = intent
        if s.type == "free_form":
            phrases = dict(self._global_phrases)
        matcher = PhraseMatcher(phrases, priority=SAFETY_INTENTS, preferred=own)
        self._matchers[s.name] = (matcher, phrases)
        return matcher, phrases

    def _input_event(self, inp: UserInput, intent: str | None) -> None:
        s = self.flow.states[self._state or ""]
        data: dict[str, Any] = {"state": s.name, "kind": inp.kind, "intent": intent}
        if inp.kind == "speech":
            data["text"] = SECRET_MASK if s.secret else inp.text  # the caller's own words
            if inp.phrase and not s.secret:
                data["phrase"] = inp.phrase
            data["confidence"] = inp.confidence
        if self.dialect:
            data["dialect"] = self.dialect
        if inp.kind == "dtmf":
            data["digits"] = SECRET_MASK if s.secret else inp.digits
        self.emit(Event("input", data))

    # ----- inputs -----------------------------------------------------------------------

    def _speech(self, inp: UserInput) -> None:
        s = self.flow.states[self._state or ""]
        heard = inp.phrase or inp.text
        if s.type == "free_form":
            self._free_form(s, inp)
            return
        matcher, _ = self._matcher(s)
        intent = inp.intent or matcher.match(heard)
        self._input_event(inp, intent)
        if s.type == "digits":
            if intent and intent != "digits" and intent in self.flow.global_intents:
                self._global(intent)
                return
            spoken = self.lexicon.words_to_digits(heard)
            if spoken:
                self._add_digits(s, spoken)
            else:
                self._fail("no_match")
            return
        if intent in s.intents():
            self._choose(s, intent)
        elif intent in self.flow.global_intents:
            self._global(intent)
        else:
            self._fail("no_match")

    def _free_form(self, s: State, inp: UserInput) -> None:
        text = " ".join(inp.text.split())
        norm = normalise(text)
        command = inp.intent if inp.intent in self.flow.global_intents else None
        command = command or self._global_phrases.get(norm)
        self._input_event(inp, command)
        if command:
            self._global(command)
            return
        if not norm:
            self._fail("no_match")
            return
        self.emit(Event("free_form", {"state": s.name, "text": text}))
        alert = self._alerts.match(norm)
        if alert and alert in self.flow.global_intents:
            self._global(alert)
            return
        self.variables[s.store or "description"] = text
        self._run(s.next or "")

    def _choose(self, s: State, intent: str) -> None:
        if intent in self.flow.global_intents:  # a request this question answers itself
            self.emit(Event("caller_request", {"state": s.name, "intent": intent}))
        if s.type == "confirm":
            self._run((s.yes if intent == "yes" else s.no) or "")
            return
        for choice in s.choices:
            if intent in choice.intents:
                self._run(choice.next)
                return
        raise AssertionError(f"intent {intent!r} not in state {s.name!r}")

    def _key(self, s: State, key: str) -> None:
        if s.type == "digits":
            self._digit_key(s, key)
            return
        targets = s.key_targets()
        if key in targets:
            if s.type == "free_form":
                self._run(targets[key])
            else:
                self._choose(s, targets[key])
        elif key in self.flow.global_keys:
            self._global(self.flow.global_keys[key])
        else:
            self._fail("no_match")

    def _digit_key(self, s: State, key: str) -> None:
        if key == "#":
            if self._buffer:
                self._submit(s)
            else:
                self._global("more_time")
        elif key == "*":
            if self._buffer:
                self._buffer = ""
                self._say_key(s, "digits_cleared")
                self._emit_listen()
            else:
                self._global("back")
        elif key == "0" and not self._buffer and s.zero_for_person:
            self._global("person")
        else:
            self._buffer += key
            if len(self._buffer) >= s.max_digits:
                self._submit(s)
            else:
                self._emit_listen()

    def _add_digits(self, s: State, digits: str) -> None:
        self._buffer += digits
        if len(self._buffer) >= s.min_digits:
            self._submit(s)
        else:
            self._say_key(s, "digits_continue")
            self._emit_listen()

    def _submit(self, s: State) -> None:
        value, self._buffer = self._buffer, ""
        if not s.min_digits <= len(value) <= s.max_digits:
            self._fail("no_match")
            return
        self.variables[s.store or s.name] = value
        self._run(s.next or "")

    def _no_input(self) -> None:
        s = self.flow.states[self._state or ""]
        if s.type == "digits" and len(self._buffer) >= s.min_digits:
            self._submit(s)  # typed the number but never pressed hash
            return
        self._fail("no_input")

    def _fail(self, kind: str) -> None:
        s = self.flow.states[self._state or ""]
        self._failures += 1
        if kind == "no_input":
            self._silences += 1
        self._buffer = ""
        self.emit(Event("failure", {"state": s.name, "kind": kind, "count": self._failures}))
        if self._failures >= self.flow.defaults.max_failures:
            if s.on_silence and self._silences == self._failures:  # nothing heard at all
                self._run(s.on_silence)
            else:
                self._run(s.on_failures or self.flow.failures_state)
            return
        self._say_key(s, s.reprompt or "")
        self._emit_listen()

    # ----- the global intents -----------------------------------------------------------

    def _global(self, intent: str) -> None:
        target = self.flow.global_intents[intent]
        self._global_from = self._state
        # which question the caller asked to hear again, slower, or to leave for a person (by
        # voice or key): `ivr report` ranks the prompts older callers struggle with
        self.emit(Event("caller_request", {"state": self._state, "intent": intent}))
        if target == "@repeat":
            self._repeat()
        elif target == "@slower":
            self._slower()
        elif target == "@more_time":
            self._say_key(self.flow.states[self._state or ""], "more_time_ack")
            d = self.flow.defaults
            self._emit_listen(d.more_time_s, d.warn_before_timeout_s)
        elif target == "@back":
            self._back()
        else:
            self._run(target)

    def _repeat(self) -> None:
        for say in self._last_says:
            self.emit(say)
        self._emit_listen()

    def _slower(self) -> None:
        d = self.flow.defaults
        s = self.flow.states[self._state or ""]
        new = max(self.rate_wpm - d.rate_step_wpm, d.min_rate_wpm)
        if new >= self.rate_wpm:
            self._say_key(s, "slowest_ack")
        else:
            self.rate_wpm = new
            self._rate_changed = True
            self.emit(SetRate(new))
            self.emit(Event("rate_changed", {"rate_wpm": new, "source": "caller"}))
            if self.customer is not None:
                self.backend.set_preferred_rate(self.customer.id, new)
            self._say_key(s, "slower_ack")
        self._last_says = [
            replace(x, rate_wpm=slow_rate(self.rate_wpm)) if x.rate_wpm else x
            for x in self._last_says
        ]
        self._repeat()

    def _back(self) -> None:
        s = self.flow.states[self._state or ""]
        if s.back == REPEAT:
            self._repeat()
            return
        if s.back:
            self._run(s.back)
            return
        if len(self._history) < 2:
            self._repeat()
            return
        self._run(self._previous_state())


def slow_rate(rate_wpm: int) -> int:
    """The rate of a prompt marked `slow` (reference numbers): a fifth slower, at least 90."""
    return max(round(rate_wpm * 0.8), 90)


def listen_order(phrases: Iterable[str], *own: Collection[str]) -> list[str]:
    """A state's phrase list in the order the recognizer gets it: alphabetical, the dialect's
    own expressions last. A recognizer primed with the list keeps its end when the list is
    too long (`WhisperEngine`), and the dialect's expressions need priming most. With several
    dialects' own expressions (while detecting), they take turns, so each keeps a fair share
    of the end. (Putting the shortest standard phrases last was tried and did no better.)"""
    listed = list(dict.fromkeys(phrases))
    theirs = [sorted(set(o) & set(listed)) for o in own]
    mine = set().union(*theirs) if theirs else set()
    turns: list[str] = []
    for row in itertools.zip_longest(*theirs):
        for p in row:
            if p is not None and p not in turns:
                turns.append(p)
    return sorted(p for p in listed if p not in mine) + turns
