"""License management by staff (list, show, resend, revoke, transfer, grant) and the signed
revocation list the desktop app verifies."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from mailbot.adapters.signing import load_public_keys
from mailbot.core.revocation_format import (
    verify_revocation_list,
)
from mailbot.services import license_views
from mailbot.services import licenses as licensing
from mailbot.services.licenses import LicenseError
from tests.db import execute, one
from tests.staff_env import T0, Env, make_env, new_serial, order_row, request, text_of

TODAY = T0.date()  # the frozen clock's day
ALICE = "alice@northwind.example"
BOB = "bob@contoso.example"


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return make_env(tmp_path, [order_row("ORD-A", ALICE, 2), order_row("ORD-B", BOB, 1)])


def licensed(env: Env, email: str, *serials: str) -> list[int]:
    env.send(request(email, *serials))
    return [
        one(env.store, "SELECT license_no FROM licenses WHERE serial = ?", [s])["license_no"]
        for s in serials
    ]


def now(env: Env) -> datetime:
    return env.clock.now()


def test_list_filters_and_show(env: Env) -> None:
    a1, a2 = new_serial(), new_serial()
    (n1, n2) = licensed(env, ALICE, a1, a2)
    (n3,) = licensed(env, BOB, b := new_serial())
    code = "AMC"
    assert [r.license_no for r in license_views.list_licenses(env.store, today=TODAY)] == [
        n1,
        n2,
        n3,
    ]
    assert [
        r.license_no
        for r in license_views.list_licenses(env.store, today=TODAY, email=ALICE.upper())
    ] == [
        n1,
        n2,
    ]
    assert [
        r.license_no
        for r in license_views.list_licenses(env.store, today=TODAY, email="@contoso.example")
    ] == [n3]
    assert [
        r.license_no for r in license_views.list_licenses(env.store, today=TODAY, order_id="ORD-A")
    ] == [n1, n2]
    assert [
        r.license_no
        for r in license_views.list_licenses(
            env.store, serial=b.lower().replace("-", " "), product_code=code, today=TODAY
        )
    ] == [n3]
    assert (
        license_views.list_licenses(env.store, today=TODAY, serial="") == []
    )  # "" names no license

    detail = license_views.license_detail(env.store, n1, today=TODAY)
    assert detail.order is not None and detail.order.order_id == "ORD-A"
    assert detail.license.license_string.startswith("AMC1-")
    with pytest.raises(LicenseError, match="no license #99"):
        license_views.license_detail(env.store, 99, today=TODAY)

    out = env.cli("licenses", "list", "--customer", ALICE)
    assert out.exit_code == 0 and a1 in out.output and b not in out.output
    shown = env.cli("licenses", "show", a1)  # by serial as well as by number
    assert shown.exit_code == 0 and detail.license.license_string in shown.output.replace("\n", "")
    assert "license_string" not in env.cli_json("licenses", "list")[0]
    assert env.cli("licenses", "show", "").exit_code == 2
    assert env.cli_json("licenses", "show", str(n3))["serial"] == b


def test_resend_goes_to_the_orders_email_only(env: Env) -> None:
    serial = new_serial()
    (no,) = licensed(env, ALICE, serial)
    # Even if the license row's address were changed, the order decides where it goes.
    execute(
        env.store,
        "UPDATE licenses SET customer_email = 'mallory@evil.example' WHERE license_no = ?",
        [no],
    )
    sent = licensing.resend(env.app, no, "ann", now(env))
    row = env.outbox()[-1]
    assert sent.to == ALICE and row["to_addr"] == ALICE and row["kind"] == "reply"
    lic = env.store.license(no)
    assert lic is not None and lic.license_string in text_of(row["raw"])
    history = license_views.license_detail(env.store, no, today=TODAY).history
    assert history[-1].actor == "ann" and history[-1].action == "license_resent"
    out = env.cli_json("licenses", "resend", str(no), "--as", "ann")
    assert out["to"] == ALICE


def test_revoke_and_only_staff_license_the_serial_again(env: Env) -> None:
    serial = new_serial()
    (no,) = licensed(env, ALICE, serial)
    with pytest.raises(LicenseError, match="say why"):
        licensing.revoke(env.app, no, "", "ann", now(env))
    lic = licensing.revoke(env.app, no, "chargeback lost", "ann", now(env))
    assert lic.state.value == "revoked"
    with pytest.raises(LicenseError, match="already revoked"):
        licensing.revoke(env.app, no, "again", "ann", now(env))
    with pytest.raises(LicenseError, match="revoked; it cannot be sent again"):
        licensing.resend(env.app, no, "ann", now(env))
    # The customer asks again: the bot does not re-license a revoked serial by itself.
    processed = env.send(request(ALICE, serial))
    assert processed.reason is not None and processed.reason.value == "serial_revoked"
    assert (
        one(
            env.store,
            "SELECT count(*) AS n FROM licenses WHERE serial = ? AND state = 'active'",
            [serial],
        )["n"]
        == 0
    )
    # Staff can.
    new, sent = licensing.grant(env.app, serial, "", "", "ann", now(env), order_id="ORD-A")
    assert new.license_no != no and sent is not None and sent.to == ALICE
    assert env.store.revoked_license_numbers() == [no]
    result = env.cli("licenses", "revoke", str(new.license_no), "--reason", "test", "--as", "x")
    assert result.exit_code == 0 and "revoked" in result.output


def test_staff_transfer_keeps_the_seat_and_mails_the_order_email(env: Env) -> None:
    old, new = new_serial(), new_serial()
    (no,) = licensed(env, BOB, old)
    with pytest.raises(LicenseError, match="the same"):
        licensing.transfer(env.app, old, old, "ann", now(env))
    before, after, sent = licensing.transfer(
        env.app, old, new, "ann", now(env), reason="third PC this year, approved"
    )
    assert before.state.value == "revoked" and after.state.value == "active"
    assert after.seat_key == before.seat_key == no and after.order_id == "ORD-B"
    assert sent is not None and sent.to == BOB
    row = one(
        env.store, "SELECT replaced_by, revoked_reason FROM licenses WHERE license_no = ?", [no]
    )
    assert row == {"replaced_by": after.license_no, "revoked_reason": f"transferred to {new}"}
    assert "new PC" in text_of(env.outbox()[-1]["raw"]) or after.license_string in text_of(
        env.outbox()[-1]["raw"]
    )
    with pytest.raises(LicenseError, match="has no active license"):
        licensing.transfer(env.app, old, new_serial(), "ann", now(env))
    taken = new_serial()
    licensed(env, ALICE, taken)
    with pytest.raises(LicenseError, match="already has an active license"):
        licensing.transfer(env.app, new, taken, "ann", now(env))
    out = env.cli_json("licenses", "transfer", new, third := new_serial(), "--no-mail")
    assert out["serial"] == third and out["to"] is None


def test_grant_without_an_order_needs_a_reason_and_an_address(env: Env) -> None:
    serial = new_serial()
    with pytest.raises(LicenseError, match="needs a reason"):
        licensing.grant(env.app, serial, "ceo@acme.example", "", "ann", now(env))
    with pytest.raises(LicenseError, match="email address"):
        licensing.grant(env.app, serial, "", "demo", "ann", now(env))
    lic, sent = licensing.grant(env.app, serial, "CEO@acme.example", "trade fair", "ann", now(env))
    row = one(env.store, "SELECT * FROM licenses WHERE license_no = ?", [lic.license_no])
    assert row["order_id"] is None and row["grant_reason"] == "trade fair"
    assert row["granted_by"] == "ann" and row["customer_email"] == "ceo@acme.example"
    assert sent is not None and sent.to == "ceo@acme.example"
    with pytest.raises(LicenseError, match="already has an active license"):
        licensing.grant(env.app, serial, "x@y.example", "again", "ann", now(env))
    out = env.cli_json("licenses", "grant", new_serial(), "--order", "ORD-A")
    assert out["to"] == ALICE


# -- the revocation list ---------------------------------------------------------------------


def test_the_command_writes_a_list_the_public_keys_verify(env: Env, tmp_path: Path) -> None:
    a, b = new_serial(), new_serial()
    (n1, n2) = licensed(env, ALICE, a, b)
    licensing.revoke(env.app, n2, "refund", "ann", now(env))
    target = tmp_path / "pub" / "revoked.json"
    result = env.cli("licenses", "revoked", "--signed", "--output", str(target))
    assert result.exit_code == 0, result.output
    s = env.app.settings.signing
    got = verify_revocation_list(target.read_bytes(), load_public_keys(s.public_keys), "AMC")
    assert got.revoked == frozenset({n2})
    to_stdout = env.cli("licenses", "revoked", "--signed")
    assert verify_revocation_list(
        to_stdout.output, load_public_keys(s.public_keys), "AMC"
    ).revoked == {n2}
    listed = env.cli_json("licenses", "revoked")
    assert [r["license_no"] for r in listed] == [n2] and n1 != n2
