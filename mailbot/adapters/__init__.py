"""Adapters: the code that talks to the world outside (mailboxes, mail senders, order sources)."""
