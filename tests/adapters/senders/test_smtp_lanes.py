"""SmtpLanes against a real SMTP server (aiosmtpd on loopback): a long batch goes out over
several connections, each mail exactly once and untouched; a short one over one; a lane that
cannot log in neither loses nor repeats what the other lanes sent."""

from __future__ import annotations

import smtplib
from pathlib import Path

import pytest

from mailbot.adapters.senders.smtp import SmtpConfigError, SmtpSender
from mailbot.adapters.senders.smtp_lanes import MIN_EACH, SmtpLanes
from mailbot.app import App
from tests.adapters.senders.test_smtp import reply
from tests.apps import settings_for
from tests.e2e.test_pipeline_imap import smtp_section
from tests.servers.smtp_sink import SmtpSink
from tests.staff_env import ORDER_HEADER

pytestmark = pytest.mark.servers


def _batch(n: int) -> list[tuple[int, str, bytes]]:
    return [(100 + i, f"c{i}@example.org", reply(i, f"c{i}@example.org")) for i in range(n)]


def test_a_long_batch_goes_out_over_every_lane_each_mail_once(smtp_sink: SmtpSink) -> None:
    settings = smtp_sink.outbox_settings()
    lanes = SmtpLanes([SmtpSender(settings) for _ in range(3)])
    batch = _batch(3 * MIN_EACH)
    try:
        results = lanes.send(batch)
    finally:
        lanes.close()
    assert sorted(results) == [row for row, _, _ in batch]
    assert all(d.ok for d in results.values())
    received = smtp_sink.wait_for(len(batch))
    assert sorted(m.data for m in received) == sorted(raw for _, _, raw in batch)
    assert len(smtp_sink.connections()) == 3


def test_a_short_batch_goes_over_one_connection(smtp_sink: SmtpSink) -> None:
    settings = smtp_sink.outbox_settings()
    lanes = SmtpLanes([SmtpSender(settings) for _ in range(4)])
    try:
        assert all(d.ok for d in lanes.send(_batch(MIN_EACH + 5)).values())
    finally:
        lanes.close()
    assert len(smtp_sink.wait_for(MIN_EACH + 5)) == MIN_EACH + 5
    assert len(smtp_sink.connections()) == 1


def _refused() -> smtplib.SMTP:
    raise SmtpConfigError("SMTP login for support at 127.0.0.1 was refused")


def test_a_blocked_lane_leaves_what_the_others_sent(smtp_sink: SmtpSink) -> None:
    settings = smtp_sink.outbox_settings()
    lanes = SmtpLanes([SmtpSender(settings), SmtpSender(settings, connect=_refused)])
    batch = _batch(2 * MIN_EACH)
    try:
        results = lanes.send(batch)
    finally:
        lanes.close()
    sent = sorted(row for row, d in results.items() if d.ok)
    waiting = {row: d for row, d in results.items() if not d.ok}
    assert sent == [row for row, _, _ in batch[0::2]]  # the first lane's part went out
    assert sorted(waiting) == [row for row, _, _ in batch[1::2]]
    assert all(not d.permanent and "refused" in d.error for d in waiting.values())
    assert len(smtp_sink.wait_for(len(sent))) == len(sent)


def test_every_lane_blocked_blocks_the_batch(smtp_sink: SmtpSink) -> None:
    settings = smtp_sink.outbox_settings()
    lanes = SmtpLanes([SmtpSender(settings, connect=_refused) for _ in range(2)])
    with pytest.raises(SmtpConfigError, match="refused"):
        lanes.send(_batch(2 * MIN_EACH))


def test_the_setting_chooses_lanes_or_one_connection(smtp_sink: SmtpSink, tmp_path: Path) -> None:
    for connections, kind in ((1, SmtpSender), (3, SmtpLanes)):
        outbox = smtp_section(smtp_sink, connections=connections)
        base = tmp_path / str(connections)
        base.mkdir()
        (base / "orders.csv").write_text(ORDER_HEADER + "\n")
        app = App(settings_for(base, outbox=outbox))
        assert isinstance(app.sender, kind)
