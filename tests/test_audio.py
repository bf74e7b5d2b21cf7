"""speech/ audio basics: G.711 mu-law, resampling, WAV validation, frame chunking."""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest

from speech import mulaw
from speech.frames import FrameBuffer, chunk, frame_bytes
from speech.resample import StreamResampler, resample_array, resample_pcm16
from speech.wav import Audio, AudioFormatError, read_wav, wav_bytes, write_wav

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the CPython reference G.711 coder (Python 3.11; removed in 3.13)

ALL_PCM = np.arange(-32768, 32768, dtype=np.int32).astype("<i2")
ALL_CODES = bytes(range(256))


# ---------------------------------------------------------------- mu-law


def test_mulaw_encode_bit_exact_for_every_pcm16_value() -> None:
    ours = mulaw.encode(ALL_PCM.tobytes())
    ref = audioop.lin2ulaw(ALL_PCM.tobytes(), 2)
    assert len(ours) == 65536
    diff = np.flatnonzero(np.frombuffer(ours, np.uint8) != np.frombuffer(ref, np.uint8))
    assert diff.size == 0, f"{diff.size} values differ, first PCM {int(ALL_PCM[diff[0]])}"
    assert mulaw.encode_array(ALL_PCM) == ref


def test_mulaw_decode_bit_exact_for_every_code() -> None:
    assert mulaw.decode(ALL_CODES) == audioop.ulaw2lin(ALL_CODES, 2)
    assert mulaw.decode_array(ALL_CODES).tobytes() == audioop.ulaw2lin(ALL_CODES, 2)


@pytest.mark.parametrize(
    "code, value",
    [
        (0xFF, 0),  # G.711 table: 0xFF and 0x7F are the two zeros
        (0x7F, 0),
        (0x80, 32124),  # largest positive level
        (0x00, -32124),  # largest negative level
        (0xFE, 8),  # first step of segment 0
        (0xEF, 132),  # segment 1 starts at 132 (bias)
        (0x8F, 16764),  # smallest level of segment 7
    ],
)
def test_mulaw_g711_table_values(code: int, value: int) -> None:
    assert int(mulaw.decode_array(bytes([code]))[0]) == value


@pytest.mark.parametrize(
    "pcm, code",
    [(0, 0xFF), (32767, 0x80), (-32768, 0x00), (8, 0xFE), (-8, 0x7E), (1000, 0xCE)],
)
def test_mulaw_encode_known_values(pcm: int, code: int) -> None:
    assert mulaw.encode(struct.pack("<h", pcm)) == bytes([code])


def test_mulaw_round_trip_is_idempotent_and_rejects_odd_pcm() -> None:
    once = mulaw.decode(mulaw.encode(ALL_PCM.tobytes()))
    assert mulaw.decode(mulaw.encode(once)) == once
    assert mulaw.encode(mulaw.decode(ALL_CODES)) == bytes(
        c if c != 0x7F else 0xFF for c in ALL_CODES
    )  # both zero codes decode to 0, which encodes as 0xFF
    with pytest.raises(ValueError, match="even number"):
        mulaw.encode(b"\x00\x01\x02")


# ---------------------------------------------------------------- resampling


