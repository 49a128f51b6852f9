"""End to end on the embedded backends: Maildir in, outbox folder out, orders from CSV.

The commands run in this process (tests/apps.run_command); the installed wheel runs the same
demo as a real process in tests/e2e/test_wheel.py.
"""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

import pytest

from mailbot.adapters.signing import load_public_keys
from mailbot.core import serials
from mailbot.core.errors import SetupError
from mailbot.core.license_format import InvalidLicense, verify_license
from mailbot.core.model import Outcome
from mailbot.services.delivery import deliver_outbox
from mailbot.services.worker import Worker
from tests.apps import DATA, DEMO, deliver_demo, make_app, run_command, write_config
from tests.db import one, query

# What each demo mail must come to (data/demo/maildir, in arrival order).
DEMO_OUTCOMES = [
    ("alice@northwind.example", "issued", None),
    ("bob@contoso.example", "issued", None),
    ("klaus.becker@beispiel.example", "issued", None),
    ("alice@northwind.example", "resent", None),
    ("it@fabrikam.example", "issued", None),
    ("maria@adventure-works.example", "ignored", "auto_reply"),
    ("mailer-daemon@mx.tailspin.example", "ignored", "bounce"),
    ("alice@northwind.example", "transferred", None),
    ("nina@wingtip.example", "clarify", None),
    ("sam.jones@gmail.com", "awaiting_payment", None),
    ("it@fabrikam.example", "issued", None),
    ("it@fabrikam.example", "issued", None),
    ("maria@adventure-works.example", "escalated", "question"),
    ("tom@tailspin.example", "escalated", "refunded_order"),
    ("bob@contoso.example", "escalated", "question"),
]


