"""mailbot.authenticate: Authentication-Results read only from our own server."""

from __future__ import annotations

import pytest

from mailbot.core.authenticate import authserv_id_of, read_auth_results, sender_verdict
from mailbot.core.model import AuthResult
from mailbot.mail.parse import parse_message
from tests.mail.mails import mail


def test_auth_results_only_from_our_server_and_only_the_topmost() -> None:
    values = (
        "mx.amphis.example; dkim=fail header.d=x; dkim=pass (good sig) header.d=y;"
        ' spf=softfail smtp.mailfrom="a;b@x" (comment; with ; semicolons);'
        " dmarc=fail (p=reject) header.from=customer.example",
        "mx.amphis.example; dmarc=pass",  # lower down: forged or older, not ours
        "evil.example; dmarc=pass; dkim=pass; spf=pass",
    )
    assert read_auth_results(values, "MX.Amphis.Example") == AuthResult(
        dmarc="fail", dkim="pass", spf="softfail", dmarc_domain="customer.example"
    )
    assert read_auth_results(values[2:], "mx.amphis.example") == AuthResult()
    assert read_auth_results(values, "") == AuthResult()


def test_auth_results_tolerant_forms() -> None:
    assert authserv_id_of("(comment) mx.amphis.example 1; none") == "mx.amphis.example"
    assert authserv_id_of("spf=none (sender IP is ) smtp.mailfrom=<>;") == ""
    assert read_auth_results(["mx.amphis.example; none"], "mx.amphis.example") == AuthResult()
    assert read_auth_results(
        ["mx.amphis.example;\r\n\tdmarc = pass (p=none) header.from=x; spf/1=pass"],
        "mx.amphis.example",
    ) == AuthResult(dmarc="pass", spf="pass", dmarc_domain="x")
    assert read_auth_results(['mx.amphis.example; "unterminated (', ")"], "mx.amphis.example")


@pytest.mark.parametrize(
    ("header", "require", "verdict"),
    [
        ("mx.amphis.example; dmarc=pass", False, None),
        ("mx.amphis.example; dmarc=pass", True, None),
        ("mx.amphis.example; dmarc=fail", False, "DMARC failed"),
        ("mx.amphis.example; dmarc=none", False, None),
        ("mx.amphis.example; dmarc=none", True, "did not pass (result: none)"),
        ("mx.amphis.example; spf=pass", True, "not reported"),
        ("forged.example; dmarc=pass", True, "not reported"),
    ],
)
def test_sender_verdict(header: str, require: bool, verdict: str | None) -> None:
    inbound = parse_message(mail("x", headers=f"Authentication-Results: {header}\n"))
    result = sender_verdict(inbound, require, "mx.amphis.example")
    if verdict is None:
        assert result is None
    else:
        assert result is not None and verdict in result


@pytest.mark.parametrize(
    ("header", "require", "verdict"),
    [
        ("mx.amphis.example; dmarc=pass header.from=customer.example", True, None),
        ("mx.amphis.example; dmarc=pass header.from=Customer.Example", True, None),
        (
            "mx.amphis.example; dmarc=pass header.from=evil.example",
            True,
            "DMARC passed for evil.example, not for the sender's domain customer.example",
        ),
        ("mx.amphis.example; dmarc=pass header.from=evil.example", False, None),
        ("mx.amphis.example; dmarc=fail header.from=customer.example", False, "DMARC failed"),
    ],
)
def test_a_dmarc_pass_for_another_domain_is_no_pass(
    header: str, require: bool, verdict: str | None
) -> None:
    """Our server checked a From other than the one we read (two From headers, a display
    name trick): its pass says nothing about this sender."""
    inbound = parse_message(mail("x", headers=f"Authentication-Results: {header}\n"))
    assert inbound.sender.endswith("@customer.example")
    result = sender_verdict(inbound, require, "mx.amphis.example")
    if verdict is None:
        assert result is None
    else:
        assert result is not None and verdict in result
