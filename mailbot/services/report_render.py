"""A finance Report as files: JSON for scripts, one CSV table a file for spreadsheets, and money
as people read it.

Apart from `report.py` because the columns and their order are a contract with whoever imports
the files (finance's spreadsheets), which changes for other reasons than how figures are counted.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict

from mailbot.services.report import TOTAL_FIELDS, Report
from mailbot.services.report_terms import SUBSCRIPTION_FIELDS

ORDER_FIELDS = (
    "order_id",
    "email",
    "name",
    "status",
    "created",
    "source",
    "currency",
    "amount_total",
    "seats",
    "paid_seats",
    "refunded_seats",
    "usable_seats",
    "licenses_issued",
    "licenses_revoked",
    "transfers",
    "seats_free",
)
EXCEPTION_FIELDS = ("kind", "order_id", "serial", "license_no", "email", "at", "detail")
EXPIRING_FIELDS = (
    "license_no",
    "serial",
    "email",
    "order_id",
    "expires",
    "days_left",
    "subscription",
    "outlook",
    "needs_action",
)

# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets
# (OWASP, "CSV Injection"), also in the full-width forms some of them fold to the ASCII ones.
# Names, addresses and order ids come from customers and shops: such a cell gets a leading
# apostrophe and is read as text. Numbers stay numbers (a negative seats_free is a figure).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def spreadsheet_safe(value: object) -> object:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def render_json(report: Report) -> str:
    return json.dumps(report.as_json(), indent=2, ensure_ascii=False)


# New tables are added at the end, never as new columns of an old one: scripts read these.
CSV_SECTIONS = ("orders", "exceptions", "totals", "subscriptions", "expiring")


def render_csv(report: Report, section: str = "orders") -> str:
    """One CSV table of `CSV_SECTIONS` (spreadsheets want one table a file), every text cell
    made safe from formula injection (`spreadsheet_safe`)."""
    fields: tuple[str, ...]
    if section == "orders":
        fields, rows = ORDER_FIELDS, [asdict(o) for o in report.orders]
    elif section == "exceptions":
        fields, rows = EXCEPTION_FIELDS, [asdict(e) for e in report.exceptions]
    elif section == "totals":
        fields, rows = TOTAL_FIELDS, [asdict(t) for t in report.totals]
    elif section == "subscriptions":
        fields, rows = SUBSCRIPTION_FIELDS, [asdict(t) for t in report.subscriptions]
    elif section == "expiring":
        fields = EXPIRING_FIELDS
        # true/false rather than Python's True/False: what spreadsheets and scripts expect
        rows = [
            {**asdict(e), "needs_action": "true" if e.needs_action else "false"}
            for e in report.expiring
        ]
    else:
        raise ValueError(f"unknown section {section!r}: {', '.join(CSV_SECTIONS)}")
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=list(fields), extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else spreadsheet_safe(v) for k, v in row.items()})
    return out.getvalue()


def money(amount: int, currency: str) -> str:
    if not amount:
        return "-"  # unknown (a CSV without amounts) reads better as a dash than as 0.00
    if not currency:
        return str(amount)
    # Stripe's zero-decimal currencies are the exception; two decimals fit the rest.
    zero_decimal = {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
    if currency.lower() in zero_decimal:
        return f"{amount} {currency.upper()}"
    return f"{amount / 100:,.2f} {currency.upper()}"
