"""The flanker corpus (tests/data/corpus/flanker/, Apache-2.0): real, broken and hostile mail.

None of it is a license request. Every file must parse quickly without an internal error, and
classify as ignored or escalated; every file under bounce/ is a bounce.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mailbot.core.classify import Kind, classify
from mailbot.core.model import Policy, Reason
from mailbot.mail.parse import parse_message
from tests.apps import DATA
from tests.cpu import within_budget

CORPUS = DATA / "corpus" / "flanker"
FILES = sorted(CORPUS.rglob("*.eml"))
BOUNCES = sorted((CORPUS / "bounce").glob("*.eml"))
POLICY = Policy(our_addresses=frozenset({"support@amphis.example"}))


def test_the_corpus_is_there() -> None:
    assert len(FILES) >= 45
    assert "Apache License" in (CORPUS / "LICENSE").read_text()
    assert len(BOUNCES) == 9


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(CORPUS)))
def test_parses_fast_and_is_never_a_license_request(path: Path) -> None:
    raw = path.read_bytes()
    started = time.perf_counter()
    inbound = parse_message(raw, authserv_id="mx.amphis.example")
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"{elapsed:.2f} s"
    crashed = any(p.startswith("could not parse the mail") for p in inbound.problems)
    assert not crashed, inbound.problems
    assert inbound.size == len(raw)
    result = classify(inbound, POLICY)
    assert result.kind in (Kind.IGNORE, Kind.ESCALATE), result
    assert result.reason is not None


@pytest.mark.parametrize("path", BOUNCES, ids=lambda p: p.name)
def test_every_bounce_is_a_bounce(path: Path) -> None:
    result = classify(parse_message(path.read_bytes()), POLICY)
    assert (result.kind, result.reason) == (Kind.IGNORE, Reason.BOUNCE), result.explanation


def test_the_torture_test_is_well_under_a_second() -> None:
    raw = (CORPUS / "torture.eml").read_bytes()
    assert len(raw) > 1_800_000
    inbound = within_budget(lambda: parse_message(raw), 0.5)
    assert inbound.readable and inbound.text


@pytest.mark.parametrize(
    ("name", "message_ids"),
    [
        ("office365.eml", ("20171013111011.20866.254C2F3A4D7AA526@ninomail.com",)),
        ("zed.eml", ("20090708054735.GC7578@example.com",)),
        ("mailbox-full.eml", ("4E326A95.3010907@example.com",)),
        # Gmail returns the original inline in a text/plain bounce.
        (
            "gmail-invalid-address.eml",
            ("CAKsfaBUUGqVZiaMrmH3TRPfq1odQPtM7Ey5YW1SgyJJRHtAjgw@mail.gmail.com",),
        ),
        # A delay warning is not a failure: nothing to mark as bounced.
        ("no-mx.eml", ()),
        ("delayed.eml", ()),  # the returned message has no Message-ID
    ],
)
def test_bounced_message_ids(name: str, message_ids: tuple[str, ...]) -> None:
    inbound = parse_message((CORPUS / "bounce" / name).read_bytes())
    assert inbound.bounced_message_ids == message_ids


def test_complaints_are_machine_mail_not_bounces() -> None:
    for path in sorted((CORPUS / "complaints").glob("*.eml")):
        inbound = parse_message(path.read_bytes())
        assert inbound.report_type == "feedback-report"
        assert inbound.bounced_message_ids == ()
        result = classify(inbound, POLICY)
        assert (result.kind, result.reason) == (Kind.IGNORE, Reason.AUTO_REPLY)


def test_forged_looking_auth_headers_in_the_corpus_are_ignored() -> None:
    # enclosed-endless.eml carries Google's Authentication-Results: not our server's.
    raw = (CORPUS / "enclosed-endless.eml").read_bytes()
    inbound = parse_message(raw, authserv_id="mx.amphis.example")
    assert inbound.auth.dmarc is None and inbound.auth.dkim is None
    google = parse_message(raw, authserv_id="mx.google.com")
    assert (google.auth.spf, google.auth.dkim) == ("pass", "pass")
