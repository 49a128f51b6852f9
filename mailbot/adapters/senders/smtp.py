"""Send outbox rows over SMTP (smtplib): one connection kept for many batches, bytes untouched.

The message is handed to the server exactly as rendered (its Message-ID stays the one the
outbox stored); only the transport's own dot-stuffing and CRLF line ends apply. The envelope
sender is `[outbox] from_address`, the envelope recipient the row's.

Results per row: accepted -> Delivery(ok=True); a 4xx answer, a dropped connection or an
unreachable server -> Delivery(ok=False, permanent=False) (the outbox retries later); a 5xx
answer for that message -> Delivery(ok=False, permanent=True) (the outbox escalates).

Problems with our own configuration (login refused, no STARTTLS where we require it, an
untrusted certificate, a missing password) are not the messages' fault and would fail every
row alike: `send` raises SmtpConfigError for them, with what to change, and the rows stay as
they were.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence

from mailbot.adapters.tls import client_context, untrusted_certificate
from mailbot.config import ConfigError, OutboxSettings, secret
from mailbot.services.ports import Check, Delivery, SendBlocked

log = logging.getLogger(__name__)


FRESH_SECONDS = 10.0  # a connection idle this long is checked (NOOP) before it is used again


class SmtpConfigError(ConfigError, SendBlocked):
    """Nothing can be sent until the [outbox] settings or the account are fixed."""


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def classify(code: int, message: bytes | str) -> Delivery:
    """A refused message: 5xx is final, anything else may work later (RFC 5321 4.2.1)."""
    said = " ".join(_text(message).split())[:300]
    return Delivery(ok=False, permanent=500 <= code <= 599, error=f"{code} {said}".strip())


def open_smtp(settings: OutboxSettings) -> smtplib.SMTP:
    """Connect, EHLO, STARTTLS when configured, AUTH when a username is set. The default seam.

    Connection problems raise OSError / smtplib errors; configuration problems SmtpConfigError.
    """
    where = f"{settings.host}:{settings.port}"
    # Loading the trusted CAs costs milliseconds: only for a connection that uses TLS.
    context = client_context() if settings.security != "none" else None
    try:
        smtp: smtplib.SMTP
        if settings.security == "tls":
            smtp = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout_seconds, context=context
            )
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_seconds)
    except ssl.SSLCertVerificationError as exc:
        raise SmtpConfigError(untrusted_certificate("SMTP", "outbox", where, exc)) from None
    try:
        smtp.ehlo()
        if settings.security == "starttls":
            if not smtp.has_extn("starttls"):
                raise SmtpConfigError(
                    f'SMTP server {where} does not offer STARTTLS. Use security = "tls" '
                    f"(usually port 465), or check host and port (submission is 587)."
                )
            try:
                smtp.starttls(context=context)
            except ssl.SSLCertVerificationError as exc:
                raise SmtpConfigError(untrusted_certificate("SMTP", "outbox", where, exc)) from None
            smtp.ehlo()
        if settings.username:
            _login(smtp, settings, where)
    except BaseException:
        smtp.close()
        raise
    return smtp


def _login(smtp: smtplib.SMTP, settings: OutboxSettings, where: str) -> None:
    password = secret(settings.password_env, settings.password_file, "SMTP password")
    if not smtp.has_extn("auth"):
        raise SmtpConfigError(
            f"SMTP server {where} offers no AUTH (on this connection); remove [outbox] username "
            f'if it needs none, or use security = "starttls"/"tls" (many servers offer AUTH '
            f"only after TLS)."
        )
    try:
        smtp.login(settings.username, password)
    except smtplib.SMTPAuthenticationError as exc:
        source = (
            f"environment variable {settings.password_env}"
            if settings.password_env
            else f"file {settings.password_file}"
        )
        raise SmtpConfigError(
            f"SMTP login for {settings.username} at {where} was refused "
            f"({classify(exc.smtp_code, exc.smtp_error).error}). Check [outbox] username and "
            f"the password in {source}; Gmail and Microsoft 365 need an app password."
        ) from None
    except smtplib.SMTPException as exc:
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            raise
        raise SmtpConfigError(f"SMTP login at {where} is not possible: {exc}") from None


class SmtpSender:
    """The MailSender protocol over SMTP. One connection is kept from batch to batch (a pass
    sends its replies a group at a time) and closed by `close`, or before reuse when it sat
    idle for long enough that the server may have dropped it."""

    def __init__(
        self,
        settings: OutboxSettings,
        *,
        connect: Callable[[], smtplib.SMTP] | None = None,
    ) -> None:
        self._settings = settings
        # The one seam: returns a connected (and, where configured, logged-in) SMTP client.
        self._connect: Callable[[], smtplib.SMTP] = connect or (lambda: open_smtp(settings))
        self._where = f"{settings.host}:{settings.port}"
        self._smtp: smtplib.SMTP | None = None
        self._last_used = 0.0

    def send(self, batch: Sequence[tuple[int, str, bytes]]) -> dict[int, Delivery]:
        results: dict[int, Delivery] = {}
        if not batch:
            return results
        reconnects_left = 1  # a connection dropped mid-batch gets one fresh one
        index = 0
        while index < len(batch):
            row_id, recipient, raw = batch[index]
            try:
                smtp = self._connection()
            except SmtpConfigError:
                raise
            except (OSError, smtplib.SMTPException) as exc:
                failure = Delivery(
                    ok=False,
                    permanent=False,
                    error=f"cannot connect to SMTP server {self._where}: {exc}",
                )
                log.warning(
                    "SMTP server %s unavailable (%s); %d message(s) wait for the next attempt",
                    self._where,
                    exc,
                    len(batch) - index,
                )
                for rest_id, _, _ in batch[index:]:
                    results[rest_id] = failure
                return results
            try:
                results[row_id] = self._send_one(smtp, recipient, raw)
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                self._drop()
                if reconnects_left > 0:
                    reconnects_left -= 1
                    continue  # the same row again, on a new connection
                results[row_id] = Delivery(
                    ok=False, permanent=False, error=f"connection lost while sending: {exc}"
                )
            if getattr(smtp, "sock", None) is None:
                self._drop()  # smtplib closes by itself after a 421
            index += 1
        self._last_used = time.monotonic()
        return results

    def _connection(self) -> smtplib.SMTP:
        """The kept connection, checked with NOOP when it sat idle; else a new one."""
        if self._smtp is not None and time.monotonic() - self._last_used > FRESH_SECONDS:
            try:
                code, _ = self._smtp.noop()
                if code != 250:
                    self._drop()
            except (OSError, smtplib.SMTPException):
                self._drop()
        if self._smtp is None:
            self._smtp = self._connect()
            self._last_used = time.monotonic()
        return self._smtp

    def _drop(self) -> None:
        if self._smtp is not None:
            _close(self._smtp)
            self._smtp = None

    def _send_one(self, smtp: smtplib.SMTP, recipient: str, raw: bytes) -> Delivery:
        options: list[str] = []
        if not raw.isascii() and smtp.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        if not (self._settings.from_address + recipient).isascii() and smtp.has_extn("smtputf8"):
            options.append("SMTPUTF8")
        try:
            refused = smtp.sendmail(
                self._settings.from_address, [recipient], raw, mail_options=options
            )
        except smtplib.SMTPRecipientsRefused as exc:
            code, message = next(iter(exc.recipients.values()), (550, b"recipient refused"))
            return classify(code, message)
        except smtplib.SMTPServerDisconnected:
            raise
        except smtplib.SMTPResponseException as exc:  # sender refused, data refused, ...
            return classify(exc.smtp_code, exc.smtp_error)
        except smtplib.SMTPNotSupportedError as exc:  # e.g. SMTPUTF8 needed but not offered
            return Delivery(ok=False, permanent=True, error=str(exc))
        except UnicodeEncodeError:
            # A non-ASCII address on a server without SMTPUTF8: it can never go out this way.
            smtp.rset()
            return Delivery(
                ok=False,
                permanent=True,
                error="non-ASCII address, and the server does not offer SMTPUTF8",
            )
        if refused:
            code, message = next(iter(refused.values()))
            return classify(code, message)
        return Delivery(ok=True)

    def checks(self) -> list[Check]:
        """EHLO, STARTTLS and AUTH as configured, then QUIT: no mail is sent."""
        outbox = self._settings
        where = f"{outbox.host}:{outbox.port}"
        try:
            smtp = self._connect()
        except ConfigError as exc:  # SmtpConfigError included: login, STARTTLS, certificate
            return [Check("smtp", False, str(exc))]
        except (OSError, smtplib.SMTPException) as exc:
            return [
                Check(
                    "smtp",
                    False,
                    f"cannot connect to SMTP server {where} ({exc}). Check [outbox] host, port and "
                    f'security ("tls" is usually port 465, "starttls" 587), and that the server '
                    f"is running.",
                )
            ]
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()
        steps = {"tls": ["TLS", "EHLO"], "starttls": ["EHLO", "STARTTLS"]}.get(
            outbox.security, ["EHLO"]
        )
        if outbox.username:
            steps.append(f"AUTH as {outbox.username}")
        return [Check("smtp", True, f"{where}: {', '.join(steps)} ok; no mail sent")]

    def close(self) -> None:
        """QUIT the kept connection, if there is one."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                _close(smtp)


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.close()
    except OSError:
        pass
