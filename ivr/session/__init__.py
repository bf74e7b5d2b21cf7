"""Call sessions: one asyncio task per call, from caller audio to dialog actions and back."""
