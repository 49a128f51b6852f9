"""SmtpSender against a real SMTP server (aiosmtpd on loopback, tests/servers/smtp_sink.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mailbot.adapters.senders import smtp as smtp_module
from mailbot.adapters.senders.smtp import SmtpConfigError, SmtpSender, classify
from tests.servers.smtp_sink import SmtpSink

pytestmark = pytest.mark.servers


@pytest.fixture
def sender_for() -> Iterator[Callable[..., SmtpSender]]:
    """SmtpSenders that are closed (their kept connection QUIT) when the test ends."""
    made: list[SmtpSender] = []

    def make(settings: Any, **kwargs: Any) -> SmtpSender:
        made.append(SmtpSender(settings, **kwargs))
        return made[-1]

    yield make
    for sender in made:
        sender.close()


def reply(n: int, to: str = "customer@example.org", body: str = "Your license: below.") -> bytes:
    # CRLF, a dot-leading line and 8-bit text: the bytes must arrive exactly as handed over.
    return (
        f"From: Support <support@amphis.example>\r\n"
        f"To: {to}\r\n"
        f"Subject: Your license {n}\r\n"
        f"Message-ID: <reply-{n}@amphis.example>\r\n"
        f"Auto-Submitted: auto-replied\r\n"
        f"MIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Transfer-Encoding: 8bit\r\n"
        f"\r\n"
        f"{body}\r\n"
        f".a line that starts with a dot\r\n"
        f"Grüße\r\n"
    ).encode()


def test_batch_goes_out_on_one_connection_untouched(
    smtp_sink: SmtpSink, sender_for: Callable[..., SmtpSender]
) -> None:
    sender = sender_for(smtp_sink.outbox_settings())
    batch = [(10 + n, f"c{n}@example.org", reply(n, f"c{n}@example.org")) for n in range(3)]

    results = sender.send(batch)

    assert {row: (d.ok, d.permanent) for row, d in results.items()} == {
        10: (True, False),
        11: (True, False),
        12: (True, False),
    }
    got = smtp_sink.wait_for(3)
    assert [m.data for m in got] == [raw for _, _, raw in batch]  # not rewritten at all
    assert [m.rcpt_tos for m in got] == [(f"c{n}@example.org",) for n in range(3)]
    assert {m.mail_from for m in got} == {"support@amphis.example"}
    assert len(smtp_sink.connections()) == 1


def test_temporary_failure_then_success_on_retry(
    smtp_sink: SmtpSink, sender_for: Callable[..., SmtpSender]
) -> None:
    sender = sender_for(smtp_sink.outbox_settings())
    smtp_sink.fail_next(1, code=451)

    first = sender.send([(1, "a@example.org", reply(1))])
    assert (first[1].ok, first[1].permanent) == (False, False)
    assert first[1].error.startswith("451")
    assert smtp_sink.messages == []

    second = sender.send([(1, "a@example.org", reply(1))])
    assert second[1].ok
    assert len(smtp_sink.wait_for(1)) == 1


def test_server_down_is_a_temporary_failure_for_every_row(
    smtp_sink: SmtpSink, sender_for: Callable[..., SmtpSender]
) -> None:
    sender = sender_for(smtp_sink.outbox_settings())
    smtp_sink.stop()

    results = sender.send([(1, "a@example.org", reply(1)), (2, "b@example.org", reply(2))])

    assert all(not d.ok and not d.permanent for d in results.values())
    assert set(results) == {1, 2}
    assert "cannot connect" in results[1].error

    smtp_sink.start()  # the outage ends: the same rows go out
    again = sender.send([(1, "a@example.org", reply(1)), (2, "b@example.org", reply(2))])
    assert all(d.ok for d in again.values())
    assert len(smtp_sink.wait_for(2)) == 2


def test_permanent_refusals_are_permanent_and_the_batch_goes_on(
    smtp_sink: SmtpSink, sender_for: Callable[..., SmtpSender]
) -> None:
    sender = sender_for(smtp_sink.outbox_settings())
    smtp_sink.reject("gone@example.org", code=550)

    results = sender.send(
        [
            (1, "gone@example.org", reply(1, "gone@example.org")),
            (2, "fine@example.org", reply(2, "fine@example.org")),
        ]
    )

    assert (results[1].ok, results[1].permanent) == (False, True)
    assert results[1].error.startswith("550")
    assert results[2].ok
    assert [m.rcpt_tos for m in smtp_sink.wait_for(1)] == [("fine@example.org",)]

    smtp_sink.fail_next(1, code=554)  # refused at DATA
    assert sender.send([(3, "fine@example.org", reply(3))])[3].permanent


def test_a_421_closes_the_connection_and_the_rest_goes_on_a_new_one(
    smtp_sink: SmtpSink, sender_for: Callable[..., SmtpSender]
) -> None:
    sender = sender_for(smtp_sink.outbox_settings())
    smtp_sink.fail_next(1, code=421)

    results = sender.send([(1, "a@example.org", reply(1)), (2, "b@example.org", reply(2))])

    assert (results[1].ok, results[1].permanent) == (False, False)
    assert results[2].ok
    assert [m.rcpt_tos for m in smtp_sink.wait_for(1)] == [("b@example.org",)]


def test_starttls_and_auth(
    make_smtp_sink: Callable[..., SmtpSink],
    monkeypatch: pytest.MonkeyPatch,
    sender_for: Callable[..., SmtpSender],
) -> None:
    sink = make_smtp_sink(starttls=True, auth=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(sink.ca_file))
    sender = sender_for(sink.outbox_settings())

    results = sender.send([(1, "a@example.org", reply(1)), (2, "b@example.org", reply(2))])

    assert all(d.ok for d in results.values())
    got = sink.wait_for(2)
    assert {m.authenticated_as for m in got} == {"mailbot"}
    assert len({m.peer for m in got}) == 1


def test_implicit_tls(
    make_smtp_sink: Callable[..., SmtpSink],
    monkeypatch: pytest.MonkeyPatch,
    sender_for: Callable[..., SmtpSender],
) -> None:
    sink = make_smtp_sink(implicit_tls=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(sink.ca_file))

    results = sender_for(sink.outbox_settings()).send([(1, "a@example.org", reply(1))])

    assert results[1].ok
    assert sink.wait_for(1)[0].data == reply(1)


def test_wrong_password_raises_with_what_to_do(
    make_smtp_sink: Callable[..., SmtpSink],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path,
    sender_for: Callable[..., SmtpSender],
) -> None:
    sink = make_smtp_sink(starttls=True, auth=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(sink.ca_file))
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password\n")
    wrong.chmod(0o600)
    sender = sender_for(sink.outbox_settings(password_file=wrong))

    with pytest.raises(SmtpConfigError) as caught:
        sender.send([(1, "a@example.org", reply(1))])

    message = str(caught.value)
    assert "refused" in message and str(wrong) in message
    assert "not-the-password" not in message
    assert sink.messages == []


def test_untrusted_certificate_and_missing_starttls_are_config_errors(
    make_smtp_sink: Callable[..., SmtpSink],
    smtp_sink: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path,
    sender_for: Callable[..., SmtpSender],
) -> None:
    secure = make_smtp_sink(starttls=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-ca.pem"))
    with pytest.raises(SmtpConfigError, match="not trusted"):
        sender_for(secure.outbox_settings()).send([(1, "a@example.org", reply(1))])

    plain = smtp_sink.outbox_settings(security="starttls")
    with pytest.raises(SmtpConfigError, match="does not offer STARTTLS"):
        sender_for(plain).send([(1, "a@example.org", reply(1))])


def test_empty_batch_opens_no_connection(
    smtp_sink: SmtpSink, sender_for: Callable[..., SmtpSender]
) -> None:
    calls = []

    def connect() -> Any:
        calls.append(1)

    sender = sender_for(smtp_sink.outbox_settings(), connect=connect)
    assert sender.send([]) == {}
    assert calls == []


def test_classify() -> None:
    assert classify(451, b"4.3.0 try later").permanent is False
    assert classify(550, b"5.1.1 no such user").permanent is True
    assert classify(552, "too big").error == "552 too big"
    assert classify(-1, b"").permanent is False


def test_settings_override_keeps_from_address(
    smtp_sink: SmtpSink, sender_for: Callable[..., SmtpSender]
) -> None:
    settings = smtp_sink.outbox_settings().model_copy(
        update={"from_address": "licensing@amphis.example"}
    )
    sender_for(settings).send([(1, "a@example.org", reply(1))])
    assert smtp_sink.wait_for(1)[0].mail_from == "licensing@amphis.example"


def test_one_connection_serves_batch_after_batch_and_close_quits(
    smtp_sink: SmtpSink, sender_for: Callable[..., SmtpSender]
) -> None:
    sender = sender_for(smtp_sink.outbox_settings())
    for n in range(3):
        assert sender.send([(n, f"c{n}@example.org", reply(n))])[n].ok
    assert len(smtp_sink.wait_for(3)) == 3
    assert len(smtp_sink.connections()) == 1
    sender.close()
    sender.close()  # twice is fine
    assert sender.send([(9, "c9@example.org", reply(9))])[9].ok  # a new one after close
    assert len(smtp_sink.connections()) == 2


def test_a_kept_connection_the_server_dropped_is_replaced(
    smtp_sink: SmtpSink, sender_for: Callable[..., SmtpSender], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(smtp_module, "FRESH_SECONDS", 0.0)  # checked with NOOP every time
    sender = sender_for(smtp_sink.outbox_settings())
    assert sender.send([(1, "a@example.org", reply(1))])[1].ok
    smtp_sink.stop()  # the server goes away with our connection
    smtp_sink.start()
    assert sender.send([(2, "b@example.org", reply(2))])[2].ok
    assert [m.rcpt_tos for m in smtp_sink.wait_for(2)][-1] == ("b@example.org",)
