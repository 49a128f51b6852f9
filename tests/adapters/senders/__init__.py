"""Tests of mailbot.adapters.senders, one file per module."""
