"""SQLite runs in WAL with synchronous=FULL, a busy timeout, foreign keys and IMMEDIATE writes."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite settings")


def pragma(name: str):
    with connection.cursor() as cursor:
        cursor.execute(f"PRAGMA {name}")
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_it_sets_the_pragmas():
    assert pragma("foreign_keys") == 1
    assert pragma("synchronous") == 2  # FULL: acknowledged writes survive a power cut
    assert pragma("busy_timeout") == 20000


@pytest.mark.django_db(transaction=True)
def test_it_uses_wal_and_immediate_transactions(settings):
    assert pragma("journal_mode") == "wal"
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    with transaction.atomic():
        # IMMEDIATE took the write lock at BEGIN: a second connection cannot start writing.
        import sqlite3

        other = sqlite3.connect(connection.settings_dict["NAME"], timeout=0.1)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()
