"""The exact mail a staff reply would send, shown before it is queued.

`preview_reply` runs the real `escalation_reply.reply` in a transaction that is rolled back:
the person sees the very headers and body the outbox would hold, rendered by the same code, and
nothing is written (no outbox row, no audit line, no state change). `send_reply` runs it again
for real and, inside the same transaction, compares the composed mail with the one previewed
(all but its Message-ID and Date): when a colleague's action changed it meanwhile (a license
issued, the escalation closed), it is rolled back and the new preview is handed back instead.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from mailbot.services.context import Deps
from mailbot.services.escalation_reply import reply
from mailbot.services.escalations import ActionResult

# New on every composition (the MIME boundary too), not what the person read.
_VARYING = frozenset({"message-id", "date", "content-type"})


@dataclass(frozen=True)
class ReplyPreview:
    """A composed reply as it would go out."""

    to: str
    headers: tuple[tuple[str, str], ...]
    text: str  # the text/plain body
    html: bool  # whether an HTML alternative goes with it
    digest: str  # of all but Message-ID, Date and MIME boundaries: "the mail I saw"


class PreviewChanged(Exception):
    """The reply would now differ from the preview the person confirmed."""

    def __init__(self, preview: ReplyPreview) -> None:
        super().__init__("the reply changed since it was previewed")
        self.preview = preview


class _Discard(Exception):
    def __init__(self, preview: ReplyPreview) -> None:
        super().__init__("rolled back")
        self.preview = preview


def _preview_of(raw: bytes) -> ReplyPreview:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    headers = tuple((str(k), str(v)) for k, v in msg.items())
    body = msg.get_body(preferencelist=("plain",))
    text = str(body.get_content()).replace("\r\n", "\n") if body is not None else ""
    html = msg.get_body(preferencelist=("html",)) is not None
    digest = hashlib.sha256()
    for name, value in headers:
        if name.lower() not in _VARYING:
            digest.update(f"{name.lower()}: {value}\n".encode())
    for part in msg.walk():
        if not part.is_multipart():
            digest.update(f"\n{part.get_content_type()}\n".encode())
            payload = part.get_payload(decode=True)
            digest.update(payload if isinstance(payload, bytes) else b"")
    return ReplyPreview(
        to=str(msg.get("To", "")), headers=headers, text=text, html=html, digest=digest.hexdigest()
    )


def _composed(
    deps: Deps,
    escalation_id: int,
    actor: str,
    now: datetime,
    template: str | None,
    text: str | None,
    keep_open: bool,
) -> tuple[ActionResult, ReplyPreview]:
    result = reply(
        deps, escalation_id, actor, now, template=template, text=text, keep_open=keep_open
    )
    raw = deps.store.outbox_raw(result.outbox_ids[0])
    assert raw is not None
    return result, _preview_of(raw)


def preview_reply(
    deps: Deps,
    escalation_id: int,
    actor: str,
    now: datetime,
    *,
    template: str | None = None,
    text: str | None = None,
    keep_open: bool = False,
) -> ReplyPreview:
    """The mail `reply(...)` would queue, without queueing it (QueueError as `reply`)."""
    try:
        with deps.store.transaction():
            _, preview = _composed(deps, escalation_id, actor, now, template, text, keep_open)
            raise _Discard(preview)
    except _Discard as discarded:
        return discarded.preview


def send_reply(
    deps: Deps,
    escalation_id: int,
    actor: str,
    now: datetime,
    *,
    previewed: str,
    template: str | None = None,
    text: str | None = None,
    keep_open: bool = False,
) -> ActionResult:
    """Queue the reply whose preview had digest `previewed`; PreviewChanged (and nothing
    queued) when it would now be another mail."""
    try:
        with deps.store.transaction():
            result, preview = _composed(deps, escalation_id, actor, now, template, text, keep_open)
            if preview.digest != previewed:
                raise _Discard(preview)
    except _Discard as discarded:
        raise PreviewChanged(discarded.preview) from None
    return result
