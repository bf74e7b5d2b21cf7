"""Caller preferences, timing policy and plain-language rules. May import `speech`, `dialects`."""
