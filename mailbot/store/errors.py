"""What the store raises when the database cannot be used: one sentence, and the mail waits.

Apart from the engine so that the database file's own checks (`dbfile.py`) raise the same
errors without importing the connection code.
"""

from __future__ import annotations

from mailbot.core.errors import SetupError


class StoreError(SetupError):
    """The database cannot be used (full disk, damaged file, locked, not ours): every mail would
    fail alike, so the run stops with this sentence and the mail waits."""


class StoreVersionError(StoreError):
    """The database was written by a newer mailbot."""
