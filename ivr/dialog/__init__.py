"""The dialog engine: declarative flows (states, prompts by key, accepted intents and digits)."""
