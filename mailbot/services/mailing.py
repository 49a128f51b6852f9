"""Mail that people cause or receive: staff replies, license mails sent by a staff action, and
notifications to the staff address. Everything is rendered from templates, composed, and put in
the same outbox as the bot's replies (the outbox job sends it), inside the caller's transaction.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailbot.app import App
from mailbot.mail.render import compose, new_message_id, reply_subject
from mailbot.store import Store, iso


@dataclass(frozen=True)
class Thread:
    """What a reply needs to know about the mail it answers."""

    message_id: str = ""
    references: tuple[str, ...] = ()
    subject: str = ""
    sender: str = ""
    sender_name: str = ""
    reply_to: str = ""

    @property
    def reply_address(self) -> str:
        return self.reply_to or self.sender


def thread_of(raw: bytes | None, message_id: str = "", subject: str = "",
              sender: str = "") -> Thread:
    """Read the threading headers of a stored mail; a damaged mail gives what the row knows."""
    if not raw:
        return Thread(message_id=message_id or "", subject=subject or "", sender=sender or "")
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        refs = tuple(r.strip("<>") for r in str(msg.get("References", "")).split() if r)
        reply_to = msg.get("Reply-To")
        reply_addr = ""
        if reply_to is not None and getattr(reply_to, "addresses", None):
            reply_addr = reply_to.addresses[0].addr_spec.lower()
        from_name = ""
        frm = msg.get("From")
        if frm is not None and getattr(frm, "addresses", None):
            from_name = frm.addresses[0].display_name or ""
    except Exception:  # noqa: BLE001 - odd headers must not stop a staff action
        refs, reply_addr, from_name = (), "", ""
    return Thread(message_id=message_id or "", references=refs, subject=subject or "",
                  sender=sender or "", sender_name=from_name, reply_to=reply_addr)


def mail_text(raw: bytes | None, limit: int = 0) -> str:
    """The readable text of a stored mail (plain part, else HTML as is), for people."""
    if not raw:
        return ""
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain", "html"))
        text = body.get_content() if body is not None else ""
    except Exception:  # noqa: BLE001 - staff still get the headers
        return "(the body could not be decoded; see the raw mail)"
    text = str(text).replace("\r\n", "\n").strip()
    if limit and len(text) > limit:
        text = text[:limit].rstrip() + "\n[...]"
    return text


def base_context(app: App) -> dict[str, Any]:
    settings = app.settings
    return {
        "product": {"name": settings.product.name, "code": settings.product.code},
        "support_name": settings.outbox.from_name or f"{settings.product.name} support",
        "support_address": settings.outbox.from_address,
    }


def queue_mail(
    app: App,
    store: Store,
    *,
    to: str,
    template: str,
    context: Mapping[str, Any],
    now: datetime,
    kind: str,
    thread: Thread | None = None,
    message_row: int | None = None,
    escalation_id: int | None = None,
    automatic: bool = True,
) -> int:
    """Render TEMPLATE, compose the mail and add it to the outbox; returns the outbox row id."""
    settings = app.settings
    subject, text, html = app.renderer.render(template, {**base_context(app), **context})
    message_id = new_message_id(settings.outbox.from_address)
    in_reply_to = ""
    references: Sequence[str] = ()
    if thread is not None and thread.message_id and not thread.message_id.endswith(
            "@mailbot.invalid"):
        in_reply_to, references = thread.message_id, thread.references
    if not subject:
        subject = reply_subject(thread.subject if thread else "", settings.product.name)
    composed = compose(
        from_address=settings.outbox.from_address,
        from_name=settings.outbox.from_name,
        to=to,
        subject=subject,
        text=text,
        html=html,
        now=now,
        message_id=message_id,
        in_reply_to=in_reply_to,
        references=references,
        automatic=automatic,
    )
    return store.add_outbox(
        {
            "message_id": message_id,
            "kind": kind,
            "to_addr": to,
            "subject": composed.subject,
            "raw": composed.raw,
            "created_at": iso(now),
            "message_row": message_row,
            "escalation_id": escalation_id,
        }
    )
