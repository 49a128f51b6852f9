"""Adapters: the outside systems mailbot talks to (order sources, mailboxes, senders)."""
