"""Orders with terms (issue 13) on the staff-side pipeline: a CSV `expires` column and
`orders add --expires`; licenses expire with the term plus the grace days; a term moved forward
renews every active license once, by one mail; a lapsed or unpaid order renews nothing; a
quantity below the licenses in use is flagged (docs/contract.md, "Orders with terms")."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pytest
from click.testing import Result

from mailbot.core.license_format import day_of, verify_license
from mailbot.services.order_sync import sync_orders
from mailbot.store import Store
from tests.db import execute, query
from tests.staff_env import Env, make_env, new_serial, parsed, request, text_of

HEADER = "order_id,email,name,seats,status,created,expires"
GRACE = 7


def write_terms(env: Env, *rows: str) -> None:
    path = env.base / "orders.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))


def row(order_id: str, email: str, seats: int, expires: str, status: str = "paid") -> str:
    return f"{order_id},{email},Anna,{seats},{status},2026-11-01T10:00:00+00:00,{expires}"


@pytest.fixture
def env(tmp_path: Path) -> Env:
    made = make_env(tmp_path, [], product={"subscription_grace_days": GRACE})
    write_terms(made, row("SUB-1", "anna@acme.example", 3, "2026-12-31"))
    return made


def licensed_three(env: Env) -> list[str]:
    serials = [new_serial() for _ in range(3)]
    done = env.send(request("anna@acme.example", *serials))
    assert done.outcome.value == "issued"
    return serials


def licenses(store: Store) -> list[dict[str, object]]:
    return query(store, "SELECT * FROM licenses WHERE state = 'active' ORDER BY license_no")


def verified_expiry(env: Env, string: str, serial: str) -> date | None:
    info = verify_license(
        string, serial=serial, public_keys=env.app.signer.public_keys(), product_code="AMC"
    )
    return info.expires


def test_a_license_on_a_term_expires_with_the_term_plus_grace(env: Env) -> None:
    serials = licensed_three(env)
    rows = licenses(env.store)
    assert [r["serial"] for r in rows] == serials
    for r in rows:
        assert verified_expiry(env, str(r["license_string"]), str(r["serial"])) == date(2027, 1, 7)
        assert day_of(int(str(r["expires_day"]))) == date(2027, 1, 7)
    reply = text_of(env.outbox("reply")[0]["raw"])
    assert "Valid until:    2027-01-07" in reply


def test_a_term_moved_forward_renews_every_license_once_by_one_mail(env: Env) -> None:
    serials = licensed_three(env)
    before = len(env.outbox())
    write_terms(env, row("SUB-1", "anna@acme.example", 3, "2027-12-31"))
    report = sync_orders(env.app)
    assert report.renewals == ["SUB-1"]
    sync_orders(env.app)  # a second sync: nothing more
    env.poll()  # nor the worker
    mails = env.outbox()[before:]
    assert len(mails) == 1
    renewal = mails[0]
    assert renewal["to_addr"] == "anna@acme.example"
    body = text_of(renewal["raw"])
    assert "paid until 2027-12-31" in body
    rows = licenses(env.store)
    assert [r["license_no"] for r in rows] == [1, 2, 3]  # same licenses, same seats
    for r, serial in zip(rows, serials, strict=True):
        assert r["license_string"] in body
        assert verified_expiry(env, str(r["license_string"]), serial) == date(2028, 1, 7)
    assert len(query(env.store, "SELECT * FROM renewals")) == 1


def test_the_renewal_record_alone_stops_a_second_mail(env: Env) -> None:
    licensed_three(env)
    write_terms(env, row("SUB-1", "anna@acme.example", 3, "2027-12-31"))
    sync_orders(env.app)
    before = len(env.outbox())
    # As if the re-signed strings were lost: the record of the term still says it was mailed.
    execute(env.store, "UPDATE licenses SET expires_day = 9000")
    sync_orders(env.app)
    assert len(env.outbox()) == before


def test_a_crash_inside_the_renewal_leaves_nothing_and_the_next_sync_mails_once(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    licensed_three(env)
    strings = [r["license_string"] for r in licenses(env.store)]
    before = len(env.outbox())
    write_terms(env, row("SUB-1", "anna@acme.example", 3, "2027-12-31"))

    def crash(*args: object, **kwargs: object) -> bool:
        raise OSError("killed")

    with monkeypatch.context() as patch:
        patch.setattr(type(env.store), "add_renewal", crash)
        assert sync_orders(env.app).renewals == []
    assert len(env.outbox()) == before  # the queued mail was rolled back with the rest
    assert [r["license_string"] for r in licenses(env.store)] == strings
    assert query(env.store, "SELECT * FROM renewals") == []
    assert sync_orders(env.app).renewals == ["SUB-1"]
    assert sync_orders(env.app).renewals == []
    assert len(env.outbox()) == before + 1


def test_an_unpaid_or_lapsed_term_renews_nothing(env: Env) -> None:
    licensed_three(env)
    before = len(env.outbox())
    write_terms(env, row("SUB-1", "anna@acme.example", 3, "2027-12-31", status="unpaid"))
    assert sync_orders(env.app).renewals == []
    # A term that ran out (grace included) gives no seats for new serials either.
    write_terms(env, row("SUB-1", "anna@acme.example", 3, "2026-11-01"))
    assert sync_orders(env.app).renewals == []
    assert len(env.outbox()) == before
    done = env.send(request("anna@acme.example", new_serial()))
    assert done.outcome.value == "escalated"
    assert done.reason is not None and done.reason.value == "unpaid_order"


def test_a_quantity_below_the_licenses_in_use_is_flagged_not_revoked(env: Env) -> None:
    licensed_three(env)
    write_terms(env, row("SUB-1", "anna@acme.example", 2, "2026-12-31"))
    report = sync_orders(env.app)
    assert len(report.escalations) == 1
    esc = env.escalations()[0]
    assert esc["reason"] == "seats_reduced"
    assert "reduced to 2 seat(s)" in esc["detail"]
    assert len(licenses(env.store)) == 3
    assert sync_orders(env.app).escalations == []  # once per change


def test_a_bad_expires_is_a_skipped_row_with_its_line(env: Env) -> None:
    write_terms(env, row("SUB-1", "anna@acme.example", 3, "next year"))
    sync_orders(env.app)
    assert "line 2: expires 'next year' is not a date" in env.app.orders.problems[0]


def add_inv7(env: Env, expires: str) -> Result:
    args = ["--order-id", "INV-7", "--email", "bo@acme.example", "--seats", "1"]
    return env.cli("orders", "add", *args, "--expires", expires)


def test_orders_add_with_a_later_expires_renews_and_says_so(env: Env) -> None:
    result = add_inv7(env, "2026-12-31")
    assert result.exit_code == 0, result.output
    assert "paid until 2026-12-31" in result.output
    serial = new_serial()
    assert env.send(request("bo@acme.example", serial)).outcome.value == "issued"
    result = add_inv7(env, "2027-06-30")
    assert result.exit_code == 0, result.output
    assert "1 license(s) renewed and queued for bo@acme.example" in result.output
    last = parsed(env.outbox()[-1]["raw"])
    assert last["To"] == "bo@acme.example"
    assert "renewed" in str(last["Subject"])


def test_license_verify_prints_the_expiry_and_fails_after_it(env: Env) -> None:
    serial = licensed_three(env)[0]
    string = str(licenses(env.store)[0]["license_string"])
    ok = env.cli("license", "verify", "--serial", serial, "--at", "2027-01-07", string)
    assert ok.exit_code == 0, ok.output
    assert "expires 2027-01-07" in ok.output
    late = env.cli("license", "verify", "--serial", serial, "--at", "2027-01-08", string)
    assert late.exit_code == 1
    assert "expired on 2027-01-07" in late.output
    bad = env.cli("license", "verify", "--serial", serial, "--at", "soon", string)
    assert bad.exit_code == 2 and "Traceback" not in bad.output
