"""mailbot.logs: what reaches a log line never carries a whole license string."""

from __future__ import annotations

from tests.builders import new_serial


def test_a_license_string_wrapped_over_lines_is_redacted_whole() -> None:
    from datetime import date

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from mailbot.adapters.signing import Signer
    from mailbot.logs import redact

    string = Signer(Ed25519PrivateKey.generate(), "AMC").sign(new_serial(), 7, date(2026, 1, 1))
    tail = string[-40:]
    for wrapped in (string, string[:70] + "\r\n" + string[70:], string[:72] + "\n  " + string[72:]):
        out = redact(f"mail said: {wrapped} thanks")
        assert tail not in out and string[20:40] not in out, out
        assert out.startswith("mail said: AMC1-") and out.endswith(" thanks")
