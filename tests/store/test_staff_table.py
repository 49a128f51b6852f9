"""Staff accounts and web sessions in the store: names and addresses are unique, an address is
found whatever its case, and a password change or removal logs every session out."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mailbot.store import Store
from mailbot.store.errors import Conflict
from tests.builders import T0


def test_names_and_addresses_are_unique(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "db.sqlite")
    store.add_staff("ana", "Ana@Amphis.example", "support", "h1", T0)
    with pytest.raises(Conflict):
        store.add_staff("ana", "other@amphis.example", "admin", "h2", T0)
    with pytest.raises(Conflict):
        store.add_staff("bob", "ana@amphis.EXAMPLE", "finance", "h2", T0)
    store.add_staff("bob", "", "finance", "h2", T0)
    store.add_staff("cy", "", "finance", "h3", T0)  # no address: not matched by mail
    found = store.staff_by_email("ANA@amphis.example")
    assert found is not None and found.name == "ana"
    assert store.staff_by_email("") is None
    assert [s.name for s in store.all_staff()] == ["ana", "bob", "cy"]


def test_sessions_expire_and_end_with_the_password(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "db.sqlite")
    store.add_staff("ana", "ana@amphis.example", "support", "h1", T0)
    store.add_web_session("t1", "ana", "c1", T0, T0 + timedelta(hours=8))
    store.add_web_session("t2", "ana", "c2", T0, T0 + timedelta(hours=1))
    session = store.web_session("t1", T0 + timedelta(hours=2))
    assert session is not None and session.staff_name == "ana" and session.csrf == "c1"
    assert store.web_session("t2", T0 + timedelta(hours=2)) is None  # expired
    assert store.drop_expired_web_sessions(T0 + timedelta(hours=2)) == 1
    assert store.set_staff_password("ana", "h9", T0 + timedelta(hours=3))
    assert store.web_session("t1", T0 + timedelta(hours=3)) is None
    member = store.staff_member("ana")
    assert member is not None and member.password_hash == "h9"
    store.add_web_session("t3", "ana", "c3", T0, T0 + timedelta(hours=8))
    assert store.remove_staff("ana") and not store.remove_staff("ana")
    assert store.web_session("t3", T0) is None
