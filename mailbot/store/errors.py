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


class Conflict(Exception):
    """A write broke a rule the schema keeps (a serial's second active license, a Message-ID
    stored twice). Not a setup fault: the caller knows what the rule means for this mail, so
    services catch it by this name and never see the database driver's own exception."""
