"""Licenses: search by serial or address, one license with its history, and the staff actions
on it (resend, revoke, transfer), over the same `services/licenses.py` as `mailbot licenses`.

Everyone may look; only roles that may `issue` (support, admin) may act, checked on the server
by `@page("issue")`. Each action writes its audit line with the staff account as actor, then
answers with a redirect to the license's page (POST-redirect-GET), whose `done=` names one of
a few fixed messages: nothing a request carries is ever printed as a flash.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from mailbot.services.expiry import DatedLicense
from mailbot.services.license_views import license_detail, list_licenses
from mailbot.services.licenses import (
    LicenseError,
    normalize_serial,
    resend,
    revoke,
    transfer,
)
from mailbot.web.auth import Visit, console_of, page
from mailbot.web.common import refused

ROW_ID_MAX = 2**63 - 1  # SQLite's integers; a larger number names no license
MAX_QUERY = 320
SHOWN = 500  # a search matching more (a whole domain) shows the newest this many

DONE = {
    "resent": "The license is in the outbox, addressed to its order's email; the running "
    "worker sends it.",
    "revoked": "The license is revoked. Publish the list the desktop app downloads: "
    "mailbot licenses revoked --signed --output revoked.json",
    "transferred": "Transferred: this is the new license, on the same seat; the old one is "
    "revoked and the customer was mailed the new string.",
}


def _search(request: Request, code: str) -> tuple[str, list[DatedLicense], str]:
    """The query, its licenses (newest first) and a sentence when nothing matched."""
    query = request.query_params.get("q", "").strip()[:MAX_QUERY]
    if not query:
        return "", [], ""
    app = console_of(request).app
    today = app.clock.now().date()
    if "@" in query:
        rows = list_licenses(app.store, email=query, product_code=code, today=today)
        return query, rows[::-1], "" if rows else f"No licenses for {query}."
    rows = list_licenses(app.store, serial=query, product_code=code, today=today)
    if rows:
        return query, rows[::-1], ""
    try:
        serial = normalize_serial(query, code)
    except LicenseError as exc:  # say what is wrong with what was typed
        return query, [], f"No license found: {exc}."
    return query, [], f"No license for {serial}: it has never been licensed."


@page("read")
async def licenses(request: Request, visit: Visit) -> Response:
    console = console_of(request)
    query = request.query_params.get("q", "").strip().lstrip("#")
    if query.isdigit() and int(query) <= ROW_ID_MAX and console.app.store.license(int(query)):
        return RedirectResponse(f"/licenses/{int(query)}", status_code=303)
    query, rows, missing = _search(request, console.app.settings.product.code)
    return console.pages.render(
        request,
        "licenses.html",
        200 if rows or not query else 404,
        title="Licenses",
        query=query,
        rows=rows[:SHOWN],
        more=max(0, len(rows) - SHOWN),
        missing=missing,
    )


def _number(request: Request) -> int | None:
    number = int(request.path_params["no"])
    return number if number <= ROW_ID_MAX else None


def _detail_page(
    request: Request, visit: Visit, number: int | None, status: int = 200, error: str = ""
) -> Response:
    console = console_of(request)
    try:
        if number is None:
            raise LicenseError("there is no such license")
        detail = license_detail(console.app.store, number, today=console.app.clock.now().date())
    except LicenseError:
        return refused(
            request,
            console,
            404,
            "No such license",
            f"There is no license #{number or request.path_params['no']}. Search by serial "
            "or address on the Licenses page.",
        )
    return console.pages.render(
        request,
        "license.html",
        status,
        title=f"License #{detail.license.license_no}",
        d=detail,
        lic=detail.license,
        done=DONE.get(request.query_params.get("done", ""), ""),
        error=error,
        may_act=visit.account.may("issue"),
    )


@page("read")
async def license_page(request: Request, visit: Visit) -> Response:
    return _detail_page(request, visit, _number(request))


def _after(number: int, done: str) -> Response:
    return RedirectResponse(f"/licenses/{number}?done={done}", status_code=303)


@page("issue")
async def resend_license(request: Request, visit: Visit) -> Response:
    number = _number(request)
    if number is None:
        return _detail_page(request, visit, None)
    app = console_of(request).app
    try:
        resend(app, number, visit.account.name, app.clock.now())
    except LicenseError as exc:
        return _detail_page(request, visit, number, 409, f"Not sent: {exc}.")
    return _after(number, "resent")


@page("issue")
async def revoke_license(request: Request, visit: Visit) -> Response:
    number = _number(request)
    if number is None:
        return _detail_page(request, visit, None)
    app = console_of(request).app
    try:
        revoke(app, number, visit.text("reason")[:1000], visit.account.name, app.clock.now())
    except LicenseError as exc:
        return _detail_page(request, visit, number, 409, f"Not revoked: {exc}.")
    return _after(number, "revoked")


@page("issue")
async def transfer_license(request: Request, visit: Visit) -> Response:
    number = _number(request)
    lic = console_of(request).app.store.license(number) if number is not None else None
    if number is None or lic is None:
        return _detail_page(request, visit, number)
    app = console_of(request).app
    new_serial = visit.text("new_serial").strip()[:200]
    if not new_serial:
        return _detail_page(request, visit, number, 400, "Not transferred: give the new serial.")
    try:
        _, new, _ = transfer(
            app,
            lic.serial,
            new_serial,
            visit.account.name,
            app.clock.now(),
            reason=visit.text("reason").strip()[:1000],
        )
    except LicenseError as exc:
        return _detail_page(request, visit, number, 409, f"Not transferred: {exc}.")
    return _after(new.license_no, "transferred")


ROUTES: list[BaseRoute] = [
    Route("/licenses", licenses, methods=["GET"]),
    Route("/licenses/{no:int}", license_page, methods=["GET"]),
    Route("/licenses/{no:int}/resend", resend_license, methods=["POST"]),
    Route("/licenses/{no:int}/revoke", revoke_license, methods=["POST"]),
    Route("/licenses/{no:int}/transfer", transfer_license, methods=["POST"]),
]
