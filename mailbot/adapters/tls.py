"""TLS for our client connections (IMAP, SMTP): one trust policy, one piece of advice."""

from __future__ import annotations

import ssl


def client_context() -> ssl.SSLContext:
    """Verify certificates and host names. SSL_CERT_FILE / SSL_CERT_DIR extend the trusted CAs
    (a private CA, the test servers)."""
    return ssl.create_default_context()


def untrusted_certificate(
    server: str, section: str, where: str, exc: ssl.SSLCertVerificationError
) -> str:
    """What to do when a server's certificate is not trusted, in plain words."""
    return (
        f"the TLS certificate of {server} server {where} is not trusted "
        f"({exc.verify_message or exc}). Check [{section}] host (it must match the "
        f"certificate); for a private CA point SSL_CERT_FILE at its certificate."
    )