def _tone(rate: int, seconds: float, freq: float = 1000.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return np.round(amp * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def _peak_freq_and_amp(x: np.ndarray, rate: int) -> tuple[float, float]:
    x = x.astype(np.float64)[len(x) // 10 : -len(x) // 10]  # skip filter edges
    win = np.hanning(len(x))
    spec = np.abs(np.fft.rfft(x * win))
    k = int(np.argmax(spec))
    freq = k * rate / len(x)
    rms = float(np.sqrt(np.mean(x**2)))
    return freq, rms * np.sqrt(2) / 32767


@pytest.mark.parametrize(
    "src, dst", [(8000, 16000), (16000, 8000), (8000, 22050), (22050, 8000), (16000, 22050)]
)
def test_resample_keeps_length_frequency_and_amplitude(src: int, dst: int) -> None:
    x = _tone(src, 1.0)
    y = resample_array(x, src, dst)
    assert y.dtype == np.int16
    assert abs(len(y) - dst) <= 1
    freq, amp = _peak_freq_and_amp(y, dst)
    assert abs(freq - 1000.0) <= 2.0, freq
    assert abs(amp - 0.5) < 0.01, amp
    pcm = resample_pcm16(x.tobytes(), src, dst)
    assert pcm == y.astype("<i2").tobytes()


def test_resample_float_and_identity_and_bad_rates() -> None:
    x = np.sin(np.linspace(0, 100, 8000)).astype(np.float32)
    y = resample_array(x, 8000, 16000)
    assert y.dtype == np.float32 and abs(len(y) - 16000) <= 1
    same = resample_array(x, 8000, 8000)
    assert np.array_equal(same, x) and same is not x
    assert resample_pcm16(b"\x01\x02", 8000, 8000) == b"\x01\x02"
    with pytest.raises(ValueError, match="positive"):
        resample_array(x, 0, 8000)


@pytest.mark.parametrize("src, dst", [(8000, 16000), (16000, 8000), (22050, 16000)])
def test_stream_resampler_matches_one_shot(src: int, dst: int) -> None:
    x = _tone(src, 2.0, freq=440.0, amp=0.3)
    one_shot = resample_array(x, src, dst).astype(np.float64)
    rs = StreamResampler(src, dst)
    pieces = []
    sizes = [37, 160, 1, 999, 320, 4001]
    pos, i = 0, 0
    while pos < len(x):
        n = sizes[i % len(sizes)]
        part = x[pos : pos + n]
        pos += n
        i += 1
        pieces.append(rs.process(part.tobytes(), last=pos >= len(x)))
    streamed = np.frombuffer(b"".join(pieces), dtype="<i2").astype(np.float64)
    assert abs(len(streamed) - len(one_shot)) <= 2
    n = min(len(streamed), len(one_shot))
    mid = slice(n // 10, n - n // 10)
    err = np.sqrt(np.mean((streamed[mid] - one_shot[mid]) ** 2))
    assert err < 0.01 * 32767 * 0.3, err  # within 1% of the signal amplitude
    assert StreamResampler(8000, 8000).process(b"\x05\x00") == b"\x05\x00"


# ---------------------------------------------------------------- WAV


def _wav(
    tag: int, channels: int, rate: int, bits: int, data: bytes, extra_fmt: bytes = b""
) -> bytes:
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits) + extra_fmt
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_wav_round_trip(tmp_path) -> None:
    a = Audio(_tone(8000, 0.5), 8000)
    write_wav(tmp_path / "t.wav", a)
    b = read_wav(tmp_path / "t.wav")
    assert b.sample_rate == 8000 and np.array_equal(a.samples, b.samples)
    assert abs(b.duration - 0.5) < 1e-9
    c = read_wav(wav_bytes(a), rate=16000)
    assert c.sample_rate == 16000 and abs(len(c.samples) - 8000) <= 1


@pytest.mark.parametrize(
    "tag, bits, name",
    [(3, 32, "float"), (2, 4, "MS ADPCM"), (0x11, 4, "IMA ADPCM"), (6, 8, "A-law")],
)
def test_wav_rejects_non_pcm(tag: int, bits: int, name: str) -> None:
    data = _wav(tag, 1, 8000, bits, b"\x00" * 800)
    with pytest.raises(AudioFormatError, match=rf"unsupported encoding \(format tag {tag}"):
        read_wav(data)


def test_wav_rejects_extensible_float() -> None:
    # WAVE_FORMAT_EXTENSIBLE whose sub-format GUID is IEEE float (3)
    ext = struct.pack("<HHI", 22, 32, 4) + struct.pack("<H", 3) + bytes(14)
    with pytest.raises(AudioFormatError, match="format tag 3"):
        read_wav(_wav(0xFFFE, 1, 8000, 32, b"\x00" * 64, ext))


def test_wav_rejects_truncated_empty_and_not_riff(tmp_path) -> None:
    good = wav_bytes(Audio(_tone(8000, 0.5), 8000))
    with pytest.raises(AudioFormatError, match="truncated"):
        read_wav(good[:-100])  # data chunk shorter than its header says
    with pytest.raises(AudioFormatError, match="truncated"):
        read_wav(good[:30])  # cut inside the fmt chunk
    with pytest.raises(AudioFormatError, match="truncated"):
        read_wav(good[:40])  # cut before the data chunk
    with pytest.raises(AudioFormatError, match="empty"):
        read_wav(b"")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioFormatError, match="empty"):
        read_wav(tmp_path / "empty.wav")
    with pytest.raises(AudioFormatError, match="not a WAV"):
        read_wav(b"ID3\x04" + bytes(200))  # an MP3
    with pytest.raises(AudioFormatError, match="no audio samples"):
        read_wav(_wav(1, 1, 8000, 16, b""))
    with pytest.raises(AudioFormatError, match="no such file"):
        read_wav(tmp_path / "missing.wav")
    with pytest.raises(AudioFormatError, match="larger than"):
        read_wav(good, max_bytes=100)


def test_wav_empty_data_chunk_followed_by_metadata_is_not_audio() -> None:
    data = _wav(1, 1, 8000, 16, b"")
    riff = data[8:] + b"LIST" + struct.pack("<I", 4) + b"INFO"
    with pytest.raises(AudioFormatError, match="no audio samples"):
        read_wav(b"RIFF" + struct.pack("<I", len(riff)) + riff)


def test_wav_streamed_sizes_unset_reads_to_end() -> None:
    x = _tone(8000, 0.1)
    for data_size, riff_size in ((0xFFFFFFFF, 0xFFFFFFFF), (0, 0), (0, 36)):
        head = _wav(1, 1, 8000, 16, b"")[:-8]
        wav = head[:4] + struct.pack("<I", riff_size) + head[8:]
        wav += b"data" + struct.pack("<I", data_size) + x.tobytes()
        assert np.array_equal(read_wav(wav).samples, x)


def test_wav_wrong_rate() -> None:
    data = wav_bytes(Audio(_tone(16000, 0.25), 16000))
    with pytest.raises(AudioFormatError, match="16000 Hz, expected 8000 Hz"):
        read_wav(data, rate=8000, resample=False)
    a = read_wav(data, rate=8000)
    assert a.sample_rate == 8000 and abs(len(a.samples) - 2000) <= 1
    assert read_wav(data, rate=16000, resample=False).sample_rate == 16000


def test_wav_stereo_mixed_down() -> None:
    left = _tone(8000, 0.25, amp=0.4)
    right = np.zeros_like(left)
    inter = np.stack([left, right], axis=1).astype("<i2").tobytes()
    a = read_wav(_wav(1, 2, 8000, 16, inter))
    assert a.sample_rate == 8000 and len(a.samples) == len(left)
    assert np.max(np.abs(a.samples.astype(np.int32) - left.astype(np.int32) // 2)) <= 1


def test_wav_8bit_and_mulaw_and_24bit() -> None:
    u8 = np.array([0, 64, 128, 192, 255], dtype=np.uint8)
    a = read_wav(_wav(1, 1, 8000, 8, u8.tobytes() + b"\x80"))  # pad to even size
    assert a.samples.tolist()[:5] == [-32768, -16384, 0, 16384, 32512]
    x = _tone(8000, 0.25)
    codes = mulaw.encode_array(x)
    m = read_wav(_wav(7, 1, 8000, 8, codes))
    assert m.samples.tobytes() == mulaw.decode(codes)
    s24 = b"".join(struct.pack("<i", int(v) << 8)[:3] for v in x[:100])
    b = read_wav(_wav(1, 1, 8000, 24, s24))
    assert np.array_equal(b.samples, x[:100])


# ---------------------------------------------------------------- frames


def test_frame_bytes() -> None:
    assert frame_bytes(8000, 20) == 320
    assert frame_bytes(16000, 10) == 320
    assert frame_bytes(8000, 20, 1) == 160
    assert frame_bytes(48000, 30) == 2880
    with pytest.raises(ValueError, match="whole number"):
        frame_bytes(22050, 10)
    with pytest.raises(ValueError, match="positive"):
        frame_bytes(8000, 0)


def test_chunk_and_padding() -> None:
    data = bytes(range(10))
    assert list(chunk(data, 4)) == [bytes([0, 1, 2, 3]), bytes([4, 5, 6, 7])]
    assert list(chunk(data, 4, pad=True))[-1] == bytes([8, 9, 0, 0])
    assert list(chunk(data, 4, pad=True, pad_byte=b"\xff"))[-1] == bytes([8, 9, 255, 255])
    assert list(chunk(b"", 4, pad=True)) == []
    with pytest.raises(ValueError, match="positive"):
        chunk(data, 0)
    with pytest.raises(ValueError, match="one byte"):
        chunk(data, 4, pad=True, pad_byte=b"")


def test_frame_buffer_reassembles_any_split() -> None:
    data = bytes(np.random.default_rng(1).integers(0, 256, 1000, dtype=np.uint8))
    fb = FrameBuffer(320)
    frames: list[bytes] = []
    for size in (1, 319, 2, 500, 7, 171):
        start = sum(len(f) for f in frames) + fb.pending()
        frames += fb.push(data[start : start + size])
    assert frames == list(chunk(data, 320))
    assert fb.pending() == 1000 - 3 * 320
    with pytest.raises(ValueError):
        FrameBuffer(0)
