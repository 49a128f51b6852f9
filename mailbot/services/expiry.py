"""Licenses as staff see them on a given day: the last day each is valid and whether that day
is past (issue 13). The CLI and the web console show these fields as they are; neither works
out an expiry itself.

A `DatedLicense` is a `License` with two fields more, so every table, template and JSON
output that shows licenses keeps working and gains `expires` and `expired`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date

from mailbot.core.license_format import day_of
from mailbot.core.model import License
from mailbot.core.terms import expired

_LICENSE_FIELDS = tuple(f.name for f in fields(License))


@dataclass(frozen=True)
class DatedLicense(License):
    """A license and its expiry as of one day."""

    expires: date | None = None  # the last day it is valid; None: perpetual
    expired: bool = False  # `expires` is before the day it was looked at


def dated(lic: License, today: date) -> DatedLicense:
    """The license with its expiry on `today` (expires_day 0 is a perpetual license)."""
    expires = day_of(lic.expires_day) if lic.expires_day else None
    values = {name: getattr(lic, name) for name in _LICENSE_FIELDS}
    return DatedLicense(**values, expires=expires, expired=expired(expires, today))


def dated_all(licenses: Iterable[License], today: date) -> list[DatedLicense]:
    return [dated(lic, today) for lic in licenses]
