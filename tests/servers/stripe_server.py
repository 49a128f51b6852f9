"""Pytest fixtures for a real local server (filled in by the IMAP/SMTP and Stripe work)."""
