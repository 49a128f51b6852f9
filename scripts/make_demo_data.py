#!/usr/bin/env python3
"""Write the demo data in data/demo/: orders.csv and a Maildir of realistic customer mail.

The files are committed; this script documents where they come from and re-creates them after a
change (`python scripts/make_demo_data.py`). Serials are fixed so the demo is the same every time.
Between them the mails reach every outcome of docs/contract.md ("Outcomes").
"""

from __future__ import annotations

import base64
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailbot.core.serials import ALPHABET, check_symbol, format_serial  # noqa: E402


def serial(payload: str) -> str:
    assert len(payload) == 15 and all(c in ALPHABET for c in payload)
    return format_serial(payload + check_symbol(payload))


ALICE_1 = serial("M9S346Q3D25VT4F")  # Northwind, Alice's PC
ALICE_NEW = serial("5V37E3S3E28JT97")  # Alice's new PC (transfer)
BOB = serial("KB6CQ643DZVMXXQ")  # Contoso (Outlook HTML)
KLAUS = serial("KFBF5KZNWJ47TAN")  # Beispiel GmbH (German, quoted-printable)
FWD = serial("9ZT24MNPZX45HY4")  # forwarded by Fabrikam's admin
TEAM = [serial("3KWJRP1XPA7Z3DJ"), serial("8FSSZ5AWSH8VHTP")]  # two at once
CSV_TEAM = [serial("RE95B9EE0ZBGJ09"), serial("TQM83XSSSS6YS3C"), serial("4DWA7N36096Q14D")]
STRANGER = serial("R9GPQY77ZXYYK59")  # no order: pay link
REFUNDED = serial("6NGYA1DQ91K5GQA")  # refunded order
TYPO_GOOD = serial("PENECFSECZP11HY")
TYPO = TYPO_GOOD[:-1] + ("0" if TYPO_GOOD[-1] != "0" else "1")  # wrong check symbol

ORDERS = """order_id,email,name,seats,status,created,currency
ORD-1001,alice@northwind.example,Northwind Traders,3,paid,2026-10-02T09:14:00+00:00,eur
ORD-1002,bob@contoso.example,Contoso Ltd,1,paid,2026-10-11T15:40:00+00:00,usd
ORD-1003,klaus.becker@beispiel.example,Beispiel GmbH,2,paid,2026-10-20T08:05:00+00:00,eur
ORD-1004,it@fabrikam.example,Fabrikam Inc,10,paid,2026-11-03T13:22:00+00:00,usd
ORD-1005,maria@adventure-works.example,Adventure Works,2,paid,2026-11-05T10:00:00+00:00,eur
ORD-1006,tom@tailspin.example,Tailspin Toys,1,refunded,2026-11-08T17:31:00+00:00,gbp
ORD-1007,nina@wingtip.example,Wingtip Toys,2,paid,2026-11-12T11:45:00+00:00,eur
ORD-1008,it@fabrikam.example,Fabrikam Inc,5,paid,2026-11-20T09:30:00+00:00,usd
"""

CRLF_NOTE = "Mail is stored with LF line endings, as Maildir delivery agents do."


def mail(headers: dict[str, str], body: str) -> str:
    head = "".join(f"{k}: {v}\n" for k, v in headers.items())
    return head + "\n" + body


def std(n: int, sender: str, subject: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        "Return-Path": f"<{sender.split('<')[-1].rstrip('>')}>",
        "From": sender,
        "To": "Amphis Support <support@amphis.example>",
        "Subject": subject,
        "Date": f"Sun, 29 Nov 2026 {8 + n // 4:02d}:{(n * 7) % 60:02d}:00 +0100",
        "Message-ID": f"<demo-{n:02d}@{sender.split('@')[-1].rstrip('>')}>",
        **(extra or {}),
    }


