"""A customer serving themselves by mail: the wording (English and German, hostile and unclear
phrasings go to a person) and the decisions (answers only the order's address, releases share
the per-seat limit with transfers). Pure: hand-made mails and facts."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailbot.core.classify import Classification, Kind, classify
from mailbot.core.decide import decide
from mailbot.core.model import Action, LicenseState, Outcome, Policy, Reason
from mailbot.core.self_service import listed_licenses
from mailbot.mail.parse import parse_message
from tests.builders import facts, inbound, license_, new_serial, order
from tests.core.test_classify import MISTYPED, A, B, mail

POLICY = Policy(our_addresses=frozenset({"support@amphis.example"}), transfers_per_seat=2)


def kind_of(body: str, subject: str = "license") -> Classification:
    return classify(parse_message(mail(body, subject=subject)), POLICY)


@pytest.mark.parametrize(
    "body",
    [
        f"Hello,\n\nplease release {A}, I sold that laptop.\n\nThanks",
        f"Could you please deactivate the license of {A}?",
        f"I'd like to free up the seat of {A}.",
        f"Deactivate {A}",
        f"Hallo,\n\nbitte die Lizenz {A} freigeben.\n\nDanke",
        f"Ich möchte die Lizenz für {A} deaktivieren.",
        f"Können Sie bitte {A} abmelden?",
        f"release {A}",  # as the line in every license mail says
        f"Freigeben: {A}",
        f"Hallo,\n\nbitte geben Sie {A} frei, der Rechner ist verkauft.",  # the separable verb
        f"Geben Sie die Lizenz von {A} bitte frei.",
    ],
)
def test_release_wording_in_english_and_german(body: str) -> None:
    cls = kind_of(body)
    assert cls.kind is Kind.RELEASE
    assert cls.old_serial == A


@pytest.mark.parametrize(
    "body",
    [
        f"Please do not release {A}, we still use it.",  # negated
        f"Don't deactivate {A}!",
        f"Bitte {A} nicht deaktivieren.",
        f"Bitte geben Sie {A} nicht frei, wir nutzen ihn noch.",
        f"Warum wurde {A} freigegeben?",  # a complaint
        f"Why was {A} deactivated?",  # a complaint, not a request
        f"My license {A} got released by mistake",
        f"Please release {A} and {B}",  # several serials
        f"Please release {MISTYPED}",  # a serial that does not read
        "Please release the license of my old laptop.",  # no serial
    ],
)
def test_unclear_or_hostile_release_wording_goes_to_a_person(body: str) -> None:
    cls = kind_of(body)
    assert cls.kind is Kind.ESCALATE
    assert cls.reason is Reason.RELEASE_REVIEW


def test_release_words_that_are_no_release_leave_a_plain_request() -> None:
    assert kind_of(f"I installed the latest release. My serial: {A}").kind is Kind.REQUEST
    assert kind_of(f"It says unregistered. Serial {A}").kind is Kind.REQUEST
    # Two serials and "new PC" are a move: the transfer check comes first.
    cls = kind_of(f"New PC! Please deactivate the old {A} and license the new {B}.")
    assert cls.kind is Kind.TRANSFER and cls.old_serial == A


@pytest.mark.parametrize(
    ("body", "subject"),
    [
        ("Hello,\n\nwhich licenses do I have?\n\nThanks, Bob", "license"),
        ("What serials do we have?", "license"),
        ("", "Which licenses do I have?"),
        ("Could you send me a list of my licenses?", "license"),
        ("Hallo,\n\nwelche Lizenzen habe ich?\n\nGruß", "Lizenzen"),
        ("Bitte schicken Sie mir eine Übersicht über meine Lizenzen.", "Lizenzen"),
    ],
)
def test_list_wording_in_english_and_german(body: str, subject: str) -> None:
    assert kind_of(body, subject).kind is Kind.LIST_LICENSES


@pytest.mark.parametrize(
    "body",
    [
        "How many licenses do I need for three users?",  # buying, not listing
        "Which licenses do I have? And why does the app crash on start?",  # another question
        "I don't need a list of my licenses, I need an invoice.",
    ],
)
def test_list_wording_with_more_in_it_goes_to_a_person(body: str) -> None:
    cls = kind_of(body)
    assert cls.kind is Kind.ESCALATE


def test_a_list_request_with_a_serial_is_a_request() -> None:
    assert kind_of(f"Which licenses do I have? Also please send {A}").kind is Kind.REQUEST


def test_a_reply_to_our_license_mail_asking_for_the_list() -> None:
    raw = mail(
        f"which licenses do I have?\n\nOn Mon, support wrote:\n> Serial number: {A}\n",
        subject="Re: Your Amphis Customer license",
    )
    assert classify(parse_message(raw), POLICY).kind is Kind.LIST_LICENSES


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "please",
                "release",
                "don't",
                "deactivate",
                "bitte",
                "nicht",
                "freigeben",
                "?",
                "which",
                "licenses",
                "do",
                "I",
                "have",
                ",",
                ".",
                "\n",
                A,
                B,
                "latest",
            ]
        )
        | st.text(max_size=12),
        max_size=25,
    )
)
def test_a_release_always_names_the_one_serial_of_the_mail(words: list[str]) -> None:
    body = " ".join(words)
    cls = kind_of(body)
    if cls.kind is Kind.RELEASE:
        found = parse_message(mail(body)).serials
        assert len(found) == 1 and cls.old_serial == found[0].normalized


# --- decisions ---------------------------------------------------------------------------------

LIST = Classification(Kind.LIST_LICENSES, None, ())


def release_of(serial: str) -> Classification:
    return Classification(Kind.RELEASE, None, (), old_serial=serial)


def test_the_list_goes_to_the_senders_own_address_never_a_reply_to() -> None:
    mine = license_(new_serial())
    mail_ = inbound(reply_to="attacker@evil.example")
    d = decide(mail_, LIST, facts((order(),), (mine,), own_licenses=(mine,)), POLICY)
    assert d.outcome is Outcome.LISTED
    assert d.reply_to == "alice@northwind.example"
    assert d.template == "licenses_list"


def test_a_stranger_asking_for_a_list_gets_no_list() -> None:
    d = decide(inbound(sender="eve@evil.example"), LIST, facts(), POLICY)
    assert d.outcome is Outcome.ESCALATED and d.reason is Reason.NO_ORDER
    assert d.template != "licenses_list"


def test_a_failing_dmarc_gets_nothing() -> None:
    headers = {"authentication-results": ("mx.amphis.example; dmarc=fail header.from=x",)}
    policy = Policy(authserv_id="mx.amphis.example")
    s = new_serial()
    mine = license_(s)
    for cls in (LIST, release_of(s)):
        d = decide(
            inbound(serials=(s,), headers=headers),
            cls,
            facts((order(),), (mine,), own_licenses=(mine,)),
            policy,
        )
        assert d.outcome is Outcome.ESCALATED and d.reason is Reason.SENDER_UNVERIFIED
        assert d.reply_to == ""
        assert all(r.action is Action.ESCALATE for r in d.results)


def test_release_of_an_own_serial_goes_to_the_orders_address() -> None:
    s = new_serial()
    lic = license_(s)
    d = decide(
        inbound(serials=(s,), reply_to="x@evil.example"),
        release_of(s),
        facts((order(),), (lic,)),
        POLICY,
    )
    assert d.outcome is Outcome.RELEASED
    assert d.results[0].action is Action.RELEASE and d.results[0].license_no == 1
    assert d.reply_to == "alice@northwind.example"


def test_release_of_another_customers_serial_is_refused() -> None:
    s = new_serial()
    theirs = license_(s, email="bob@contoso.example")
    d = decide(inbound(serials=(s,)), release_of(s), facts((order(),), (theirs,)), POLICY)
    assert d.outcome is Outcome.ESCALATED
    assert d.reason is Reason.SERIAL_LICENSED_ELSEWHERE
    assert not any(r.action is Action.RELEASE for r in d.results)


@pytest.mark.parametrize(
    ("lic_kw", "moves"),
    [
        ({"state": LicenseState.REVOKED}, 0),  # nothing to release
        ({"order_id": None}, 0),  # a manual grant, on no order's seat
        ({}, 2),  # the seat moved as often as transfers may
    ],
)
def test_release_that_a_person_must_decide(lic_kw: dict[str, object], moves: int) -> None:
    s = new_serial()
    lic = license_(s, seat_key=7, **lic_kw)  # type: ignore[arg-type]
    d = decide(
        inbound(serials=(s,)),
        release_of(s),
        facts((order(),), (lic,), transfers_in_window={7: moves}),
        POLICY,
    )
    assert d.outcome is Outcome.ESCALATED and d.reason is Reason.RELEASE_REVIEW


def test_one_move_below_the_limit_still_releases() -> None:
    s = new_serial()
    lic = license_(s, seat_key=7)
    d = decide(
        inbound(serials=(s,)),
        release_of(s),
        facts((order(),), (lic,), transfers_in_window={7: 1}),
        POLICY,
    )
    assert d.outcome is Outcome.RELEASED


def test_the_rate_limit_holds_for_self_service() -> None:
    d = decide(inbound(), LIST, facts((order(),), replies_last_hour=10), POLICY)
    assert d.outcome is Outcome.IGNORED and d.reason is Reason.RATE_LIMITED


def test_listed_licenses_newest_per_serial_with_states_and_expiry() -> None:
    from dataclasses import replace

    a, b, c = new_serial(), new_serial(), new_serial()
    old = license_(a, no=1, state=LicenseState.REVOKED)
    again = license_(a, no=4)
    expired = replace(license_(b, no=2), expires_day=9000)  # 2024-08-22
    gone = license_(c, no=3, state=LicenseState.REVOKED)
    items = listed_licenses((old, expired, gone, again), date(2026, 11, 29))
    assert [(i.serial, i.state) for i in items] == [(a, "active"), (b, "expired"), (c, "revoked")]
    assert items[0].expires is None and items[1].expires == date(2024, 8, 22)
