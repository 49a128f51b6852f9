"""The store: everything mailbot knows, in one SQLite file, behind named methods.

Every mail fetched with its outcome, orders, licenses, the outbox, the human queue with its
audit trail, pay-link requests and sync cursors. This package holds every SQL statement of
mailbot; nothing outside it touches the database connection. Methods take and return typed
values (`mailbot.core.model`, `mailbot.store.rows`). Services wrap each mail's changes in
`transaction()`, so a crash leaves either all of a mail's effects or none.

    schema.py        migrations, one per version
    engine.py        the SQLite connection, transactions, shared helpers
    dbfile.py        the database file: made private and whole, a foreign one refused
    errors.py        StoreError: the database cannot be used (one sentence)
    messages.py  orders.py  licenses.py  outbox.py  escalations.py  payments.py  staff.py
                     the queries, one module per table family
    releases.py      seats customers freed by mail, taken over by the next license
    search.py  queue.py  the queue's full-text index (FTS5) and the console's queue pages
    stats.py         counts per day for the dashboard, aggregated in SQL
    events.py        events for the vendor's other systems, queued for their webhooks
"""

from __future__ import annotations

from mailbot.store.engine import iso, parse_iso
from mailbot.store.errors import StoreVersionError
from mailbot.store.escalations import EscalationsTable
from mailbot.store.events import EventsTable
from mailbot.store.licenses import LicensesTable
from mailbot.store.messages import MessagesTable
from mailbot.store.orders import OrdersTable
from mailbot.store.outbox import OutboxTable
from mailbot.store.payments import PaymentsTable
from mailbot.store.queue import QueueTable
from mailbot.store.releases import ReleasesTable
from mailbot.store.renewals import RenewalsTable
from mailbot.store.schema import SCHEMA_VERSION
from mailbot.store.staff import StaffTable
from mailbot.store.stats import StatsTable

__all__ = ["SCHEMA_VERSION", "Store", "StoreVersionError", "iso", "parse_iso"]


class Store(
    MessagesTable,
    OrdersTable,
    LicensesTable,
    OutboxTable,
    EscalationsTable,
    PaymentsTable,
    StaffTable,
    QueueTable,
    StatsTable,
    RenewalsTable,
    EventsTable,
    ReleasesTable,
):
    """The one door to the database. Open with `Store.open(path)` (creates and migrates) or
    `Store.open_read_only(path)` (for looking only)."""
