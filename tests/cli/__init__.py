"""Tests of the command line (mailbot.cli), through click's CliRunner: one file per command group."""
