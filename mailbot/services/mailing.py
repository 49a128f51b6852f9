"""Every mail mailbot writes, one way: render a template, compose the message, add it to the
outbox inside the caller's transaction (the delivery job sends it).

The bot's replies, license mails from staff actions, staff replies and notifications all come
through `queue_mail`. What a reply needs of the mail it answers (`Thread`) and the readable
text staff are shown come from what the mail's parse stored; a mail stored before parses were
kept is parsed again with the project's own capped parser, never another one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from mailbot.core.language import DEFAULT_LANGUAGE, choose_language
from mailbot.core.license_format import day_of
from mailbot.core.machine_mail import answers_our_mail
from mailbot.core.model import Fetched, Inbound, License, Order, Outcome, Policy, Reason
from mailbot.core.reasons import customer_text
from mailbot.mail.compose import compose, new_message_id, reply_subject
from mailbot.mail.parse import parse_message
from mailbot.services.context import Deps
from mailbot.store import Store
from mailbot.store.rows import MessageRow, NewMessage, SerialItem


@dataclass(frozen=True)
class Thread:
    """What a reply needs to know about the mail it answers."""

    message_id: str = ""
    references: tuple[str, ...] = ()
    subject: str = ""
    sender: str = ""
    sender_name: str = ""
    reply_to: str = ""
    # What tells the language the customer wrote in (core/language.py): their Content-Language
    # header and their text.
    content_language: str = ""
    text: str = ""

    @property
    def reply_address(self) -> str:
        return self.reply_to or self.sender

    @classmethod
    def of(cls, inbound: Inbound) -> Thread:
        return cls(
            message_id=inbound.message_id,
            references=inbound.references,
            subject=inbound.subject,
            sender=inbound.sender,
            sender_name=inbound.sender_name,
            reply_to=inbound.reply_to,
            content_language=inbound.content_language,
            text=inbound.text,
        )


@dataclass(frozen=True)
class StoredMail:
    """A stored mail as staff see it: its thread, its headers and its readable text."""

    thread: Thread
    headers: tuple[tuple[str, str], ...]
    text: str


def stored_mail(deps: Deps, store: Store, message: MessageRow) -> StoredMail:
    """What the parse stored for this mail; for a mail stored before parses were kept, the
    project's own capped parser reads the raw mail again."""
    thread = Thread(
        message_id=message.message_id,
        references=message.references,
        subject=message.subject,
        sender=message.sender,
        sender_name=message.sender_name,
        reply_to=message.reply_to,
        content_language=_header(message.headers, "Content-Language"),
        text=message.text or "",
    )
    if message.text is not None or not message.has_raw:
        return StoredMail(thread, message.headers, message.text or "")
    raw = store.message_raw(message.id) or b""
    settings = deps.settings
    inbound = parse_message(
        raw,
        product_code=settings.product.code,
        authserv_id=settings.security.authserv_id,
        max_serials=settings.policy.max_serials_per_mail,
    )
    thread = Thread(
        message_id=message.message_id or inbound.message_id,
        references=inbound.references,
        subject=message.subject or inbound.subject,
        sender=message.sender or inbound.sender,
        sender_name=inbound.sender_name,
        reply_to=inbound.reply_to,
        content_language=inbound.content_language,
        text=inbound.text,
    )
    return StoredMail(thread, inbound.shown_headers, readable_text(inbound))


def _header(headers: Sequence[tuple[str, str]], name: str) -> str:
    return next((value for each, value in headers if each == name), "")


def reply_language(deps: Deps, orders: Iterable[Order], to: str, thread: Thread | None) -> str:
    """The language of a mail to TO (core/language.py): the newest of TO's orders that names
    one, else what the mail it answers says or is written in, else English."""
    named = sorted((o for o in orders if o.email == to and o.language), key=lambda o: o.created)
    return choose_language(
        deps.renderer.languages(),
        order_language=named[-1].language if named else "",
        content_language=thread.content_language if thread else "",
        text=thread.text if thread else "",
    )


# Of a customer's subject repeated in ours: a person's subject fits; a stranger's 8 KB one is cut.
SUBJECT_CHARS = 200
TEXT_CHARS = 20_000  # what staff screens show of a mail; the raw mail is kept whole


def readable_text(inbound: Inbound) -> str:
    """The text a person reads: the new text, then the quoted history, capped."""
    parts = [inbound.text.strip(), inbound.quoted_text.strip()]
    text = "\n\n".join(p for p in parts if p)
    if len(text) > TEXT_CHARS:
        text = text[:TEXT_CHARS].rstrip() + "\n[...]"
    return text


