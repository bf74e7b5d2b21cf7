"""Call benchmark: N simultaneous simulated calls against one server process.

Run: .venv/bin/python bench/calls.py [--calls 20] [--also 5,10,30] [--speech-repeats 1]

The server is a real `ivr serve` in its own process (SQLite, PocketSphinx English, the TTS cache
warmed by one call first). N simulated Twilio callers connect at once, at real time, each:
waits for the identity question, says "yes", then barges in on the main menu with "operator".
For every utterance it measures end of caller speech -> first reply audio received (wall clock),
and reports p50/p95 of that latency and of the latency beyond the configured trailing silence,
the server's CPU use, and late or missing audio frames (playback underruns at the caller, i.e.
the server not keeping real time). The same run repeats with the naive baseline (free-form
decoding of every utterance, as a plain recognition server would do).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ivr.session.simulate import caller_speech  # noqa: E402
from ivr.twilio.simulator import TwilioCallSimulator  # noqa: E402

CALLER = "+441632960001"  # a seeded demo customer, recognised by caller ID
TRAILING_S = 1.2
STAGGER_S = 8.0  # call starts spread uniformly over this many seconds


@dataclass
class RunResult:
    mode: str
    calls: int
    latencies: list[float] = field(default_factory=list)
    failed: int = 0
    not_understood: int = 0
    server_side: list[tuple[float, float]] = field(default_factory=list)
    underruns: int = 0
    late_client_ticks: int = 0
    server_cpu_s: float = 0.0
    wall_s: float = 0.0
    errors: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`ivr serve` in a subprocess with its own data dir."""

    def __init__(self, free_form: bool, data_dir: Path) -> None:
        self.port = _free_port()
        self.token = secrets.token_hex(16)
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "IVR_DATA_DIR": str(data_dir),
            "IVR_TWILIO_AUTH_TOKEN": self.token,
            "IVR_PUBLIC_BASE_URL": self.base,
            "IVR_AGENT_NUMBER": "+441632960999",
            "IVR_ASR_FREE_FORM_EVERYWHERE": "true" if free_form else "false",
        }
        ivr = str(ROOT / ".venv" / "bin" / "ivr")
        subprocess.run([ivr, "db", "seed"], env=env, check=True, capture_output=True)
        self.log_path = data_dir / "server.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [ivr, "serve", "--port", str(self.port)],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.ps = psutil.Process(self.proc.pid)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("server did not start")
        import httpx

        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError("server did not become healthy")
        # steady state: a deployment keeps its TTS cache on disk, so the start-up warm-up
        # (every static prompt of every flow) is done before calls; this fresh data dir must
        # wait for it, or the warm-up's synthesis competes with the measured calls
        warm_deadline = time.monotonic() + 600
        while "static prompts in the TTS cache" not in self.log_path.read_text(errors="replace"):
            if time.monotonic() > warm_deadline or self.proc.poll() is not None:
                raise RuntimeError(f"the TTS warm-up did not finish; see {self.log_path}")
            time.sleep(0.5)

    def cpu_s(self) -> float:
        t = self.ps.cpu_times()
        return t.user + t.system

    def server_side_latencies(self) -> list[tuple[float, float]]:
        """(utterance end -> first reply audio handed to the socket, of which decoding), in
        seconds, from the server's log."""
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            m = re.search(r"reply_latency \{'reply_ms': ([0-9.]+), 'decode_ms': ([0-9.]+)", line)
            if m:
                out.append((float(m.group(1)) / 1000, float(m.group(2)) / 1000))
        return out

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


def key_of(name: str) -> str:
    return name.split(":", 1)[1]


