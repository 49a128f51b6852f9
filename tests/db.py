"""Reading the database directly in tests: the store's methods are what mailbot uses, but a
test checking an invariant (one active license per serial, nothing half-written) reads the
tables themselves, so it does not trust the code it checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mailbot.store import Store


def query(store: Store, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    return [dict(row) for row in store.conn.execute(sql, list(params))]


def one(store: Store, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
    found = query(store, sql, params)
    return found[0] if found else None


def execute(store: Store, sql: str, params: Sequence[Any] = ()) -> None:
    store.conn.execute(sql, list(params))
