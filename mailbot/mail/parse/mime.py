"""The walk over a mail's MIME tree: which parts are read, as new text, quoted text or neither.

The structure is parsed with the `compat32` policy (see `message.py` for why); this module
decides what each part means. Text parts become new text, split from their quoted history;
HTML is converted; of an alternative the plain part is preferred unless only the HTML one holds
a serial; text-like attachments are searched for serials but not shown; other attachments are
only named. A mail attached or returned inside this one is summarised in a line and walked with
its text counted as a forward (when attached) or as quoted (when a bounce returns it). Delivery
reports yield the Message-IDs they are about and their Action fields.

Work is capped, because a hostile mail must cost bounded time: about 2 MB of decoded text and
512 KB of HTML source for the whole mail, a bounded number of MIME parts and nesting levels, a
bounded number of problem notes. Every Message access that can raise on broken input is guarded.
"""

from __future__ import annotations

import email.policy
import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser, Parser

from mailbot.core.serials import find_serials
from mailbot.mail.parse.charsets import decode_bytes, scrub
from mailbot.mail.parse.headers import (
    addresses,
    decode_header_text,
    message_id_lines,
    message_ids,
    unfolded,
)
from mailbot.mail.parse.html import html_to_text
from mailbot.mail.parse.parts import filename, param, raw_values, safe_payload
from mailbot.mail.parse.quotes import is_forward_subject, split_quotes, unflow

MAX_TEXT_CHARS = 2_000_000  # decoded text, all parts together
MAX_REPORT_BLOCKS = 1000  # delivery-status blocks: one per recipient
MAX_HTML_CHARS = 512_000  # html.parser is pure Python: ~0.4 s per MB of dense markup
MAX_PARTS = 400
MAX_DEPTH = 24  # MIME nesting, message/rfc822 included
MAX_PROBLEMS = 25

_COMPAT = email.policy.compat32
_TEXT_ATTACHMENT_EXT = (".txt", ".csv", ".tsv", ".text", ".log")
_TEXT_ATTACHMENT_TYPES = frozenset(
    {"text/plain", "text/csv", "text/tab-separated-values", "text/comma-separated-values"}
)
# Report types whose returned message is ours coming back (a bounce); "" when undeclared.
_BOUNCE_REPORTS = frozenset({"delivery-status", ""})
_ACTION = re.compile(r"^[ \t]*action[ \t]*:[ \t]*([a-z-]+)", re.IGNORECASE | re.MULTILINE)


def walk_mail(msg: Message, code: str, problems: list[str], forwarded: bool) -> Walk:
    """Walk a whole mail: `problems` are the notes made before it, `forwarded` its subject's."""
    walk = Walk(code=code)
    for problem in problems:
        walk.note(problem)
    content_type = msg.get_content_type()
    walk.walk(msg, 0, False, False, forwarded)
    if content_type == "multipart/report" and not walk.report_type:
        walk.report_type = param(msg, "report-type")
    return walk


