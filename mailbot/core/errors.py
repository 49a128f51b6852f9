"""The one error class that means "the setup is wrong, not this mail".

A SetupError stops a run before (or instead of) deciding any more mail: every mail would hit
it, so deciding around it would bury staff in identical escalations while the admin never hears
of it. Its message is one sentence naming the file or setting and what to change. Config,
template, key and orders-file problems are all SetupErrors (`mailbot.config.ConfigError` is
one).
"""

from __future__ import annotations


class SetupError(Exception):
    """The configuration, a template, the key or the orders file is not usable."""
