"""The console's queue: views with counts, the search box, pages, and each row's age against
the answer target (`[staff] answer_within_hours`).

Returns data for the console to format; the SQL is in store/queue.py and store/search.py.
What a person typed reaches FTS5 only through `match_expression`, so no search text is ever
an FTS5 syntax error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from mailbot.core.reasons import staff_text
from mailbot.store import Store
from mailbot.store.queue import VIEWS
from mailbot.store.rows import EscalationRow, PendingPayment, QueueCounts
from mailbot.store.search import match_expression

PER_PAGE = 50
MAX_QUERY = 200  # characters of the search box kept


@dataclass(frozen=True)
class QueueRow:
    """One escalation as the queue lists it."""

    escalation: EscalationRow
    waited: timedelta  # since the bot escalated it
    overdue: bool  # waited longer than the answer target
    why: str  # the reason in staff's words


@dataclass(frozen=True)
class QueuePage:
    """One page of one view of the queue, with the counts of every view."""

    view: str
    reason: str
    query: str
    rows: list[QueueRow]
    total: int
    page: int
    pages: int
    counts: QueueCounts
    target: timedelta
    pay_links: list[PendingPayment]  # in the payment view: the requests still unpaid


def queue_page(
    store: Store,
    *,
    actor: str,
    now: datetime,
    answer_within: timedelta,
    view: str = "open",
    reason: str = "",
    query: str = "",
    page: int = 1,
    per_page: int = PER_PAGE,
) -> QueuePage:
    """The queue as `actor` sees it: VIEW (open, mine, unclaimed, payment, closed), only
    REASON when given, only escalations whose words match QUERY when given; page PAGE."""
    view = view if view in VIEWS else "open"
    query = query.strip()[:MAX_QUERY]
    match = match_expression(query)
    counts = store.queue_counts(actor, now - answer_within)
    rows: list[EscalationRow] = []
    total = 0
    page = max(1, page)
    if match or not query:  # a query of only punctuation matches nothing
        rows, total = store.queue_page(
            view=view,
            actor=actor,
            reason=reason,
            match=match,
            limit=per_page,
            offset=(page - 1) * per_page,
        )
    pages = max(1, -(-total // per_page))
    return QueuePage(
        view=view,
        reason=reason,
        query=query,
        rows=[
            QueueRow(
                escalation=e,
                waited=now - e.created_at,
                overdue=e.state == "open" and now - e.created_at > answer_within,
                why=staff_text(e.reason),
            )
            for e in rows
        ],
        total=total,
        page=min(max(1, page), pages),
        pages=pages,
        counts=counts,
        target=answer_within,
        pay_links=store.open_pay_links() if view == "payment" else [],
    )
