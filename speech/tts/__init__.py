"""Text to speech: pyttsx3 on espeak-ng, slow and clear, with pauses and a disk cache."""
