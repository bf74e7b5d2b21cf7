"""One call session: caller audio -> endpointer -> recognizer -> dialog -> speech back.

The session is driven by the media adapter (`ivr.twilio.session_api.CallHandler`): audio frames,
DTMF digits and playback marks come in; prompts go out as mu-law audio followed by a mark, so the
session knows what the caller actually heard. Every utterance, prompt and state change is written
to the store as it happens, so a dropped call still leaves a complete transcript.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from dialects.acoustic import CandidateHeard
from dialects.detect import DialectDecision
from ivr.dialog.actions import Event, Hangup, Listen, Say, SetRate, Transfer, UserInput
from ivr.dialog.engine import DialogEngine, listen_order
from ivr.session.cues import CallCues, CueOutcome
from ivr.session.early import EarlyRecognition
from ivr.session.events import SessionEvent
from ivr.session.faults import (
    APOLOGY_KEYS,
    DIALOG_ERROR,
    FALLBACK_SAY,
    DialogFault,
    error_text,
    fault_data,
)
from ivr.session.language import DialectChoice, LanguageRegistry, LanguageSetup
from speech import mulaw
from speech.asr.base import AsyncStream, Engine, Recognition
from speech.asr.phrases import accepted_phrase
from speech.endpointer import (
    Endpointer,
    EndpointerConfig,
    SpeechStarted,
    UtteranceEnded,
)
from speech.pace import SpeakingRate
from speech.tts.rate import reply_rate_for

log = logging.getLogger(__name__)

SAMPLE_RATE = 8000
SAFETY_INTENTS = frozenset({"help", "emergency", "person"})


@dataclass
class SessionDeps:
    """Everything a session needs, shared by all calls of a process."""

    store: Any  # ivr.store.db.Store
    backend: Any  # ivr.dialog.backend.DialogBackend
    engine: Engine
    tts: Any  # speech.tts.TextToSpeech
    bundle: Any  # ivr.flows.DialogBundle (flow, prompts, lexicon)
    voice: Any  # speech.tts VoiceSettings (base voice for the language)
    endpointer_config: EndpointerConfig
    handoffs: Any  # ivr.twilio.handoff.HandoffRegistry
    listeners: list[Callable[[SessionEvent], None]] = field(default_factory=list)
    timeout_warning_s: float = 3.0
    min_confidence: float = 0.0
    free_form_everywhere: bool = False  # the naive benchmark baseline: no phrase lists
    # escalation (issue 6): emergency_contact.service.EscalationService, set by the app
    escalation: Any = None
    # dialects (issue 4): packs, voices and recognizers per dialect; None = `bundle` only
    languages: LanguageRegistry | None = None
    dialect_detection: bool = True
    # for how many first answers every candidate dialect's recognizer also hears an unknown
    # caller (what each understood is detection evidence); 0: the words alone
    dialect_model_answers: int = 3
    # voice cues (issue 5): None switches them off for the deployment
    cue_config: Any = None  # speech.cues.CueConfig
    # outbound calls (issue 8): ivr.outbound.service.OutboundService, set by the app; a call it
    # placed runs the outbound flow for the known customer
    outbound: Any = None


_USABLE: dict[tuple[int, tuple[str, ...]], list[str]] = {}


def usable_phrases(engine: Engine, phrases: list[str]) -> list[str]:
    """`phrases` without those holding words the recognizer cannot hear (cached; logged once).

    A dialect pack validated against another model, or a pronunciation not added yet, must
    never make a whole phrase list fail."""
    key = (id(engine), tuple(phrases))
    found = _USABLE.get(key)
    if found is None:
        missing = set(engine.missing_words(phrases))
        found = [p for p in phrases if not (set(p.split()) & missing)] if missing else phrases
        if missing:
            log.warning(
                "phrases dropped, words unknown to %s: %s",
                getattr(engine, "model_name", engine),
                sorted(missing),
            )
        if len(_USABLE) > 512:
            _USABLE.clear()
        _USABLE[key] = found
    return found


class CallSession:
    """Implements `CallHandler` for one call."""

    def __init__(self, deps: SessionDeps, sink: Any, channel: str = "phone") -> None:
        self.deps = deps
        self.sink = sink
        self.channel = channel
        self.call_sid = ""
        self.dialog: DialogEngine | None = None
        self.endpointer = Endpointer(deps.endpointer_config)
        self.pace = SpeakingRate()
        self.rate_wpm: int = int(getattr(deps.voice, "rate_wpm", 140))
        self.base_rate = self.rate_wpm
        self.setup: LanguageSetup | None = None
        self.engine: Engine | None = deps.engine
        self.voice = deps.voice
        self.choice: DialectChoice | None = None
        self.cues: CallCues | None = None
        self.customer_id: int | None = None
        self.outbound: Any = None  # ivr.outbound.context.OutboundContext: a call we placed
        self.rate_fixed = False  # the caller asked for a rate (or has a stored preference)
        self.samples_in = 0
        self._prompt_seq = 0
        self._pending_marks: dict[str, Say] = {}
        self._interruptible_playing = False
        self._playing = False
        self._listening = False
        self._listen_samples = 0
        self._warned = False
        self._ending = False
        self._stopped = False
        self._failed = False  # a dialog error: the apology and a person are on their way
        self._lock = asyncio.Lock()  # one input handled at a time, in order
        self._tasks: set[asyncio.Task[Any]] = set()
        self._listen: Listen | None = None
        self._early: EarlyRecognition[tuple[Recognition, dict[str, str], bool]] = EarlyRecognition()
        self._queued_keys: list[str] = []
        self._utt_wall: float | None = None
        self._decode_ms = 0.0
        self._early_hit = False  # the last answer's recognition had started early
        self._cues_ms = 0.0
        self._writes: asyncio.Queue[tuple[Callable[..., Any], tuple, dict]] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    # ---- helpers ---------------------------------------------------------------------------
    @property
    def t(self) -> float:
        """Call time: seconds of caller audio received."""
        return self.samples_in / SAMPLE_RATE

    def _emit(self, event_kind: str, **data: Any) -> None:
        ev = SessionEvent(
            event_kind, round(self.t, 3), data, call_sid=self.call_sid, channel=self.channel
        )
        for listener in self.deps.listeners:
            try:
                listener(ev)
            except Exception:  # a broken listener never breaks the call
                log.exception("session listener failed")

    def _write(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Queue a store write for this call's writer: written in order, as it happens, but a
        reply never waits for it (the queue is drained before the call record is closed)."""
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_loop())
        self._writes.put_nowait((fn, args, kwargs))

    async def _write_loop(self) -> None:
        while True:
            fn, args, kwargs = await self._writes.get()
            try:
                await self._db(fn, *args, **kwargs)
            finally:
                self._writes.task_done()

    async def _db(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except Exception:
            log.exception("store write failed (call %s)", self.call_sid)
            return None

    # ---- CallHandler -----------------------------------------------------------------------
    @property
    def failed(self) -> bool:
        """True after a dialog error: the caller is on the way to a person (apology, then a
        transfer) and the dialog hears no more input."""
        return self._failed

    @property
    def handed_on(self) -> bool:
        """True once the call is being handed on (a transfer or hang-up, or after a dialog
        error): the dialog hears no more input."""
        return self._ending or self._failed

    async def on_start(self, start: Any) -> None:
        """Begin the call. Never raises for a fault in the dialog (or in setting it up): the
        caller then hears the apology and goes to a person (`_dialog_failed`)."""
        self.call_sid = start.call_sid
        try:
            await self._begin(start)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._dialog_failed("start", exc)

    async def _begin(self, start: Any) -> None:
        params = dict(getattr(start, "custom_parameters", {}) or {})
        caller = params.get("from") or params.get("From")
        # --- outbound calls (issue 8): a call the service placed (found by its CallSid, which
        # the answer webhook recorded) runs the outbound flow for the known customer
        outbound = self.deps.outbound
        if outbound is not None and self.channel == "phone":
            self.outbound = await self._db(outbound.context_for, self.call_sid)
        extra = self.outbound.call_fields() if self.outbound is not None else {}
        if self.outbound is not None:
            self.channel = "outbound"  # for listeners (metrics); stored as a phone call
        await self._db(
            self.deps.store.start_call,
            call_sid=self.call_sid,
            channel="phone" if self.outbound is not None else self.channel,
            from_number=caller,
            to_number=params.get("to") or params.get("To"),
            **extra,
        )
        bundle = self.outbound.bundle if self.outbound is not None else self.deps.bundle
        prompts, lexicon, dialect, loader = bundle.prompts, bundle.lexicon, None, None
        languages = self.deps.languages
        if self.outbound is not None:
            customer = self.outbound.customer
        else:
            # the caller's profile by caller ID (the dialog still confirms who is speaking)
            customer = (
                await self._db(self.deps.backend.identify_by_phone, caller) if caller else None
            )
        if languages is not None:
            # the caller's own dialect when their profile has one; else detect it
            known = getattr(customer, "dialect", None) if customer else None
            if self.outbound is not None:
                known = self.outbound.dialect or "en"  # one whose wording has the flow
            self._use_setup(await asyncio.to_thread(languages.get, known))
            assert self.setup is not None
            prompts, lexicon, dialect = self.setup.prompts, self.setup.lexicon, self.setup.dialect
            if self.outbound is not None:
                prompts, lexicon = bundle.prompts, bundle.lexicon
            loader = languages.loader
            detect = not known and self.deps.dialect_detection and self.outbound is None
            self.choice = DialectChoice(
                languages,
                self.setup.dialect,
                detect=detect,
                acoustic_answers=self.deps.dialect_model_answers,
                min_confidence=self.deps.min_confidence,
            )
        if self.deps.cue_config is not None:
            await self._start_cues(customer.id if customer else None)
        self.dialog = DialogEngine(
            bundle.flow,
            prompts,
            self.deps.backend,
            caller_phone=caller,
            call_sid=self.call_sid,
            rate_wpm=self.rate_wpm,
            lexicon=lexicon,
            dialect=dialect,
            dialect_loader=loader,
        )
        if self.outbound is not None:  # known customer: the flow only asks "is this ...?"
            self.dialog.pending_customer = self.outbound.customer
            self.dialog.variables.update(self.outbound.variables)
        self._emit("start", caller=caller, dialect=dialect)
        async with self._lock:
            await self._run(await asyncio.to_thread(self.dialog.start))

    async def on_audio(self, payload: bytes) -> None:
        pcm = mulaw.decode(payload)
        self.samples_in += len(payload)
        if self._listening and not self.handed_on:
            self._listen_samples += len(payload)
            await self._maybe_warn()
        for event in self.endpointer.feed(pcm):
            await self._on_endpoint(event)
        self._start_early()

    async def on_dtmf(self, digit: str) -> None:
        if self._listening and self.endpointer.in_utterance:
            # a key pressed while the caller is still speaking (or in the pause after): the
            # words come first ("four seven one nine", then hash), so finish them now
            entry = self._listen is not None and self._listen.digits
            before = self.dialog.state if self.dialog else None
            for event in self.endpointer.flush():
                if isinstance(event, UtteranceEnded):
                    self._listening = False
                    await self._recognise(event)
            if digit == "#" and entry and self.dialog is not None and self.dialog.state != before:
                # the spoken entry was complete: this hash only ended it
                self._emit("dtmf", digit=digit, consumed_by="spoken entry")
                return
        self._emit("dtmf", digit=digit)
        shown = "*" if self._secret() else digit
        self._write(
            self.deps.store.add_segment,
            self.call_sid,
            "caller",
            f"[key {shown}]",
            intent=None,
            confidence=1.0,
            audio_start_s=self.t,
            audio_end_s=self.t,
            extra={"dtmf": True},
        )
        if self._playing and self._interruptible_playing:
            await self._barge_in()
        elif self._playing:
            self._queued_keys.append(digit)  # a safety notice: the key waits until it is heard
            return
        async with self._lock:
            await self._handle(UserInput(kind="dtmf", digits=digit, confidence=1.0))

    async def on_mark(self, name: str) -> None:
        say = self._pending_marks.pop(name, None)
        if say is None:
            return
        self._emit("heard_prompt", key=say.key)
        self._write(self.deps.store.add_event, self.call_sid, "prompt_heard", data={"key": say.key})
        if not self._pending_marks:
            self._playing = False
            self._interruptible_playing = False
            if self._ending:
                await self.sink.close()
                return
            if self._failed:
                return  # the apology and the transfer follow; no more questions
            self._start_listening()
            while self._queued_keys and not self._playing and not self._ending:
                digit = self._queued_keys.pop(0)
                async with self._lock:
                    await self._handle(UserInput(kind="dtmf", digits=digit, confidence=1.0))

    async def on_stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        for task in list(self._tasks):
            task.cancel()
        if self.cues is not None and self.customer_id is not None and self.cues.learned_this_call:
            baseline = self.cues.baseline_dict()
            if baseline is not None:  # kept for the caller's next call
                await self._db(self.deps.store.set_voice_baseline, self.customer_id, baseline)
        await self._writes.join()  # every segment and event is in the store before the close
        if self._writer is not None:
            self._writer.cancel()
        outcome = "handed_off" if self._ending else "caller_hung_up"
        state = self.dialog.state if self.dialog else None
        await self._db(self.deps.store.end_call, self.call_sid, status="completed", outcome=outcome)
        if self.outbound is not None and self.deps.outbound is not None:
            # an outbound call's answers (survey scores, "send me a text") are read now
            await self._db(self.deps.outbound.session_ended, self.call_sid)
        self._emit("stop", outcome=outcome, state=state)

    async def _start_cues(self, customer_id: int | None) -> None:
        """Voice cues for this call: off if the caller opted out; against their stored
        baseline when they have one (else one is learned from their first calm answers)."""
        baseline = None
        if customer_id is not None:
            profile = await self._db(self.deps.store.voice_profile, customer_id)
            if profile is not None and profile.cues_opt_out:
                self.cues = None
                self._emit("cues_off", why="caller opted out")
                return
            baseline = profile.baseline if profile is not None else None
        language = self.setup.language if self.setup else "en"
        self.cues = CallCues(self.deps.cue_config, baseline=baseline, languages=[language])

    def _use_setup(self, setup: LanguageSetup) -> None:
        """Speak and listen in `setup`'s dialect from now on (voice, rate, recognizer)."""
        previous = self.setup
        self.setup = setup
        self.engine = setup.engine
        self.voice = setup.voice
        if previous is None or not self.rate_fixed:
            self.base_rate = setup.voice.rate_wpm
            if not self.rate_fixed:
                self.rate_wpm = self.base_rate

    async def switch_dialect(self, dialect: str, source: str = "staff") -> None:
        """Speak and understand `dialect` from now on (kiosk staff, or an explicit choice): the
        current question is asked again in the new wording, voice and recognizer."""
        if self.dialog is None:
            raise RuntimeError("the call has not started")
        if self._failed:
            raise RuntimeError("the call is on its way to a person after a dialog error")
        if self.deps.languages is not None:
            setup = await asyncio.to_thread(self.deps.languages.get, dialect)
            prompts, lexicon = setup.prompts, setup.lexicon
        else:
            from ivr.flows.packs import language_pack

            lp = await asyncio.to_thread(language_pack, dialect)
            prompts, lexicon = lp.prompts, lp.lexicon
        if self.choice is not None:
            self.choice.chosen(dialect)
        async with self._lock:
            await self._run(
                self.dialog.set_language_pack(prompts, lexicon, dialect=dialect, reask=True)
            )
        self._emit("dialect_chosen", dialect=dialect, source=source)

    async def _dialect_switched(self, dialect: str) -> None:
        """The dialog switched wording (detected, or the caller's choice): follow it."""
        if self.deps.languages is None or (self.setup and self.setup.dialect == dialect):
            return
        self._use_setup(await asyncio.to_thread(self.deps.languages.get, dialect))
        self._emit(
            "dialect",
            dialect=dialect,
            voice=self.voice.voice,
            recognizer=getattr(self.engine, "model_name", None),
        )
        if self.customer_id is not None:
            self._write(self.deps.store.update_customer, self.customer_id, dialect=dialect)

    def _dialect_evidence(
        self, listen: Listen, utt: UtteranceEnded, phrase_list: bool
    ) -> Callable[[], Coroutine[Any, Any, dict[str, CandidateHeard]]] | None:
        """While an unknown caller's dialect is being detected (first answers only): every
        candidate dialect's recognizer is to hear this answer too, in the evidence thread
        (None when not wanted). Started once the reply is on its way: a decode per candidate
        on a small machine would otherwise slow the cue assessment and the reply."""
        choice = self.choice
        if choice is None or not choice.wants_models or not phrase_list:
            return None
        if listen.digits or listen.secret:  # digits tell no dialect apart; a PIN is private
            return None
        intents = set(listen.phrase_intents.values())
        return functools.partial(
            choice.candidate_hearings, utt.audio, utt.sample_rate, intents, usable_phrases
        )

    async def _observe_dialect(self, heard: str, confidence: float) -> None:
        """Give one answer's words to the dialect detector; when it decides, switch."""
        assert self.choice is not None
        await self._switch_dialect(self.choice.observe(heard, confidence))

    async def _observe_hearings(
        self, pending: Awaitable[dict[str, CandidateHeard]], heard: str, confidence: float
    ) -> None:
        """Weigh how the candidates heard an answer once they are ready (a switch they bring
        applies from the next prompt); recorded as `dialect_evidence`."""
        hearings = await pending
        async with self._lock:
            if self.choice is None or self._stopped or self._failed:
                return
            decision = self.choice.observe_hearings(heard, confidence, hearings)
            if hearings and self.choice.evidence:
                data = self.choice.evidence[-1].to_dict()
                self._emit("dialect_evidence", **data)
                self._write(self.deps.store.add_event, self.call_sid, "dialect_evidence", data=data)
            try:
                await self._switch_dialect(decision)
            except DialogFault as fault:
                await self._dialog_failed(fault.where, fault.error)

    async def _switch_dialect(self, decision: DialectDecision | None) -> None:
        """Switch to a detected dialect (wording, then voice, recognizer and profile follow
        the dialog's `dialect_changed`). A pack that cannot be loaded or does not fit the flow
        changes nothing (event `dialect_failed`); any other exception is a `DialogFault`."""
        assert self.dialog is not None
        if decision is None or self.deps.languages is None:
            return
        try:
            lp = await asyncio.to_thread(self.deps.languages.get, decision.dialect)
            actions = self.dialog.set_language_pack(lp.prompts, lp.lexicon, dialect=lp.dialect)
        except (ValueError, OSError) as exc:  # FlowError, PackError: nothing was changed
            log.warning("call %s: dialect %s not used: %s", self.call_sid, decision.dialect, exc)
            data = {"dialect": decision.dialect, "error": error_text(exc), "source": "detected"}
            self._emit("dialect_failed", **data)
            self._write(self.deps.store.add_event, self.call_sid, "dialect_failed", data=data)
            return
        except Exception as exc:
            raise DialogFault("dialect_switch", exc) from exc
        await self._run(actions)

    def _dialect(self) -> str:
        """The dialect the caller is heard in now ("" when the deployment has only one)."""
        if self.setup is not None:
            return self.setup.dialect
        return (self.dialog.dialect if self.dialog is not None else None) or ""

    def _secret(self) -> bool:
        return bool(self._listen and self._listen.secret)

    # ---- input -----------------------------------------------------------------------------
    def _start_listening(self) -> None:
        self._listening = True
        self._listen_samples = 0
        self._warned = False
        self.endpointer.start_listening()

    async def _maybe_warn(self) -> None:
        """Time limits count caller-audio seconds of silence since the last prompt ended."""
        listen = self._listen
        if listen is None or self.endpointer.in_utterance:
            return
        waited = self._listen_samples / SAMPLE_RATE
        warn_at = listen.timeout_s - listen.warn_before_timeout_s
        if not self._warned and listen.warn_before_timeout_s > 0 and waited >= warn_at > 0:
            self._warned = True
            self._emit("timeout_warning", waited_s=round(waited, 2))
            async with self._lock:
                await self._handle(UserInput(kind="timeout_warning"))
        elif waited >= listen.timeout_s:
            self._listening = False
            self._emit("no_input", waited_s=round(waited, 2))
            async with self._lock:
                await self._handle(UserInput(kind="no_input"))

    async def _on_endpoint(self, event: Any) -> None:
        if isinstance(event, SpeechStarted):
            self._emit("speech_started")
            if self._playing and self._interruptible_playing:
                await self._barge_in()
            self._listen_samples = 0
        elif isinstance(event, UtteranceEnded):
            if self._playing or self.handed_on or not self._listening:
                return  # spoke over a notice that cannot be interrupted: not an answer
            self._listening = False  # the answer is in: no time limit while it is understood
            task = asyncio.create_task(self._recognise(event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # NoInput from the endpointer is not used: each dialog state has its own time limit,
        # counted in `_maybe_warn`.

    async def _barge_in(self) -> None:
        self._emit("barge_in")
        await self.sink.send_clear()
        for say in list(self._pending_marks.values()):
            self._write(
                self.deps.store.add_event,
                self.call_sid,
                "prompt_interrupted",
                data={"key": say.key},
            )
        self._pending_marks.clear()
        self._playing = False
        self._interruptible_playing = False
        self._start_listening()

    async def _recognise(self, utt: UtteranceEnded) -> None:
        try:
            await self._recognise_inner(utt)
        except asyncio.CancelledError:
            raise
        except DialogFault as fault:  # the dialog, not the recognizer, failed on this answer
            async with self._lock:
                await self._dialog_failed(fault.where, fault.error)
        except Exception:
            # one bad utterance must never end or stall the call: treat it as not understood
            log.exception("recognition failed (call %s)", self.call_sid)
            self._emit("error", where="recognition")
            async with self._lock:
                await self._handle(UserInput(kind="no_match"))

    async def _decode(
        self, listen: Listen, audio: bytes, sample_rate: int
    ) -> tuple[Recognition, dict[str, str], bool]:
        """Recognise one answer to `listen` (its phrase list with the dialect's extra phrases,
        or free form): (the result, the extra phrases -> intents, whether a list was used)."""
        engine = self.engine
        assert engine is not None
        free = listen.free_form or self.deps.free_form_everywhere
        phrases = None if free else list(listen.phrases)
        extra: dict[str, str] = {}
        if phrases and not listen.digits and self.choice is not None:
            extra = {
                p: i
                for p, i in self.choice.extra_phrases(set(listen.phrase_intents.values())).items()
                if p not in listen.phrase_intents
            }
            if extra:
                phrases = listen_order([*phrases, *extra], *self.choice.own_expressions())
        if phrases:
            phrases = usable_phrases(engine, phrases)
        stream = AsyncStream(
            engine.open_stream(
                sample_rate,
                phrases,
                **(
                    {"sequence": True, "alone": self._commands(listen, phrases)}
                    if listen.digits and phrases
                    else {}
                ),
            )
        )
        await stream.accept(audio)
        return await stream.finish(), extra, bool(phrases)

    def _start_early(self) -> None:
        """Start recognising the answer during its trailing silence, on the audio it will hold
        if the caller says no more (`ivr.session.early`)."""
        listen = self._listen
        if not self._listening or self._playing or self.handed_on or listen is None:
            return
        if self.engine is None:
            return
        settled = self.endpointer.settled_audio()
        if settled is not None:
            rate = self.endpointer.sample_rate
            self._early.offer(
                listen, self.engine, settled[1], lambda audio: self._decode(listen, audio, rate)
            )

    async def _recognise_inner(self, utt: UtteranceEnded) -> None:
        self._utt_wall = time.monotonic()
        listen = self._listen
        if listen is None:
            return
        if self.engine is None:
            # no recognizer for this dialect: the caller is asked to use the keypad
            self._emit("speech_ignored", why="no recognizer installed for this dialect")
            async with self._lock:
                await self._handle(UserInput(kind="no_match"))
            return
        early = self._early.take(listen, self.engine, utt.audio)
        self._early_hit = early is not None
        if early is not None:  # decoded during the trailing silence (ivr.session.early)
            rec, extra, phrase_list = await early
        else:
            rec, extra, phrase_list = await self._decode(listen, utt.audio, utt.sample_rate)
        evidence = self._dialect_evidence(listen, utt, phrase_list)
        self._decode_ms = (time.monotonic() - self._utt_wall) * 1000
        self.pace.add(len(rec.words), utt.speech_s)
        if not self.rate_fixed and self.pace.caller_wpm:
            self.rate_wpm = reply_rate_for(self.pace.caller_wpm, base=self.base_rate)
        outcome = None
        # digit entries are not assessed: pauses between digits are not distress, and a PIN's
        # audio is nobody's business
        if self.cues is not None and not listen.digits and not listen.secret:
            t_cues = time.monotonic()
            outcome = await self.cues.assess(
                utt.audio, utt.sample_rate, rec.text, list(utt.pauses), utt.start_s
            )
            self._cues_ms = (time.monotonic() - t_cues) * 1000
        async with self._lock:
            await self._on_recognition(rec, utt, extra, outcome, pending=evidence)

    async def _on_recognition(
        self,
        rec: Recognition,
        utt: UtteranceEnded,
        extra: dict[str, str] | None = None,
        outcome: CueOutcome | None = None,
        pending: Callable[[], Coroutine[Any, Any, dict[str, float]]] | None = None,
    ) -> None:
        assert self.dialog is not None
        listen = self._listen
        if listen is None:
            return
        phrase: str | None = None
        if listen.free_form or self.deps.free_form_everywhere:
            heard = rec.text.strip()
            inp = UserInput(
                kind="speech" if heard else "no_match",
                text=heard,
                intent=self._intent_for(heard) if heard else None,
                confidence=rec.confidence,
            )
        elif (phrase := self._accepted_phrase(rec, listen, extra)) is None:
            # Asymmetric costs: a doubtful "help" or "a person" is still honoured (a needless
            # transfer costs a minute; an ignored cry for help can cost far more).
            doubtful = self._intent_for(rec.text) if rec.text.strip() else None
            if doubtful in SAFETY_INTENTS:
                inp = UserInput(
                    kind="speech",
                    text=rec.text,
                    phrase=rec.phrase,
                    intent=doubtful,
                    confidence=rec.confidence,
                )
            else:
                inp = UserInput(kind="no_match", text=rec.text, confidence=rec.confidence)
        else:
            intent = listen.phrase_intents.get(phrase) or (extra or {}).get(phrase)
            inp = UserInput(
                kind="speech",
                text=rec.text,
                phrase=phrase,
                intent=intent or self._intent_for(phrase),
                confidence=rec.confidence,
            )
        if self.choice is not None:  # the words now; the candidates' evidence when it is ready
            await self._observe_dialect(phrase or "", rec.confidence)
        self._emit(
            "heard",
            text="***" if listen.secret else rec.text,
            intent=inp.intent,
            confidence=round(rec.confidence, 3),
            input_kind=inp.kind,
            dialect=self._dialect(),
        )
        seg_extra: dict[str, Any] = {"phrase": rec.phrase, "engine": rec.engine, "input": inp.kind}
        if self.setup is not None:
            seg_extra["dialect"] = self.setup.dialect
        if outcome is not None:
            a = outcome.assessment
            seg_extra.update(
                distress=round(a.distress, 3),
                level=a.level,
                cues=[c.to_dict() for c in a.cues],
                contributions={k: round(v, 3) for k, v in a.contributions.items()},
            )
            self._emit(
                "cues",
                distress=round(a.distress, 3),
                level=a.level,
                cues=[c.name for c in a.cues],
                baseline_used=a.baseline_used,
            )
        self._write(
            self.deps.store.add_segment,
            self.call_sid,
            "caller",
            "(spoken, not recorded)" if listen.secret else rec.text,
            intent=inp.intent,
            confidence=rec.confidence,
            audio_start_s=utt.start_s,
            audio_end_s=utt.end_s,
            extra=seg_extra,
        )
        self._listening = False
        if outcome is not None and outcome.calm_down:
            await self._calm_down()
        await self._handle(inp)
        if pending is not None and self.choice is not None and self.choice.wants_models:
            # the reply is on its way (and the words alone did not decide)
            task = asyncio.create_task(
                self._observe_hearings(pending(), phrase or "", rec.confidence)
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if outcome is not None and outcome.escalate and not self._ending:
            await self._escalate_on_cues(outcome)

    def _intent_for(self, text: str) -> str | None:
        """The dialog's reading of an answer; its failure is a `DialogFault` (not a bad
        utterance to be asked again)."""
        assert self.dialog is not None
        try:
            return self.dialog.intent_for(text)
        except Exception as exc:
            raise DialogFault("speech", exc) from exc

    @staticmethod
    def _commands(listen: Listen, phrases: list[str]) -> list[str]:
        """In a digit entry, the phrases that are commands ("person", "repeat"): heard only as
        a whole answer, never inside a run of digits."""
        return [p for p in phrases if listen.phrase_intents.get(p) != "digits"]

    def _accepted_phrase(
        self, rec: Recognition, listen: Listen, extra: dict[str, str] | None
    ) -> str | None:
        """The phrase heard, if confident enough for this service (`min_confidence`): the
        engine's own threshold was fitted on studio-quality prompts, so a clearly heard list
        phrase with a modest score is not thrown away and the caller asked again."""
        known = {**listen.phrase_intents, **(extra or {})}
        phrase = accepted_phrase(
            rec.phrase,
            rec.text,
            rec.confidence,
            rec.rejected,
            known,
            self.deps.min_confidence,
            rec.doubted,
        )
        if phrase is None and listen.digits and rec.text.strip() and not rec.doubted:
            if rec.confidence >= self.deps.min_confidence:
                return " ".join(rec.text.lower().split())  # the dialog checks a digit string
        return phrase

    async def _calm_down(self) -> None:
        """Distress rising: slower, calmer speech for the rest of the call; a person offered."""
        self.rate_wpm = max(110, min(self.rate_wpm, self.base_rate) - 15)
        self.rate_fixed = True
        self._emit("calm_down", rate=self.rate_wpm)
        text = self._prompt_text("calm_offer_person")
        if text:
            await self._say(Say("calm_offer_person", text, True))

    async def _escalate_on_cues(self, outcome: CueOutcome) -> None:
        """Distress is high (or words of danger): hand the call to the escalation flow."""
        self._emit(
            "cue_escalation", reason=outcome.reason, distress=round(outcome.assessment.distress, 3)
        )
        text = self._prompt_text("transfer_distress")
        actions: list[Any] = [Say("transfer_distress", text, False)] if text else []
        actions.append(Transfer(outcome.reason, "urgent", self.customer_id))
        await self._run(actions)

    def _prompt_text(self, key: str) -> str:
        """The raw text of prompt `key` in the call's wording ("" if it has none)."""
        prompts = self.dialog.prompts if self.dialog is not None else None
        if prompts is None and self.setup is not None:
            prompts = self.setup.prompts  # the dialog could not be built: the caller's wording
        if prompts is not None and key in prompts:
            return prompts.texts[key]
        return self.deps.bundle.prompts.texts.get(key, "")

    async def _handle(self, inp: UserInput) -> None:
        """One input to the dialog and its reply (called holding `_lock`). An exception in
        the dialog or in performing its reply never leaves the caller in silence: see
        `_dialog_failed`."""
        if self.handed_on or self.dialog is None:
            return  # handed on (or being handed on after a fault): the dialog hears no more
        try:
            before = self.dialog.state
            # the dialog may call the store (PIN checks take ~0.1 s): keep it off the event loop
            actions = await asyncio.to_thread(self.dialog.handle, inp)
            if self.dialog.state != before:
                self._emit("state", before=before, after=self.dialog.state)
            await self._run(actions)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self._dialog_failed(inp.kind, exc)
            return
        if not self._pending_marks and not self._ending:
            self._start_listening()  # nothing to play (e.g. one more digit): keep listening

    # ---- dialog errors ---------------------------------------------------------------------
    async def _dialog_failed(self, where: str, error: BaseException) -> None:
        """An exception escaped a dialog entry point (`where`: start, dtmf, speech, no_input,
        ...). It is logged and stored (event `dialog_error`); the caller hears the apology
        (`step_failed`, then `transfer_person`) and is transferred with the reason
        "dialog_error", as an explicit request for a person is (escalation, hand-off package).
        Called with or without `_lock` held; never raises."""
        state = self.dialog.state if self.dialog is not None else None
        data = fault_data(where, state, error)
        log.error(
            "dialog error on %s in state %s (call %s, %s): %s",
            where,
            state,
            self.call_sid,
            self.channel,
            data["error"],
            exc_info=error,
        )
        self._emit(DIALOG_ERROR, **data)
        self._write(self.deps.store.add_event, self.call_sid, DIALOG_ERROR, data=data)
        if self.handed_on or self._stopped:
            return  # already on its way to a person (or the caller has gone)
        self._failed = True
        self._listening = False
        self._queued_keys.clear()
        try:
            actions: list[Any] = []
            for key in APOLOGY_KEYS:
                text = self._prompt_text(key)
                if text:
                    actions.append(Say(key, text, False))
            actions.append(Transfer(DIALOG_ERROR, "normal", self.customer_id))
            await self._run(actions)
        except asyncio.CancelledError:
            raise
        except Exception as again:
            log.error(
                "call %s: the apology after a dialog error failed too; handing on without it",
                self.call_sid,
                exc_info=again,
            )
            await self._hand_on_anyway()

    async def _hand_on_anyway(self) -> None:
        """Last resort after a dialog error (our own speech failed as well): Twilio says
        `FALLBACK_SAY` (English calls, when nothing of the apology is still playing) and dials a
        person; a kiosk page is told the conversation has ended. Never raises."""
        from ivr.twilio.handoff import Handoff

        if self.dialog is not None:
            language = self.dialog.language
        else:
            language = self.setup.language if self.setup else self.deps.bundle.prompts.language
        english = (language or "").split("-")[0] == "en"
        say_text = FALLBACK_SAY if english and not self._pending_marks else ""
        try:
            await self._hand_on(
                Transfer(DIALOG_ERROR, "normal", self.customer_id),
                say_text=say_text,
                notices=False,
            )
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("call %s: hand-off after a dialog error failed", self.call_sid)
        self._ending = True
        self._pending_marks.clear()
        try:
            self.deps.handoffs.set(
                self.call_sid, Handoff(kind="agent", reason=DIALOG_ERROR, say_text=say_text)
            )
            await self.sink.close()
        except Exception:
            log.exception("call %s: could not close the stream after a dialog error", self.call_sid)

    # ---- actions ---------------------------------------------------------------------------
    async def _run(self, actions: list[Any]) -> None:
        for action in actions:
            if isinstance(action, Say):
                await self._say(action)
            elif isinstance(action, SetRate):
                self.rate_wpm = action.wpm
                self.rate_fixed = True
                self._emit("rate", wpm=action.wpm)
            elif isinstance(action, Event):
                if action.kind == "customer_identified":
                    first = self.customer_id is None
                    self.customer_id = int(action.data["customer_id"])
                    if (
                        first
                        and self.deps.cue_config is not None
                        and (self.cues is None or self.cues.learned_this_call == 0)
                    ):
                        await self._start_cues(self.customer_id)  # their own baseline, or off
                    self._write(
                        self.deps.store.identify_call, self.call_sid, action.data["customer_id"]
                    )
                    if first and self.choice is not None and self.choice.detected is not None:
                        # detected before the caller said who they are: remember it now
                        self._write(
                            self.deps.store.update_customer,
                            self.customer_id,
                            dialect=self.choice.current,
                        )
                elif action.kind == "dialect_requested" and self.choice is not None:
                    self.choice.chosen(str(action.data.get("dialect", "")))
                elif action.kind == "dialect_changed":
                    await self._dialect_switched(str(action.data.get("to") or ""))
                elif action.kind == "rate_changed":
                    self.rate_wpm = int(action.data["rate_wpm"])
                    self.rate_fixed = True
                self._write(self.deps.store.add_event, self.call_sid, action.kind, data=action.data)
            elif isinstance(action, Transfer | Hangup):
                await self._hand_on(action)
            elif isinstance(action, Listen):
                self._listen = action  # what the caller may say now, and the time limits

    async def _say(self, say: Say) -> None:
        voice = self._voice(say.rate_wpm)
        audio = await self.deps.tts.render_telephone_async(say.text, voice)
        self._prompt_seq += 1
        name = f"p{self._prompt_seq}:{say.key}"
        self._pending_marks[name] = say
        self._playing = True
        self._interruptible_playing = say.interruptible and (
            self._interruptible_playing or len(self._pending_marks) == 1
        )
        self._listening = False
        self._emit("prompt", key=say.key, text=say.text, rate=voice.rate_wpm, voice=voice.voice)
        self._write(
            self.deps.store.add_segment,
            self.call_sid,
            "system",
            say.text,
            intent=say.key,
            confidence=1.0,
            audio_start_s=self.t,
            audio_end_s=self.t,
        )
        if self._utt_wall is not None:
            # end of speech detected -> first reply audio handed to the transport
            reply_ms = (time.monotonic() - self._utt_wall) * 1000
            self._emit(
                "reply_latency",
                reply_ms=round(reply_ms, 1),
                decode_ms=round(self._decode_ms, 1),
                cues_ms=round(self._cues_ms, 1),
                early=self._early_hit,
            )
            self._utt_wall = None
        await self.sink.send_audio(audio)
        await self.sink.send_mark(name)

    def _voice(self, rate_wpm: int | None = None) -> Any:
        return self.voice.with_(rate_wpm=rate_wpm or self.rate_wpm)

    async def _hand_on(
        self, action: Transfer | Hangup, *, say_text: str = "", notices: bool = True
    ) -> None:
        """Hand the call on: an escalation for a transfer (its safety notices spoken unless
        `notices` is False), the decision for `/twilio/next` (`say_text`: said by Twilio
        before it dials or hangs up), and the stream closed once the last prompt has played."""
        from ivr.twilio.handoff import Handoff

        kind = "agent" if isinstance(action, Transfer) else "hangup"
        # --- escalation (issue 6, emergency_contact): every transfer starts (or joins) an
        # escalation: agent queue + hand-off package, emergency contacts as the policy says.
        # Life-threatening words: the caller first hears, slowly and twice, how to reach the
        # emergency services (notices are safety prompts: not interruptible).
        if isinstance(action, Transfer) and self.deps.escalation is not None:
            await self._writes.join()  # the escalation reads the transcript so far
            decision = await self._db(
                self.deps.escalation.on_transfer,
                self.call_sid,
                action.customer_id or self.customer_id,
                action.reason,
                action.priority,
                channel=self.channel,
                cues=self.cues.timeline if self.cues is not None else None,
            )
            if decision is not None:
                self._emit(
                    "escalation",
                    id=decision.escalation_id,
                    severity=decision.severity,
                    trigger=decision.trigger.kind,
                )
                for notice in decision.notices if notices else ():
                    for _ in range(notice.repeat):
                        say = Say(notice.key, notice.text, False, notice.rate_wpm)
                        await self._say(say)
        # --- end escalation
        self._ending = True
        self.deps.handoffs.set(
            self.call_sid, Handoff(kind=kind, reason=action.reason, say_text=say_text)
        )
        self._write(
            self.deps.store.add_event,
            self.call_sid,
            f"handoff_{kind}",
            data={"reason": action.reason},
        )
        self._emit("action", kind=kind, reason=action.reason)
        if not self._pending_marks:
            await self.sink.close()
