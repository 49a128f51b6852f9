"""Orders as people and the worker touch them: a local orders file kept current in the store,
and offline orders typed in by staff (`mailbot orders add`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import date, datetime

from mailbot.core.model import Order, OrderStatus
from mailbot.services.context import Deps
from mailbot.store import Store

log = logging.getLogger("mailbot.orders")
VERSION_STATE = "orders_file_version"
ORDER_BATCH = 5000  # orders per upsert while a file is read


def refresh_local_orders(deps: Deps, *, force: bool = False, seen: set[str] | None = None) -> int:
    """Read a local orders file into the store when it changed since any process last read
    it (an order typed into it a minute ago counts; an unchanged file is not read at all), or
    always with `force`. Returns how many orders were read; `seen` collects their ids. The
    file is streamed in batches (a million orders take as much memory as a thousand), all in
    one transaction: the store never holds half of a new file. Remote sources have their own
    sync job; this never goes to the network."""
    source = deps.orders
    if not source.is_local:
        return 0
    current = source.version()
    if not force and current == deps.store.get_state(VERSION_STATE):
        return 0
    count = 0
    now = deps.clock.now()
    with deps.store.transaction() as store:
        for batch in _batches(source.all_orders(), ORDER_BATCH):
            store.upsert_orders(batch, now)
            count += len(batch)
            if seen is not None:
                seen.update(o.order_id for o in batch)
        store.set_state(VERSION_STATE, current)
    log.info("orders file read", extra={"orders": count, "skipped": len(source.problems)})
    return count


def _batches(orders: Iterable[Order], size: int) -> Iterator[list[Order]]:
    batch: list[Order] = []
    for order in orders:
        batch.append(order)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def add_manual_order(
    store: Store,
    now: datetime,
    *,
    email: str,
    seats: int,
    name: str = "",
    order_id: str = "",
    status: str = "paid",
    paid_until: date | None = None,
) -> Order:
    """Record an offline order (bank transfer, invoice); the id defaults to MAN-<date>-<n>.
    `paid_until` gives it a term; the same order again with a later one extends it (the
    licenses are then renewed by `services/renewals.py`)."""
    email = email.strip().lower()
    if "@" not in email:
        raise ValueError(f"{email!r} is not an email address")
    with store.transaction():
        if not order_id:
            prefix = f"MAN-{now:%Y%m%d}-"
            number = store.count_orders_like(prefix) + 1
            # A reference typed by hand may already hold the next number.
            while store.order(f"{prefix}{number}") is not None:
                number += 1
            order_id = f"{prefix}{number}"
        existing = store.order(order_id)
        if existing is not None and existing.source != "manual":
            # The sync would put it back anyway; until then its seats would be wrong.
            raise ValueError(
                f"order {order_id} comes from {existing.source} and cannot be "
                "replaced; choose another --order-id"
            )
        order = Order(
            order_id=order_id,
            email=email,
            name=name,
            seats=seats,
            status=OrderStatus(status),
            created=existing.created if existing is not None else now,
            source="manual",
            paid_until=paid_until,
        )
        store.upsert_orders([order], now)
    return order
