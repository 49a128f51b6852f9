"""How fast the console renders with a big queue: 10,000 open escalations (each with its mail
in the store and the search index), then the median time of GET /queue, a search, a later page,
one escalation's page, a customer, the dashboard and a license search, through the whole app
in-process (Starlette's TestClient).

    .venv/bin/python scripts/bench_console.py [COUNT]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mailbot.store.rows import NewEscalation, NewMessage, SerialItem  # noqa: E402
from tests.builders import new_serial  # noqa: E402
from tests.web.console import make_console  # noqa: E402


def main(count: int) -> None:
    console = make_console(Path(tempfile.mkdtemp(prefix="mailbot-bench-")))
    store, now = console.env.store, console.env.clock.now()
    started = time.perf_counter()
    with store.transaction():
        for n in range(count):
            serial = new_serial()
            sender = f"customer{n}@example{n % 97}.com"
            row = store.add_message(
                NewMessage(
                    mailbox_key=f"k{n}",
                    message_id=f"<m{n}@example.com>",
                    sender=sender,
                    subject=f"License request {n}",
                    received_at=now,
                    processed_at=now,
                    outcome="escalated",
                    reason="no_order",
                    serials=(SerialItem(serial, serial, "ok"),),
                    explanation=("no order",),
                    raw=b"",
                    size=100,
                    sender_name=f"Customer {n}",
                    text=f"Hello,\n\nplease send the license for {serial}, order INV-{n}.\n",
                )
            )
            store.add_escalation(
                NewEscalation(
                    "no_order" if n % 3 else "question",
                    "no order for the sender",
                    sender,
                    row,
                    (SerialItem(serial, serial, "ok"),),
                ),
                "mailbot",
                now,
            )
    print(f"{count} escalations written in {time.perf_counter() - started:.1f} s")
    console.login("ada")  # an admin: every page may be opened
    client = console.client
    for label, path in [
        ("/queue", "/queue"),
        ("/queue?q=customer4711", "/queue?q=customer4711"),
        ("/queue?view=unclaimed&page=100", "/queue?view=unclaimed&page=100"),
        ("/escalations/5000", f"/escalations/{count // 2}"),
        ("/customers/customer4711@example55.com", "/customers/customer4711%40example55.com"),
        ("/dashboard?days=90", "/dashboard?days=90"),
    ]:
        times = []
        for _ in range(7):
            t = time.perf_counter()
            response = client.get(path)
            times.append(time.perf_counter() - t)
            assert response.status_code == 200, (path, response.status_code)
        print(f"GET {label:34} median {statistics.median(times) * 1000:6.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
