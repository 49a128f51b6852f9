"""Orders from a CSV file (the embedded default): `order_id,email,name,seats,status,created`.

Further columns are allowed; `refunded_seats`, `currency`, `amount_total`, `language` (the
customer's, for replies: "de", "de-AT") and `expires` (the last day the seats are paid for,
YYYY-MM-DD: an offline order with a term; empty: bought for good) are read when present. A bad row
is reported with its line number and skipped, never fatal: one typo must not hide every order.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TextIO

from mailbot.config import ConfigError
from mailbot.core.language import language_tag
from mailbot.core.model import Order, OrderStatus
from mailbot.services.ports import Check

log = logging.getLogger(__name__)
REQUIRED = ("order_id", "email", "name", "seats", "status", "created")


class CsvOrders:
    """The OrderSource protocol over a CSV file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._problems: list[str] = []

    @property
    def is_local(self) -> bool:
        return True

    @property
    def problems(self) -> list[str]:
        """The rows the last read skipped, with their line numbers."""
        return list(self._problems)

    def checks(self) -> list[Check]:
        """The file parses; rows skipped are reported, not fatal."""
        try:
            count = sum(1 for _ in self.all_orders())
        except ConfigError as exc:
            return [Check("orders", False, str(exc))]
        detail = f"{self.path}: {count} order(s)"
        if self._problems:
            detail += f"; {len(self._problems)} row(s) skipped, first: {self._problems[0]}"
        return [Check("orders", True, detail)]

    def close(self) -> None:
        pass

    def all_orders(self) -> Iterator[Order]:
        self._problems = []
        with self._open() as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
            if missing:
                raise ConfigError(
                    f"{self.path}: missing column(s) {', '.join(missing)}; "
                    f"the header must start with {','.join(REQUIRED)}"
                )
            for line_no, row in enumerate(reader, start=2):
                try:
                    yield parse_row(row)
                except (ValueError, KeyError) as exc:
                    problem = f"{self.path.name} line {line_no}: {exc}; row skipped"
                    self._problems.append(problem)
                    log.warning("bad order row", extra={"problem": problem})

    def lookup_email(self, email: str) -> list[Order]:
        return [o for o in self.all_orders() if o.email == email.lower()]

    def version(self) -> str:
        """Changes when the file does: the worker re-reads only then."""
        try:
            stat = self.path.stat()
        except OSError as exc:
            raise self._unreadable(exc) from None
        return f"{stat.st_mtime_ns}:{stat.st_size}"

    def _open(self) -> TextIO:
        try:
            return self.path.open(newline="", encoding="utf-8-sig")
        except OSError as exc:
            raise self._unreadable(exc) from None

    def _unreadable(self, exc: OSError) -> ConfigError:
        # Deciding on stale orders could license a refunded one: mail waits until this is fixed.
        return ConfigError(
            f"cannot read the orders file {self.path} ({exc.strerror}); fix "
            f"[orders] path, mail waits until then"
        )


def parse_row(row: dict[str, str]) -> Order:
    order_id = (row.get("order_id") or "").strip()
    email = (row.get("email") or "").strip().lower()
    if not order_id:
        raise ValueError("empty order_id")
    if "@" not in email:
        raise ValueError(f"{email!r} is not an email address")
    try:
        seats = int(row["seats"])
    except ValueError:
        raise ValueError(f"seats {row['seats']!r} is not a whole number") from None
    if seats < 0:
        raise ValueError("seats cannot be negative")
    try:
        status = OrderStatus((row.get("status") or "").strip().lower())
    except ValueError:
        raise ValueError(
            f"status {row.get('status')!r} is not one of paid, refunded, disputed, unpaid"
        ) from None
    created = datetime.fromisoformat((row.get("created") or "").strip())
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    refunded = int(row.get("refunded_seats") or 0)
    expires_text = (row.get("expires") or "").strip()
    try:
        paid_until = date.fromisoformat(expires_text) if expires_text else None
    except ValueError:
        raise ValueError(f"expires {expires_text!r} is not a date (YYYY-MM-DD)") from None
    return Order(
        order_id=order_id,
        email=email,
        name=(row.get("name") or "").strip(),
        seats=seats,
        status=status,
        created=created,
        refunded_seats=refunded,
        currency=(row.get("currency") or "").strip().lower(),
        amount_total=int(row.get("amount_total") or 0),
        source="csv",
        language=language_tag(row.get("language") or ""),
        paid_until=paid_until,
    )
