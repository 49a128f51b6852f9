"""Tests of mailbot.config: loading, checking and the sentences a bad config gets."""