def licenses_in(outbox: Path) -> list[tuple[str, str, str]]:
    """(recipient, serial, license string) for every license in every reply."""
    found = []
    for path in sorted(outbox.glob("*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if msg["To"] == "licensing-team@amphis.example":
            continue  # a staff notification, not a reply
        text = msg.get_body(preferencelist=("plain",)).get_content()
        serial = None
        for line in text.splitlines():
            line = line.strip()
            if line.startswith(("Serial number:", "Seriennummer:")):
                serial = line.split(":", 1)[1].strip()
            elif line.startswith(("License string:", "Lizenzschlüssel:")):
                found.append((str(msg["To"]), serial, line.split(":", 1)[1].strip()))
    return found


def test_demo_mail_reaches_every_outcome_and_licenses_verify(tmp_path: Path) -> None:
    app = make_app(
        tmp_path,
        mailbox={"path": "maildir"},
        orders={"payment_link": "https://buy.stripe.com/test_demo"},
    )
    deliver_demo(app.mailbox)  # type: ignore[arg-type]
    worker = Worker(app)
    processed = worker.poll_once()
    report = deliver_outbox(worker.deps)

    got = [(p.sender, p.outcome.value, p.reason.value if p.reason else None) for p in processed]
    assert got == DEMO_OUTCOMES
    # Every outcome a customer's mail can have; a staff member's answer by mail needs a reply
    # address made with this site's secret (tests/services/test_reply_by_mail.py).
    # A customer's own list and release need licenses from earlier mails and a follow-up:
    # tests/services/test_self_service.py walks them through the worker.
    customer_outcomes = {o.value for o in Outcome} - {
        Outcome.STAFF_REPLY.value,
        Outcome.LISTED.value,
        Outcome.RELEASED.value,
    }
    assert customer_outcomes <= {p.outcome.value for p in processed}
    assert report.failed == 0
    kinds = {
        r["kind"]: r["n"]
        for r in query(
            app.store, "SELECT kind, count(*) AS n FROM outbox WHERE state = 'sent' GROUP BY kind"
        )
    }
    assert kinds["reply"] == 13 and report.sent == sum(kinds.values())

    publics = load_public_keys(app.settings.signing.public_keys)
    licenses = licenses_in(app.settings.outbox.path)  # type: ignore[arg-type]
    assert len(licenses) == 11  # 9 issued + 1 re-sent + 1 transferred
    for recipient, serial, string in licenses:
        info = verify_license(string, serial=serial, public_keys=publics, product_code="AMC")
        assert info.serial == serial
        # A license for one serial never verifies for another.
        other = next(s for _, s, _ in licenses if s != serial)
        with pytest.raises(InvalidLicense):
            verify_license(string, serial=other, public_keys=publics, product_code="AMC")
    # The re-sent license is the very same string.
    alice = [s for r, serial, s in licenses if serial == licenses[0][1]]
    assert len(alice) == 2 and alice[0] == alice[1]

    # Every mail was moved out of new/ and a second pass changes nothing.
    assert not [p for p in (app.mailbox.path / "new").iterdir()]  # type: ignore[attr-defined]
    files_before = sorted(app.settings.outbox.path.iterdir())  # type: ignore[union-attr]
    assert worker.poll_once() == []
    assert deliver_outbox(worker.deps).sent == 0
    assert sorted(app.settings.outbox.path.iterdir()) == files_before  # type: ignore[union-attr]


def test_replies_are_threaded_and_marked_automatic(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    deliver_demo(app.mailbox)  # type: ignore[arg-type]
    worker = Worker(app)
    worker.poll_once()
    deliver_outbox(worker.deps)
    first = sorted(app.settings.outbox.path.glob("*.eml"))[0]  # type: ignore[union-attr]
    msg = email.message_from_bytes(first.read_bytes(), policy=email.policy.default)
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["In-Reply-To"] == "<demo-01@northwind.example>"
    assert "<demo-01@northwind.example>" in msg["References"]
    row = one(app.store, "SELECT message_id FROM outbox ORDER BY id LIMIT 1")
    assert msg["Message-ID"] == f"<{row['message_id']}>"  # type: ignore[index]
    assert msg.get_body(preferencelist=("html",)) is not None


def test_html_reply_escapes_what_the_customer_wrote(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    raw = (
        b'From: "<b>Eve</b>" <eve@northwind.example>\nTo: support@amphis.example\n'
        b"Subject: x\nMessage-ID: <eve-1@northwind.example>\n\n"
        b"my serial is AMC-<script>alert(1)</script> and AMC-1234-5678-9ABC-DEF0\n"
    )
    app.mailbox.deliver(raw)  # type: ignore[attr-defined]
    worker = Worker(app)
    worker.poll_once()
    deliver_outbox(worker.deps)
    out = next(app.settings.outbox.path.glob("*.eml")).read_bytes()  # type: ignore[union-attr]
    msg = email.message_from_bytes(out, policy=email.policy.default)
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert "<script>" not in html and "<b>Eve" not in html


def test_quick_start_through_the_command_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, orders={"payment_link": "https://buy.stripe.com/test_x"})
    (tmp_path / "maildir" / "new").mkdir(parents=True, exist_ok=True)
    for src in sorted((DEMO / "maildir" / "new").glob("1*")):
        (tmp_path / "maildir" / "new" / src.name).write_bytes(src.read_bytes())
    assert run_command(config, "keys", "init").returncode == 0
    first = run_command(config, "run", "--once")
    assert first.returncode == 0, first.stderr
    assert "15 mail(s) processed" in first.stdout and "mail sent:" in first.stdout

    again = run_command(config, "run", "--once", "--json")
    assert json.loads(again.stdout)["processed"] == [] and json.loads(again.stdout)["sent"] == 0

    for _, serial, string in licenses_in(tmp_path / "outbox"):
        ok = run_command(config, "license", "verify", "--serial", serial, string)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert ok.stdout.startswith("valid")
        flipped = string[:-1] + ("A" if string[-1] != "A" else "B")
        assert run_command(config, "license", "verify", "--serial", serial, flipped).returncode == 1

    listed = json.loads(run_command(config, "messages", "list", "--json").stdout)
    assert [(m["sender"], m["outcome"], m["reason"]) for m in listed] == DEMO_OUTCOMES
    for m in listed:
        assert {"message_id", "sender", "outcome", "reason", "serials"} <= set(m)
        for s in m["serials"]:
            assert {"serial", "as_found", "new"} <= set(s)

    queue = json.loads(run_command(config, "queue", "list", "--json").stdout)
    assert sorted(q["reason"] for q in queue) == ["question", "question", "refunded_order"]
    for q in queue:
        assert {"id", "reason", "state", "sender", "message_id", "serials"} <= set(q)
    shown = run_command(config, "queue", "show", str(queue[0]["id"]))
    assert shown.returncode == 0 and f"escalation #{queue[0]['id']}" in shown.stdout


def test_explain_changes_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert run_command(config, "keys", "init").returncode == 0
    files = [str(p) for p in sorted((DEMO / "maildir" / "new").glob("1*"))]
    out = run_command(config, "explain", "--json", *files)
    assert out.returncode == 0, out.stderr
    items = json.loads(out.stdout)
    assert [i["file"] for i in items] == files
    # Decided one by one on an empty store: nothing licensed yet, so no resend or transfer.
    assert items[0]["outcome"] == "issued" and items[5]["reason"] == "auto_reply"
    listed = json.loads(run_command(config, "messages", "list", "--json").stdout)
    assert listed == []


def test_bad_config_is_one_plain_sentence(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[mailbox]\nkind = "maildir"\npath = "m"\npassword = "hunter2"\n')
    out = run_command(bad, "run", "--once")
    assert out.returncode == 2
    assert "password_env" in out.stderr and "Traceback" not in out.stderr
    assert "hunter2" not in out.stderr

    missing_key = write_config(tmp_path / "nokey")
    out = run_command(missing_key, "run", "--once")
    assert out.returncode == 2 and "mailbot keys init" in out.stderr


def test_real_world_mail_gets_outcomes_and_never_a_license(tmp_path: Path) -> None:
    """The flanker corpus (bounces, complaints, broken MIME, odd charsets) through `run --once`."""
    corpus = DATA / "corpus" / "flanker"
    files = sorted(corpus.rglob("*.eml"))
    assert len(files) >= 40
    config = write_config(tmp_path)
    assert run_command(config, "keys", "init").returncode == 0
    inbox = tmp_path / "maildir" / "new"
    inbox.mkdir(parents=True, exist_ok=True)
    for n, f in enumerate(files):
        (inbox / f"{n:04d}.{f.stem}.corpus").write_bytes(f.read_bytes())
    out = run_command(config, "run", "--once", "--json")
    assert out.returncode == 0, out.stderr
    processed = json.loads(out.stdout)["processed"]
    assert len(processed) == len(files)
    by_name = {f.relative_to(corpus).as_posix(): p for f, p in zip(files, processed)}
    for name, p in by_name.items():
        assert p["outcome"] in ("ignored", "escalated"), name
        assert p["reason"] != "internal_error", name
        if name.startswith("bounce/"):
            assert (p["outcome"], p["reason"]) == ("ignored", "bounce"), name
    listed = json.loads(run_command(config, "messages", "list", "--json").stdout)
    assert not [m for m in listed if m["outcome"] in ("issued", "resent", "transferred")]
    assert not list((tmp_path / "outbox").glob("*.eml")) or all(
        b"License string" not in p.read_bytes() for p in (tmp_path / "outbox").glob("*.eml")
    )


def test_a_missing_orders_file_stops_the_run_and_the_mail_waits(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert run_command(config, "keys", "init").returncode == 0
    (tmp_path / "orders.csv").unlink()
    inbox = tmp_path / "maildir" / "new"
    inbox.mkdir(parents=True, exist_ok=True)
    first = sorted((DEMO / "maildir" / "new").glob("1*"))[0]
    (inbox / first.name).write_bytes(first.read_bytes())
    out = run_command(config, "run", "--once")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "orders file" in out.stderr
    assert [p.name for p in inbox.iterdir()] == [first.name]  # not decided on stale orders


def test_an_internal_error_keeps_who_is_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug while deciding one mail: the mail is escalated with its sender, Message-ID and
    subject, so staff see who waits; the next mail still runs."""
    app = make_app(tmp_path)
    paths = deliver_demo(app.mailbox)  # type: ignore[arg-type]
    import mailbot.services.evaluate as evaluate_module

    real = evaluate_module.decide
    calls = {"n": 0}

    def flaky(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyError("a bug")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(evaluate_module, "decide", flaky)
    processed = Worker(app).poll_once()
    assert (
        processed[0].outcome is Outcome.ESCALATED and processed[0].reason.value == "internal_error"
    )
    assert processed[1].outcome is Outcome.ISSUED
    row = one(
        app.store,
        "SELECT sender, subject, message_id, error FROM messages WHERE id = ?",
        [processed[0].message_row],
    )
    assert row is not None and row["sender"] == "alice@northwind.example"
    assert row["subject"] and row["message_id"] and "KeyError" in row["error"]
    esc = one(
        app.store,
        "SELECT sender FROM escalations WHERE message_row = ?",
        [processed[0].message_row],
    )
    assert esc is not None and esc["sender"] == "alice@northwind.example"
    assert len(paths) == len(processed)
    app.close()


def test_a_template_fault_stops_the_run_instead_of_escalating_every_mail(tmp_path: Path) -> None:
    """A template that breaks only on real data (here: only for a second serial) still stops
    the run at the first mail that needs it; that mail and every later one wait."""
    (tmp_path / "tpl").mkdir(parents=True, exist_ok=True)
    (tmp_path / "tpl" / "issued.txt").write_text(
        "Subject: x\n{% for r in results %}{{ r.license_string }}{% endfor %}"
        "{% if results|length > 5 %}{{ undefined_thing }}{% endif %}\n"
    )
    app = make_app(tmp_path, templates={"path": "tpl"})
    deliver_demo(app.mailbox)  # type: ignore[arg-type]
    worker = Worker(app)

    # The CSV attachment mail carries three serials: fine. Six serials break the template.
    many = " ".join(serials.generate("AMC") for _ in range(6))
    app.mailbox.deliver(  # type: ignore[attr-defined]
        b"From: it@fabrikam.example\nTo: support@amphis.example\nSubject: team\n"
        b"Message-ID: <six@fabrikam.example>\n\n" + many.encode() + b"\n"
    )
    with pytest.raises(SetupError, match="issued.txt"):
        worker.poll_once()
    internal = query(app.store, "SELECT id FROM messages WHERE reason = 'internal_error'")
    assert internal == []
    waiting = list((app.mailbox.path / "new").iterdir())  # type: ignore[attr-defined]
    assert any(p.read_bytes().find(b"six@fabrikam.example") > 0 for p in waiting)
    app.close()