def mails() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []

    out.append(
        (
            "plain request",
            mail(
                std(
                    1,
                    "Alice Moreau <alice@northwind.example>",
                    "License string request",
                    {"MIME-Version": "1.0", "Content-Type": "text/plain; charset=utf-8"},
                ),
                f"Hello,\n\nI bought three licenses last month. Here is the serial of my PC:\n\n"
                f"{ALICE_1}\n\nThanks,\nAlice\n-- \nAlice Moreau, Northwind Traders\n",
            ),
        )
    )

    outlook_html = f"""<html xmlns:o="urn:schemas-microsoft-com:office:office"><head>
<meta http-equiv="Content-Type" content="text/html; charset=us-ascii">
<style><!-- p.MsoNormal {{margin:0cm; font-size:11.0pt; font-family:"Calibri",sans-serif;}} --></style>
</head><body lang="EN-US"><div class="WordSection1">
<p class="MsoNormal">Hi,<o:p></o:p></p><p class="MsoNormal">please find my serial number below.<o:p></o:p></p>
<table class="MsoTableGrid" border="1" cellspacing="0" cellpadding="0"><tr>
<td width="120"><p class="MsoNormal">Serial number<o:p></o:p></p></td>
<td width="300"><p class="MsoNormal">{BOB}<o:p></o:p></p></td></tr>
<tr><td><p class="MsoNormal">Product<o:p></o:p></p></td><td><p class="MsoNormal">Amphis Customer<o:p></o:p></p></td></tr>
</table><p class="MsoNormal">Best regards<br>Bob Smith<o:p></o:p></p></div></body></html>"""
    text_alt = "Hi,\n\nplease find my serial number in the table (HTML).\n\nBest regards\nBob\n"
    out.append(
        (
            "Outlook HTML, serial in a table",
            mail(
                std(
                    2,
                    '"Smith, Bob" <Bob@Contoso.example>',
                    "Get License String",
                    {
                        "MIME-Version": "1.0",
                        "X-Mailer": "Microsoft Outlook 16.0",
                        "Content-Type": 'multipart/alternative; boundary="_000_outlook_"',
                    },
                ),
                f"--_000_outlook_\nContent-Type: text/plain; charset=us-ascii\n\n{text_alt}\n"
                f"--_000_outlook_\nContent-Type: text/html; charset=us-ascii\n"
                f"Content-Transfer-Encoding: quoted-printable\n\n"
                + outlook_html.replace("=", "=3D")
                + "\n--_000_outlook_--\n",
            ),
        )
    )

    german = (
        f"Guten Tag,\n\nanbei die Seriennummer für unseren Büro-PC (Müller):\n"
        f"{KLAUS}\n\nMit freundlichen Grüßen\nKlaus Becker\nBeispiel GmbH, Köln\n"
    )
    qp = german.encode("utf-8")
    import quopri

    out.append(
        (
            "German, UTF-8 quoted-printable",
            mail(
                std(
                    3,
                    "=?UTF-8?Q?Klaus_B=C3=A4cker?= <klaus.becker@beispiel.example>",
                    "=?UTF-8?Q?Lizenzschl=C3=BCssel_f=C3=BCr_B=C3=BCro-PC?=",
                    {
                        "MIME-Version": "1.0",
                        "Content-Type": "text/plain; charset=UTF-8",
                        "Content-Transfer-Encoding": "quoted-printable",
                    },
                ),
                quopri.encodestring(qp).decode("ascii"),
            ),
        )
    )

    out.append(
        (
            "Apple Mail, asking again for a licensed serial",
            mail(
                std(
                    4,
                    "Alice Moreau <alice@northwind.example>",
                    "Re: Your Amphis Customer license",
                    {
                        "MIME-Version": "1.0 (Mac OS X Mail 16.0)",
                        "X-Mailer": "Apple Mail (2.3774)",
                        "Content-Type": "text/plain; charset=us-ascii",
                        "In-Reply-To": "<demo-01@northwind.example>",
                    },
                ),
                f"Hi again,\n\nI reinstalled Windows and lost the license string. Could you send it "
                f"again for {ALICE_1}?\n\nAlice\n\n> On 29 Nov 2026, at 08:07, Alice Moreau wrote:\n"
                f"> \n> Hello,\n> I bought three licenses last month.\n",
            ),
        )
    )

    forwarded = (
        f"Please license this one for our new colleague.\n\nThanks, IT\n\n"
        f"---------- Forwarded message ---------\nFrom: Pat Lee <pat@fabrikam.example>\n"
        f"Date: Sat, 28 Nov 2026 at 17:02\nSubject: Amphis serial\nTo: IT "
        f"<it@fabrikam.example>\n\nHi IT, my new laptop shows this serial: {FWD}\n"
        f"Can you get me a license? Pat\n"
    )
    out.append(
        (
            "forwarded by an IT admin",
            mail(
                std(
                    5,
                    "Fabrikam IT <it@fabrikam.example>",
                    "Fwd: Amphis serial",
                    {"MIME-Version": "1.0", "Content-Type": "text/plain; charset=utf-8"},
                ),
                forwarded,
            ),
        )
    )

    out.append(
        (
            "out-of-office auto-reply",
            mail(
                std(
                    6,
                    "Maria Garcia <maria@adventure-works.example>",
                    "Automatic reply: Your Amphis Customer license",
                    {
                        "Auto-Submitted": "auto-replied",
                        "X-Auto-Response-Suppress": "All",
                        "Content-Type": "text/plain; charset=utf-8",
                    },
                ),
                "I am out of the office until 7 December with limited access to mail.\n"
                "For urgent matters please call +34 600 000 000.\n",
            ),
        )
    )

    dsn = """This is a multi-part message in MIME format.

--dsn_boundary
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.tailspin.example.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<old-staff@tailspin.example>: host mx.tailspin.example said: 550 5.1.1
    User unknown

--dsn_boundary
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.tailspin.example
Arrival-Date: Sun, 29 Nov 2026 09:10:00 +0100

Final-Recipient: rfc822; old-staff@tailspin.example
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 User unknown

--dsn_boundary
Content-Type: text/rfc822-headers

From: someone@elsewhere.example
To: old-staff@tailspin.example
Subject: Newsletter
Message-ID: <newsletter-4711@elsewhere.example>

--dsn_boundary--
"""
    out.append(
        (
            "bounce (DSN) of somebody else's mail",
            mail(
                {
                    "Return-Path": "<>",
                    "From": "MAILER-DAEMON@mx.tailspin.example (Mail Delivery System)",
                    "To": "support@amphis.example",
                    "Subject": "Undelivered Mail Returned to Sender",
                    "Date": "Sun, 29 Nov 2026 09:10:05 +0100",
                    "Message-ID": "<20261129081005.ABC123@mx.tailspin.example>",
                    "Auto-Submitted": "auto-replied",
                    "MIME-Version": "1.0",
                    "Content-Type": "multipart/report; report-type=delivery-status; "
                    'boundary="dsn_boundary"',
                },
                dsn,
            ),
        )
    )

    out.append(
        (
            "transfer to a new PC",
            mail(
                std(
                    8,
                    "Alice Moreau <alice@northwind.example>",
                    "Moving Amphis to my new PC",
                    {"Content-Type": "text/plain; charset=utf-8"},
                ),
                f"Hello,\n\nI got a new PC and want to transfer my license. The old serial was "
                f"{ALICE_1} and the new PC shows {ALICE_NEW}.\nI will not use the old PC any more.\n\n"
                f"Thank you,\nAlice\n",
            ),
        )
    )

    out.append(
        (
            "a typo in the serial",
            mail(
                std(
                    9,
                    "Nina Park <nina@wingtip.example>",
                    "license please",
                    {"Content-Type": "text/plain; charset=utf-8"},
                ),
                f"hi, serial is {TYPO.lower()} thanks nina\n",
            ),
        )
    )

    out.append(
        (
            "unknown sender, no order yet",
            mail(
                std(
                    10,
                    "Sam Jones <sam.jones@gmail.com>",
                    "Amphis Customer license",
                    {"Content-Type": "text/plain; charset=utf-8"},
                ),
                f"Hello, the trial ends tomorrow. My serial: {STRANGER}. How do I pay?\nSam\n",
            ),
        )
    )

    out.append(
        (
            "two serials at once",
            mail(
                std(
                    11,
                    "Fabrikam IT <it@fabrikam.example>",
                    "Two more users",
                    {"Content-Type": "text/plain; charset=utf-8"},
                ),
                f"Hi, please license these two new installs:\n\n  Dave's PC:    {TEAM[0]}\n"
                f"  Jill's laptop: {TEAM[1]}\n\nRegards, Fabrikam IT\n",
            ),
        )
    )

    csv_body = "user,device,serial\n" + "".join(
        f"user{i},PC-{i:02d},{s}\n" for i, s in enumerate(CSV_TEAM, 1)
    )
    out.append(
        (
            "serials in a CSV attachment",
            mail(
                std(
                    12,
                    "Fabrikam IT <it@fabrikam.example>",
                    "Onboarding: serial list attached",
                    {"MIME-Version": "1.0", "Content-Type": 'multipart/mixed; boundary="mix"'},
                ),
                "--mix\nContent-Type: text/plain; charset=utf-8\n\nThe serials of our new team are in "
                'the attached list.\n\n--mix\nContent-Type: text/csv; name="serials.csv"\n'
                'Content-Disposition: attachment; filename="serials.csv"\n'
                "Content-Transfer-Encoding: base64\n\n"
                + base64.encodebytes(csv_body.encode()).decode()
                + "--mix--\n",
            ),
        )
    )

    out.append(
        (
            "a question, no serial",
            mail(
                std(
                    13,
                    "Maria Garcia <maria@adventure-works.example>",
                    "Server licence?",
                    {"Content-Type": "text/plain; charset=utf-8"},
                ),
                "Hello,\n\nwe keep the database and documents on a separate server where nobody runs "
                "Amphis Customer. Do we need a licence for that server too?\n\nMaria\n",
            ),
        )
    )

    out.append(
        (
            "refunded order",
            mail(
                std(
                    14,
                    "Tom Baker <tom@tailspin.example>",
                    "license",
                    {"Content-Type": "text/plain; charset=utf-8"},
                ),
                f"Please send the license for {REFUNDED}\nTom\n",
            ),
        )
    )

    out.append(
        (
            "a reply quoting our own mail: a follow-up, not a request",
            mail(
                std(
                    15,
                    "Bob Smith <bob@contoso.example>",
                    "Re: Your Amphis Customer license",
                    {
                        "Content-Type": "text/plain; charset=utf-8",
                        "In-Reply-To": "<x@amphis.example>",
                    },
                ),
                f"Thanks, it works!\n\nBob\n\nOn Sun, 29 Nov 2026 at 08:20, Amphis Support wrote:\n"
                f"> Serial number:  {BOB}\n> License string: AMC1-...\n",
            ),
        )
    )
    return out


def main() -> None:
    demo = ROOT / "data" / "demo"
    maildir = demo / "maildir"
    if maildir.exists():
        shutil.rmtree(maildir)
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
        (maildir / sub / ".keep").write_text("")
    for n, (_, text) in enumerate(mails(), start=1):
        # Maildir names start with the arrival time, so name order is arrival order.
        (maildir / "new" / f"17644{n:05d}.M{n}P1.demo.amphis").write_text(text)
    (demo / "orders.csv").write_text(ORDERS)
    print(f"wrote {len(mails())} mails to {maildir} and {demo / 'orders.csv'}")


if __name__ == "__main__":
    main()
