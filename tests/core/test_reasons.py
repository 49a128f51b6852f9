"""The words for each escalation reason (mailbot/core/reasons.py): one table, two voices."""

from __future__ import annotations

import pytest

from mailbot.core.model import Reason
from mailbot.core.reasons import customer_text, staff_text

IGNORES = {
    Reason.AUTO_REPLY,
    Reason.BOUNCE,
    Reason.OWN_MAIL,
    Reason.DUPLICATE,
    Reason.LOOP,
    Reason.RATE_LIMITED,
}
ESCALATIONS = [r for r in Reason if r not in IGNORES]


@pytest.mark.parametrize("reason", ESCALATIONS, ids=lambda r: r.value)
def test_every_escalation_reason_has_words_for_staff(reason: Reason) -> None:
    text = staff_text(reason)
    assert text and text != reason.value
    assert staff_text(reason.value) == text  # as stored: the value, not the enum


@pytest.mark.parametrize("reason", sorted(IGNORES, key=lambda r: r.value), ids=lambda r: r.value)
def test_ignored_mail_gets_no_reply_text(reason: Reason) -> None:
    assert customer_text(reason) == ""


def test_what_the_customer_reads_is_words_not_identifiers() -> None:
    for reason in Reason:
        assert "_" not in customer_text(reason), reason


def test_nothing_and_unknown_reasons() -> None:
    assert staff_text(None) == "" and customer_text(None) == ""
    assert staff_text("from_a_newer_release") == "from_a_newer_release"
    assert customer_text("from_a_newer_release") == ""
