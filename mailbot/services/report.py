"""Finance reconciliation: do money and licenses agree?

`build_report` is pure: orders and licenses in, a Report out. `load_report` reads them from the
store; `report_render.py` turns a Report into what spreadsheets and scripts read (the CLI draws
its own tables).

The orders listed are those created within the period and those whose licenses changed in it
(a license issued or revoked), so this month's report also shows last month's order that got its
licenses this month. Figures per order:
- seats: bought; paid_seats: bought, unless the order was never paid;
- refunded_seats: all of them for a refunded order, else the whole seats removed by partial
  refunds; usable_seats: what can carry licenses (paid orders only, less refunded seats);
- licenses_issued: the order's licenses in force now (a transferred license counts once, on its
  new serial; revoked ones are counted apart in licenses_revoked and transfers);
- seats_free: usable_seats - licenses_issued (negative: more licenses than seats).

Exceptions come first, most serious first. Refunded or disputed orders with active licenses and
orders with more licenses than seats are open problems: they are listed whatever the period,
until someone fixes them. Manual grants, revocations and transfers are events listed when they
happened within the period; paid orders never used are the period's orders without any license.

After them, orders with terms (`report_terms.py`): subscriptions per currency, and the licenses
expiring within 30 days of the day the report is made, those finance must act on first.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from mailbot.core.model import License, LicenseState, Order, OrderStatus
from mailbot.services.report_terms import (
    ExpiringLicense,
    SubscriptionTotals,
    expiring_window,
    load_expiring,
    subscription_totals,
)
from mailbot.store import Store, iso

Progress = Callable[[int, int], None]

# Most serious first: this order is the order of the exceptions list.
EXCEPTION_KINDS = (
    "refunded_with_license",
    "disputed_with_license",
    "over_seats",
    "manual_grant",
    "revoked",
    "transfer",
    "unused_order",
)
# Open problems (money and licenses disagree now): listed in every report until someone fixes
# them, so people see them marked as needing action; the rest are events of the period.
NEEDS_ACTION = EXCEPTION_KINDS[:3]

TOTAL_FIELDS = (
    "currency",
    "orders",
    "amount_total",
    "seats",
    "paid_seats",
    "refunded_seats",
    "usable_seats",
    "licenses_issued",
    "seats_free",
)


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"the period ends ({self.end}) before it starts ({self.start})")

    def contains(self, at: datetime | None) -> bool:
        if at is None:
            return False
        lo = datetime.combine(self.start, time.min, tzinfo=UTC)
        at = at.astimezone(UTC)
        if self.end >= date.max:  # --to 9999-12-31: there is no day after it
            return lo <= at
        hi = datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC)
        return lo <= at < hi


def period_for(start: date | None, end: date | None, today: date) -> Period:
    """--from/--to with their defaults: neither = this whole month; only --from = up to today;
    only --to = from the first of that month."""
    if start is None and end is None:
        start = today.replace(day=1)
        end = start.replace(day=calendar.monthrange(start.year, start.month)[1])
    elif end is None:
        assert start is not None
        end = today if start <= today else start
    elif start is None:
        start = end.replace(day=1)
    return Period(start, end)


@dataclass(frozen=True)
class OrderLine:
    order_id: str
    email: str
    name: str
    status: str
    created: str
    source: str
    currency: str
    amount_total: int
    seats: int
    paid_seats: int
    refunded_seats: int
    usable_seats: int
    licenses_issued: int
    licenses_revoked: int
    transfers: int
    seats_free: int


@dataclass(frozen=True)
class ReportException:
    kind: str
    detail: str
    order_id: str | None = None
    serial: str | None = None
    license_no: int | None = None
    email: str = ""
    at: str | None = None

    @property
    def needs_action(self) -> bool:
        return self.kind in NEEDS_ACTION


@dataclass(frozen=True)
class Totals:
    currency: str
    orders: int = 0
    amount_total: int = 0
    seats: int = 0
    paid_seats: int = 0
    refunded_seats: int = 0
    usable_seats: int = 0
    licenses_issued: int = 0
    seats_free: int = 0


@dataclass(frozen=True)
class Report:
    period: Period
    generated_at: datetime
    orders: list[OrderLine]
    exceptions: list[ReportException]
    totals: list[Totals] = field(default_factory=list)
    subscriptions: list[SubscriptionTotals] = field(default_factory=list)
    expiring: list[ExpiringLicense] = field(default_factory=list)

    @property
    def expiring_window(self) -> tuple[date, date]:
        """The days (inclusive) `expiring` covers: from the day the report was made."""
        return expiring_window(self.generated_at.astimezone(UTC).date())

    @property
    def expiring_needs_action(self) -> list[ExpiringLicense]:
        return [e for e in self.expiring if e.needs_action]

    def as_json(self) -> dict[str, Any]:
        first, last = self.expiring_window
        return {
            "period": {"from": self.period.start.isoformat(), "to": self.period.end.isoformat()},
            "generated_at": iso(self.generated_at),
            "exceptions": [asdict(e) for e in self.exceptions],
            "orders": [asdict(o) for o in self.orders],
            "totals": [asdict(t) for t in self.totals],
            "subscriptions": [asdict(s) for s in self.subscriptions],
            "expiring": {
                "from": first.isoformat(),
                "to": last.isoformat(),
                "licenses": [asdict(e) for e in self.expiring],
            },
        }


def refunded_seats(order: Order) -> int:
    if order.status is OrderStatus.REFUNDED:
        return order.seats
    return min(order.refunded_seats, order.seats)


def _licensable(order: Order) -> int:
    """The seats an order's active licenses are measured against. A subscription cancelled or
    gone unpaid keeps the seats it paid for: their licenses expire with the paid term and lapse
    on their own, so there is nothing to revoke and nothing for finance to do (a quantity
    lowered on a running subscription is still over its seats)."""
    if order.status is OrderStatus.UNPAID and order.paid_until is not None:
        return max(0, order.seats - refunded_seats(order))
    return order.usable_seats


def build_report(
    orders: Iterable[Order],
    licenses: Iterable[License],
    period: Period,
    now: datetime,
    progress: Progress | None = None,
) -> Report:
    all_orders = list(orders)
    records = list(licenses)
    by_order: dict[str, list[License]] = {}
    for lic in records:
        if lic.order_id:
            by_order.setdefault(lic.order_id, []).append(lic)
    new_serial = {lic.license_no: lic.serial for lic in records}

    lines: list[OrderLine] = []
    problems: list[ReportException] = []
    total = len(all_orders) + len(records)
    for done, order in enumerate(all_orders, start=1):
        mine = by_order.get(order.order_id, [])
        active = [lic for lic in mine if lic.state is LicenseState.ACTIVE]
        if order.status in (OrderStatus.REFUNDED, OrderStatus.DISPUTED):
            kind = (
                "refunded_with_license"
                if order.status is OrderStatus.REFUNDED
                else "disputed_with_license"
            )
            for lic in active:
                problems.append(
                    ReportException(
                        kind,
                        f"order {order.order_id} is {order.status.value}; license "
                        f"#{lic.license_no} for {lic.serial} is still active",
                        order.order_id,
                        lic.serial,
                        lic.license_no,
                        order.email,
                    )
                )
        elif len(active) > _licensable(order):
            problems.append(
                ReportException(
                    "over_seats",
                    f"{len(active)} active license(s) on {order.usable_seats} usable "
                    f"seat(s) ({order.seats} bought, {refunded_seats(order)} refunded)",
                    order.order_id,
                    None,
                    None,
                    order.email,
                )
            )
        touched = any(
            period.contains(lic.issued_at) or period.contains(lic.revoked_at) for lic in mine
        )
        if period.contains(order.created) or touched:
            revoked = [lic for lic in mine if lic.state is LicenseState.REVOKED]
            transfers = sum(1 for lic in revoked if lic.replaced_by)
            line = OrderLine(
                order_id=order.order_id,
                email=order.email,
                name=order.name,
                status=order.status.value,
                created=iso(order.created),
                source=order.source,
                currency=order.currency,
                amount_total=order.amount_total,
                seats=order.seats,
                paid_seats=0 if order.status is OrderStatus.UNPAID else order.seats,
                refunded_seats=refunded_seats(order),
                usable_seats=order.usable_seats,
                licenses_issued=len(active),
                licenses_revoked=len(revoked) - transfers,
                transfers=transfers,
                seats_free=order.usable_seats - len(active),
            )
            lines.append(line)
            if (
                order.status is OrderStatus.PAID
                and order.usable_seats > 0
                and not mine
                and period.contains(order.created)
            ):
                problems.append(
                    ReportException(
                        "unused_order",
                        f"paid for {order.usable_seats} seat(s), no license issued",
                        order.order_id,
                        None,
                        None,
                        order.email,
                        iso(order.created),
                    )
                )
        if progress is not None:
            progress(done, total)

    for done, lic in enumerate(records, start=len(all_orders) + 1):
        if lic.order_id is None and period.contains(lic.issued_at):
            who = f" by {lic.granted_by}" if lic.granted_by else ""
            why = f": {lic.grant_reason}" if lic.grant_reason else ""
            state = "" if lic.state is LicenseState.ACTIVE else " (since revoked)"
            problems.append(
                ReportException(
                    "manual_grant",
                    f"license #{lic.license_no} granted without an order{who}{why}{state}",
                    None,
                    lic.serial,
                    lic.license_no,
                    lic.customer_email,
                    iso(lic.issued_at),
                )
            )
        if lic.state is LicenseState.REVOKED and period.contains(lic.revoked_at):
            at = iso(lic.revoked_at) if lic.revoked_at else None
            if lic.replaced_by:
                problems.append(
                    ReportException(
                        "transfer",
                        f"license #{lic.license_no} moved from {lic.serial} to "
                        f"{new_serial.get(lic.replaced_by, '?')} (license #{lic.replaced_by})",
                        lic.order_id,
                        lic.serial,
                        lic.license_no,
                        lic.customer_email,
                        at,
                    )
                )
            else:
                problems.append(
                    ReportException(
                        "revoked",
                        f"license #{lic.license_no} revoked: "
                        f"{lic.revoked_reason or 'no reason given'}",
                        lic.order_id,
                        lic.serial,
                        lic.license_no,
                        lic.customer_email,
                        at,
                    )
                )
        if progress is not None:
            progress(done, total)

    rank = {kind: i for i, kind in enumerate(EXCEPTION_KINDS)}
    problems.sort(key=lambda e: (rank[e.kind], e.at or "", e.order_id or "", e.license_no or 0))
    lines.sort(key=lambda o: (o.created, o.order_id))
    return Report(period, now, lines, problems, _totals(lines))


def _totals(lines: Sequence[OrderLine]) -> list[Totals]:
    sums: dict[str, dict[str, int]] = {}
    for line in lines:
        acc = sums.setdefault(line.currency, {f: 0 for f in TOTAL_FIELDS if f != "currency"})
        acc["orders"] += 1
        for name in TOTAL_FIELDS[2:]:
            acc[name] += getattr(line, name)
    return [Totals(currency, **values) for currency, values in sorted(sums.items())]


# -- the store -------------------------------------------------------------------------------


def load_report(
    store: Store,
    period: Period,
    now: datetime,
    progress: Progress | None = None,
    *,
    grace_days: int = 0,
) -> Report:
    """The report from the store; `grace_days` is `[product] subscription_grace_days` (when a
    subscription's term counts as lapsed)."""
    orders = store.all_orders()
    report = build_report(orders, store.licenses(), period, now, progress)
    today = now.astimezone(UTC).date()
    by_id = {o.order_id: o for o in orders}
    return replace(
        report,
        subscriptions=subscription_totals(store, period.start, period.end, today, grace_days),
        expiring=load_expiring(store, by_id, today),
    )


def size_of(store: Store) -> int:
    """How many rows a report walks (to decide whether a progress bar is worth showing)."""
    return store.count_rows()