async def one_call(
    server: Server, yes: bytes, operator: bytes, result: RunResult, delay_s: float
) -> None:
    await asyncio.sleep(delay_s)  # callers do not all dial in the same millisecond
    try:
        async with TwilioCallSimulator(server.base, server.token, from_=CALLER, speed=1) as call:
            await call.wait_for_mark(
                predicate=lambda n: key_of(n) == "confirm_identity", timeout=120
            )
            said = await call.say_pcm(yes)
            await call.wait_for_audio(timeout=30)
            first = call.first_audio_after(said.end_wall)
            if first is not None:
                result.latencies.append(first - said.end_wall)
            await call.pause(1.5)  # the reply is playing: barge in on it
            said = await call.say_pcm(operator)
            await call.wait_for_audio(timeout=30)
            first = call.first_audio_after(said.end_wall)
            if first is not None:
                result.latencies.append(first - said.end_wall)
            try:
                await call.wait_closed(timeout=30)  # "operator" understood: handed to a person
            except TimeoutError:
                result.not_understood += 1
                await call.hangup()
            result.underruns += call.underrun_ticks
            result.late_client_ticks += call.late_ticks
    except Exception as exc:  # a failed call is counted, not fatal to the benchmark
        result.failed += 1
        result.errors.append(f"{type(exc).__name__}: {exc}"[:200])


async def run_calls(server: Server, n: int, result: RunResult, progress: Progress) -> None:
    yes, operator = caller_speech("yes"), caller_speech("operator")
    task = progress.add_task(f"{result.mode}: {n} calls", total=n)
    rng = random.Random(n)

    async def tracked(delay_s: float) -> None:
        await one_call(server, yes, operator, result, delay_s)
        progress.advance(task)

    await asyncio.gather(*(tracked(rng.uniform(0, STAGGER_S)) for _ in range(n)))


def measure(mode: str, n: int, progress: Progress) -> RunResult:
    result = RunResult(mode, n)
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(free_form=(mode != "phrase lists"), data_dir=Path(tmp))
        try:
            warm = RunResult(mode, 1)
            asyncio.run(run_calls(server, 1, warm, progress))  # fills the TTS cache
            cpu0, t0 = server.cpu_s(), time.monotonic()
            asyncio.run(run_calls(server, n, result, progress))
            result.server_cpu_s = server.cpu_s() - cpu0
            result.wall_s = time.monotonic() - t0
            result.server_side = server.server_side_latencies()[-len(result.latencies) :]
        finally:
            server.stop()
    return result


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--also", default="", help="more concurrency levels, e.g. 5,30")
    args = ap.parse_args()
    levels = [args.calls] + [int(x) for x in args.also.split(",") if x.strip()]
    console = Console()
    results: list[RunResult] = []
    with Progress(console=console) as progress:
        for n in levels:
            for mode in ("phrase lists", "naive: free-form everywhere"):
                results.append(measure(mode, n, progress))
    table = Table(
        title="end of caller speech -> first reply audio (real-time calls, one process)",
        expand=True,
    )
    for col in (
        "mode",
        "calls",
        "p50 s",
        "p95 s",
        "p95 beyond trailing silence s",
        "server-side p95 s",
        "server CPU %",
        "playback underruns",
        "not understood",
        "failed",
    ):
        table.add_column(col)
    for r in results:
        lat = r.latencies
        table.add_row(
            r.mode,
            str(r.calls),
            f"{statistics.median(lat):.3f}" if lat else "-",
            f"{pct(lat, 95):.3f}" if lat else "-",
            f"{pct(lat, 95) - TRAILING_S:.3f}" if lat else "-",
            (
                f"{pct([a for a, _ in r.server_side], 95):.3f} "
                f"(decode {pct([b for _, b in r.server_side], 95):.3f})"
            )
            if r.server_side
            else "-",
            f"{100 * r.server_cpu_s / r.wall_s:.0f}" if r.wall_s else "-",
            str(r.underruns),
            str(r.not_understood),
            str(r.failed),
        )
    console.print(table)
    console.print(
        "server-side: utterance end detected -> first reply audio handed to the socket "
        "(recognition, dialog, store, TTS); the rest of the latency is the trailing silence "
        "and the transport."
    )
    console.print(
        f"trailing silence {TRAILING_S} s is the endpointer's wait for the caller to finish; "
        "the target is p95 under 0.3 s beyond it with 20 calls on 2 cores."
    )
    for r in results:
        for e in r.errors[:3]:
            console.print(f"[red]{r.mode} x{r.calls}: {e}[/]")


if __name__ == "__main__":
    main()
