"""Text to speech: pyttsx3 on espeak-ng, slow and clear, with pauses and a disk cache.

- `VoiceSettings`: voice, rate (140 wpm by default), pitch, volume, sentence and key-word pauses.
- `synthesize(text, settings) -> Audio` / `await synthesize_async(...)`: one prompt, 22.05 kHz,
  rendered on the single engine worker thread (see `engine`), no cache.
- `TextToSpeech(cache_dir, max_bytes, default_settings)`: `.render`, `.render_telephone`
  (8 kHz mu-law), async variants, through the bounded disk cache (see `cache`).
- `to_mulaw`, `mulaw_frames` (160-byte, 20 ms frames), `mulaw_wav_bytes`: telephone output.
- `reply_rate_for(caller_wpm)`: reply rate adapted to the caller's pace, within 120-170 wpm.
- Prompt syntax (sentences, key words, `[pause 1.5]` markers): see `text`.
"""

from speech.tts.engine import engine_version, get_worker, installed_voices
from speech.tts.rate import reply_rate_for
from speech.tts.render import resolve_settings, synthesize, synthesize_async
from speech.tts.service import TextToSpeech
from speech.tts.telephone import FRAME_BYTES, mulaw_frames, mulaw_wav_bytes, to_mulaw
from speech.tts.text import PromptSyntaxError
from speech.tts.voice import TTSError, UnknownVoiceError, VoiceInfo, VoiceSettings

__all__ = [
    "FRAME_BYTES",
    "PromptSyntaxError",
    "TTSError",
    "TextToSpeech",
    "UnknownVoiceError",
    "VoiceInfo",
    "VoiceSettings",
    "engine_version",
    "get_worker",
    "installed_voices",
    "mulaw_frames",
    "mulaw_wav_bytes",
    "reply_rate_for",
    "resolve_settings",
    "synthesize",
    "synthesize_async",
    "to_mulaw",
]