@dataclass
class Walk:
    """What the walk over one mail collects. Mutable on purpose: it is short-lived, one per mail.

    The walking methods take `depth` (for the cap), `quoted` (the part is history: its text goes
    to `quoted`, its attachments are not the sender's), `embedded` (inside an attached or
    returned message: its report type is not the mail's) and `fwd` (a forwarded mail, whose
    first Outlook-style header block is not a quote).
    """

    new: list[str] = field(default_factory=list)
    quoted: list[str] = field(default_factory=list)
    attachment_text: list[str] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)
    bounced: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    report_type: str = ""
    encrypted: bool = False
    code: str = "AMC"
    budget: int = MAX_TEXT_CHARS
    html_budget: int = MAX_HTML_CHARS
    parts: int = 0

    def note(self, problem: str) -> None:
        """Record a problem for staff, once, up to MAX_PROBLEMS."""
        if problem not in self.problems and len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def defects(self, part: Message) -> None:
        """Record the defects the parser found in a part."""
        for defect in getattr(part, "defects", ()) or ():
            self.note(f"MIME defect: {type(defect).__name__}")

    # -- decoding ---------------------------------------------------------------------------

    def decode(self, part: Message) -> str | None:
        """The decoded text of a leaf part, within the budget; None when over it."""
        if self.budget <= 0:
            self.note(f"text beyond {MAX_TEXT_CHARS // 1_000_000} MB not read")
            return None
        try:
            data = part.get_payload(decode=True)
        except Exception as exc:  # noqa: BLE001
            self.note(f"could not decode a {part.get_content_type()} part: {exc}")
            return ""
        if isinstance(data, str):
            data = data.encode("utf-8", errors="surrogateescape")
        if not isinstance(data, bytes):
            return ""  # None (a multipart); a leaf part's payload always decodes to bytes
        if len(data) > self.budget * 4:
            data = data[: self.budget * 4]  # no character takes more than 4 bytes
        try:
            charset = part.get_content_charset()
        except Exception:  # noqa: BLE001
            charset = None
        text, problem = decode_bytes(data, charset)
        if problem:
            self.note(problem)
        if len(text) > self.budget:
            self.note(f"text beyond {MAX_TEXT_CHARS // 1_000_000} MB not read")
            text = text[: self.budget]
        self.budget -= len(text)
        return scrub(text).replace("\r\n", "\n").replace("\r", "\n")

    def body_text(self, part: Message, text: str) -> tuple[str, str]:
        """(new, quoted) of a decoded text part, HTML converted, flowed text joined."""
        if part.get_content_type() == "text/html":
            if len(text) > self.html_budget:
                self.note(f"HTML beyond {MAX_HTML_CHARS // 1000} KB not read")
                text = text[: max(0, self.html_budget)]
            self.html_budget -= len(text)
            return html_to_text(text)
        if param(part, "format") == "flowed":
            text = unflow(text, param(part, "delsp") == "yes")
        return text, ""

    # -- the tree ---------------------------------------------------------------------------

    def walk(self, part: Message, depth: int, quoted: bool, embedded: bool, fwd: bool) -> None:
        """Read one part and what is inside it, within the part and depth caps."""
        self.parts += 1
        if self.parts > MAX_PARTS:
            self.note(f"more than {MAX_PARTS} MIME parts: the rest not read")
            return
        if depth > MAX_DEPTH:
            self.note(f"MIME nested deeper than {MAX_DEPTH} levels: inner parts not read")
            return
        self.defects(part)
        ctype = part.get_content_type()
        payload = safe_payload(part)
        if ctype.startswith("multipart/"):
            if isinstance(payload, list):
                self.multipart(part, ctype, payload, depth, quoted, embedded, fwd)
            else:
                self.note(f"{ctype} without parts: read as plain text")
                self.text_part(part, quoted, fwd)
        elif ctype in ("message/rfc822", "message/global"):
            self.embedded_message(part, payload, depth, quoted, returned=False)
        elif ctype == "message/delivery-status":
            if not embedded and not self.report_type:
                self.report_type = "delivery-status"
            self.delivery_status(part, payload)
        elif ctype in ("message/feedback-report", "message/disposition-notification"):
            self.quoted.append(self.header_blocks_text(part, payload))
        elif ctype == "text/rfc822-headers":
            self.returned_headers(part)
        elif ctype == "message/external-body":
            self.note("message/external-body part (content stored elsewhere) not read")
        elif ctype in ("application/pkcs7-mime", "application/x-pkcs7-mime"):
            self.encrypted = True
            self.note("S/MIME encrypted or opaque-signed mail: content not readable")
        else:
            self.leaf(part, ctype, quoted, fwd)

    def multipart(
        self,
        part: Message,
        ctype: str,
        kids: list[Message],
        depth: int,
        quoted: bool,
        embedded: bool,
        fwd: bool,
    ) -> None:
        """The parts of a multipart that count, by its subtype."""
        kids = [k for k in kids if isinstance(k, Message)]
        if not kids:
            return
        if ctype == "multipart/alternative":
            self.alternative(kids, depth, quoted, embedded, fwd)
        elif ctype == "multipart/related":
            start = param(part, "start", lower=False)
            root = next(
                (k for k in kids if start and start in raw_values(k, "content-id")),
                kids[0],
            )
            self.walk(root, depth + 1, quoted, embedded, fwd)
            for kid in kids:
                if kid is not root:
                    self.leaf_name_only(kid, quoted)
        elif ctype == "multipart/signed":
            self.walk(kids[0], depth + 1, quoted, embedded, fwd)
        elif ctype == "multipart/encrypted":
            self.encrypted = True
            self.note("encrypted mail (multipart/encrypted): content not readable")
        elif ctype == "multipart/report":
            self.report(part, kids, depth, quoted, embedded, fwd)
        else:
            for kid in kids:
                self.walk(kid, depth + 1, quoted, embedded, fwd)

    def alternative(
        self, kids: list[Message], depth: int, quoted: bool, embedded: bool, fwd: bool
    ) -> None:
        """One version of a multipart/alternative: plain, unless only the HTML has a serial."""
        plain = next((k for k in kids if k.get_content_type() == "text/plain"), None)
        html = next((k for k in kids if k.get_content_type() == "text/html"), None)
        nested = [k for k in kids if k.is_multipart()]
        plain_text = self.decode(plain) if plain is not None else None
        if plain is not None and plain_text and plain_text.strip():
            # Some senders put the serial only in the HTML alternative (a table the plain
            # version flattened away); prefer the version that has one.
            if html is not None and not find_serials(plain_text, self.code, limit=1):
                html_text = self.decode(html)
                if html_text:
                    new, old = self.body_text(html, html_text)
                    if find_serials(new, self.code, limit=1):
                        self.add(new, old, quoted, fwd)
                        return
            self.add(*self.body_text(plain, plain_text), quoted, fwd)
            return
        if html is not None:
            html_text = self.decode(html)
            if html_text:
                self.add(*self.body_text(html, html_text), quoted, fwd)
                return
        if nested:
            self.walk(nested[-1], depth + 1, quoted, embedded, fwd)
            return
        if kids:
            self.walk(kids[-1], depth + 1, quoted, embedded, fwd)

    def report(
        self,
        part: Message,
        kids: list[Message],
        depth: int,
        quoted: bool,
        embedded: bool,
        fwd: bool,
    ) -> None:
        """A multipart/report: the words for people, then the report and what it returns."""
        rtype = param(part, "report-type")
        kinds = [k.get_content_type() for k in kids]
        if not rtype and "message/delivery-status" in kinds:
            rtype = "delivery-status"
        if not embedded and not self.report_type:
            self.report_type = rtype
        self.walk(kids[0], depth + 1, quoted, embedded, fwd)  # the words for people
        for kid in kids[1:]:
            kind = kid.get_content_type()
            if kind in ("message/rfc822", "message/global"):
                self.embedded_message(
                    kid, safe_payload(kid), depth + 1, True, returned=rtype in _BOUNCE_REPORTS
                )
            elif kind == "text/rfc822-headers":
                self.returned_headers(kid, record=rtype in _BOUNCE_REPORTS)
            else:
                self.walk(kid, depth + 1, True, True, False)

    def embedded_message(
        self, part: Message, payload: object, depth: int, quoted: bool, returned: bool
    ) -> None:
        """An attached or returned mail: a summary line, its Message-ID if returned, its parts."""
        inner: Message | None = None
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            inner = payload[0]
        else:
            try:
                data = part.get_payload(decode=True)
                if isinstance(data, bytes) and data.strip():
                    inner = BytesParser(policy=_COMPAT).parsebytes(data)
            except Exception:  # noqa: BLE001
                inner = None
        if inner is None:
            self.note("an attached message could not be read")
            return
        name = filename(part)
        if name and not quoted:
            self.attachments.append(name)
        subject = decode_header_text("subject", (raw_values(inner, "subject") or [""])[0])
        sender = ", ".join(a for _, a in addresses("from", (raw_values(inner, "from") or [""])[0]))
        if returned:
            for value in raw_values(inner, "message-id"):
                self.bounced.extend(message_ids(value))
        summary = f"[attached message from {sender or 'unknown sender'}: {subject}]"
        (self.quoted if quoted else self.new).append(summary)
        self.walk(inner, depth + 1, quoted, True, is_forward_subject(subject))

    def header_blocks_text(self, part: Message, payload: object) -> str:
        """The fields of a delivery-status / feedback / disposition part as plain lines."""
        if isinstance(payload, list):
            blocks = []
            if len(payload) > MAX_REPORT_BLOCKS:
                # A real report has a block per recipient; more is made to cost time.
                self.note(f"more than {MAX_REPORT_BLOCKS} report blocks: the rest not read")
                payload = payload[:MAX_REPORT_BLOCKS]
            for block in payload:
                if isinstance(block, Message):
                    blocks.append("\n".join(f"{k}: {unfolded(str(v))}" for k, v in block.items()))
            text = "\n\n".join(blocks)
            # Report fields count against the same text budget as any part.
            if len(text) > self.budget:
                self.note(f"text beyond {MAX_TEXT_CHARS // 1_000_000} MB not read")
                text = text[: max(0, self.budget)]
            self.budget -= len(text)
            return scrub(text)
        return self.decode(part) or ""

    def delivery_status(self, part: Message, payload: object) -> None:
        """A message/delivery-status part: its Action fields, its text quoted."""
        text = self.header_blocks_text(part, payload)
        self.actions.extend(a.lower() for a in _ACTION.findall(text))
        self.quoted.append(text)

    def returned_headers(self, part: Message, record: bool = True) -> None:
        """A text/rfc822-headers part: the returned mail's Message-ID if `record`, text quoted."""
        text = self.decode(part) or ""
        if record:
            try:
                headers = Parser(policy=_COMPAT).parsestr(text, headersonly=True)
                for value in raw_values(headers, "message-id"):
                    self.bounced.extend(message_ids(value))
            except Exception:  # noqa: BLE001
                self.bounced.extend(message_id_lines(text))
        self.quoted.append(text)

    def leaf(self, part: Message, ctype: str, quoted: bool, fwd: bool) -> None:
        """A leaf part: body text, a text-like attachment (searched) or a named attachment."""
        name = filename(part)
        try:
            disposition = part.get_content_disposition()
        except Exception:  # noqa: BLE001
            disposition = None
        is_attachment = disposition == "attachment" or bool(name)
        if ctype.startswith("text/") and not is_attachment:
            self.text_part(part, quoted, fwd)
            return
        if quoted:
            return  # attachments of a returned or quoted mail are not the sender's
        self.attachments.append(name or f"(unnamed {ctype})")
        lowered = (name or "").lower()
        if lowered.endswith(_TEXT_ATTACHMENT_EXT) or (
            ctype in _TEXT_ATTACHMENT_TYPES and not lowered.endswith((".html", ".htm"))
        ):
            text = self.decode(part)
            if text:
                self.attachment_text.append(text)

    def text_part(self, part: Message, quoted: bool, fwd: bool) -> None:
        """A part read as body text."""
        text = self.decode(part)
        if text:
            self.add(*self.body_text(part, text), quoted, fwd)

    def leaf_name_only(self, part: Message, quoted: bool) -> None:
        """A part recorded by its file name only (the inline images of a multipart/related)."""
        name = filename(part)
        if name and not quoted:
            self.attachments.append(name)

    def add(self, new: str, old: str, quoted: bool, fwd: bool) -> None:
        """Body text: its new part to `new` (split from its quotes), the rest to `quoted`."""
        if quoted:
            self.quoted.extend(x for x in (new, old) if x)
            return
        fresh, history = split_quotes(new, fwd)
        if fresh:
            self.new.append(fresh)
        self.quoted.extend(x for x in (history, old) if x)
