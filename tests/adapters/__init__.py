"""Tests of mailbot.adapters, one file per module."""
