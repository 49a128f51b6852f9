"""`mailbot run` as a service: picks up new mail by itself, stops cleanly on SIGTERM.

A real process (not CliRunner): only one can be sent SIGTERM and exit by itself.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from mailbot.adapters.mailboxes.maildir import MaildirMailbox
from tests.apps import DEMO, write_config


def test_service_answers_new_mail_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = write_config(tmp_path, mailbox={"poll_seconds": 1})
    cmd = [sys.executable, "-m", "mailbot", "--config", str(config)]
    subprocess.run([*cmd, "keys", "init"], check=True, capture_output=True)
    box = MaildirMailbox(tmp_path / "maildir")
    service = subprocess.Popen(
        [*cmd, "--log-level", "info", "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(0.5)
        first = sorted((DEMO / "maildir" / "new").glob("1*"))[0]
        box.deliver(first.read_bytes())
        deadline = time.monotonic() + 20
        while not list((tmp_path / "outbox").glob("*.eml")):
            assert service.poll() is None, service.communicate()[1]
            assert time.monotonic() < deadline, "no reply within 20 s"
            time.sleep(0.1)
    finally:
        service.send_signal(signal.SIGTERM)
        out, err = service.communicate(timeout=30)
    assert service.returncode == 0, err
    assert "worker stopped" in err
    assert "Traceback" not in err
    # Logs name licenses by a short prefix, never in full.
    shown = re.findall(r"AMC1-[0-9A-Z-]*", err)
    assert shown and all(len(s) <= len("AMC1-") + 8 for s in shown)
