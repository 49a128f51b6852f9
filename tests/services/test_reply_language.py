"""A German customer gets a German reply: by the order's language, by the mail's
Content-Language, or by the words of the mail; a French one gets English; hostile headers are
harmless; every reply threads as `Re: <their subject>`."""

from __future__ import annotations

import os
import re
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailbot.services import escalation_reply
from tests.staff_env import T0, Env, mail, make_env, new_serial, parsed, text_of

ANNA = "anna@beispiel.example"
JOE = "joe@example.org"
DATA = Path(__file__).parents[1] / "data"
LANGUAGE_HEADER = "order_id,email,name,seats,status,created,language"


def write_orders(env: Env, rows: list[str]) -> None:
    path = env.base / "orders.csv"
    path.write_text("\n".join([LANGUAGE_HEADER, *rows]) + "\n")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


@pytest.fixture
def env(tmp_path: Path) -> Env:
    env = make_env(tmp_path, [])
    write_orders(
        env,
        [
            f"ORD-DE,{ANNA},Anna Schmidt,5,paid,2026-11-02T10:00:00+00:00,de-DE",
            f"ORD-EN,{JOE},Joe Bloggs,20,paid,2026-11-02T10:00:00+00:00,",
            "ORD-FR,marie@exemple.example,Marie Curie,1,paid,2026-11-02T10:00:00+00:00,fr",
        ],
    )
    return env


def english_request(sender: str, serial: str, subject: str = "License request") -> bytes:
    return mail(sender, f"Hello,\n\nplease send the license for\n{serial}\n\nThanks", subject)


def html_of(raw: bytes) -> str:
    body = parsed(raw).get_body(preferencelist=("html",))
    assert body is not None
    return str(body.get_content())


def with_header(raw: bytes, name: str, value: str) -> bytes:
    head, _, body = raw.partition(b"\n\n")
    return head + f"\n{name}: {value}".encode() + b"\n\n" + body


def assert_german(raw: bytes, subject: str) -> None:
    msg = parsed(raw)
    assert msg["Subject"] == subject
    assert "Mit freundlichen Grüßen" in text_of(raw) and "Kind regards" not in text_of(raw)
    assert "Mit freundlichen Grüßen" in html_of(raw) and 'lang="de"' in html_of(raw)


def assert_english(raw: bytes) -> None:
    assert "Kind regards" in text_of(raw) and "Mit freundlichen" not in text_of(raw)
    assert "Kind regards" in html_of(raw)


def test_the_orders_language_gives_a_german_reply_to_an_english_mail(env: Env) -> None:
    serial = new_serial()
    processed = env.send(english_request(ANNA, serial))
    assert processed.outcome.value == "issued"
    raw = env.outbox()[-1]["raw"]
    assert_german(raw, "Re: License request")
    assert "Hallo Anna Schmidt" in text_of(raw) and serial in text_of(raw)
    assert env.store.order("ORD-DE").language == "de"


def test_content_language_gives_german_when_the_order_names_none(env: Env) -> None:
    raw = with_header(english_request(JOE, new_serial()), "Content-Language", "de-AT, en")
    env.send(raw)
    assert_german(env.outbox()[-1]["raw"], "Re: License request")


def test_the_words_of_the_mail_give_german_when_nothing_else_does(env: Env) -> None:
    real = (DATA / "mail" / "german-qp.eml").read_bytes()
    # The real Thunderbird mail, from Joe's address and without its Content-Language header.
    real = re.sub(rb"Content-Language: de-DE\r?\n", b"", real).replace(
        b"d.mueller@mueller-soehne.example", JOE.encode()
    )
    assert b"Content-Language" not in real
    processed = env.send(real)
    assert processed.outcome.value == "issued"
    assert_german(env.outbox()[-1]["raw"], "Re: Lizenz für neuen Mitarbeiter – Seriennummer")


def test_an_english_mail_without_hints_and_a_french_customer_get_english(env: Env) -> None:
    env.send(english_request(JOE, new_serial()))
    assert_english(env.outbox()[-1]["raw"])
    french = mail(
        "marie@exemple.example",
        f"Bonjour,\n\nvoici mon numéro de série : {new_serial()}\nMerci d'avance,\nMarie",
        "Ma licence",
    )
    env.send(with_header(french, "Content-Language", "fr-FR"))
    raw = env.outbox()[-1]["raw"]
    assert_english(raw)
    assert parsed(raw)["Subject"] == "Re: Ma licence"


