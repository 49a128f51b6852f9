"""The SQLite store (sqlite-utils): schema, migrations, and the queries the pipeline needs.

One file holds everything mailbot knows: every mail it fetched with its outcome, orders,
licenses, the outbox, the human queue with its audit trail, and sync cursors. The worker wraps
each mail's changes in `transaction()`, so a crash leaves either all of a mail's effects or none.
Several processes may open the same file (the worker and staff commands): WAL mode and a busy
timeout let them take turns.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlite_utils

from mailbot.core.model import License, LicenseState, Order, OrderStatus

SCHEMA_VERSION = 3


def iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat(timespec="seconds")


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _migration_1(db: sqlite_utils.Database) -> None:
    db["meta"].create({"key": str, "value": str}, pk="key")
    db["messages"].create(
        {
            "id": int,
            "mailbox_key": str,
            "message_id": str,
            "sender": str,
            "subject": str,
            "received_at": str,
            "processed_at": str,
            "outcome": str,
            "reason": str,
            "serials": str,  # JSON list of {serial, as_found, status, action, reason, ...}
            "explanation": str,  # JSON list of the checks' words
            "raw": bytes,
            "size": int,
            "mailbox_done": int,
            "duplicate_of": int,
            "error": str,  # internal_error traceback for staff
        },
        pk="id",
    )
    db["messages"].create_index(["mailbox_key"], unique=True)
    db["messages"].create_index(["message_id"])
    db["messages"].create_index(["sender", "processed_at"])
    db["orders"].create(
        {
            "order_id": str,
            "email": str,
            "name": str,
            "seats": int,
            "refunded_seats": int,
            "status": str,
            "created": str,
            "currency": str,
            "amount_total": int,
            "source": str,
            "client_reference_id": str,
            "aliases": str,  # JSON list
            "updated_at": str,
        },
        pk="order_id",
    )
    db["orders"].create_index(["email"])
    db["orders"].create_index(["client_reference_id"])
    db["order_aliases"].create({"alias": str, "order_id": str}, pk="alias")
    db["licenses"].create(
        {
            "license_no": int,
            "serial": str,
            "customer_email": str,
            "order_id": str,
            "seat_key": int,
            "issued_at": str,
            "license_string": str,
            "state": str,
            "key_id": int,
            "expires_day": int,
            "revoked_at": str,
            "revoked_reason": str,
            "replaced_by": int,
            "message_row": int,
            "granted_by": str,
            "grant_reason": str,
        },
        pk="license_no",
    )
    db["licenses"].create_index(["serial"])
    db["licenses"].create_index(["customer_email"])
    db["licenses"].create_index(["order_id"])
    # The invariant that protects money: at most one active license per serial, enforced by
    # the database itself so no code path (or crash/restart) can break it.
    db.execute(
        "CREATE UNIQUE INDEX licenses_one_active_per_serial ON licenses(serial) "
        "WHERE state = 'active'"
    )
    db["outbox"].create(
        {
            "id": int,
            "message_id": str,
            "kind": str,  # reply | notification | digest
            "to_addr": str,
            "subject": str,
            "raw": bytes,
            "state": str,  # pending | sent | failed | bounced
            "attempts": int,
            "next_attempt_at": str,
            "last_error": str,
            "created_at": str,
            "sent_at": str,
            "message_row": int,
            "escalation_id": int,
        },
        pk="id",
    )
    db["outbox"].create_index(["message_id"], unique=True)
    db["outbox"].create_index(["state", "next_attempt_at"])
    db["outbox"].create_index(["to_addr", "created_at"])
    db["escalations"].create(
        {
            "id": int,
            "message_row": int,
            "reason": str,
            "detail": str,
            "state": str,  # open | resolved | rejected
            "claimed_by": str,
            "created_at": str,
            "updated_at": str,
            "sender": str,
            "serials": str,  # JSON
            "facts": str,  # JSON snapshot of what the bot saw
            "notified_at": str,
        },
        pk="id",
    )
    db["escalations"].create_index(["state", "created_at"])
    db["audit"].create(
        {"id": int, "escalation_id": int, "at": str, "actor": str, "action": str, "detail": str},
        pk="id",
    )
    db["audit"].create_index(["escalation_id"])
    db["pending_payments"].create(
        {
            "id": str,  # the client_reference_id carried by the pay link
            "message_row": int,
            "sender": str,
            "serials": str,  # JSON list
            "created_at": str,
            "expires_at": str,
            "state": str,  # open | fulfilled | expired
            "order_id": str,
        },
        pk="id",
    )
    db["pending_payments"].create_index(["state", "expires_at"])


def _migration_2(db: sqlite_utils.Database) -> None:
    # Stripe webhook deliveries, queued by id: the HTTP endpoint only records that an event
    # exists; the sync fetches it again from Stripe (the body is never trusted as sent).
    db["webhook_events"].create(
        {
            "id": str,  # evt_...; a redelivery of the same event is the same row
            "received_at": str,
            "processed_at": str,
            "attempts": int,
            "last_error": str,
        },
        pk="id",
    )
    db["webhook_events"].create_index(["processed_at", "received_at"])
    # When a paid pay-link request was licensed and mailed (staff see it beside the request).
    db["pending_payments"].add_column("fulfilled_at", str)


def _migration_3(db: sqlite_utils.Database) -> None:
    # Databases made by an early release of schema 2 lack this column: it was added to
    # migration 2 after that release went out. Everything else has it already.
    if "fulfilled_at" not in db["pending_payments"].columns_dict:
        db["pending_payments"].add_column("fulfilled_at", str)


MIGRATIONS = {1: _migration_1, 2: _migration_2, 3: _migration_3}


class Store:
    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db

    @classmethod
    def open(cls, path: Path | str) -> Store:
        path = Path(path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        # One connection per process, used by one thread at a time (the scheduler runs its jobs
        # on a single executor thread; the main thread only closes it at exit).
        conn = sqlite3.connect(str(path), timeout=30, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 30000")
        if str(path) != ":memory:":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        store = cls(sqlite_utils.Database(conn))
        store.migrate()
        return store

    @classmethod
    def open_read_only(cls, path: Path | str) -> Store:
        """The store for looking only (`explain`): the file opened read-only, so nothing can be
        written to it. A store that does not exist yet is an empty one in memory; one of an
        older schema is copied into memory and migrated there, leaving the file as it is."""
        path = Path(path)
        if not path.exists():
            return cls.open(":memory:")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30,
                               isolation_level=None, check_same_thread=False)
        store = cls(sqlite_utils.Database(conn))
        if store.schema_version() == SCHEMA_VERSION:
            return store
        memory = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        conn.backup(memory)
        conn.close()
        copy = cls(sqlite_utils.Database(memory))
        copy.migrate()
        return copy

    def close(self) -> None:
        self.db.close()

    # -- schema -------------------------------------------------------------------------

    def schema_version(self) -> int:
        if "meta" not in self.db.table_names():
            return 0
        row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    def migrate(self) -> None:
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise RuntimeError(
                f"the database is schema version {current}, newer than this mailbot "
                f"({SCHEMA_VERSION}); upgrade mailbot"
            )
        for version in range(current + 1, SCHEMA_VERSION + 1):
            # BEGIN IMMEDIATE and a second look: two processes opening a new database at once
            # (the worker and a staff command) must not both create the schema.
            with self.transaction():
                if self.schema_version() >= version:
                    continue
                MIGRATIONS[version](self.db)
                self.db["meta"].upsert({"key": "schema_version", "value": str(version)}, pk="key")

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """All-or-nothing: BEGIN IMMEDIATE so two workers never decide on stale seat counts."""
        if self.db.conn.in_transaction:
            with self.db.atomic():
                yield self
            return
        self.db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.db.conn.execute("ROLLBACK")
            raise
        else:
            self.db.conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        return list(self.db.query(sql, params))

    def one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> dict[str, Any] | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    # -- key/value state (sync cursors, digest times) ------------------------------------

    def get_state(self, key: str) -> str | None:
        row = self.one("SELECT value FROM meta WHERE key = ?", [f"state:{key}"])
        return row["value"] if row else None

    def set_state(self, key: str, value: str) -> None:
        self.db["meta"].upsert({"key": f"state:{key}", "value": value}, pk="key")

    # -- messages -----------------------------------------------------------------------

    def message_by_key(self, mailbox_key: str) -> dict[str, Any] | None:
        return self.one(
            "SELECT id, mailbox_key, message_id, outcome, reason, mailbox_done FROM messages "
            "WHERE mailbox_key = ?",
            [mailbox_key],
        )

    def message_by_message_id(self, message_id: str) -> dict[str, Any] | None:
        return self.one(
            "SELECT id, mailbox_key, message_id, outcome, reason FROM messages "
            "WHERE message_id = ? AND duplicate_of IS NULL ORDER BY id LIMIT 1",
            [message_id],
        )

    def record_message(self, row: dict[str, Any]) -> int:
        table = self.db["messages"]
        table.insert(row)
        return int(table.last_pk)  # type: ignore[arg-type]

    def update_message(self, row_id: int, **fields: Any) -> None:
        self.db["messages"].update(row_id, fields)

    def mark_mailbox_done(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            self.db.execute(
                f"UPDATE messages SET mailbox_done = 1 WHERE mailbox_key IN ({marks})", chunk
            )

    def previous_mistyped(self, sender: str) -> int:
        row = self.one(
            "SELECT count(*) AS n FROM messages WHERE sender = ? AND outcome = 'clarify' "
            "AND duplicate_of IS NULL",
            [sender],
        )
        return int(row["n"]) if row else 0

    # -- orders -------------------------------------------------------------------------

    def upsert_orders(self, orders: Iterable[Order], now: datetime | None = None) -> int:
        stamp = iso(now or datetime.now(timezone.utc))
        orders = list(orders)
        # One batched statement per table: a Stripe re-list stores 100 orders a page, and
        # row-by-row upserts were most of a 10,000-order sync's time.
        self.db["orders"].upsert_all([_order_row(o, stamp) for o in orders], pk="order_id")
        self.db["order_aliases"].upsert_all(
            [{"alias": alias.upper(), "order_id": o.order_id}
             for o in orders for alias in o.aliases],
            pk="alias",
        )
        return len(orders)

    def order(self, order_id: str) -> Order | None:
        row = self.one("SELECT * FROM orders WHERE order_id = ?", [order_id])
        return _order(row) if row else None

    def orders_for_email(self, email: str) -> list[Order]:
        rows = self.query(
            "SELECT * FROM orders WHERE email = ? ORDER BY created, order_id", [email.lower()]
        )
        return [_order(r) for r in rows]

    def orders_by_reference(self, refs: Iterable[str]) -> list[Order]:
        found: dict[str, Order] = {}
        for ref in refs:
            row = self.one(
                "SELECT * FROM orders WHERE upper(order_id) = ? OR order_id IN "
                "(SELECT order_id FROM order_aliases WHERE alias = ?)",
                [ref.upper(), ref.upper()],
            )
            if row:
                found[row["order_id"]] = _order(row)
        return list(found.values())

    def all_orders(self) -> list[Order]:
        return [_order(r) for r in self.query("SELECT * FROM orders ORDER BY created, order_id")]

    # -- licenses -----------------------------------------------------------------------

    def next_license_no(self) -> int:
        row = self.one("SELECT coalesce(max(license_no), 0) + 1 AS n FROM licenses")
        return int(row["n"]) if row else 1

    def add_license(self, lic: License, **extra: Any) -> None:
        self.db["licenses"].insert(
            {
                "license_no": lic.license_no,
                "serial": lic.serial,
                "customer_email": lic.customer_email,
                "order_id": lic.order_id,
                "seat_key": lic.seat_key,
                "issued_at": iso(lic.issued_at),
                "license_string": lic.license_string,
                "state": lic.state.value,
                "key_id": lic.key_id,
                "expires_day": lic.expires_day,
                **extra,
            }
        )

    def revoke_license(
        self, license_no: int, reason: str, at: datetime, replaced_by: int | None = None
    ) -> None:
        self.db["licenses"].update(
            license_no,
            {
                "state": LicenseState.REVOKED.value,
                "revoked_at": iso(at),
                "revoked_reason": reason,
                "replaced_by": replaced_by,
            },
        )

    def license(self, license_no: int) -> License | None:
        row = self.one("SELECT * FROM licenses WHERE license_no = ?", [license_no])
        return _license(row) if row else None

    def licenses_for_serials(self, serials: Iterable[str]) -> dict[str, License]:
        """The license each serial has: the active one, else its newest revoked one."""
        result: dict[str, License] = {}
        for serial in serials:
            row = self.one(
                "SELECT * FROM licenses WHERE serial = ? "
                "ORDER BY state = 'active' DESC, license_no DESC LIMIT 1",
                [serial],
            )
            if row:
                result[serial] = _license(row)
        return result

    def active_licenses_for_orders(self, order_ids: Iterable[str]) -> list[License]:
        ids = list(order_ids)
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = self.query(
            f"SELECT * FROM licenses WHERE state = 'active' AND order_id IN ({marks})", ids
        )
        return [_license(r) for r in rows]

    def transfers_in_window(self, seat_keys: Iterable[int], since: datetime) -> dict[int, int]:
        result: dict[int, int] = {}
        for key in set(seat_keys):
            row = self.one(
                "SELECT count(*) AS n FROM licenses WHERE seat_key = ? AND license_no != ? "
                "AND issued_at >= ?",
                [key, key, iso(since)],
            )
            result[key] = int(row["n"]) if row else 0
        return result

    # -- outbox -------------------------------------------------------------------------

    def add_outbox(self, row: dict[str, Any]) -> int:
        table = self.db["outbox"]
        table.insert({"state": "pending", "attempts": 0, **row})
        return int(table.last_pk)  # type: ignore[arg-type]

    def replies_since(self, to_addr: str, since: datetime) -> int:
        row = self.one(
            "SELECT count(*) AS n FROM outbox WHERE kind = 'reply' AND to_addr = ? "
            "AND created_at >= ?",
            [to_addr, iso(since)],
        )
        return int(row["n"]) if row else 0

    def due_outbox(self, now: datetime, limit: int = 100) -> list[dict[str, Any]]:
        return self.query(
            "SELECT id, message_id, to_addr, raw, attempts, message_row, kind FROM outbox "
            "WHERE state = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
            "ORDER BY id LIMIT ?",
            [iso(now), limit],
        )

    def outbox_by_message_ids(self, message_ids: Iterable[str]) -> list[dict[str, Any]]:
        ids = [m.strip("<>") for m in message_ids]
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        return self.query(
            f"SELECT id, message_id, kind, to_addr, state, message_row FROM outbox "
            f"WHERE message_id IN ({marks})",
            ids,
        )

    # -- escalations --------------------------------------------------------------------

    def add_escalation(self, row: dict[str, Any], actor: str, at: datetime) -> int:
        table = self.db["escalations"]
        table.insert({"state": "open", "created_at": iso(at), "updated_at": iso(at), **row})
        esc_id = int(table.last_pk)  # type: ignore[arg-type]
        self.add_audit(esc_id, actor, "escalated", row.get("detail") or row["reason"], at)
        return esc_id

    def add_audit(self, escalation_id: int, actor: str, action: str, detail: str,
                  at: datetime) -> None:
        self.db["audit"].insert(
            {
                "escalation_id": escalation_id,
                "at": iso(at),
                "actor": actor,
                "action": action,
                "detail": detail,
            }
        )

    # -- pending payments ---------------------------------------------------------------

    def add_pending_payment(self, row: dict[str, Any]) -> None:
        self.db["pending_payments"].insert({"state": "open", **row})


def address_filter(column: str, address: str) -> tuple[str, str]:
    """SQL condition and parameter matching one address, or a whole organisation for
    "@domain". `column` is a trusted column name, never user input."""
    if address.startswith("@"):
        return f"{column} LIKE ?", f"%{address.strip().lower()}"
    return f"{column} = ?", address.strip().lower()


def _order_row(order: Order, stamp: str) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "email": order.email.lower(),
        "name": order.name,
        "seats": order.seats,
        "refunded_seats": order.refunded_seats,
        "status": order.status.value,
        "created": iso(order.created),
        "currency": order.currency,
        "amount_total": order.amount_total,
        "source": order.source,
        "client_reference_id": order.client_reference_id,
        "aliases": json.dumps(list(order.aliases)),
        "updated_at": stamp,
    }


def _order(row: dict[str, Any]) -> Order:
    return Order(
        order_id=row["order_id"],
        email=row["email"],
        name=row["name"] or "",
        seats=int(row["seats"] or 0),
        status=OrderStatus(row["status"]),
        created=parse_iso(row["created"]) or datetime.min.replace(tzinfo=timezone.utc),
        refunded_seats=int(row["refunded_seats"] or 0),
        currency=row["currency"] or "",
        amount_total=int(row["amount_total"] or 0),
        source=row["source"] or "",
        client_reference_id=row["client_reference_id"] or "",
        aliases=tuple(json.loads(row["aliases"] or "[]")),
    )


def _license(row: dict[str, Any]) -> License:
    return License(
        license_no=int(row["license_no"]),
        serial=row["serial"],
        customer_email=row["customer_email"],
        order_id=row["order_id"],
        seat_key=int(row["seat_key"]),
        issued_at=parse_iso(row["issued_at"]) or datetime.min.replace(tzinfo=timezone.utc),
        license_string=row["license_string"],
        state=LicenseState(row["state"]),
        key_id=int(row["key_id"] or 0),
        expires_day=int(row["expires_day"] or 0),
    )
