"""`mailbot orders add`: one plain sentence on bad input, and never an order overwritten or
numbered twice. (`orders sync` and `orders list` against Stripe: tests/services/test_order_sync.py.)"""

from __future__ import annotations

from tests.staff_env import T0, Env, plain_failure


def test_orders_add_with_a_bad_address_is_one_sentence(env: Env) -> None:
    out = plain_failure(env.cli("orders", "add", "--email", "not-an-address", "--seats", "1"))
    assert "not an email address" in out


def test_orders_add_never_overwrites_an_order_from_another_source(env: Env) -> None:
    out = plain_failure(
        env.cli(
            "orders", "add", "--order-id", "ORD-1", "--email", "eve@evil.example", "--seats", "100"
        )
    )
    assert "ORD-1" in out
    order = env.store.order("ORD-1")
    assert order.email == "alice@northwind.example" and order.seats == 3


def test_orders_add_numbers_never_collide_with_an_existing_order(env: Env) -> None:
    day = f"MAN-{T0:%Y%m%d}-"
    assert (
        env.cli(
            "orders", "add", "--order-id", f"{day}2", "--email", "a@acme.example", "--seats", "5"
        ).exit_code
        == 0
    )
    first = env.cli("orders", "add", "--email", "b@acme.example", "--seats", "1")
    second = env.cli("orders", "add", "--email", "c@acme.example", "--seats", "1")
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    kept = env.store.order(f"{day}2")
    assert kept.email == "a@acme.example" and kept.seats == 5
    emails = {o.email for o in env.store.all_orders() if o.source == "manual"}
    assert emails == {"a@acme.example", "b@acme.example", "c@acme.example"}


def test_orders_add_can_still_mark_a_manual_order_paid(env: Env) -> None:
    assert (
        env.cli(
            "orders",
            "add",
            "--order-id",
            "INV-7",
            "--email",
            "a@acme.example",
            "--seats",
            "2",
            "--status",
            "unpaid",
        ).exit_code
        == 0
    )
    result = env.cli(
        "orders", "add", "--order-id", "INV-7", "--email", "a@acme.example", "--seats", "2"
    )
    assert result.exit_code == 0, result.output
    assert env.store.order("INV-7").status.value == "paid"
