"""The `mailbot` command line."""
