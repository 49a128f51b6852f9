"""The SQLite store: schema versions, all-or-nothing transactions, the one-license rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mailbot.store import SCHEMA_VERSION, Store, StoreVersionError
from mailbot.store.errors import Conflict
from tests.builders import T0, license_, new_serial, order


def test_schema_is_created_once_and_reopens(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "db.sqlite")
    assert store.schema_version() == SCHEMA_VERSION
    store.upsert_orders([order()], T0)
    store.close()
    again = Store.open(tmp_path / "db.sqlite")
    assert again.schema_version() == SCHEMA_VERSION
    assert again.order("ORD-1") is not None


def test_refuses_a_newer_database(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "db.sqlite")
    store.conn.execute(
        "UPDATE meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)]
    )
    store.close()
    with pytest.raises(StoreVersionError, match="upgrade mailbot"):
        Store.open(tmp_path / "db.sqlite")


def test_a_failed_transaction_leaves_nothing(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "db.sqlite")
    with pytest.raises(ZeroDivisionError), store.transaction():
        store.upsert_orders([order()], T0)
        store.add_license(license_(new_serial()))
        1 / 0  # noqa: B018
    assert store.all_orders() == []
    assert store.next_license_no() == 1


def test_one_active_license_per_serial_is_enforced_by_the_database(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "db.sqlite")
    s = new_serial()
    store.add_license(license_(s, no=1))
    with pytest.raises(Conflict):
        store.add_license(license_(s, no=2))
    store.revoke_license(1, "transferred", T0)
    store.add_license(license_(s, no=2))  # after revocation, staff may license it again
    assert store.licenses_for_serials([s])[s].license_no == 2


def test_order_aliases_find_orders_by_any_reference(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "db.sqlite")
    store.upsert_orders([order("cs_test_1", aliases=("pi_123", "ch_456"))], T0)
    assert [o.order_id for o in store.orders_by_reference(["PI_123"])] == ["cs_test_1"]
    assert [o.order_id for o in store.orders_by_reference(["cs_test_1"])] == ["cs_test_1"]
    assert store.orders_by_reference(["pi_999"]) == []


def test_a_second_connection_keeps_the_first_ones_locks(tmp_path: Path) -> None:
    """The courier's connection is opened while the worker's is in use. A plain open/close of
    the file in this process would drop the first connection's POSIX locks: another process
    then takes the database for unused, rebuilds its WAL index, and reads a stale or
    "malformed" database while this one writes."""
    db = tmp_path / "m.db"
    store = Store.open(db)
    reader = (
        "import sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], timeout=10)\n"
        "try:\n"
        "    print(c.execute(\"SELECT value FROM meta WHERE key = 'state:n'\").fetchone()[0])\n"
        "except sqlite3.DatabaseError as exc:\n"
        "    print(exc)\n"
    )
    seen = []
    for n in range(1, 6):
        with store.transaction():
            store.set_state("n", str(n))
        if n == 2:
            second = store.another_connection()
            assert second is not None
        probe = subprocess.run(
            [sys.executable, "-c", reader, str(db)], capture_output=True, text=True, timeout=30
        )
        seen.append(probe.stdout.strip())
    assert seen == ["1", "2", "3", "4", "5"]
    assert second.get_state("n") == "5"  # it sees what the first committed
    second.close()
    store.close()


def test_a_database_in_memory_has_no_second_connection() -> None:
    assert Store.open(":memory:").another_connection() is None


def test_every_schema_version_has_its_migration() -> None:
    from mailbot.store.schema import MIGRATIONS

    assert sorted(MIGRATIONS) == list(range(1, SCHEMA_VERSION + 1))
