"""What hearing an unknown caller with every candidate dialect's recognizer costs the reply.

Run: .venv/bin/python bench/dialect_latency.py [--calls 8] [--warmup 1] [--voice en-gb-scotland]

One real server in this process (SQLite, PocketSphinx English with each dialect's accent
variants, the TTS cache warmed first). Each call is by a new customer whose profile has no
dialect (so the dialect is detected); they answer the identity question "yes" in `--voice`.
For that first answer it reports end of speech -> first reply audio handed to the socket (the
session's `reply_latency`, server side) and as the caller hears it (client side), p50/p95,
alternating call by call between the words alone (`dialect_model_answers = 0`, the naive
baseline) and the words plus every candidate's recognizer (`= 3`, what calls do now).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ivr.app import build_deps, create_app  # noqa: E402
from ivr.session.events import SessionEvent  # noqa: E402
from ivr.settings import Settings  # noqa: E402
from ivr.twilio.local_server import LocalServer  # noqa: E402
from ivr.twilio.simulator import TwilioCallSimulator  # noqa: E402
from speech.resample import resample_array  # noqa: E402
from speech.tts import VoiceSettings, synthesize  # noqa: E402

TOKEN = "bench-dialect-latency"


def said_in(voice: str, text: str) -> bytes:
    audio = synthesize(text, VoiceSettings(voice=voice, rate_wpm=150))
    return resample_array(audio.samples, audio.sample_rate, 8000).astype("<i2").tobytes()


async def one_call(base: str, phone: str, answer: bytes) -> tuple[str, float | None]:
    async with TwilioCallSimulator(base, TOKEN, from_=phone, speed=2) as call:
        await call.wait_for_mark(
            predicate=lambda n: n.split(":", 1)[1] == "confirm_identity", timeout=120
        )
        said = await call.say_pcm(answer)
        await call.wait_for_audio(timeout=60)
        first = call.first_audio_after(said.end_wall)
        await asyncio.sleep(3.0)  # the candidates decode after the reply starts: let them finish
        await call.hangup()
        return call.call_sid, (first - said.end_wall) if first is not None else None


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    """Run the calls and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=8, help="calls per mode")
    ap.add_argument("--warmup", type=int, default=1, help="rounds not counted (caches)")
    ap.add_argument("--voice", default="en-gb-scotland", help="the caller's espeak-ng voice")
    args = ap.parse_args()
    console = Console()
    events: list[SessionEvent] = []
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            database_url="",
            twilio_auth_token=TOKEN,
            twilio_account_sid="AC" + "0" * 32,
            agent_number="+441632960999",
        )
        deps = build_deps(settings, listeners=[events.append])
        server = LocalServer(create_app(settings, deps))
        base = server.start()
        settings.public_base_url = base
        answer = said_in(args.voice, "yes")
        modes = {"words alone": 0, "words + every recognizer": 3}
        server_ms: dict[str, list[float]] = {m: [] for m in modes}
        client_ms: dict[str, list[float]] = {m: [] for m in modes}
        decode_ms: dict[str, list[float]] = {m: [] for m in modes}
        n = 0
        last_evidence: dict[str, object] = {}
        try:
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task("calls", total=(args.calls + args.warmup) * len(modes))
                for i in range(args.calls + args.warmup):  # first rounds warm caches
                    for mode, answers in modes.items():
                        n += 1
                        deps.dialect_model_answers = answers
                        phone = f"+441632960{700 + n}"
                        deps.store.create_customer(f"Caller {n}", f"5{n:07d}", phone=phone)
                        sid, wall = asyncio.run(one_call(base, phone, answer))
                        progress.advance(task)
                        mine = [e.data for e in events if e.call_sid == sid]
                        kinds = [e.kind for e in events if e.call_sid == sid]
                        lat = [d for d, k in zip(mine, kinds, strict=True) if k == "reply_latency"]
                        found = [
                            d for d, k in zip(mine, kinds, strict=True) if k == "dialect_evidence"
                        ]
                        if found:
                            last_evidence = found[0]
                        if i < args.warmup or not lat:
                            continue
                        server_ms[mode].append(lat[0]["reply_ms"])
                        decode_ms[mode].append(lat[0]["decode_ms"])
                        if wall is not None:
                            client_ms[mode].append(wall * 1000)
        finally:
            server.stop()
    table = Table(title=f"first answer of an unknown caller ({args.voice}, {args.calls} calls)")
    for col in ("mode", "server p50 ms", "server p95 ms", "main decode p50", "heard p50 ms"):
        table.add_column(col, justify="right")
    for mode in modes:
        table.add_row(
            mode,
            f"{pct(server_ms[mode], 50):.0f}",
            f"{pct(server_ms[mode], 95):.0f}",
            f"{pct(decode_ms[mode], 50):.0f}",
            f"{pct(client_ms[mode], 50):.0f}",
        )
    console.print(table)
    a, b = (statistics.median(server_ms[m]) for m in modes)
    console.print(f"added by the candidates' recognizers (server, median): {b - a:+.0f} ms")
    console.print(f"evidence of the last call's first answer: {last_evidence}", markup=False)


if __name__ == "__main__":
    main()
