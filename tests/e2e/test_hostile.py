"""What a stranger sends is data: it cannot crash, stall or reach further than it should.

Every surface that shows customer text (run --once, queue list/show, messages list, customer,
explain) is tried with Rich markup, links, terminal escape sequences and bidi overrides; mail
made to cost CPU (hundreds of thousands of parts, deep nesting, huge headers) and random MIME
trees (hypothesis) must each get an outcome within a second of CPU, in the worker and in
`queue show`.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import time
from datetime import UTC, datetime
from email.header import Header
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailbot.cli import cli
from mailbot.core.model import Fetched
from mailbot.services.worker import Worker
from tests.apps import make_app, write_config
from tests.builders import new_serial

CPU_BUDGET = 1.0  # seconds of CPU for one mail, anywhere
ESC = "\x1b"
HOSTILE_SUBJECTS = [
    "[/] hi",
    "[link=https://evil.example/steal]click here[/link]",
    "[bold red]URGENT[/] [blink]x",
    f"{ESC}]8;;https://evil.example{ESC}\\\\link{ESC}]8;;{ESC}\\\\ {ESC}[2J{ESC}[31mred",
    "invoice \u202egpj.exe",
    "bell \x07 backspace \x08 cr \r alone",
]


def hostile_mail(n: int, subject: str, name: str) -> bytes:
    encoded = Header(subject, "utf-8").encode()
    display = Header(name, "utf-8").encode()
    body = (
        f"Hello,\n{subject}\nserial {new_serial()} please\n{ESC}[1;31mred{ESC}[0m\n"
        "[link=https://evil.example]x[/link]\n"
    )
    return (
        f"From: {display} <stranger{n}@evil.example>\r\nTo: support@amphis.example\r\n"
        f"Subject: {encoded}\r\nMessage-ID: <hostile-{n}@evil.example>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + base64.encodebytes(body.encode())


def assert_inert(output: str) -> None:
    assert ESC not in output and "\u202e" not in output and "\x07" not in output
    assert "Traceback" not in output


def test_customer_text_is_data_on_every_screen(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    for n, subject in enumerate(HOSTILE_SUBJECTS):
        (tmp_path / "maildir" / "new" / f"17000000{n:02d}.M{n}.hostile").write_bytes(
            hostile_mail(n, subject, f"[bold]Mallory[/] {ESC}[2J {n}")
        )
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, ["--config", str(config), *args])
        assert result.exit_code == 0, (args, result.output)
        assert_inert(result.output)
        return result.output

    assert runner.invoke(cli, ["--config", str(config), "keys", "init"]).exit_code == 0
    run("explain", "--mailbox")
    ran = run("run", "--once", "--verbose")
    assert "stranger0@evil.example" in ran
    listed = run("queue", "list")
    assert "[/] hi" in listed and "[link=https://evil.example/steal]" in listed
    queue = json.loads(run("queue", "list", "--json"))
    # Every escalation reached staff, the one whose subject holds a lone CR too.
    notified = [
        p
        for p in (tmp_path / "outbox").glob("*.eml")
        if b"To: licensing-team@amphis.example" in p.read_bytes()
    ]
    assert len(queue) == len(HOSTILE_SUBJECTS) and len(notified) == len(queue)
    for path in (tmp_path / "outbox").glob("*.eml"):
        head = path.read_bytes().split(b"\r\n\r\n", 1)[0]
        assert b"\x00" not in head and b"\r\r" not in head
        subject = str(
            email.message_from_bytes(path.read_bytes(), policy=email.policy.default)["Subject"]
        )
        assert "\r" not in subject and "\n" not in subject and "\x1b" not in subject
    for item in queue:
        shown = run("queue", "show", str(item["id"]))
        assert "\\x1b" in shown or "\\u202e" in shown or "[" in shown
        json.loads(run("queue", "show", str(item["id"]), "--json"))
    run("messages", "list")
    json.loads(run("messages", "list", "--json"))
    run("customer", "stranger3@evil.example")
    run("queue", "list", "--sender", "[/]")  # an argument with markup in it
    run("queue", "list", "--sender", f"{ESC}[2J")


def test_json_output_escapes_terminal_controls(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    (tmp_path / "maildir" / "new" / "1700000000.M1.c1").write_bytes(
        hostile_mail(1, "C1 \x9b31m csi", "x")
    )
    CliRunner().invoke(cli, ["--config", str(config), "keys", "init"])
    result = CliRunner().invoke(cli, ["--config", str(config), "explain", "--mailbox", "--json"])
    assert result.exit_code == 0 and "\x9b" not in result.output and "\\u009b" in result.output


# -- CPU -------------------------------------------------------------------------------------


def many_parts(parts: int, size: int = 37) -> bytes:
    head = (
        b"From: a@b.example\r\nTo: s@amphis.example\r\nSubject: parts\r\n"
        b"Message-ID: <parts@b.example>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
    )
    part = b"--b\r\n\r\n" + b"x" * max(1, size - 11) + b"\r\n"
    return head + part * parts + b"--b--\r\n"


def nested(depth: int) -> bytes:
    head = b"From: a@b.example\r\nTo: s@amphis.example\r\nSubject: deep\r\nMIME-Version: 1.0\r\n"
    inner = b"".join(
        f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n".encode()
        for i in range(depth)
    )
    return head + inner + b"Content-Type: text/plain\r\n\r\nhi\r\n"


CPU_MAILS = {
    "265,000 tiny parts in 9.8 MB": lambda: many_parts(265_000),
    "MIME nested 5,000 deep": lambda: nested(5_000),
    "600,000 header lines": lambda: (
        b"From: a@b.example\r\nSubject: h\r\n" + b"X-A: b\r\n" * 600_000 + b"\r\nbody\r\n"
    ),
    "100,000 References": lambda: (
        b"From: a@b.example\r\nSubject: r\r\n" + b"References: <x@y>\r\n" * 100_000 + b"\r\nhi\r\n"
    ),
    "9 MB of HTML": lambda: (
        b"From: a@b.example\r\nSubject: h\r\nContent-Type: text/html\r\n\r\n"
        + b"<div><b>AMC-</b><i>x</i></div>" * 300_000
    ),
    "a delivery report of 4 MB": lambda: (
        b"From: MAILER-DAEMON@b.example\r\nSubject: failed\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=r\r\n\r\n"
        b"--r\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--r\r\n"
        b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; b.example\r\n\r\n"
        + b"Final-Recipient: rfc822; x@y.example\r\nAction: failed\r\nStatus: 5.0.0\r\n\r\n"
        * 60_000
        + b"--r--\r\n"
    ),
}


@pytest.mark.parametrize("name", list(CPU_MAILS), ids=list(CPU_MAILS))
def test_mail_made_to_cost_cpu_gets_an_outcome_within_a_second(name: str, tmp_path: Path) -> None:
    raw = CPU_MAILS[name]()
    assert len(raw) <= 10 * 1024 * 1024
    app = make_app(tmp_path)
    started = time.process_time()
    result = Worker(app).process(Fetched(key="maildir:cpu", raw=raw, size=len(raw)))
    spent = time.process_time() - started
    assert result.outcome.value in ("escalated", "ignored", "clarify"), result
    assert spent < CPU_BUDGET, f"{spent:.2f} s of CPU in the worker"
    escalations = app.store.escalations()
    app.close()
    config = write_config(tmp_path)
    for esc in escalations:
        started = time.process_time()
        shown = CliRunner().invoke(cli, ["--config", str(config), "queue", "show", str(esc.id)])
        spent = time.process_time() - started
        assert shown.exit_code == 0, shown.output
        assert spent < CPU_BUDGET, f"{spent:.2f} s of CPU in queue show"


# -- random MIME trees -----------------------------------------------------------------------

CHARSETS = [
    "utf-8",
    "iso-8859-1",
    "windows-1252",
    "utf-7",
    "x-unknown",
    "",
    "utf-16",
    "gb2312",
    "koi8-r",
]
ENCODINGS = ["7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "binary", "bogus"]
TYPES = [
    "text/plain",
    "text/html",
    "application/octet-stream",
    "message/delivery-status",
    "text/rfc822-headers",
    "text/csv",
    "image/png",
]
text_pieces = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=200
)


@st.composite
def leaf(draw: Any) -> bytes:
    ctype = draw(st.sampled_from(TYPES))
    charset = draw(st.sampled_from(CHARSETS))
    cte = draw(st.sampled_from(ENCODINGS))
    body = draw(text_pieces)
    if draw(st.booleans()):
        body += " " + new_serial()
    data = body.encode("utf-8", "surrogatepass")
    if cte == "base64" and draw(st.booleans()):
        data = base64.encodebytes(data)
    head = f"Content-Type: {ctype}" + (f"; charset={charset}" if charset else "")
    if draw(st.booleans()):
        head += f'; name="{draw(text_pieces)[:20]}.txt"'
    return (
        (head + f"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n").encode("utf-8", "surrogatepass")
        + data
        + b"\r\n"
    )


def tree(depth: int) -> Any:
    if depth == 0:
        return leaf()
    return st.one_of(
        leaf(),
        st.builds(
            _multipart,
            st.sampled_from(["mixed", "alternative", "related", "report", "digest"]),
            st.lists(tree(depth - 1), min_size=0, max_size=4),
            st.booleans(),
        ),
    )


def _multipart(kind: str, parts: list[bytes], close: bool) -> bytes:
    boundary = f"b{len(parts)}{kind}"
    out = f"Content-Type: multipart/{kind}; boundary={boundary}\r\n\r\n".encode()
    for part in parts:
        out += f"--{boundary}\r\n".encode() + part
    if close:
        out += f"--{boundary}--\r\n".encode()
    return out


@st.composite
def mails(draw: Any) -> bytes:
    subject = draw(text_pieces)
    name = draw(text_pieces)[:40]
    headers = (
        f"From: {Header(name, 'utf-8').encode()} <fuzz@fuzz.example>\r\n"
        f"To: support@amphis.example\r\nSubject: {Header(subject, 'utf-8').encode()}\r\n"
        f"Message-ID: <fuzz-{draw(st.integers(0, 10**9))}@fuzz.example>\r\n"
    )
    if draw(st.booleans()):
        headers += "Auto-Submitted: auto-replied\r\n"
    if draw(st.booleans()):
        headers += f"X-Random: {draw(text_pieces)}\r\n"
    return headers.encode("utf-8", "surrogatepass") + b"MIME-Version: 1.0\r\n" + draw(tree(3))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(raw=mails())
def test_random_mime_trees_always_get_an_outcome_within_the_budget(
    raw: bytes, tmp_path: Path
) -> None:
    base = tmp_path / f"fuzz-{abs(hash(raw))}"
    app = make_app(base)
    try:
        started = time.process_time()
        result = Worker(app).process(
            Fetched(key=f"maildir:{abs(hash(raw))}", raw=raw, size=len(raw))
        )
        assert time.process_time() - started < CPU_BUDGET
        assert result.outcome is not None
        assert result.reason is None or result.reason.value != "internal_error", result
        for esc in app.store.escalations():
            from mailbot.services.queue_view import get_escalation

            started = time.process_time()
            view = get_escalation(app, app.store, esc.id)
            assert view.mail is None or isinstance(view.mail.text, str)
            assert time.process_time() - started < CPU_BUDGET
    finally:
        app.close()


def test_an_acknowledgement_names_no_one_we_cannot_vouch_for(tmp_path: Path) -> None:
    """A stranger without an order gets the "a colleague will answer" mail, but the display
    name it chose ("Cheap pills at ...") is not repeated back in our words."""
    app = make_app(tmp_path)
    raw = (
        b"From: Cheap pills at spam.example <pills@spam.example>\r\n"
        b"To: support@amphis.example\r\nSubject: hi\r\nMessage-ID: <pills@spam.example>\r\n\r\n"
        + new_serial().encode()
        + b"\r\n"
    )
    Worker(app).process(Fetched(key="maildir:pills", raw=raw, size=len(raw)))
    from tests.db import query

    [reply] = [
        r
        for r in query(
            app.store, "SELECT raw FROM outbox WHERE to_addr = ?", ["pills@spam.example"]
        )
    ]
    text = (
        email.message_from_bytes(reply["raw"], policy=email.policy.default)
        .get_body(("plain",))
        .get_content()
    )
    assert "Cheap pills" not in text and text.startswith("Hello,")
    app.close()


@pytest.mark.parametrize(
    "from_header",
    [
        "Bob <bob@northwind.example>, Eve <eve@evil.example>",
        "alice@northwind.example@evil.example",
        "=?utf-8?q?alice=40northwind.example?= <x>",
    ],
    ids=["two addresses", "two @", "an encoded-word as the address"],
)
def test_a_from_we_cannot_read_as_one_address_gets_no_reply(
    from_header: str, tmp_path: Path
) -> None:
    app = make_app(tmp_path)
    raw = (
        f"From: {from_header}\r\nReply-To: eve@evil.example\r\nTo: support@amphis.example\r\n"
        f"Subject: key\r\nMessage-ID: <two@evil.example>\r\n\r\n{new_serial()}\r\n"
    ).encode()
    result = Worker(app).process(Fetched(key="maildir:two", raw=raw, size=len(raw)))
    assert (result.outcome.value, result.reason.value if result.reason else None) == (
        "escalated",
        "sender_unverified",
    )
    from tests.db import query

    assert query(app.store, "SELECT to_addr FROM outbox WHERE kind = 'reply'") == []
    assert query(app.store, "SELECT * FROM licenses") == []
    app.close()


def test_a_robot_answering_every_reply_is_stopped_for_a_day(tmp_path: Path) -> None:
    """An auto-responder without RFC 3834 headers answers each of our mails. After
    `loop_after` (3) answers in a row that bring nothing new: one escalation, then silence,
    until a day has passed."""
    from tests.clock import FrozenClock
    from tests.db import query

    clock = FrozenClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    app = make_app(tmp_path, overrides={"clock": clock})
    worker = Worker(app)
    robot = "helpdesk@robots.example"

    def ours() -> str:
        rows = query(
            app.store, "SELECT message_id FROM outbox WHERE to_addr = ? ORDER BY id", [robot]
        )
        return rows[-1]["message_id"]

    def send(n: int, in_reply_to: str = "") -> str:
        head = f"In-Reply-To: <{in_reply_to}>\r\n" if in_reply_to else ""
        raw = (
            f"From: Helpdesk <{robot}>\r\nTo: support@amphis.example\r\n"
            f"Subject: Re: your request\r\nMessage-ID: <robot-{n}@robots.example>\r\n{head}"
            "\r\nThank you for contacting us. We will get back to you.\r\n"
        ).encode()
        clock.advance(minutes=7)
        result = worker.process(Fetched(key=f"maildir:robot-{n}", raw=raw, size=len(raw)))
        return f"{result.outcome.value}/{result.reason.value if result.reason else ''}"

    outcomes = [send(0)]
    for n in range(1, 7):
        outcomes.append(send(n, ours()))
    assert outcomes == ["escalated/question"] * 4 + [
        "escalated/reply_loop",
        "ignored/loop",
        "ignored/loop",
    ]
    assert (
        len(query(app.store, "SELECT id FROM outbox WHERE to_addr = ? AND kind = 'reply'", [robot]))
        == 4
    )  # no acknowledgement for the loop escalation or after it
    assert len(app.store.escalations(reason="reply_loop")) == 1
    clock.advance(hours=25)  # a day later the robot is heard again
    assert send(7, ours()) == "escalated/question"
    app.close()
