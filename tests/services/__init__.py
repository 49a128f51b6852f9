"""Tests of mailbot.services, the use cases: one file per service."""
