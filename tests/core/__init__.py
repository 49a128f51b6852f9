"""Tests of mailbot.core, the pure domain: one file per module."""
