"""Mails for the parser tests: the files in tests/data/mail/, their serials, and a builder."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from mailbot.core import serials
from mailbot.core.model import Inbound
from mailbot.core.serials import SerialFinding
from mailbot.mail.parse import parse_message

DATA = Path(__file__).parent.parent / "data"
MAIL = DATA / "mail"
CORPUS = DATA / "corpus" / "flanker"


def serial(payload: str) -> str:
    return serials.format_serial(payload + serials.check_symbol(payload))


# The serials the files in tests/data/mail/ were written with.
S1 = serial("7K2M9QX4RT8VW3H")
S2 = serial("3NPB6ZD1FJ5GKCE")
S3 = serial("Q8WX2RM7TA4HN6Y")
S4 = serial("M4J9T2PA7VW5XKD")
S5 = serial("B6C8DE0FG1HJ2KM")
S6 = serial("Z9Y8X7W6V5T4S3R")
S7 = serial("A1B2C3D4E5F6G7H")


def load(name: str, **kwargs: object) -> Inbound:
    return parse_message((MAIL / name).read_bytes(), **kwargs)  # type: ignore[arg-type]


def mail(body: str, *, headers: str = "", ctype: str = "text/plain; charset=utf-8") -> bytes:
    """A minimal well-formed mail around `body`."""
    head = (
        "From: Customer <c@customer.example>\n"
        "To: support@amphis.example\n"
        "Subject: license\n"
        "Message-ID: <m1@customer.example>\n"
        "Date: Mon, 1 Jan 2024 10:00:00 +0000\n"
        "MIME-Version: 1.0\n"
        f"Content-Type: {ctype}\n"
    )
    return (head + headers + "\n" + body).encode("utf-8")


def normalized(findings: Iterable[SerialFinding]) -> list[str]:
    return [f.normalized for f in findings]
