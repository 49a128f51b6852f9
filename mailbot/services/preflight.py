"""What every run needs before it may decide a single mail, checked up front.

A fault that every mail would hit (a template that does not render, a key that cannot sign, an
orders file that cannot be read) is a setup fault: deciding around it would turn each waiting
mail into an `internal_error` escalation. `preflight()` runs these checks before `mailbot run`
touches the mailbox and raises `ConfigError` with the first problem's sentence, so the mail
waits on the server until the admin has fixed it. `mailbot doctor` runs the same checks (and the
network ones) and lists them all.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from mailbot.config import ConfigError, Settings


@dataclass(frozen=True)
class Check:
    """One thing `run` needs, and whether it is there."""

    name: str
    ok: bool
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


# -- templates ----------------------------------------------------------------------------------

# One result of every kind the reply templates know, so every branch of them renders.
_SAMPLE_RESULTS = [
    {"serial": "AMC-0000-0000-0000-0000", "as_found": "AMC-0000-0000-0000-0000",
     "action": action, "reason": reason, "reason_text": reason_text,
     "old_serial": "AMC-1111-1111-1111-1111" if action == "transfer" else None,
     "license_string": "AMC1-SAMPLE" if action in ("issue", "resend", "transfer") else "",
     "license_no": 1, "pay_url": "https://pay.example/sample" if action == "await_payment"
     else ""}
    for action, reason, reason_text in (
        ("issue", None, ""), ("resend", None, ""), ("transfer", None, ""),
        ("await_payment", None, ""), ("clarify", "mistyped_serial", "a character is mistyped"),
        ("escalate", "no_order", "we found no order for your address"),
    )
]

_SAMPLE_ITEM = {
    "id": 1, "reason": "no_order", "reason_help": "no order for the sender's address",
    "sender": "customer@example.com", "subject": "License request",
    "received_at": "2026-01-01T00:00:00+00:00", "created_at": "2026-01-01T00:00:00+00:00",
    "detail": ["no paid order for customer@example.com"],
    "serials": [{"serial": "AMC-0000-0000-0000-0000", "as_found": "AMC-0000-0000-0000-0000",
                 "status": "ok", "action": "escalate", "reason": "no_order"}],
    "suggestions": ["mailbot queue retry 1"],
    "orders": [{"order_id": "cs_sample", "status": "paid", "seats": 1, "used": 1}],
    "seats": {"bought": 1, "usable": 1, "in_use": 1, "free": 0},
    "excerpt": "Hello,\nhere is my serial.", "folder": "mailbot/escalated",
}


def sample_context(settings: Settings, template: str) -> dict[str, Any]:
    """A context with every variable the shipped templates use, as the pipeline fills it."""
    context: dict[str, Any] = {
        "product": {"name": settings.product.name, "code": settings.product.code},
        "support_name": settings.outbox.from_name or f"{settings.product.name} support",
        "support_address": settings.outbox.from_address,
        "customer_name": "Sample Customer",
        "results": _SAMPLE_RESULTS,
        "licensed": True,
        "outcome": template,
        "original_subject": "License request",
        "text": "A written answer.",
        "staff_name": "staff",
        "e": _SAMPLE_ITEM,
        "items": [_SAMPLE_ITEM],
        "count": 1,
        "minutes": settings.staff.digest_minutes,
        "now": "2026-01-01T00:00:00+00:00",
    }
    return context


def check_templates(settings: Settings, renderer: Any) -> list[Check]:
    """Every template the bot may send, shipped or overridden, renders with a sample context."""
    checks = []
    for name in renderer.names():
        try:
            renderer.render(name, sample_context(settings, name))
        except ConfigError as exc:
            checks.append(Check(f"template {name}", False, str(exc)))
            continue
        where = "overridden in " + str(settings.templates_dir) \
            if settings.templates_dir is not None and any(
                (settings.templates_dir / f"{name}.{ext}").is_file() for ext in ("txt", "html")
            ) else "shipped"
        checks.append(Check(f"template {name}", True, f"renders ({where})"))
    return checks


# -- signing key ---------------------------------------------------------------------------------


def check_signing(settings: Settings, signer: Any) -> Check:
    """The key signs, and what it signs verifies with the published public keys."""
    from mailbot.adapters.signing import KeyFileError, load_public_keys
    from mailbot.core.license_format import InvalidLicense, verify_license

    path = settings.signing.private_key
    serial = f"{settings.product.code}-0000-0000-0000-0000"
    try:
        string = signer.sign(serial, 1, date(2026, 1, 1))
        publics = load_public_keys(settings.signing.public_keys, path)
        verify_license(string, serial=serial, public_keys=publics,
                       product_code=settings.product.code, today=date(2026, 1, 1))
    except KeyFileError as exc:
        return Check("signing key", False, str(exc))
    except InvalidLicense as exc:
        return Check("signing key", False,
                     f"a license signed with {path} does not verify ({exc}): its public key is "
                     f"missing from {settings.signing.public_keys}; run `mailbot keys init`")
    except Exception as exc:  # noqa: BLE001 - a key that cannot sign is a setup fault
        return Check("signing key", False, f"{path} cannot sign a license ({exc})")
    return Check("signing key", True,
                 f"{path} signs, and the signature verifies (key id {signer.key_id:02x})")


# -- orders --------------------------------------------------------------------------------------


def check_orders(settings: Settings, source: Any, *, live: bool) -> Check:
    """The orders source answers: a CSV file parses; Stripe has a key (and, when `live`,
    answers one read-only call)."""
    orders = settings.orders
    if orders.kind == "csv" and not live:
        # The run reads the file itself right after (and only when it changed): here it only
        # has to be there.
        try:
            source.version()
        except ConfigError as exc:
            return Check("orders", False, str(exc))
        return Check("orders", True, f"{orders.path} is readable")
    if orders.kind == "csv":
        try:
            count = sum(1 for _ in source.all_orders())
        except ConfigError as exc:
            return Check("orders", False, str(exc))
        problems = list(getattr(source, "problems", []))
        detail = f"{orders.path}: {count} order(s)"
        if problems:
            detail += f"; {len(problems)} row(s) skipped, first: {problems[0]}"
        return Check("orders", True, detail)
    if not live:
        return Check("orders", True, "Stripe API key is set")
    from mailbot.adapters.orders.stripe import StripeUnavailable

    try:
        source.check_access()
    except StripeUnavailable as exc:
        return Check("orders", False, str(exc))
    return Check("orders", True, "Stripe answers a read-only call with this key")


# -- store ---------------------------------------------------------------------------------------


def check_store(path: Path) -> Check:
    """The database opens and its schema is one this mailbot can migrate; read-only."""
    from mailbot.store import SCHEMA_VERSION

    if not path.exists():
        return Check("store", True, f"{path} does not exist yet; it will be created")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            tables = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            version = 0
            if "meta" in tables:
                row = conn.execute(
                    "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                version = int(row[0]) if row else 0
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return Check("store", False, f"{path} cannot be read as a mailbot database ({exc})")
    if version > SCHEMA_VERSION:
        return Check("store", False, f"{path} is schema version {version}, newer than this "
                                     f"mailbot ({SCHEMA_VERSION}): upgrade mailbot")
    if version < SCHEMA_VERSION:
        return Check("store", True, f"{path} is schema version {version}; the next run "
                                    f"migrates it to {SCHEMA_VERSION} in place")
    return Check("store", True, f"{path} opens, schema version {version} (current)")


# -- all of it -----------------------------------------------------------------------------------


def check_local_mailbox(settings: Settings) -> Check | None:
    """A Maildir must be there: a mistyped path would otherwise be a new, empty mailbox that
    never gets mail. (IMAP folders are checked by `doctor` over the network.)"""
    mailbox = settings.mailbox
    if mailbox.kind != "maildir" or mailbox.path is None:
        return None
    if mailbox.path.is_dir():
        return Check("mailbox", True, f"Maildir folder {mailbox.path} exists")
    return Check("mailbox", False, f"Maildir folder {mailbox.path} does not exist: create it, "
                                   "or fix [mailbox] path")


def local_checks(app: Any, *, live: bool) -> list[Check]:
    """The checks that need no mail server: templates, key, orders, store (and a Maildir)."""
    settings = app.settings
    checks: list[Check] = []
    if not live:
        mailbox = check_local_mailbox(settings)
        if mailbox is not None:
            checks.append(mailbox)
    checks += check_templates(settings, app.renderer)
    try:
        signer = app.signer
    except ConfigError as exc:
        checks.append(Check("signing key", False, str(exc)))
    else:
        checks.append(check_signing(settings, signer))
    try:
        source = app.orders
    except ConfigError as exc:
        checks.append(Check("orders", False, str(exc)))
    else:
        checks.append(check_orders(settings, source, live=live))
    checks.append(check_store(settings.store_path))
    return checks


def preflight(app: Any) -> None:
    """Raise ConfigError with the first thing `run` needs and does not have."""
    for check in local_checks(app, live=False):
        if not check.ok:
            raise ConfigError(check.detail)
