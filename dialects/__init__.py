"""Dialect packs (data files), their loader, and dialect detection. May import `speech`."""
