"""Mail senders: an outbox folder (the embedded default) or SMTP."""
