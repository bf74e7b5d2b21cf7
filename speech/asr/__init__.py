"""Offline speech recognition: one engine interface, Vosk and PocketSphinx engines, models."""
