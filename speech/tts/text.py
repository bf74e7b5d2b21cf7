"""Plain-text prompt parsing for slow, clear speech: sentences, key words, pause markers.

A prompt is plain text. It is cut into pieces that the engine speaks one at a time, with exact
digital silence between them:

- **Sentences** are separated by `sentence_pause_s` of silence. A sentence ends at `.`, `!`,
  `?` (or `。！？`) followed by a space and a capital letter, digit or non-Latin character, or
  at a blank line; common abbreviations ("Mr.", "Dr.", "e.g.", "a.m." ...) and decimals
  ("3.50") do not end a sentence.
- **Key words** (amounts such as "$12.50" or "25 dollars", dates such as "12/03/2024" or
  "March 3rd", times such as "3:30 pm", reference numbers such as "4 7 1 9", "AB-48213" or
  "482137", and any other number) get `keyword_pause_s` of silence before and after. Digits of
  a reference number are read one at a time with half that pause between them.
- **Pause markers** ask for silence explicitly: `[pause]` (one sentence pause), `[pause 1.5]`
  or `[pause 1.5s]` (seconds), `[pause 500ms]` (milliseconds); case-insensitive, at most
  `MAX_MARKER_S` seconds each. A marker *replaces* the automatic pause where it stands (two
  markers in a row add up); markers at the very start or end give leading or trailing silence.
  A malformed marker (`[pause soon]`) raises `PromptSyntaxError`; other bracketed text is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_MARKER_S = 10.0
MAX_PROMPT_CHARS = 5000


class PromptSyntaxError(ValueError):
    """The prompt text cannot be spoken as written; the message says where and why."""


@dataclass(frozen=True)
class Speak:
    """A piece of text the engine speaks in one go."""

    text: str
    kind: str = "text"  # "text", or the key-word kind: amount, date, time, digits, number...


@dataclass(frozen=True)
class Pause:
    """Silence between pieces. `explicit` pauses come from markers and override automatic ones."""

    seconds: float
    explicit: bool = False


Segment = Speak | Pause


@dataclass(frozen=True)
class KeySpan:
    """A key word found in a sentence: `sentence[start:end]` is of `kind`."""

    start: int
    end: int
    kind: str
    text: str


# ---------------------------------------------------------------- pause markers

_MARKER = re.compile(r"\[\s*pause\b([^\]]*)\]", re.IGNORECASE)
_MARKER_OPEN = re.compile(r"\[\s*pause\b", re.IGNORECASE)
_MARKER_ARG = re.compile(r"^\s*(?:(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|sec|secs|seconds?)?)?\s*$", re.I)


def parse_markers(text: str) -> list[str | float | None]:
    """Split `text` at pause markers: text chunks (str) and marker pauses in seconds (float, or
    None for a bare `[pause]`, meaning one sentence pause)."""
    out: list[str | float | None] = []
    pos = 0
    for m in _MARKER.finditer(text):
        if m.start() > pos:
            out.append(text[pos : m.start()])
        arg = _MARKER_ARG.match(m.group(1))
        if arg is None:
            raise PromptSyntaxError(
                f"bad pause marker {m.group(0)!r} at character {m.start()}: "
                "write [pause], [pause 1.5], [pause 1.5s] or [pause 500ms]"
            )
        if arg.group(1) is None:
            if arg.group(2):
                raise PromptSyntaxError(f"pause marker {m.group(0)!r} has a unit but no number")
            out.append(None)
        else:
            seconds = float(arg.group(1))
            if (arg.group(2) or "s").lower() == "ms":
                seconds /= 1000.0
            if seconds > MAX_MARKER_S:
                raise PromptSyntaxError(
                    f"pause marker {m.group(0)!r} asks for {seconds:g} s; "
                    f"the most is {MAX_MARKER_S:g} s"
                )
            out.append(seconds)
        pos = m.end()
    rest = text[pos:]
    unclosed = _MARKER_OPEN.search(rest)
    if unclosed:
        raise PromptSyntaxError(
            f"unclosed pause marker at character {pos + unclosed.start()}: missing ']'"
        )
    if rest:
        out.append(rest)
    return out


# ---------------------------------------------------------------- sentences

_ABBREVIATIONS = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "st",
    "mt",
    "jr",
    "sr",
    "prof",
    "no",
    "nos",
    "vs",
    "etc",
    "e.g",
    "i.e",
    "a.m",
    "p.m",
    "approx",
    "dept",
    "tel",
    "ext",
    "inc",
    "ltd",
    "co",
    "ave",
    "rd",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
}

# terminal punctuation (plus closing quotes/brackets), then the gap before the next sentence
_LATIN_END = re.compile(r"[.!?]+[\"'\u201d\u2019)\]]*(\s+)")
_CJK_END = re.compile(r"[\u3002\uff01\uff1f]+[\"'\u201d\u2019\u300d\u300f)\]]*\s*")
_BLANK_LINE = re.compile(r"\n\s*\n")


def _ends_sentence(text: str, m: re.Match[str]) -> bool:
    nxt = text[m.end() : m.end() + 1]
    if not nxt:
        return True
    punct = text[m.start() : m.end()].strip()
    if punct.startswith(".") and not punct.startswith(("..", ".!", ".?")):
        before = re.search(r"([A-Za-z](?:[A-Za-z.]*[A-Za-z])?)$", text[: m.start()])
        if before and before.group(1).lower() in _ABBREVIATIONS:
            return False
        # a single capital letter before the dot is an initial ("J. Smith")
        if before and len(before.group(1)) == 1 and before.group(1).isupper():
            return False
    return nxt.isupper() or nxt.isdigit() or not nxt.isascii() or nxt in "\"'(["


def split_sentences(text: str) -> list[str]:
    """Split plain text into sentences (stripped, empty ones dropped)."""
    sentences: list[str] = []
    for block in _BLANK_LINE.split(text):
        start = 0
        cuts: list[int] = []
        for m in _LATIN_END.finditer(block):
            if _ends_sentence(block, m):
                cuts.append(m.start(1))
        for m in _CJK_END.finditer(block):
            cuts.append(m.end())
        for cut in sorted(set(cuts)):
            if cut > start:
                sentences.append(block[start:cut])
                start = cut
        sentences.append(block[start:])
    return [s.strip() for s in (" ".join(x.split()) for x in sentences) if s.strip()]


# ---------------------------------------------------------------- key words

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_ORD = r"(?:st|nd|rd|th)?"
_NUM = r"\d[\d,]*(?:\.\d+)?"
_CURRENCY_WORDS = r"(?:dollars?|cents?|pounds?|pence|euros?|won|yuan|yen|percent|per\s+cent)"

_KEY = re.compile(
    "|".join(
        [
            rf"(?P<amount>[$£€¥₩]\s?{_NUM}(?:\s?(?:million|billion|thousand))?"
            rf"|\b{_NUM}\s?(?:%|{_CURRENCY_WORDS}\b))",
            rf"(?P<date>\b\d{{1,4}}[/.-]\d{{1,2}}[/.-]\d{{1,4}}\b"
            rf"|\b{_MONTH}\s+\d{{1,2}}{_ORD}\b(?:,?\s+\d{{4}}\b)?"
            rf"|\b\d{{1,2}}{_ORD}\s+(?:of\s+)?{_MONTH}(?:\s+\d{{4}}\b)?)",
            r"(?P<time>\b\d{1,2}:\d{2}(?:\s?[ap]\.?m\b\.?)?|\b\d{1,2}\s?[ap]\.?m\b\.?)",
            r"(?P<digits>\b\d(?:[ \-]\d){2,}\b)",
            r"(?P<reference>\b[A-Z]{1,4}-?\d{3,}\b|\b\d{5,}\b(?![.,]\d))",
            rf"(?P<number>\b{_NUM}{_ORD}\b)",
        ]
    ),
    re.IGNORECASE,
)


def find_key_spans(sentence: str) -> list[KeySpan]:
    """Key words in a sentence (amounts, dates, times, reference numbers, numbers), in order."""
    spans = []
    for m in _KEY.finditer(sentence):
        kind = m.lastgroup or "number"
        text = m.group(0).rstrip(",")
        spans.append(KeySpan(m.start(), m.start() + len(text), kind, text))
    return spans


def _key_pieces(span: KeySpan, digit_pause_s: float) -> list[Segment]:
    """A key word as speakable pieces: references are read digit by digit."""
    if span.kind == "digits":
        digits = re.findall(r"\d", span.text)
    elif span.kind == "reference":
        m = re.match(r"([A-Za-z]*)-?(\d+)$", span.text)
        digits = ([m.group(1)] if m and m.group(1) else []) + list(m.group(2) if m else span.text)
    else:
        return [Speak(span.text, span.kind)]
    out: list[Segment] = []
    for i, d in enumerate(digits):
        if i:
            out.append(Pause(digit_pause_s))
        out.append(Speak(d, span.kind))
    return out


def _speakable(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _sentence_pieces(sentence: str, keyword_pause_s: float) -> list[Segment]:
    out: list[Segment] = []
    pos = 0
    for span in find_key_spans(sentence):
        before = sentence[pos : span.start].strip()
        if _speakable(before):
            out.append(Speak(before))
        out.append(Pause(keyword_pause_s))
        out.extend(_key_pieces(span, keyword_pause_s / 2.0))
        out.append(Pause(keyword_pause_s))
        pos = span.end
    after = sentence[pos:].strip()
    if _speakable(after):
        out.append(Speak(after))
    return out


def plan(text: str, sentence_pause_s: float, keyword_pause_s: float) -> list[Segment]:
    """Turn a prompt into alternating `Speak` pieces and `Pause`s (one pause between two pieces,
    explicit marker pauses at the start or end kept)."""
    if len(text) > MAX_PROMPT_CHARS:
        raise PromptSyntaxError(
            f"prompt is {len(text)} characters; the most is {MAX_PROMPT_CHARS}: split it"
        )
    raw: list[Segment] = []
    for chunk in parse_markers(text):
        if chunk is None:
            raw.append(Pause(sentence_pause_s, explicit=True))
        elif isinstance(chunk, float):
            raw.append(Pause(chunk, explicit=True))
        else:
            for sentence in split_sentences(chunk):
                raw.extend(_sentence_pieces(sentence, keyword_pause_s))
                raw.append(Pause(sentence_pause_s))
    return _merge_pauses(raw)


def _merge_pauses(raw: list[Segment]) -> list[Segment]:
    out: list[Segment] = []
    run: list[Pause] = []

    def flush(edge: bool) -> None:
        explicit = [p.seconds for p in run if p.explicit]
        if explicit:
            total = sum(explicit)
            if total > 0:
                out.append(Pause(total, explicit=True))
        elif run and not edge:
            out.append(Pause(max(p.seconds for p in run)))
        run.clear()

    for seg in raw:
        if isinstance(seg, Pause):
            run.append(seg)
        else:
            flush(edge=not out)
            out.append(seg)
    flush(edge=True)
    return out


def speech_text(segments: list[Segment]) -> str:
    """The spoken words of a plan, joined (for logs and tests)."""
    return " ".join(s.text for s in segments if isinstance(s, Speak))