@pytest.mark.parametrize(
    "value",
    [
        "../../de/issued",
        "x" * 5000 + ", de",
        "{{ 7*7 }}",
        "=?utf-8?q?de?=",
        "*, ,,;;",
        "ü" * 300,
    ],
)
def test_a_hostile_content_language_is_harmless(env: Env, value: str) -> None:
    processed = env.send(with_header(english_request(JOE, new_serial()), "Content-Language", value))
    assert processed.outcome.value == "issued"
    raw = env.outbox()[-1]["raw"]
    assert_english(raw)


def test_a_reply_subject_is_not_doubled_and_no_subject_gets_the_localised_one(env: Env) -> None:
    env.send(english_request(ANNA, new_serial(), subject="AW: Ihre Lizenz"))
    assert parsed(env.outbox()[-1]["raw"])["Subject"] == "AW: Ihre Lizenz"
    env.send(english_request(ANNA, new_serial(), subject="Re: Re: my license"))
    assert parsed(env.outbox()[-1]["raw"])["Subject"] == "Re: Re: my license"
    env.send(english_request(ANNA, new_serial(), subject=""))
    assert_german(env.outbox()[-1]["raw"], "Ihre Lizenz für Amphis Customer")
    env.send(english_request(JOE, new_serial(), subject="   "))
    assert parsed(env.outbox()[-1]["raw"])["Subject"] == "Your Amphis Customer license"


def test_an_escalated_german_mail_and_the_staff_answer_to_it_are_german(env: Env) -> None:
    msg = EmailMessage()
    msg["From"] = "gast@beispiel.example"
    msg["To"] = "support@amphis.example"
    msg["Subject"] = "Frage zur Lizenz"
    msg["Message-ID"] = "<frage-1@beispiel.example>"
    msg.set_content(
        "Guten Tag,\n\nich habe die Software gekauft, aber keine Lizenz erhalten. "
        f"Hier ist meine Seriennummer: {new_serial()}\n\nMit freundlichen Grüßen\nGast"
    )
    processed = env.send(bytes(msg))
    assert processed.outcome.value == "escalated"
    ack = env.outbox("reply")[-1]
    assert_german(ack["raw"], "Re: Frage zur Lizenz")
    assert "Ein Kollege" in text_of(ack["raw"])

    esc = env.escalations()[-1]["id"]
    escalation_reply.reply(env.app, esc, "alice", T0, text="Wir haben keine Bestellung gefunden.")
    answer = env.outbox("reply")[-1]["raw"]
    assert parsed(answer)["Subject"] == "Re: Frage zur Lizenz"
    assert "Guten Tag" in text_of(answer) and "Mit freundlichen Grüßen" in text_of(answer)


def test_staff_notifications_stay_english_and_keep_their_subject(env: Env) -> None:
    env.send(
        with_header(
            mail("gast@beispiel.example", f"Bitte Lizenz für {new_serial()}", "Lizenz"),
            "Content-Language",
            "de",
        )
    )
    notes = [r for r in env.outbox() if r["kind"] != "reply"]
    assert notes, env.outbox()
    assert all(parsed(n["raw"])["Subject"].startswith("[mailbot") for n in notes)
    assert all("Mit freundlichen" not in text_of(n["raw"]) for n in notes)


def test_a_german_customer_serves_herself_in_german(env: Env) -> None:
    """The self-service mails (the list of licenses, a release) and the how-to line of every
    license mail exist in German too."""
    first, second = new_serial(), new_serial()
    issued = env.send(english_request(ANNA, first))
    assert issued.outcome.value == "issued"
    env.send(english_request(ANNA, second))
    assert "Welche Lizenzen habe ich" in text_of(env.outbox("reply")[-1]["raw"])
    listed = env.send(mail(ANNA, "Hallo,\n\nwelche Lizenzen habe ich?\n\nGruß Anna", "Lizenzen"))
    assert listed.outcome.value == "listed"
    body = text_of(env.outbox("reply")[-1]["raw"])
    assert "registriert" in body and first in body and "aktiv" in body
    released = env.send(
        mail(ANNA, f"Hallo,\n\nbitte geben Sie {first} frei.\n\nGruß Anna", "PC weg")
    )
    assert released.outcome.value == "released"
    body = text_of(env.outbox("reply")[-1]["raw"])
    assert "freigegeben" in body and first in body
