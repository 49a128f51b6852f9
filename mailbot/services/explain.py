"""`mailbot explain`: the decision the bot would take for mail files, or for every mail waiting in
the configured mailbox, changing nothing.

Nothing is written anywhere: the store is opened read-only, the mailbox is read without moving
or flagging anything (IMAP EXAMINE and BODY.PEEK), and no order source is synced into the store.
A local orders file is read into memory and laid over the store's orders, so the decision uses
the orders the next run would see.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mailbot.core.model import Fetched, License, Order
from mailbot.services.context import Deps
from mailbot.services.evaluate import FactsReader, evaluate, parse
from mailbot.store import Store
from mailbot.store.rows import MessageRef, OutboxRef


class _WithLocalOrders:
    """The store as `gather()` reads it, with the orders of a local file laid over its own
    (the file wins, as it does when the worker syncs it)."""

    def __init__(self, store: Store, orders: Iterable[Order]) -> None:
        self._store = store
        self._by_email: dict[str, dict[str, Order]] = {}
        self._by_reference: dict[str, Order] = {}
        for o in orders:
            self._by_email.setdefault(o.email.lower(), {})[o.order_id] = o
            for ref in (o.order_id, *o.aliases):
                self._by_reference[ref.upper()] = o

    def orders_for_email(self, email: str) -> list[Order]:
        found = {o.order_id: o for o in self._store.orders_for_email(email)}
        found.update(self._by_email.get(email.lower(), {}))
        return sorted(found.values(), key=lambda o: (o.created, o.order_id))

    def orders_by_reference(self, refs: Iterable[str]) -> list[Order]:
        refs = list(refs)
        found = {o.order_id: o for o in self._store.orders_by_reference(refs)}
        for ref in refs:
            named = self._by_reference.get(ref.upper())
            if named is not None:
                found[named.order_id] = named
        return list(found.values())

    # The rest is read from the store as it is.

    def licenses_for_serials(self, serials: Iterable[str]) -> dict[str, License]:
        return self._store.licenses_for_serials(serials)

    def active_licenses_for_orders(self, order_ids: Iterable[str]) -> list[License]:
        return self._store.active_licenses_for_orders(order_ids)

    def licenses_of_customer(self, email: str) -> list[License]:
        return self._store.licenses_of_customer(email)

    def transfers_in_window(self, seat_keys: Iterable[int], since: Any) -> dict[int, int]:
        return self._store.transfers_in_window(seat_keys, since)

    def previous_mistyped(self, sender: str) -> int:
        return self._store.previous_mistyped(sender)

    def replies_since(self, addresses: Iterable[str], since: Any) -> int:
        return self._store.replies_since(addresses, since)

    def outbox_by_message_ids(self, message_ids: Iterable[str]) -> list[OutboxRef]:
        return self._store.outbox_by_message_ids(message_ids)

    def message_by_message_id(self, message_id: str) -> MessageRef | None:
        return self._store.message_by_message_id(message_id)

    def answers_in_a_row(self, sender: str, since: Any, limit: int) -> int:
        return self._store.answers_in_a_row(sender, since, limit)


class Explainer:
    """Decides mail the way the worker would, against a read-only view of the store."""

    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self._store: Store = Store.open_read_only(deps.settings.store_path)
        self.facts: FactsReader = self._store
        if deps.orders.is_local:
            self.facts = _WithLocalOrders(self._store, list(deps.orders.all_orders()))

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> Explainer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def explain_raw(self, raw: bytes) -> dict[str, Any]:
        settings = self.deps.settings
        if len(raw) > settings.policy.max_message_bytes:
            return {
                "message_id": None,
                "sender": "",
                "subject": "",
                "outcome": "escalated",
                "reason": "too_large",
                "serials": [],
                "reply_to": None,
                "explanation": [f"{len(raw)} bytes, over the size cap"],
            }
        inbound = parse(settings, raw)
        result = evaluate(self.facts, inbound, self.deps.policy, self.deps.clock.now())
        decision = result.decision
        return {
            "message_id": inbound.message_id,
            "sender": inbound.sender,
            "subject": inbound.subject,
            "outcome": decision.outcome.value,
            "reason": decision.reason.value if decision.reason else None,
            "serials": [s.as_json() for s in result.serial_items],
            "reply_to": decision.reply_to or None,
            "explanation": list(decision.explanation) + list(inbound.problems),
        }

    def explain_file(self, path: Path) -> dict[str, Any]:
        return {"file": str(path), **self.explain_raw(path.read_bytes())}

    def explain_fetched(self, fetched: Fetched) -> dict[str, Any]:
        head: dict[str, Any] = {
            "key": fetched.key,
            "received_at": fetched.received_at.isoformat() if fetched.received_at else None,
        }
        known = self._store.message_by_key(fetched.key)
        if known is not None:
            return {
                **head,
                "message_id": known.message_id,
                "sender": "",
                "subject": "",
                "outcome": known.outcome,
                "reason": known.reason,
                "serials": [],
                "reply_to": None,
                "explanation": [f"already decided as mail #{known.id}; the next run only files it"],
            }
        if fetched.raw is None:
            return {
                **head,
                "message_id": fetched.message_id or None,
                "sender": "",
                "subject": "",
                "outcome": "escalated",
                "reason": "too_large",
                "serials": [],
                "reply_to": None,
                "explanation": [f"{fetched.size} bytes, over the size cap"],
            }
        return {**head, **self.explain_raw(fetched.raw)}

    def explain_mailbox(self) -> Iterator[dict[str, Any]]:
        """Every mail waiting in the configured mailbox, oldest first."""
        mailbox = self.deps.peek_mailbox()
        try:
            for fetched in mailbox.fetch_new(self.deps.settings.policy.max_message_bytes):
                yield self.explain_fetched(fetched)
        finally:
            mailbox.close()
