"""Log lines never hold secrets, whole license strings or terminal escapes."""

from __future__ import annotations

import json
import logging
from datetime import date

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mailbot.adapters.signing import Signer
from mailbot.core.license_format import sign_license
from mailbot.logs import configure, redact
from tests.builders import new_serial

LICENSE = sign_license(
    Ed25519PrivateKey.generate(),
    serial="AMC-0000-0000-0000-0000",
    license_no=7,
    issued=date(2026, 1, 1),
    expires=None,
    edition=1,
    product_code="AMC",
)


@pytest.mark.parametrize(
    "written",
    [
        LICENSE,
        LICENSE.replace("-", ""),  # without its dashes
        LICENSE.replace("-", " "),  # with spaces
        LICENSE[:60] + "\n" + LICENSE[60:],  # wrapped by a mail client
        LICENSE.lower().replace("-", ""),
    ],
    ids=["dashes", "no dashes", "spaces", "wrapped", "lower case, no dashes"],
)
def test_license_strings_are_cut_short_however_written(written: str) -> None:
    out = redact(f"subject: please {written} thanks")
    assert len(out) < len(f"subject: please {written} thanks") - 80
    assert "…" in out


def test_control_characters_are_shown_not_sent(capsys: pytest.CaptureFixture[str]) -> None:
    configure("info", as_json=False)
    logging.getLogger("mailbot.test").info(
        "subject \x1b[2J\u202e",
        extra={"subject": "x\x1b]8;;https://evil.example\x07y", "password": "hunter2"},
    )
    line = capsys.readouterr().err
    assert "\x1b" not in line and "\u202e" not in line and "\x07" not in line
    assert "hunter2" not in line and "[redacted]" in line
    configure("info", as_json=True)
    logging.getLogger("mailbot.test").info("event", extra={"subject": "a\x9bb"})
    record = json.loads(capsys.readouterr().err)
    assert record["subject"] == "a\\x9bb"


def test_a_license_string_wrapped_over_lines_is_redacted_whole() -> None:
    string = Signer(Ed25519PrivateKey.generate(), "AMC").sign(new_serial(), 7, date(2026, 1, 1))
    tail = string[-40:]
    for wrapped in (string, string[:70] + "\r\n" + string[70:], string[:72] + "\n  " + string[72:]):
        out = redact(f"mail said: {wrapped} thanks")
        assert tail not in out and string[20:40] not in out, out
        assert out.startswith("mail said: AMC1-") and out.endswith(" thanks")
