"""Checks on local files and folders, shared by `mailbot doctor` and the adapters' own checks."""

from __future__ import annotations

import tempfile
from pathlib import Path

from mailbot.services.ports import Check


def writable_folder(name: str, folder: Path) -> Check:
    """Whether mailbot can write in folder (or create it): tried for real, then cleaned up."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return Check(
            name,
            False,
            f"cannot create folder {folder}: {existing} is not a folder. Fix the path "
            f"in the config.",
        )
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".mailbot-doctor-"):
            pass
    except OSError as exc:
        return Check(
            name,
            False,
            f"cannot write in {existing} ({exc.strerror}): make it writable for the "
            f"user running mailbot, or change the path in the config",
        )
    if existing == folder:
        return Check(name, True, f"{folder} is writable")
    return Check(name, True, f"{folder} does not exist yet; it will be created")
