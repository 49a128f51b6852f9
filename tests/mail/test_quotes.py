"""mailbot.mail.parse.quotes: new text versus quoted history, forwards, format=flowed."""

from __future__ import annotations

import pytest

from mailbot.mail.parse import parse_message, split_quotes
from mailbot.mail.parse.quotes import is_forward_subject, is_reply_subject, unflow
from tests.mail.mails import S1, S2, S3, S4, S5, S6, S7, load, mail, normalized


def test_apple_mail_plain_reply_quotes_are_not_new() -> None:
    inbound = load("apple-mail-reply.eml")
    assert inbound.serials == ()
    assert normalized(inbound.quoted_serials) == [S5]
    assert inbound.text == "Thanks, it works!\n\nTom"


def test_gmail_reply_with_wrapped_intro_quotes_our_serial() -> None:
    inbound = load("gmail-reply-quote.eml")
    assert inbound.serials == ()
    assert normalized(inbound.quoted_serials) == [S6]
    assert inbound.text.startswith("Great, thank you, it works now.")
    assert "wrote:" not in inbound.text


def test_inline_forward_counts_as_new_text_but_its_own_quote_does_not() -> None:
    inbound = load("forwarded-request.eml")
    assert normalized(inbound.serials) == [S3]
    assert normalized(inbound.quoted_serials) == [S4]
    assert "Forwarded message" in inbound.text


def test_outlook_forward_without_marker_uses_the_fw_subject() -> None:
    inbound = load("outlook-forward.eml")
    assert normalized(inbound.serials) == [S6]  # the forwarded mail
    assert normalized(inbound.quoted_serials) == [S7]  # that mail's own quoted history
    assert inbound.order_refs == ("ORD-5521",)


def test_format_flowed_joins_a_spaced_serial_broken_over_lines() -> None:
    spaced = S3.replace("-", " ")
    first, rest = spaced[:13], spaced[14:]
    body = f"My serial is {first} \n{rest}\n"
    inbound = parse_message(mail(body, ctype="text/plain; charset=utf-8; format=flowed"))
    assert normalized(inbound.serials) == [S3]


@pytest.mark.parametrize(
    "intro",
    [
        "On Mon, 1 Jan 2024 at 10:00, Amphis Support <support@amphis.example> wrote:",
        "Am 01.01.2024 um 10:00 schrieb Amphis Support <support@amphis.example>:",
        "Le lun. 1 janv. 2024 à 10:00, Amphis Support <support@amphis.example> a écrit :",
        "-----Original Message-----",
        "-----Ursprüngliche Nachricht-----",
    ],
)
def test_reply_intros_start_the_quote(intro: str) -> None:
    new, quoted = split_quotes(f"Thanks!\n\n{intro}\nyour license for {S1}\n")
    assert new == "Thanks!"
    assert S1 in quoted


def test_outlook_header_block_and_underscore_rule() -> None:
    text = (
        "Thanks\n\n________________________________\nFrom: Support <s@a.example>\n"
        f"Sent: Monday, 1 January 2024 10:00\nTo: me\nSubject: license\n\n{S1}\n"
    )
    new, quoted = split_quotes(text)
    assert new == "Thanks" and S1 in quoted
    german = (
        f"Danke\n\nVon: Support <s@a.example>\nGesendet: Montag, 1. Januar 2024\nAn: mich\n\n{S1}"
    )
    assert split_quotes(german)[0] == "Danke"


def test_interleaved_answers_after_an_intro_stay_new() -> None:
    text = (
        "On Mon, 1 Jan 2024 at 10:00, Support <s@a.example> wrote:\n"
        "> Which serial does the new PC show?\n"
        f"{S2}\n"
        "> Thanks\n"
    )
    new, quoted = split_quotes(text)
    assert new == S2
    assert "Which serial" in quoted


def test_a_wrapped_intro_before_interleaved_answers() -> None:
    text = (
        "On Mon, Jan 1, 2024 at 10:00 AM Amphis Support <support@amphis.example>\n"
        "wrote:\n"
        "> Which serial?\n"
        f"{S2}\n"
    )
    assert split_quotes(text) == (S2, "\n".join(text.split("\n")[:3]))


def test_a_sentence_that_looks_like_an_intro_is_not_a_quote() -> None:
    text = f"On my new PC I wrote down the serial:\n{S3}\n"
    assert split_quotes(text) == (text.strip("\n"), "")


def test_signature_underscores_without_headers_are_not_a_quote() -> None:
    text = f"serial {S3}\n\n____________________\nACME Ltd, London\n"
    assert split_quotes(text)[1] == ""


def test_forward_markers_are_not_quotes() -> None:
    for marker in ("---------- Forwarded message ---------", "Begin forwarded message:"):
        text = f"fyi\n\n{marker}\nFrom: A <a@x>\nDate: today\nSubject: s\nTo: b@y\n\n{S1}\n"
        new, quoted = split_quotes(text)
        assert S1 in new and quoted == ""


def test_reply_and_forward_subjects() -> None:
    assert all(is_reply_subject(s) for s in ("Re: x", "AW: x", "re[2]: x", " SV : x", "回复: x"))
    assert not any(is_reply_subject(s) for s in ("Regarding x", "Fwd: x", ""))
    assert all(is_forward_subject(s) for s in ("Fwd: x", "FW: x", "WG: x", "TR: x"))
    assert not is_forward_subject("Re: x")


def test_unflow_joins_soft_breaks_per_quote_depth() -> None:
    assert unflow("one \ntwo\n> a \n> b\n-- \nsig", delsp=False) == "one two\n> a b\n-- \nsig"
    assert unflow("ab \ncd", delsp=True) == "abcd"
