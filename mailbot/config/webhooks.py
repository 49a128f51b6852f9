"""`[webhooks]`: where the events for the vendor's other systems go (services/webhooks.py).

Kept apart from sections.py, which only names it, so the section and its one rule (the event
types must be ones mailbot emits) read as a whole.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, ValidationInfo, model_validator

from mailbot.config.fields import (
    EnvName,
    Link,
    Names,
    OptionalPath,
    Section,
    context_of,
    must_exist,
    rule,
)
from mailbot.core.events import EVENT_TYPES


class WebhooksSettings(Section):
    # "" = no webhooks: no event is even recorded.
    url: Link = ""
    # The shared secret both sides sign with: from an environment variable or a file.
    secret_env: EnvName = "MAILBOT_WEBHOOK_SECRET"
    secret_file: OptionalPath = None
    events: Names = EVENT_TYPES  # the types to send; [] = none
    timeout_seconds: Annotated[int, Field(ge=1, le=60)] = 5
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 30  # ~a day of tries, then "failed"

    @model_validator(mode="after")
    def known_events(self, info: ValidationInfo) -> WebhooksSettings:
        unknown = [name for name in self.events if name not in EVENT_TYPES]
        if unknown:
            raise rule(
                "events",
                list(self.events),
                f": {', '.join(unknown)} is not an event mailbot sends "
                f"(known: {', '.join(EVENT_TYPES)})",
            )
        if context_of(info).get("check") and self.url and self.secret_file is not None:
            must_exist(self.secret_file, "secret_file", "the webhook secret file")
        return self

    @property
    def recorded(self) -> frozenset[str]:
        """The event types to record and send: none without a url."""
        return frozenset(self.events) if self.url else frozenset()
