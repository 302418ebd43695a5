"""The schema rules of shared/scale-notes.md, checked on the migrated test database (issue #16 item 4).

They keep the path to national scale a migration: time partitions now (ADR 0010), sharding by card with Citus
later (docs/scaling.md). Each rule here reads the catalogue, so a new model or migration that breaks one fails.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

CARD = "card_no"
FACTS: dict[str, str | None] = {
    # high-volume fact table → the column naming the card it belongs to (rule 1), or None with the reason
    "tolling_segment": CARD,
    "tolling_trip": CARD,
    "tolling_topup": CARD,
    "tolling_auditcharge": CARD,
    "tolling_paperticket": None,  # a cash paper ticket has no ETC card: its buyer comes with the request
    "tolling_taxiride": None,  # a taxi ride has no ETC card either
    "invoicing_document": CARD,
    "invoicing_documentline": CARD,
    "invoicing_documentitem": CARD,
}
PARTITIONED = {"tolling_segment", "tolling_topup"}
"""Range-partitioned by service_date (ADR 0010); the others are small enough today or registries (below)."""

REGISTRIES: dict[str, str] = {
    # unique keys on unpartitioned facts without service_date, each a narrow registry of a globally unique value
    # (rule 4) or a per-province business id of a low-volume line, with why it may stay so
    "trip_pass_id_uniq": "the pass-id registry: a pass id on one card and vehicle, whatever the segment's date",
    "document_code_number_uniq": "legal document numbers, unique nationally",
    "document_item_one_live_per_item": "exactly-once: an item in at most one live document, whatever its date",
    "document_line_no_uniq": "a line's number within its document: lines go wherever their document goes",
    "audit_charge_id_province_uniq": "稽核补费: thousands a day nationally, unpartitioned (ADR 0010)",
    "paper_ticket_no_province_uniq": "纸改电: low volume, unpartitioned (ADR 0010)",
    "taxi_ride_id_province_uniq": "taxi rides: low volume, unpartitioned (ADR 0010)",
}


def _rows(sql: str, params: list[Any] | None = None) -> list[tuple[object, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return list(cursor.fetchall())


def _columns(table: str) -> set[str]:
    return {r[0] for r in _rows("SELECT column_name FROM information_schema.columns WHERE table_name = %s", [table])}  # type: ignore[misc]


@pytest.mark.parametrize("table", sorted(FACTS))
def test_rule_1_every_fact_carries_its_business_date_and_card(table: str) -> None:
    columns = _columns(table)
    assert columns, f"{table} does not exist: update FACTS"
    assert "service_date" in columns, f"{table} has no service_date (scale-notes rule 1)"
    if FACTS[table]:
        assert FACTS[table] in columns, f"{table} has no {FACTS[table]} (scale-notes rule 1)"


def test_rule_2_unique_keys_include_the_partition_key_or_are_registries() -> None:
    partitioned = {
        str(r[0]): str(r[1])
        for r in _rows(
            "SELECT c.relname, pg_get_partkeydef(c.oid) "
            "FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
        )
    }
    assert {t: partitioned.get(t) for t in PARTITIONED} == dict.fromkeys(PARTITIONED, "RANGE (service_date)")
    keys = _rows(
        """
        SELECT t.relname, i.relname, array_agg(a.attname ORDER BY a.attnum)
        FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid
        JOIN pg_class t ON t.oid = x.indrelid
        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY (x.indkey)
        WHERE x.indisunique AND NOT x.indisprimary AND t.relname = ANY (%s) AND NOT t.relispartition
        GROUP BY 1, 2
        """,
        [list(FACTS)],
    )
    assert keys, "no unique keys found on the fact tables"
    offending = [
        (table, index)
        for table, index, cols in keys
        if "service_date" not in cols and index not in REGISTRIES  # type: ignore[operator]
    ]
    assert offending == [], "unique keys on facts without service_date: add it, or a registry with its reason"
    stale = set(REGISTRIES) - {index for _t, index, _c in keys}
    assert stale == set(), f"REGISTRIES names keys that no longer exist: {stale}"


def test_rule_3_no_database_foreign_key_from_a_fact_into_a_fact() -> None:
    """Facts reference facts by (kind, id) with service_date beside them, never by a constraint: a constraint
    into a partitioned or sharded table needs its whole key."""
    into_facts = _rows(
        """
        SELECT c.conrelid::regclass::text, c.confrelid::regclass::text, c.conname
        FROM pg_constraint c
        WHERE c.contype = 'f' AND c.confrelid::regclass::text = ANY (%s) AND c.conrelid::regclass::text = ANY (%s)
        """,
        [list(FACTS), list(FACTS)],
    )
    assert into_facts == []


def test_rule_3_partitioned_facts_are_referenced_by_nothing() -> None:
    referenced = _rows(
        "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'f' "
        "AND confrelid::regclass::text = ANY (%s)",
        [sorted(PARTITIONED)],
    )
    assert referenced == []


def test_rule_4_the_registries_are_narrow() -> None:
    """The pass-id registry stays one narrow row per trip: no wide text beyond its key and the trip's span."""
    assert _columns("tolling_trip") <= {
        "id", "pass_id", "card_no", "card_type", "plate", "plate_color", "vehicle_class", "entry_time", "exit_time",
        "service_date",
    }  # fmt: skip
