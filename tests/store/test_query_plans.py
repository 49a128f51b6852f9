"""A mail's decision costs the same with ten orders or a million: no statement a pass runs
scans a whole table (issue 11). Every statement of a pass over varied mail is collected from
SQLite's own trace and EXPLAINed against the database it ran on."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from tests.staff_env import mail, make_env, new_serial, order_row, request

# Scans that are bounded by something other than the store's size.
_BOUNDED = (
    "USING INDEX",  # a (partial) index scanned in order, e.g. the mail not yet filed
    "USING COVERING INDEX",
    "VIRTUAL TABLE",  # json_each over one row's JSON; the FTS5 index's own lookups
    "sqlite_master",
    "escalation_search_config",
    "(subquery",
)


def _statements(tmp_path: Path) -> list[str]:
    orders = [order_row(f"cs_{i}", f"user{i}@northwind.example", 2) for i in range(20)]
    env = make_env(tmp_path, orders)
    old, new = new_serial(), new_serial()
    env.deliver(request("user7@northwind.example", old))
    env.poll()  # the orders file read, and a license to move later; not what is traced
    seen: dict[str, str] = {}

    def trace(sql: str) -> None:
        seen.setdefault(re.sub(r"'[^']*'|\b\d+\b", "?", sql), sql)

    env.store.conn.set_trace_callback(trace)
    for i in range(6):
        env.deliver(request(f"user{i}@northwind.example", new_serial()))
    env.deliver(request("user1@northwind.example", new_serial(), new_serial(), new_serial()))
    env.deliver(request("stranger@elsewhere.example", new_serial()))
    env.deliver(
        mail(
            "user7@northwind.example",
            f"I moved to a new laptop. Old serial {old}, new serial {new}.",
            subject="Transfer",
        )
    )
    env.deliver(mail("user8@northwind.example", "Can I get a quote for ten seats?"))
    env.deliver(request("user2@northwind.example", new_serial()))  # another seat of an order
    env.poll()
    env.store.conn.set_trace_callback(None)
    return list(seen.values())


def test_no_statement_of_a_pass_scans_a_table(tmp_path: Path) -> None:
    statements = _statements(tmp_path)
    assert len(statements) > 20  # the trace saw the pass
    db = sqlite3.connect(tmp_path / "site" / "mailbot.db")
    scans = []
    for sql in statements:
        if not re.match(r"\s*(SELECT|INSERT|UPDATE|DELETE)\b", sql, re.IGNORECASE):
            continue
        for row in db.execute(f"EXPLAIN QUERY PLAN {sql}"):
            step = str(row[3])
            if step.startswith("SCAN") and not any(ok in step for ok in _BOUNDED):
                scans.append(f"{step}: {sql[:160]}")
    db.close()
    assert scans == []
