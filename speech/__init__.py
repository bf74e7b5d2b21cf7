"""Speech core: audio codecs, voice activity and endpointing, offline recognition, slow TTS.

This package imports nothing else of ours (see DESIGN.md's dependency table).
"""
