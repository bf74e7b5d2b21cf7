"""Free-form English word error rate on real telephone prompts: the English engine (Whisper
base as PocketSphinx's listener) and PocketSphinx en-us alone."""

from __future__ import annotations

import pytest
from corpus import long_prompts

from speech.asr.metrics import word_error_rate
from speech.asr.registry import get_engine, recognize
from speech.asr.whisper_engine import PIP_NAMES
from speech.wav import read_wav

N_PROMPTS = 70
# measured on these 70 prompts: Whisper base 0.027 (0.33 CPU-s per audio second); PocketSphinx
# alone 0.520, 0.522 with the live-CMN telephone front end (0.57 on the first 60 by name)
WER_BAR = 0.08
PS_WER_BAR = 0.55


@pytest.mark.slow
def test_free_form_word_error_rate():
    engine = get_engine("en", "pocketsphinx")
    assert engine.listener is not None, f"Whisper base must be installed: pip install {PIP_NAMES}"
    clips = sorted(((read_wav(p.path), p) for p in long_prompts(5)), key=lambda c: c[0].duration)
    clips = clips[:N_PROMPTS]  # the shortest prompts of at least 5 words, to bound the run time
    assert len(clips) >= 60
    refs, hyps, ps_hyps = [], [], []
    for audio, p in clips:
        rec = recognize(engine, audio)
        assert rec.engine == "whisper" and rec.words
        assert all(0 <= w.start <= w.end <= audio.duration + 0.5 for w in rec.words)
        refs.append(" ".join(p.words))
        hyps.append(rec.text)
        ps_hyps.append(recognize(engine.with_listener(None), audio).text)
    wer, ps_wer = word_error_rate(refs, hyps), word_error_rate(refs, ps_hyps)
    seconds = sum(a.duration for a, _ in clips)
    print(
        f"\nfree-form WER ({len(clips)} real 8 kHz prompts of >= 5 words, {seconds:.0f} s of "
        f"audio): Whisper base {wer:.3f}; PocketSphinx en-us alone {ps_wer:.3f}"
    )
    for r, h, ph in list(zip(refs, hyps, ps_hyps, strict=True))[:3]:
        print(f"  ref: {r}\n  whisper: {h}\n  pocketsphinx: {ph}")
    assert wer <= WER_BAR
    assert ps_wer <= PS_WER_BAR
