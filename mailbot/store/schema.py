"""The database schema: one migration per version, applied in order, each in a transaction.

A migration only ever adds: new tables, columns and indexes. A database made by any earlier
release opens and migrates in place (tests/e2e/test_upgrade.py loads databases those releases
wrote). Never edit a migration that has been released; add the next one.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils

SCHEMA_VERSION = 14


def _migration_1(db: sqlite_utils.Database) -> None:
    db.table("meta").create({"key": str, "value": str}, pk="key")
    db.table("messages").create(
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
    db.table("messages").create_index(["mailbox_key"], unique=True)
    db.table("messages").create_index(["message_id"])
    db.table("messages").create_index(["sender", "processed_at"])
    db.table("orders").create(
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
    db.table("orders").create_index(["email"])
    db.table("orders").create_index(["client_reference_id"])
    db.table("order_aliases").create({"alias": str, "order_id": str}, pk="alias")
    db.table("licenses").create(
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
    db.table("licenses").create_index(["serial"])
    db.table("licenses").create_index(["customer_email"])
    db.table("licenses").create_index(["order_id"])
    # The invariant that protects money: at most one active license per serial, enforced by
    # the database itself so no code path (or crash/restart) can break it.
    db.execute(
        "CREATE UNIQUE INDEX licenses_one_active_per_serial ON licenses(serial) "
        "WHERE state = 'active'"
    )
    db.table("outbox").create(
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
    db.table("outbox").create_index(["message_id"], unique=True)
    db.table("outbox").create_index(["state", "next_attempt_at"])
    db.table("outbox").create_index(["to_addr", "created_at"])
    db.table("escalations").create(
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
    db.table("escalations").create_index(["state", "created_at"])
    db.table("audit").create(
        {"id": int, "escalation_id": int, "at": str, "actor": str, "action": str, "detail": str},
        pk="id",
    )
    db.table("audit").create_index(["escalation_id"])
    db.table("pending_payments").create(
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
    db.table("pending_payments").create_index(["state", "expires_at"])


def _migration_2(db: sqlite_utils.Database) -> None:
    # Stripe webhook deliveries, queued by id: the HTTP endpoint only records that an event
    # exists; the sync fetches it again from Stripe (the body is never trusted as sent).
    db.table("webhook_events").create(
        {
            "id": str,  # evt_...; a redelivery of the same event is the same row
            "received_at": str,
            "processed_at": str,
            "attempts": int,
            "last_error": str,
        },
        pk="id",
    )
    db.table("webhook_events").create_index(["processed_at", "received_at"])
    # When a paid pay-link request was licensed and mailed (staff see it beside the request).
    db.table("pending_payments").add_column("fulfilled_at", str)


def _migration_3(db: sqlite_utils.Database) -> None:
    # Databases made by an early release of schema 2 lack this column: it was added to
    # migration 2 after that release went out. Everything else has it already.
    if "fulfilled_at" not in db.table("pending_payments").columns_dict:
        db.table("pending_payments").add_column("fulfilled_at", str)


def _migration_4(db: sqlite_utils.Database) -> None:
    # What a mail's parse found, kept for staff views so they never parse the raw mail again
    # (issue 9): the threading headers, the headers shown, and the readable text (capped).
    for column in ("sender_name", "reply_to", "refs", "headers", "text"):
        db.table("messages").add_column(column, str)
    # A customer may quote an order id in another case: found through this index, not a scan.
    db.execute("CREATE INDEX orders_upper_id ON orders (upper(order_id))")


def _migration_5(db: sqlite_utils.Database) -> None:
    # For recognising a robot that answers every reply of ours (core/decide.py): whether a
    # mail answered one of ours, and whether it brought something new (a license, a payment).
    db.table("messages").add_column("answers_ours", int)
    db.table("messages").add_column("progress", int)


def _migration_6(db: sqlite_utils.Database) -> None:
    # The few decided mails whose filing in the mailbox is not yet noted (a run stopped between
    # the move and the note): found at the start of every pass without reading every row.
    db.execute("CREATE INDEX messages_unfiled ON messages (id) WHERE mailbox_done = 0")


def _migration_7(db: sqlite_utils.Database) -> None:
    # Staff accounts of the web console (issue 12): who may log in, in which role, and the
    # address their mail comes from (a reply by email is matched to an account by it). The
    # password is kept only as an argon2 hash.
    db.table("staff").create(
        {
            "name": str,
            "email": str,
            "role": str,  # support | finance | admin
            "password_hash": str,
            "created_at": str,
            "password_changed_at": str,
        },
        pk="name",
    )
    db.execute("CREATE UNIQUE INDEX staff_email ON staff (lower(email)) WHERE email != ''")
    # Login sessions: only a hash of the cookie's token is kept, so a copy of the database
    # cannot be used to log in.
    db.table("web_sessions").create(
        {
            "token_hash": str,
            "staff_name": str,
            "csrf": str,
            "created_at": str,
            "expires_at": str,
        },
        pk="token_hash",
    )
    db.table("web_sessions").create_index(["staff_name"])


# What the console's search box finds an escalation by, one FTS5 document per escalation (the
# rowid is the escalation's id): the sender, their name, the subject, the serials (as normalized
# and as written, and a transfer's old one), the order ids it names or the bot saw, and the
# mail's readable text. The store fills it from this SELECT when it writes an escalation
# (store/search.py), in the same transaction; migration 8 fills it once for every row.
SEARCH_DOCUMENT = (
    "SELECT e.id, coalesce(e.sender, ''), coalesce(m.sender_name, ''), "
    "coalesce(m.subject, ''), "
    "(SELECT coalesce(group_concat(coalesce(json_extract(j.value, '$.serial'), '') || ' ' || "
    "coalesce(json_extract(j.value, '$.as_found'), '') || ' ' || "
    "coalesce(json_extract(j.value, '$.old_serial'), ''), ' '), '') "
    "FROM json_each(coalesce(e.serials, '[]')) j), "
    "(SELECT coalesce(group_concat(o, ' '), '') FROM ("
    "SELECT json_extract(j.value, '$.order_id') o FROM json_each(coalesce(e.serials, '[]')) j "
    "UNION SELECT json_extract(j.value, '$.order_id') "
    "FROM json_each(coalesce(e.facts, '{}'), '$.orders') j)), "
    "coalesce(m.text, '') "
    "FROM escalations e LEFT JOIN messages m ON m.id = e.message_row"
)


def _migration_8(db: sqlite_utils.Database) -> None:
    # Full-text search of the queue (issue 12), kept current by the store in the transaction
    # that writes the escalation. unicode61 splits "AMC-M9S3-..." and "anna@example.com" into
    # words, so a quoted phrase of them finds the whole serial or address.
    db.execute(
        "CREATE VIRTUAL TABLE escalation_search USING fts5(sender, name, subject, serials, "
        "orders, body, tokenize = 'unicode61 remove_diacritics 2')"
    )
    db.execute(
        "INSERT INTO escalation_search (rowid, sender, name, subject, serials, orders, body) "
        + SEARCH_DOCUMENT
    )
    # The queue's "waiting on payment" view looks for an open pay-link request per sender.
    db.execute("CREATE INDEX pending_payments_sender ON pending_payments (sender, state)")


def _migration_9(db: sqlite_utils.Database) -> None:
    # The dashboard's mails per outcome per day read a range of processed_at: from this index
    # alone, not every row of the table (with 100,000 stored mails, 200 ms -> 10 ms a page).
    db.execute("CREATE INDEX messages_processed ON messages (processed_at, outcome)")


def _migration_10(db: sqlite_utils.Database) -> None:
    # Subscriptions and orders with terms (issue 13): the last day an order's seats are paid
    # for, the subscription's status and what it brings in a month.
    # Each step is skipped when already there, so a database wound back to an earlier
    # version (as the upgrade tests do) migrates forward again.
    orders = db.table("orders").columns_dict
    for column, kind in (
        ("paid_until", str),  # ISO date; NULL: bought for good
        ("subscription", str),  # Stripe status; NULL or "": not a subscription
        ("cancel_at_period_end", int),
        ("monthly_amount", int),
    ):
        if column not in orders:
            db.table("orders").add_column(column, kind)
    if "renewed_at" not in db.table("licenses").columns_dict:
        db.table("licenses").add_column("renewed_at", str)
    if "renewals" in db.table_names():
        return
    # One row per order and paid term whose licenses were re-signed and mailed, written in the
    # transaction that queues the mail: the proof a renewal is never mailed twice.
    db.table("renewals").create(
        {
            "order_id": str,
            "paid_until": str,
            "created_at": str,
            "email": str,
            "licenses": str,  # JSON list of license numbers re-signed
            "outbox_id": int,
        },
        pk=("order_id", "paid_until"),
    )
    db.table("renewals").create_index(["created_at"])


def _migration_11(db: sqlite_utils.Database) -> None:
    # The customer's language as the order's source knows it (a CSV `language` column, Stripe's
    # preferred_locales or Checkout locale): the first choice for the language of a reply.
    if "language" not in db.table("orders").columns_dict:  # a database set back by hand
        db.table("orders").add_column("language", str, not_null_default="")


def _migration_12(db: sqlite_utils.Database) -> None:
    # Issue 13: the events for the vendor's other systems (webhooks), written in the
    # transaction of the change each reports and delivered from here, like the outbox.
    db.table("events").create(
        {
            "id": int,  # delivery order
            "event_id": str,  # evt_..., the receivers' idempotency key
            "type": str,
            "created_at": str,
            "payload": str,  # JSON: the event's data (never a license string)
            "state": str,  # pending | delivered | failed
            "attempts": int,
            "next_attempt_at": str,
            "last_error": str,
            "delivered_at": str,
        },
        pk="id",
        not_null={"event_id", "type", "created_at", "payload", "state", "attempts"},
    )
    db.table("events").create_index(["event_id"], unique=True)
    db.table("events").create_index(["state", "next_attempt_at"])


def _migration_13(db: sqlite_utils.Database) -> None:
    # Seats customers freed by mail ("release SERIAL"): the next license on the order takes
    # over the seat's key, so the move counts against the per-seat transfer limit.
    db.execute(
        "CREATE TABLE seat_releases ("
        " license_no INTEGER PRIMARY KEY REFERENCES licenses(license_no),"
        " seat_key INTEGER NOT NULL,"
        " order_id TEXT NOT NULL,"
        " released_at TEXT NOT NULL,"
        " message_row INTEGER,"
        # Set in the same statement group that inserts that license, before its row exists.
        " taken_by INTEGER)"
    )
    db.execute(
        "CREATE INDEX seat_releases_open ON seat_releases (order_id, released_at) "
        "WHERE taken_by IS NULL"
    )


def _migration_14(db: sqlite_utils.Database) -> None:
    # Queries every mail makes, which scanned a whole table (issue 11: a decision's cost must
    # not grow with the store): the transfers of a seat in the window, a customer's
    # escalations for the staff notification, and the open escalations nobody was told of.
    db.execute("CREATE INDEX licenses_seat ON licenses (seat_key, issued_at)")
    db.execute("CREATE INDEX escalations_sender ON escalations (sender, created_at)")
    db.execute(
        "CREATE INDEX escalations_not_notified ON escalations (created_at, id) "
        "WHERE state = 'open' AND notified_at IS NULL"
    )


MIGRATIONS: dict[int, Callable[[sqlite_utils.Database], None]] = {
    1: _migration_1,
    2: _migration_2,
    3: _migration_3,
    4: _migration_4,
    5: _migration_5,
    6: _migration_6,
    7: _migration_7,
    8: _migration_8,
    9: _migration_9,
    10: _migration_10,
    11: _migration_11,
    12: _migration_12,
    13: _migration_13,
    14: _migration_14,
}
