"""Webhooks over HTTP(S): one signed POST per event (core/events.py says how it is signed).

`requests` with a short timeout, no redirects followed (a receiver that moved must be
configured anew, never followed to wherever a 3xx points) and no proxy or .netrc from the
environment: the events go to the configured url and nowhere else.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from mailbot.core.events import (
    EVENT_ID_HEADER,
    EVENT_TYPE_HEADER,
    SIGNATURE_HEADER,
    signature_header,
)
from mailbot.services.ports import Check, Delivery

USER_AGENT = "mailbot-webhooks/1"


class WebhookSender:
    """Posts events to one url, signed with one secret."""

    def __init__(self, url: str, secret: bytes, *, timeout_seconds: float) -> None:
        self._url = url
        self._secret = secret
        self._timeout = timeout_seconds
        self._session = requests.Session()
        self._session.trust_env = False

    @property
    def where(self) -> str:
        """The receiver as it may be shown: scheme, host and port, never a path or query
        (which may carry a token of the receiver's)."""
        parts = urlsplit(self._url)
        host = parts.hostname or "?"
        return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")

    def send(self, event_id: str, event_type: str, body: bytes, timestamp: int) -> Delivery:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: signature_header(self._secret, timestamp, body),
            EVENT_ID_HEADER: event_id,
            EVENT_TYPE_HEADER: event_type,
        }
        try:
            response = self._session.post(
                self._url,
                data=body,
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.Timeout:
            return Delivery(False, error=f"{self.where} did not answer within {self._timeout:g} s")
        except requests.ConnectionError:
            return Delivery(False, error=f"cannot connect to {self.where} (refused or unreachable)")
        except requests.RequestException as exc:
            return Delivery(
                False, error=f"the request to {self.where} failed ({type(exc).__name__})"
            )
        status = response.status_code
        response.close()
        if 200 <= status < 300:
            return Delivery(True)
        if 300 <= status < 400:
            return Delivery(False, error=f"{self.where} answered HTTP {status} (not followed)")
        return Delivery(False, error=f"{self.where} answered HTTP {status}")

    def checks(self) -> list[Check]:
        return [Check("webhooks", True, f"events go to {self.where}, signed (nothing sent)")]

    def close(self) -> None:
        self._session.close()