def with_parse(message: NewMessage, inbound: Inbound | None) -> NewMessage:
    """The row with what the mail's parse found, kept for staff views."""
    if inbound is None:
        return message
    return replace(
        message,
        sender_name=inbound.sender_name,
        reply_to=inbound.reply_to,
        references=inbound.references,
        headers=inbound.shown_headers,
        text=readable_text(inbound),
    )


def record_mail(
    store: Store,
    fetched: Fetched,
    inbound: Inbound,
    now: datetime,
    policy: Policy,
    *,
    outcome: Outcome,
    reason: Reason | None,
    explanation: Sequence[str],
    serials: tuple[SerialItem, ...] = (),
    duplicate_of: int | None = None,
    progress: bool = False,
) -> int:
    """The mail's row: its outcome, and what its parse found for staff views."""
    return store.add_message(
        with_parse(
            NewMessage(
                mailbox_key=fetched.key,
                message_id=inbound.message_id,
                sender=inbound.sender,
                subject=inbound.subject,
                received_at=fetched.received_at or now,
                processed_at=now,
                outcome=outcome.value,
                reason=reason.value if reason else None,
                serials=serials,
                explanation=tuple(explanation) + tuple(inbound.problems),
                raw=fetched.raw,
                size=fetched.size,
                duplicate_of=duplicate_of,
                answers_ours=answers_our_mail(inbound, policy),
                progress=progress,
            ),
            inbound,
        )
    )


def thread_of_row(deps: Deps, store: Store, message_row: int | None) -> Thread | None:
    """The thread of a stored mail (None when there is no mail)."""
    if message_row is None:
        return None
    message = store.message(message_row)
    if message is None:
        return None
    return stored_mail(deps, store, message).thread


# -- what the reply templates show ----------------------------------------------------------------


def result_item(
    serial: str,
    action: str,
    *,
    as_found: str = "",
    reason: str | None = None,
    old_serial: str | None = None,
    license: License | None = None,
    pay_url: str = "",
) -> dict[str, Any]:
    """One serial as the reply templates show it (see templates/_results.txt)."""
    return {
        "serial": serial,
        "as_found": as_found or serial,
        "action": action,
        "reason": reason,
        "reason_text": customer_text(reason),
        "old_serial": old_serial,
        "license_string": license.license_string if license else "",
        "license_no": license.license_no if license else None,
        "pay_url": pay_url,
        # The last day the license is valid ("" for perpetual ones), as an ISO date.
        "expires": day_of(license.expires_day).isoformat()
        if license is not None and license.expires_day
        else "",
    }


def base_context(deps: Deps) -> dict[str, Any]:
    settings = deps.settings
    return {
        "product": {"name": settings.product.name, "code": settings.product.code},
        "support_name": settings.outbox.from_name or f"{settings.product.name} support",
        "support_address": settings.outbox.from_address,
    }


def queue_mail(
    deps: Deps,
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
    reply_to: str = "",
    language: str = DEFAULT_LANGUAGE,
) -> int:
    """Render TEMPLATE in LANGUAGE (`reply_language`), compose the mail and add it to the
    outbox; returns the outbox row id. `reply_to` sets a Reply-To (staff notifications: their
    reply-by-mail address). An answer to a mail with a subject is `Re: <that subject>`, so it
    threads; the template's own subject is for mail that answers none."""
    settings = deps.settings
    subject, text, html = deps.renderer.render(
        template, {**base_context(deps), **context}, language
    )
    message_id = new_message_id(settings.outbox.from_address)
    in_reply_to = ""
    references: Sequence[str] = ()
    if (
        thread is not None
        and thread.message_id
        and not thread.message_id.endswith("@mailbot.invalid")
    ):
        in_reply_to, references = thread.message_id, thread.references
    if thread is not None and thread.subject.strip():
        subject = reply_subject(thread.subject[:SUBJECT_CHARS], subject or settings.product.name)
    elif not subject:
        subject = settings.product.name
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
        extra_headers={"Reply-To": reply_to} if reply_to else None,
    )
    return store.add_outbox(
        message_id=message_id,
        kind=kind,
        to_addr=to,
        subject=composed.subject,
        raw=composed.raw,
        created_at=now,
        message_row=message_row,
        escalation_id=escalation_id,
    )
