"""The orders file read into the store in batches, as one transaction: every row is stored
whatever the batch size, and a file that fails half-way leaves the store as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbot.services import orders as orders_service
from mailbot.services.orders import refresh_local_orders
from tests.staff_env import ORDER_HEADER, make_env, order_row


def test_every_row_is_stored_whatever_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(orders_service, "ORDER_BATCH", 2)
    env = make_env(tmp_path, [order_row(f"ORD-{i}", f"c{i}@example.com", 1) for i in range(5)])
    seen: set[str] = set()
    assert refresh_local_orders(env.app, force=True, seen=seen) == 5
    assert seen == {f"ORD-{i}" for i in range(5)}
    assert [env.store.order(f"ORD-{i}") is not None for i in range(5)] == [True] * 5
    assert refresh_local_orders(env.app) == 0  # unchanged: not read again


def test_a_file_that_fails_half_way_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(orders_service, "ORDER_BATCH", 2)
    env = make_env(tmp_path, [order_row("ORD-OLD", "old@example.com", 1)])
    refresh_local_orders(env.app, force=True)
    rows = [order_row(f"ORD-{i}", f"c{i}@example.com", 1) for i in range(6)]
    (env.base / "orders.csv").write_text("\n".join([ORDER_HEADER, *rows]) + "\n")
    source = env.app.orders
    real = source.all_orders

    def breaks_after_four():  # type: ignore[no-untyped-def]
        for n, order in enumerate(real()):
            if n == 4:
                raise OSError("the disk went away")
            yield order

    monkeypatch.setattr(source, "all_orders", breaks_after_four)
    with pytest.raises(OSError):
        refresh_local_orders(env.app, force=True)
    assert env.store.order("ORD-0") is None  # the first batches were rolled back too
    assert env.store.order("ORD-OLD") is not None
