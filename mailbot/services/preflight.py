"""What every run needs before it may decide a single mail, checked up front.

A fault that every mail would hit (a template that does not render, a key that cannot sign, an
orders file that cannot be read) is a setup fault: deciding around it would turn each waiting
mail into an `internal_error` escalation. `preflight()` runs these checks before `mailbot run`
touches the mailbox and raises `SetupError` with the first problem's sentence, so the mail
waits on the server until the admin has fixed it. `mailbot doctor` runs the same checks (and the
network ones) and lists them all.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from mailbot.config import Settings
from mailbot.core.errors import SetupError
from mailbot.core.language import DEFAULT_LANGUAGE
from mailbot.core.license_format import InvalidLicense, verify_license
from mailbot.core.reply_by_mail import ANSWER_MARKER
from mailbot.mail.render import Renderer
from mailbot.services.context import Deps
from mailbot.services.ports import Check, OrderSource, Signer
from mailbot.services.webhooks import webhook_checks

# -- templates ----------------------------------------------------------------------------------

# One result of every kind the reply templates know, so every branch of them renders.
_SAMPLE_RESULTS = [
    {
        "serial": "AMC-0000-0000-0000-0000",
        "as_found": "AMC-0000-0000-0000-0000",
        "action": action,
        "reason": reason,
        "reason_text": reason_text,
        "old_serial": "AMC-1111-1111-1111-1111" if action == "transfer" else None,
        "license_string": "AMC1-SAMPLE"
        if action in ("issue", "resend", "transfer", "renew")
        else "",
        "license_no": 1,
        "expires": "2026-02-08" if action == "renew" else "",
        "pay_url": "https://pay.example/sample" if action == "await_payment" else "",
    }
    for action, reason, reason_text in (
        ("issue", None, ""),
        ("resend", None, ""),
        ("transfer", None, ""),
        ("renew", None, ""),
        ("await_payment", None, ""),
        ("clarify", "mistyped_serial", "a character is mistyped"),
        ("escalate", "no_order", "we found no order for your address"),
    )
]

_SAMPLE_ITEM = {
    "id": 1,
    "reason": "no_order",
    "reason_help": "no order for the sender's address",
    "sender": "customer@example.com",
    "subject": "License request",
    "received_at": "2026-01-01T00:00:00+00:00",
    "created_at": "2026-01-01T00:00:00+00:00",
    "detail": ["no paid order for customer@example.com"],
    "serials": [
        {
            "serial": "AMC-0000-0000-0000-0000",
            "as_found": "AMC-0000-0000-0000-0000",
            "status": "ok",
            "action": "escalate",
            "reason": "no_order",
        }
    ],
    "suggestions": ["mailbot queue retry 1"],
    "orders": [{"order_id": "cs_sample", "status": "paid", "seats": 1, "used": 1}],
    "seats": {"bought": 1, "usable": 1, "in_use": 1, "free": 0},
    "excerpt": "Hello,\nhere is my serial.",
    "folder": "mailbot/escalated",
    "reply_address": "support+esc-1-aaaaaaaaaaaaaaaa@example.com",
    "answer_marker": ANSWER_MARKER,
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
        "paid_until": "2026-02-01",
        # licenses_list: every state a listed license can be in
        "licenses": [
            {"serial": "AMC-0000-0000-0000-0000", "state": s, "expires": e, "issued": "2026-01-01"}
            for s, e in (("active", ""), ("active", "2027-01-01"), ("expired", "2026-06-01"))
        ]
        + [{"serial": "AMC-1111-1111-1111-1111", "state": "revoked", "expires": "", "issued": ""}],
        "more_licenses": 1,
    }
    return context


def check_templates(settings: Settings, renderer: Renderer) -> list[Check]:
    """Every template the bot may send, shipped or overridden, renders with a sample context."""
    checks = []
    others = sorted(renderer.languages() - {DEFAULT_LANGUAGE})
    for name in renderer.names():
        # Each language a template exists in (de/issued beside issued) renders on its own.
        for language in [DEFAULT_LANGUAGE, *others]:
            if renderer.language_of(name, language) != language:
                continue
            shown = name if language == DEFAULT_LANGUAGE else f"{language}/{name}"
            try:
                renderer.render(name, sample_context(settings, name), language)
            except SetupError as exc:
                checks.append(Check(f"template {shown}", False, str(exc)))
                continue
            where = (
                "overridden in " + str(settings.templates_dir)
                if any(renderer.is_overridden(f"{shown}.{ext}") for ext in ("txt", "html"))
                else "shipped"
            )
            checks.append(Check(f"template {shown}", True, f"renders ({where})"))
    return checks


# -- signing key ---------------------------------------------------------------------------------


def check_signing(settings: Settings, signer: Signer) -> Check:
    """The key signs, and what it signs verifies with the published public keys."""
    path = settings.signing.private_key
    serial = f"{settings.product.code}-0000-0000-0000-0000"
    try:
        string = signer.sign(serial, 1, date(2026, 1, 1))
        verify_license(
            string,
            serial=serial,
            public_keys=signer.public_keys(),
            product_code=settings.product.code,
            today=date(2026, 1, 1),
        )
    except InvalidLicense as exc:
        return Check(
            "signing key",
            False,
            f"a license signed with {path} does not verify ({exc}): its public key is "
            f"missing from {settings.signing.public_keys}; run `mailbot keys init`",
        )
    except Exception as exc:  # noqa: BLE001 - a key that cannot sign is a setup fault
        return Check("signing key", False, f"{path} cannot sign a license ({exc})")
    return Check(
        "signing key",
        True,
        f"{path} signs, and the signature verifies (key id {signer.key_id:02x})",
    )


# -- orders --------------------------------------------------------------------------------------


def check_orders(source: OrderSource, *, live: bool) -> list[Check]:
    """The orders source answers: a local file is there (`live`: it parses; a remote source
    answers one read-only call)."""
    if live:
        return source.checks()
    if source.is_local:
        # The run reads the file itself right after (and only when it changed): here it only
        # has to be there.
        try:
            source.version()
        except SetupError as exc:
            return [Check("orders", False, str(exc))]
        return [Check("orders", True, "the orders file is readable")]
    return [Check("orders", True, "the order source is set up")]


# -- store ---------------------------------------------------------------------------------------


def check_store(path: Path) -> Check:
    """The database opens and its schema is one this mailbot can migrate; read-only."""
    from mailbot.store import SCHEMA_VERSION
    from mailbot.store.engine import schema_version_on_disk
    from mailbot.store.errors import StoreError

    if not path.exists():
        return Check("store", True, f"{path} does not exist yet; it will be created")
    try:
        version = schema_version_on_disk(path)
    except StoreError as exc:
        return Check("store", False, str(exc))
    if version > SCHEMA_VERSION:
        return Check(
            "store",
            False,
            f"{path} is schema version {version}, newer than this "
            f"mailbot ({SCHEMA_VERSION}): upgrade mailbot",
        )
    if version < SCHEMA_VERSION:
        return Check(
            "store",
            True,
            f"{path} is schema version {version}; the next run "
            f"migrates it to {SCHEMA_VERSION} in place",
        )
    return Check("store", True, f"{path} opens, schema version {version} (current)")


# -- all of it -----------------------------------------------------------------------------------


def local_checks(deps: Deps, *, live: bool) -> list[Check]:
    """The checks that need no mail server: templates, key, orders, store (and, before a run,
    a local mailbox)."""
    settings = deps.settings
    checks: list[Check] = []
    if not live and deps.mailbox.is_local:
        # A mistyped Maildir path would otherwise be a new, empty mailbox that never gets mail.
        checks += deps.mailbox.checks()
    checks += check_templates(settings, deps.renderer)
    try:
        signer = deps.signer
    except SetupError as exc:
        checks.append(Check("signing key", False, str(exc)))
    else:
        checks.append(check_signing(settings, signer))
    try:
        source = deps.orders
    except SetupError as exc:
        checks.append(Check("orders", False, str(exc)))
    else:
        checks += check_orders(source, live=live)
    checks.append(check_store(settings.store_path))
    checks += webhook_checks(deps)
    return checks


def preflight(deps: Deps) -> None:
    """Raise SetupError with the first thing `run` needs and does not have."""
    for check in local_checks(deps, live=False):
        if not check.ok:
            raise SetupError(check.detail)
