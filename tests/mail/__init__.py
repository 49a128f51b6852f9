"""Tests of mailbot.mail, one module each."""
