"""The one seam to the network: Stripe's library over `requests`, with our errors and retries.

Everything that talks to Stripe goes through `StripeApi` here, and everything it returns is a
plain dict right after the call (`to_dict()` of a single object, the JSON of a list page):
Stripe's types never leave this module, so `mapping.py` reads dicts and `source.py` decides
what to ask for without knowing the library.

Why a module of its own: the failure handling (what is retried, how long to wait, which
library error becomes which of ours) is the part that decides whether a Stripe outage stops
mail or only delays it; it is easier to check in one place than spread through the calls.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests
import stripe

from mailbot.services.ports import OrderSourceUnavailable

log = logging.getLogger(__name__)


class StripeUnavailable(OrderSourceUnavailable):
    """Stripe could not be asked (network, rate limit, server error) or refused the request.

    `permanent` is True when retrying later will not help by itself (a rejected API key, a
    request Stripe calls invalid): the worker should alert a person, but still let other mail
    flow.
    """


class WebhookRejected(Exception):
    """A webhook whose signature does not verify (or that is not a Stripe event at all)."""


class NotFound(Exception):
    """Internal to the package: the object asked for does not exist (a 404 from Stripe)."""


class ExpandRefused(Exception):
    """Internal to the package: Stripe refused an `expand` of the request (a 400 naming it)."""


class CountingHTTPClient(stripe.HTTPClient):
    """The library's HTTP seam: counts every request (retries included) and sets the backoff.

    The library retries connection errors, 409 and 5xx itself (`max_network_retries`); its
    delays are class constants, so this client supplies its own to let tests fail fast.
    """

    name = "requests"

    def __init__(
        self, *, timeout: float, retry_delay: float, max_retry_delay: float, trust_env: bool
    ) -> None:
        super().__init__()
        self.calls = 0
        self._timeout = timeout
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._trust_env = trust_env
        self._lock = threading.Lock()
        self._local = threading.local()
        self._sessions: list[requests.Session] = []

    def _session(self) -> requests.Session:
        # requests.Session is not thread-safe; the worker's scheduler may sync while a mail
        # does a live lookup, so each thread keeps its own connection pool.
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            # A local test server must not be reached through an environment proxy.
            session.trust_env = self._trust_env
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[bytes, int, Mapping[str, str]]:
        """One request, its whole body read (the library's non-streaming entry point)."""
        # The base class annotates the body as str, but the library's own RequestsClient
        # returns bytes, as requests does; its response parsing takes either.
        return self._send(method, url, headers, post_data, stream=False)

    def request_stream(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Mapping[str, str]]:
        """One request, its body left as a stream."""
        # The library's interface has it; mailbot's calls never stream, but it must work.
        return self._send(method, url, headers, post_data, stream=True)

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any,
        stream: bool,
    ) -> tuple[Any, int, Mapping[str, str]]:
        with self._lock:
            self.calls += 1
        try:
            response = self._session().request(
                method,
                url,
                headers=headers,
                data=post_data,
                timeout=self._timeout,
                stream=stream,
            )
            content = response.raw if stream else response.content
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise stripe.APIConnectionError(  # type: ignore[no-untyped-call]
                f"cannot reach Stripe ({type(exc).__name__})", should_retry=True
            ) from exc
        except requests.RequestException as exc:
            raise stripe.APIConnectionError(  # type: ignore[no-untyped-call]
                f"request to Stripe failed ({type(exc).__name__})", should_retry=False
            ) from exc
        return content, response.status_code, response.headers

    def _sleep_time_seconds(self, num_retries: int) -> float:
        return backoff(num_retries, self._retry_delay, self._max_retry_delay)

    def close(self) -> None:
        """Close every thread's connection pool."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()


def backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter in [d/2, d]: many workers do not retry in step."""
    delay: float = min(cap, base * (2 ** max(0, attempt - 1)))
    return delay * (0.5 + random.random() / 2)


