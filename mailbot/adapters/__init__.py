"""Adapters: the implementations of the ports (mailboxes, mail senders, order sources)."""
