"""Tests of mailbot.store: the SQL, its schema and its transactions."""