def retry_after(exc: stripe.StripeError) -> float | None:
    """The seconds a rate-limited answer's Retry-After header asks for, if it says."""
    headers = exc.headers or {}
    value = None
    for key, raw in headers.items():
        if key.lower() == "retry-after":
            value = raw
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class StripeApi:
    """The Stripe calls mailbot makes, each returning plain JSON or raising our errors.

    `api_base` (tests only) points the client at a local Stripe-compatible server.
    `max_retries` applies both to the library's own retries (network errors, 409, 5xx) and to
    ours for 429; delays grow from `retry_delay` to `max_retry_delay` seconds. An injected
    `client` is used as it is (its HTTP layer, retries and timeouts are its own).
    """

    def __init__(
        self,
        *,
        api_key: str,
        api_base: str,
        client: stripe.StripeClient | None,
        max_retries: int,
        retry_delay: float,
        max_retry_delay: float,
        timeout: float,
    ) -> None:
        self._max_retries = max(0, max_retries)
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._wrapper_calls = 0
        self._http: CountingHTTPClient | None = None
        if client is None:
            self._http = CountingHTTPClient(
                timeout=timeout,
                retry_delay=retry_delay,
                max_retry_delay=max_retry_delay,
                trust_env=not api_base,
            )
            base = {"api": api_base.rstrip("/")} if api_base else None
            client = stripe.StripeClient(
                api_key,
                base_addresses=base,  # type: ignore[arg-type]
                max_network_retries=self._max_retries,
                http_client=self._http,
            )
        self._client = client

    @property
    def count_calls(self) -> int:
        """HTTP requests made so far, retries included. With an injected client (whose HTTP
        layer we do not see) this counts our calls into the library instead."""
        return self._http.calls if self._http is not None else self._wrapper_calls

    def close(self) -> None:
        """Close the connection pools (only those this object created)."""
        if self._http is not None:
            self._http.close()

    def list_page(self, what: str, path: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """One page of a list endpoint, as plain JSON. `what` names the call in errors.

        Lists go through StripeClient.raw_request rather than the typed services
        (`client.v1.checkout.sessions.list`): same auth, API version, retries and typed
        errors, but no StripeObject tree is built for 100 expanded objects only to be turned
        back into dicts. Measured on 500 sessions: 0.26 s against 1.6 s, which is most of a
        10,000-session re-list's time. Single objects use the typed services.
        """
        return self._call(what, self._client.raw_request, "get", path, **params)

    def retrieve_event(self, event_id: str) -> dict[str, Any]:
        """One event; NotFound when Stripe no longer has it."""
        return self._call("retrieve an event", self._client.v1.events.retrieve, event_id)

    def retrieve_session(self, session_id: str, expand: list[str]) -> dict[str, Any]:
        """One Checkout Session with `expand`; NotFound when there is none."""
        return self._call(
            "retrieve a Checkout Session",
            self._client.v1.checkout.sessions.retrieve,
            session_id,
            params={"expand": expand},
        )

    def retrieve_payment_intent(self, pi_id: str, expand: list[str]) -> dict[str, Any]:
        """One PaymentIntent with `expand`; NotFound when there is none."""
        return self._call(
            "retrieve a PaymentIntent",
            self._client.v1.payment_intents.retrieve,
            pi_id,
            params={"expand": expand},
        )

    def retrieve_subscription(self, sub_id: str, expand: list[str]) -> dict[str, Any]:
        """One Subscription with `expand`; NotFound when there is none."""
        return self._call(
            "retrieve a Subscription",
            self._client.v1.subscriptions.retrieve,
            sub_id,
            params={"expand": expand},
        )

    def retrieve_charge(self, charge_id: str) -> dict[str, Any]:
        """One charge; NotFound when there is none."""
        return self._call("retrieve a charge", self._client.v1.charges.retrieve, charge_id)

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Call the library; return the result as a plain dict; map errors to ours.

        The library already retried network errors and 5xx; a 429 (rate limit) it does not
        retry, so we do, honouring Retry-After, before giving up with StripeUnavailable.
        """
        attempt = 0
        while True:
            self._wrapper_calls += 1
            try:
                result = fn(*args, **kwargs)
            except stripe.RateLimitError as exc:
                attempt += 1
                if attempt > self._max_retries:
                    raise StripeUnavailable(
                        f"Stripe rate limit: {what} still refused after {attempt} attempts"
                    ) from exc
                wait = retry_after(exc)
                if wait is None:
                    wait = backoff(attempt, self._retry_delay, self._max_retry_delay)
                wait = min(wait, self._max_retry_delay)
                log.info("Stripe rate limit on %s; retry %d in %.2fs", what, attempt, wait)
                time.sleep(wait)
                continue
            except stripe.APIConnectionError as exc:
                raise StripeUnavailable(
                    f"Stripe unreachable during {what}: {exc.user_message or exc}"
                ) from exc
            except (stripe.AuthenticationError, stripe.PermissionError) as exc:
                raise StripeUnavailable(
                    f"Stripe refused the API key during {what} (HTTP {exc.http_status}): "
                    "check [orders] api_key_env / api_key_file",
                    permanent=True,
                ) from exc
            except stripe.InvalidRequestError as exc:
                if exc.http_status == 404:
                    raise NotFound(what) from exc
                if exc.http_status == 400 and str(exc.param or "").startswith("expand"):
                    raise ExpandRefused(what) from exc
                raise StripeUnavailable(
                    f"Stripe rejected {what}: {exc.user_message or exc}", permanent=True
                ) from exc
            except stripe.StripeError as exc:  # 5xx after the library's retries, and the rest
                raise StripeUnavailable(
                    f"Stripe error during {what} (HTTP {exc.http_status}): "
                    f"{exc.user_message or exc}"
                ) from exc
            if isinstance(result, stripe.StripeObject):
                return result.to_dict()
            return dict(result.data)  # a raw_request's StripeResponse: already plain JSON


def verify_webhook(payload: bytes, sig_header: str, secret: str, *, tolerance: int = 300) -> str:
    """Verify a webhook's Stripe-Signature with the library; return the event id.

    Raises WebhookRejected for a body that is not signed with `secret` within `tolerance`
    seconds, or that is not a Stripe event.
    """
    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        # The library would raise this itself, as a server error, before checking anything.
        raise WebhookRejected("webhook body is not UTF-8 text") from None
    try:
        stripe.WebhookSignature.verify_header(payload, sig_header, secret, tolerance)
    except stripe.SignatureVerificationError as exc:
        raise WebhookRejected(
            f"webhook signature does not verify: {exc.user_message or exc}"
        ) from None
    try:
        body = json.loads(payload)
    except ValueError:
        raise WebhookRejected("webhook body is not JSON") from None
    event_id = body.get("id") if isinstance(body, dict) else None
    if not isinstance(event_id, str) or not event_id.startswith("evt_"):
        raise WebhookRejected("webhook body is not a Stripe event")
    return event_id
