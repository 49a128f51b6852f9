"""Replies written as `.eml` files into a folder (the embedded default).

Each outbox row becomes one file named after its row id, written to a temporary name and
renamed, so a half-written reply never appears and sending a row twice writes the same file.
"""

from __future__ import annotations

import grp
import os
from collections.abc import Sequence
from pathlib import Path

from mailbot.services.files import writable_folder
from mailbot.services.ports import Check, Delivery


class OutboxDirectory:
    """The MailSender protocol over a folder of .eml files."""

    def __init__(self, path: Path, group: str = "") -> None:
        """`group` (`[store] group`): files 0640 of that staff group, the folder 0750."""
        self.path = Path(path)
        self._gid = grp.getgrnam(group).gr_gid if group else -1

    def send(self, batch: Sequence[tuple[int, str, bytes]]) -> dict[int, Delivery]:
        if not self.path.exists():
            self.path.mkdir(mode=0o750 if self._gid >= 0 else 0o700, parents=True)
            if self._gid >= 0:
                os.chown(self.path, -1, self._gid)
        results: dict[int, Delivery] = {}
        for row_id, recipient, raw in batch:
            safe = "".join(ch if ch.isalnum() or ch in "@.-_" else "_" for ch in recipient)[:80]
            target = self.path / f"{row_id:06d}-{safe}.eml"
            tmp = self.path / f".{target.name}.tmp"
            try:
                _write_private(tmp, raw, self._gid)
                os.replace(tmp, target)
            except OSError as exc:
                results[row_id] = Delivery(False, permanent=False, error=str(exc))
            else:
                results[row_id] = Delivery(True)
        return results

    def checks(self) -> list[Check]:
        return [writable_folder("outbox", self.path)]

    def close(self) -> None:
        pass


def _write_private(path: Path, data: bytes, gid: int = -1) -> None:
    """Replies carry license strings: the file is 0600 (0640 for a staff group) from its first
    byte, whatever the umask."""
    mode = 0o640 if gid >= 0 else 0o600
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        if gid >= 0:
            os.fchown(fd, -1, gid)
        os.fchmod(fd, mode)  # an older file of the same name keeps its mode otherwise
        with os.fdopen(fd, "wb", closefd=False) as handle:
            handle.write(data)
    finally:
        os.close(fd)
