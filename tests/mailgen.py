"""Demo-like mail in bulk, for the crash tests and the benchmark (`scripts/bench`).

Deterministic for a seed: customers with paid orders asking for new licenses (one or two serials),
asking again, mistyping, writing questions, plus auto-replies and strangers without an order.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from mailbot.core.serials import ALPHABET, check_symbol, format_serial


@dataclass
class Corpus:
    orders_csv: str
    mails: list[bytes]
    customers: list[str]


def _serial(rng: random.Random) -> str:
    payload = "".join(rng.choice(ALPHABET) for _ in range(15))
    return format_serial(payload + check_symbol(payload))


def _mail(n: int, sender: str, subject: str, body: str, extra: str = "") -> bytes:
    return (
        f"From: {sender}\nTo: support@amphis.example\nSubject: {subject}\n"
        f"Date: Sun, 29 Nov 2026 10:00:00 +0000\nMessage-ID: <gen-{n}@{sender.split('@')[1]}>\n"
        f"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n{extra}\n{body}"
    ).encode()


def make_corpus(n: int, seed: int = 1, customers: int = 0, seats: int = 5) -> Corpus:
    rng = random.Random(seed)
    count = customers or max(5, n // 4)
    emails = [f"user{i}@customer{i % 97}.example" for i in range(count)]
    orders = ["order_id,email,name,seats,status,created"]
    orders += [
        f"ORD-{i:05d},{e},Customer {i},{seats},paid,2026-11-01T10:00:00+00:00"
        for i, e in enumerate(emails)
    ]
    issued: list[tuple[str, str]] = []
    mails: list[bytes] = []
    for i in range(n):
        roll = rng.random()
        sender = rng.choice(emails)
        if roll < 0.60:
            s = _serial(rng)
            issued.append((sender, s))
            body = f"Hello,\n\nplease send the license for {s}.\n\nThanks\n"
        elif roll < 0.70:
            a, b = _serial(rng), _serial(rng)
            issued += [(sender, a), (sender, b)]
            body = f"Two new users:\n{a}\n{b}\n"
        elif roll < 0.80 and issued:
            sender, s = rng.choice(issued)
            body = f"I lost my license string, serial {s}\n"
        elif roll < 0.85:
            s = _serial(rng)
            body = f"serial {s[:-1]}{'0' if s[-1] != '0' else '1'}\n"
        elif roll < 0.90:
            mails.append(
                _mail(
                    i, sender, "Automatic reply", "I am away.\n", "Auto-Submitted: auto-replied\n"
                )
            )
            continue
        elif roll < 0.95:
            body = "Do we need a license for our file server where nobody runs the app?\n"
        else:
            sender = f"stranger{i}@unknown{i}.example"
            body = f"My serial: {_serial(rng)}\n"
        mails.append(_mail(i, sender, "License request", body))
    return Corpus("\n".join(orders) + "\n", mails, emails)
