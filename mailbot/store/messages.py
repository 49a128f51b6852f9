"""The `messages` table: every mail fetched, its outcome, and what its parse found for staff."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime

from mailbot.store.engine import Engine, dumps, iso, loads, marks, parse_iso
from mailbot.store.rows import MessageRef, MessageRow, NewMessage, SerialItem
from mailbot.store.search import reindex_escalations_of_message

_REF = "id, mailbox_key, message_id, outcome, reason, mailbox_done"
_ROW = (
    "id, mailbox_key, message_id, sender, subject, received_at, processed_at, outcome, "
    "reason, serials, explanation, size, error, sender_name, reply_to, refs, headers, text, "
    "raw IS NOT NULL AND length(raw) > 0 AS has_raw"
)


def _ref(row: sqlite3.Row) -> MessageRef:
    return MessageRef(
        id=int(row["id"]),
        mailbox_key=row["mailbox_key"] or "",
        message_id=row["message_id"] or "",
        outcome=row["outcome"],
        reason=row["reason"],
        mailbox_done=bool(row["mailbox_done"]),
    )


def serial_items(text: str | None) -> tuple[SerialItem, ...]:
    return tuple(SerialItem.of(item) for item in loads(text, []))


def _message(row: sqlite3.Row) -> MessageRow:
    return MessageRow(
        id=int(row["id"]),
        mailbox_key=row["mailbox_key"] or "",
        message_id=row["message_id"] or "",
        sender=row["sender"] or "",
        subject=row["subject"] or "",
        received_at=parse_iso(row["received_at"]),
        processed_at=parse_iso(row["processed_at"]),
        outcome=row["outcome"],
        reason=row["reason"],
        serials=serial_items(row["serials"]),
        explanation=tuple(loads(row["explanation"], [])),
        size=int(row["size"] or 0),
        error=row["error"],
        sender_name=row["sender_name"] or "",
        reply_to=row["reply_to"] or "",
        references=tuple(loads(row["refs"], [])),
        headers=tuple((str(n), str(v)) for n, v in loads(row["headers"], [])),
        text=row["text"],
        has_raw=bool(row["has_raw"]),
    )


class MessagesTable(Engine):
    """Queries on `messages`."""

    def message_by_key(self, mailbox_key: str) -> MessageRef | None:
        row = self._row(f"SELECT {_REF} FROM messages WHERE mailbox_key = ?", [mailbox_key])
        return _ref(row) if row else None

    def messages_by_keys(self, mailbox_keys: Sequence[str]) -> dict[str, MessageRef]:
        """The mails among these mailbox keys that are recorded already, by key (one
        statement for a group of mails instead of one each)."""
        found: dict[str, MessageRef] = {}
        for start in range(0, len(mailbox_keys), 500):
            chunk = list(mailbox_keys[start : start + 500])
            for row in self._rows(
                f"SELECT {_REF} FROM messages WHERE mailbox_key IN ({marks(chunk)})", chunk
            ):
                found[row["mailbox_key"]] = _ref(row)
        return found

    def unfiled_by_message_ids(self, message_ids: Sequence[str]) -> dict[str, MessageRef]:
        """By Message-ID, the first decided mail with it that is not yet filed in the
        mailbox: one statement for a group of mails."""
        found: dict[str, MessageRef] = {}
        ids = sorted(set(message_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for row in self._rows(
                f"SELECT {_REF} FROM messages WHERE message_id IN ({marks(chunk)}) "
                "AND mailbox_done = 0 AND duplicate_of IS NULL ORDER BY id",
                chunk,
            ):
                found.setdefault(row["message_id"], _ref(row))
        return found

    def message_by_message_id(self, message_id: str) -> MessageRef | None:
        """The first mail with this Message-ID (duplicates point at it)."""
        row = self._row(
            f"SELECT {_REF} FROM messages WHERE message_id = ? "
            "AND duplicate_of IS NULL ORDER BY id LIMIT 1",
            [message_id],
        )
        return _ref(row) if row else None

    def add_message(self, m: NewMessage) -> int:
        return self._insert(
            "INSERT INTO messages (mailbox_key, message_id, sender, subject, received_at, "
            "processed_at, outcome, reason, serials, explanation, raw, size, mailbox_done, "
            "duplicate_of, error, sender_name, reply_to, refs, headers, text, answers_ours, "
            "progress) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                m.mailbox_key,
                m.message_id,
                m.sender,
                m.subject,
                iso(m.received_at),
                iso(m.processed_at),
                m.outcome,
                m.reason,
                dumps([s.as_json() for s in m.serials]),
                dumps(list(m.explanation)),
                m.raw,
                m.size,
                m.duplicate_of,
                m.error,
                m.sender_name,
                m.reply_to,
                dumps(list(m.references)),
                dumps([list(h) for h in m.headers]),
                m.text,
                int(m.answers_ours),
                int(m.progress),
            ],
        )

    def answers_in_a_row(self, sender: str, since: datetime, limit: int) -> int:
        """How many of the sender's latest mails since `since`, newest first, answered a mail of
        ours and brought nothing new, in a row (at most `limit` + 1 are looked at)."""
        rows = self._rows(
            "SELECT answers_ours, progress FROM messages WHERE sender = ? AND processed_at >= ? "
            "AND duplicate_of IS NULL ORDER BY id DESC LIMIT ?",
            [sender, iso(since), limit + 1],
        )
        count = 0
        for row in rows:
            if not row["answers_ours"] or row["progress"]:
                break
            count += 1
        return count

    def rekey_message(self, row_id: int, mailbox_key: str) -> None:
        """The mail came back under a new key (an IMAP UIDVALIDITY change)."""
        self._exec("UPDATE messages SET mailbox_key = ? WHERE id = ?", [mailbox_key, row_id])

    def set_message_outcome(
        self,
        row_id: int,
        *,
        outcome: str,
        reason: str | None,
        serials: Iterable[SerialItem],
        explanation: Iterable[str],
    ) -> None:
        """A retry decided the mail anew."""
        self._exec(
            "UPDATE messages SET outcome = ?, reason = ?, serials = ?, explanation = ? "
            "WHERE id = ?",
            [
                outcome,
                reason,
                dumps([s.as_json() for s in serials]),
                dumps(list(explanation)),
                row_id,
            ],
        )
        reindex_escalations_of_message(self, row_id)

    def unfiled_keys(self) -> set[str]:
        """The keys of decided mails not yet noted as filed in the mailbox."""
        return {
            str(r[0]) for r in self._rows("SELECT mailbox_key FROM messages WHERE mailbox_done = 0")
        }

    def mark_mailbox_done(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        if not keys:
            return
        with self.transaction():
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                self._exec(
                    f"UPDATE messages SET mailbox_done = 1 WHERE mailbox_key IN ({marks(chunk)})",
                    chunk,
                )

    def previous_mistyped(self, sender: str) -> int:
        """Earlier mails from this sender that got `clarify` (a typo we asked about once)."""
        return int(
            self._scalar(
                "SELECT count(*) FROM messages WHERE sender = ? AND outcome = 'clarify' "
                "AND duplicate_of IS NULL",
                [sender],
            )
            or 0
        )

    def message(self, row_id: int) -> MessageRow | None:
        row = self._row(f"SELECT {_ROW} FROM messages WHERE id = ?", [row_id])
        return _message(row) if row else None

    def message_raw(self, row_id: int) -> bytes | None:
        """The mail as received ("" or None when it was not stored)."""
        value = self._scalar("SELECT raw FROM messages WHERE id = ?", [row_id])
        return bytes(value) if value else None

    def messages(
        self,
        *,
        outcome: str | None = None,
        sender: str | None = None,
        exclude: int | None = None,
        limit: int = 0,
    ) -> list[MessageRow]:
        """Processed mail, oldest first; `limit` keeps the newest that many."""
        where: list[str] = ["1 = 1"]
        params: list[str | int] = []
        if outcome:
            where.append("outcome = ?")
            params.append(outcome)
        if sender:
            where.append("sender = ?")
            params.append(sender.strip().lower())
        if exclude is not None:
            where.append("id != ?")
            params.append(exclude)
        sql = f"SELECT {_ROW} FROM messages WHERE {' AND '.join(where)}"
        if limit:
            sql = f"SELECT * FROM ({sql} ORDER BY id DESC LIMIT {int(limit)}) ORDER BY id"
        else:
            sql += " ORDER BY id"
        return [_message(r) for r in self._rows(sql, params)]

    def messages_since(self, sender: str, since: datetime) -> int:
        return int(
            self._scalar(
                "SELECT count(*) FROM messages WHERE sender = ? AND processed_at >= ?",
                [sender, iso(since)],
            )
            or 0
        )
