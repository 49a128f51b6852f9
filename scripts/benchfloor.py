#!/usr/bin/env python3
"""The I/O floor of `scripts/bench e2e`: the least any bot must do for the same mailbox.

One imapclient connection fetches every mail of INBOX (`UID FETCH BODY.PEEK[]`, 500 per
command, nothing parsed, nothing moved), and for each mail one 4 KB reply goes out over ONE
smtplib connection (`sendmail` in a loop). The bench runs this as its own process, timed from
start to exit as `mailbot run --once` is, so interpreter start-up counts on both sides.

Prints one JSON object: fetched, bytes, sent, seconds (connect to quit, inside the process).
Only the standard library and imapclient are imported: this is the bare script.
"""

from __future__ import annotations

import argparse
import json
import smtplib
import time
from pathlib import Path

from imapclient import IMAPClient

FROM = "support@amphis.example"
REPLY_BYTES = 4096


def reply(n: int) -> bytes:
    """A 4 KB plain-text reply (headers and body), CRLF line ends."""
    head = (
        f"From: Amphis Support <{FROM}>\r\nTo: customer{n}@floor.example\r\n"
        f"Subject: Your Amphis Customer license\r\nMessage-ID: <floor-{n}@amphis.example>\r\n"
        "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    ).encode()
    line = b"Here is your license string. Keep this mail for a reinstall later.\r\n"
    body = line * ((REPLY_BYTES - len(head)) // len(line) + 1)
    return (head + body)[: REPLY_BYTES - 2] + b"\r\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--imap-host", default="127.0.0.1")
    parser.add_argument("--imap-port", type=int, required=True)
    parser.add_argument("--login", required=True)
    parser.add_argument("--password-file", type=Path, required=True)
    parser.add_argument("--smtp-host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    password = args.password_file.read_text().strip()
    start = time.perf_counter()
    fetched = sent = size = 0
    with IMAPClient(args.imap_host, args.imap_port, ssl=False, timeout=120) as imap:
        imap.login(args.login, password)
        imap.select_folder("INBOX", readonly=True)
        uids = sorted(imap.search(["ALL"]))
        smtp = smtplib.SMTP(args.smtp_host, args.smtp_port, timeout=120)
        smtp.ehlo()
        for at in range(0, len(uids), args.batch):
            batch = uids[at : at + args.batch]
            bodies = imap.fetch(batch, ["BODY.PEEK[]"])
            for uid in batch:
                size += len(bodies[uid][b"BODY[]"])
                fetched += 1
                smtp.sendmail(FROM, [f"customer{fetched}@floor.example"], reply(fetched))
                sent += 1
        smtp.quit()
    seconds = time.perf_counter() - start
    print(json.dumps({"fetched": fetched, "bytes": size, "sent": sent, "seconds": seconds}))


if __name__ == "__main__":
    main()
