"""Tests of mailbot.adapters.mailboxes, one file per module."""
