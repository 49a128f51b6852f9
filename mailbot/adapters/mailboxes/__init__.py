"""Mailbox adapters: where the mail to answer comes from and where it is filed afterwards."""
