"""The per-kind loads: INSERT … SELECT … ON CONFLICT DO NOTHING from the checked staging rows; each returns the
rows accepted."""

# SQL is built from constant table and column names; values are always parameters
# ruff: noqa: S608
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from tolling.importing.chunks import (
    CHECKED,
    TIMEZONE,
)
from tolling.importing.conflicts import Outcome
from tolling.models import (
    UploadBatch,
    UploadKind,
)

# --- per-kind loads: INSERT … SELECT … ON CONFLICT DO NOTHING; each returns the rows accepted ----------------------


def _valid(operator_kind: str = "", tax_id: str = "") -> str:
    """FROM the checked rows without a reason, optionally joined to their operator (``o``) **of the uploader's
    province** (parameter ``%(province)s``): a province never names another province's seller (issue #18)."""
    join = (
        f" JOIN tolling_operator o ON o.kind = '{operator_kind}' AND o.tax_id = k.{tax_id}"
        " AND o.province = %(province)s"  # operator_kind_tax_id_province_uniq
        if operator_kind
        else ""
    )
    return f"FROM {CHECKED} k{join} WHERE cardinality(k.reasons) = 0"


def _beijing_date(expression: str) -> str:
    return f"({expression} AT TIME ZONE '{TIMEZONE}')::date"


class RegisteredMeanwhile(Exception):
    """A pass id new at the key check was registered by a concurrent upload before this chunk's insert."""


def segments_load(cursor: Any, batch: UploadBatch, outcome: Outcome) -> int:
    """Segments (first occurrence of a natural key wins), then trips (widened), vehicles and cards they name.

    A row reaches here only if its pass id is new or registered with the same card and vehicle, and its key is
    not another province's (``conflicts``): widening a trip is a passage going on into the next province.

    The rows of new pass ids (nearly all of a fresh upload) cannot meet a stored segment (every stored segment
    registered its pass id, in this very statement): they are inserted first without the ``ON CONFLICT`` arbiters,
    segments and their (new) trips alike (plain index inserts instead of speculative ones: ≈ 15 % less backend CPU
    for the segment insert), in a savepoint — a key sent more than once in the chunk only by its first row, the
    copies after it being duplicates (``Outcome.copies``; a copy with other values was rejected as a conflict).
    Should one meet a stored key anyway, the savepoint rolls back and ``RegisteredMeanwhile`` asks the caller to
    check the chunk's keys again: a concurrent upload of the same passage committed first (its trip's unique pass id
    is what stopped us), and the key check must now see its segments — a key of it sent again on another date is a
    conflict, which no unique index catches across partitions (ADR 0010 decision 3). Without a probe
    (``outcome.probed`` false: the caller's last try) the whole chunk goes the arbitrated way. The rows of
    registered pass ids then go the arbitrated way (the key check locked their trips: ``conflicts``)."""
    if not outcome.probed:
        return _segments_insert(cursor, batch, rows="", arbiter=True, params={})
    fresh = " AND NOT (k.v_pass_id = ANY(%(registered)s) OR k.line_no = ANY(%(copies)s))"
    params = {"registered": outcome.registered, "copies": outcome.copies}
    try:
        with transaction.atomic():
            accepted = _segments_insert(cursor, batch, rows=fresh, arbiter=False, params=params)
    except IntegrityError:
        raise RegisteredMeanwhile from None
    if outcome.registered:
        rest = " AND k.v_pass_id = ANY(%(registered)s)"
        accepted += _segments_insert(cursor, batch, rows=rest, arbiter=True, params=params)
    return accepted


def _segments_insert(cursor: Any, batch: UploadBatch, *, rows: str, arbiter: bool, params: dict[str, Any]) -> int:
    """Insert the valid checked rows matching ``rows`` (SQL after the validity condition) and register what they
    name; ``arbiter``: skip a key already stored (``ON CONFLICT DO NOTHING``) and widen a registered trip, instead
    of raising."""
    on_conflict = "ON CONFLICT (pass_id, segment_no, service_date) DO NOTHING" if arbiter else ""
    widen = (
        "ON CONFLICT (pass_id) DO UPDATE SET entry_time = least(trip.entry_time, excluded.entry_time),"
        " exit_time = greatest(trip.exit_time, excluded.exit_time)"
        " WHERE excluded.entry_time < trip.entry_time OR excluded.exit_time > trip.exit_time"
        if arbiter
        else ""  # new pass ids: their trips are new too (a trip registered meanwhile raises, and we fall back)
    )
    cursor.execute(
        f"""
        WITH ins AS (
            INSERT INTO tolling_segment (pass_id, segment_no, service_date, card_no, card_type, plate, plate_color,
                vehicle_class, toll_unit_id, province, entry_time, exit_time, entry_station, exit_station, pay_fee,
                discount_fee, fee, batch_id)
            SELECT k.v_pass_id, k.v_segment_no, {_beijing_date("k.v_exit_time")}, k.v_card_no, k.v_card_type,
                k.v_plate, k.v_plate_color, k.v_vehicle_class, k.toll_unit_id, k.toll_unit_province, k.v_entry_time,
                k.v_exit_time, k.v_entry_station, coalesce(k.v_exit_station, ''), k.v_pay_fee, k.v_discount_fee,
                k.v_fee, %(batch)s
            {_valid()}{rows} ORDER BY k.line_no
            {on_conflict}
            RETURNING pass_id, card_no, card_type, plate, plate_color, vehicle_class, entry_time, exit_time,
                service_date
        ), trips AS (  -- COLLATE "C": min() and sorts by memcmp, not the cluster's strcoll
            INSERT INTO tolling_trip AS trip (pass_id, card_no, card_type, plate, plate_color, vehicle_class,
                entry_time, exit_time, service_date)
            SELECT pass_id, min(card_no COLLATE "C"), min(card_type), min(plate COLLATE "C"), min(plate_color),
                min(vehicle_class), min(entry_time), max(exit_time), min(service_date)
            FROM ins GROUP BY pass_id
            {widen}
        ), new_vehicles AS (
            INSERT INTO tolling_vehicle (plate, plate_color, vehicle_class)
            SELECT plate, plate_color, min(vehicle_class) FROM ins GROUP BY plate, plate_color
            ON CONFLICT (plate, plate_color) DO NOTHING
            RETURNING id, plate, plate_color
        ), new_vehicle_ids AS MATERIALIZED (
            -- one lookup object, built once: joined as a CTE, new_vehicles was scanned whole for every new card (the
            -- planner guesses a dozen rows for a CTE and loops): quadratic in a chunk of new cards and vehicles
            SELECT coalesce(jsonb_object_agg(plate || '/' || plate_color, id), '{{}}') AS ids FROM new_vehicles
        ), new_cards AS (
            SELECT DISTINCT ON (i.card_no COLLATE "C") i.card_no, i.card_type, i.plate, i.plate_color FROM ins i
            WHERE NOT EXISTS (SELECT 1 FROM tolling_card c WHERE c.card_no = i.card_no)
            ORDER BY i.card_no COLLATE "C"
        ), cards AS (
            INSERT INTO tolling_card (card_no, card_type, province, vehicle_id, holder_name, holder_id_type,
                holder_id_no, holder_phone, created_at)
            SELECT n.card_no, n.card_type, left(n.card_no, 2),
                coalesce((nv.ids ->> (n.plate || '/' || n.plate_color))::bigint, v.id), '', '', '', '', now()
            FROM new_cards n CROSS JOIN new_vehicle_ids nv
            LEFT JOIN tolling_vehicle v ON v.plate = n.plate AND v.plate_color = n.plate_color
            ON CONFLICT (card_no) DO NOTHING
        )
        SELECT count(*) FROM ins
        """,
        {**params, "batch": batch.pk},
    )
    return int(cursor.fetchone()[0])


def _operators_upsert(cursor: Any, batch: UploadBatch, kind: str, tax_id: str, name: str) -> None:
    """Create the operators the valid rows name (by kind and taxpayer id), in the uploader's province."""
    cursor.execute(
        f"INSERT INTO tolling_operator (kind, tax_id, name, province, created_at)"
        f" SELECT DISTINCT ON (k.{tax_id}) %(kind)s, k.{tax_id}, k.{name}, %(province)s, now()"
        f" {_valid()} ORDER BY k.{tax_id}, k.line_no ON CONFLICT (kind, tax_id, province) DO NOTHING",
        {"kind": kind, "province": batch.province},
    )


def _count(cursor: Any) -> int:
    return int(cursor.fetchone()[0])


def topups_load(cursor: Any, batch: UploadBatch, _outcome: Outcome) -> int:
    """Top-ups, with their issuer operator looked up or created."""
    _operators_upsert(cursor, batch, "issuer", "v_issuer_tax_id", "v_issuer_name")
    cursor.execute(
        f"""
        WITH ins AS (
            INSERT INTO tolling_topup (topup_id, service_date, card_no, amount, topped_up_at, issuer_id, province,
                channel, batch_id)
            SELECT k.v_topup_id, {_beijing_date("k.v_topped_up_at")}, k.v_card_no, k.v_amount, k.v_topped_up_at,
                o.id, %(province)s, coalesce(k.v_channel, ''), %(batch)s
            {_valid("issuer", "v_issuer_tax_id")}
            ORDER BY k.line_no
            ON CONFLICT (topup_id, province, service_date) DO NOTHING RETURNING 1
        ) SELECT count(*) FROM ins
        """,
        {"province": batch.province, "batch": batch.pk},
    )
    return _count(cursor)


def audit_charges_load(cursor: Any, batch: UploadBatch, _outcome: Outcome) -> int:
    cursor.execute(
        f"""
        WITH ins AS (
            INSERT INTO tolling_auditcharge (charge_id, service_date, pass_id, card_no, plate, plate_color,
                toll_unit_id, province, reason, amount, paid_at, batch_id)
            SELECT k.v_charge_id, {_beijing_date("k.v_paid_at")}, coalesce(k.v_pass_id, ''), coalesce(k.v_card_no, ''),
                k.v_plate, k.v_plate_color, k.toll_unit_id, k.toll_unit_province, k.v_reason, k.v_amount, k.v_paid_at,
                %(batch)s
            {_valid()} ORDER BY k.line_no
            ON CONFLICT (charge_id, province) DO NOTHING RETURNING 1
        ) SELECT count(*) FROM ins
        """,
        {"batch": batch.pk},
    )
    return _count(cursor)


def paper_tickets_load(cursor: Any, batch: UploadBatch, _outcome: Outcome) -> int:
    cursor.execute(
        f"""
        WITH ins AS (
            INSERT INTO tolling_paperticket (ticket_no, service_date, toll_unit_id, province, plate, plate_color,
                vehicle_class, exit_time, amount, pay_method, batch_id)
            SELECT k.v_ticket_no, {_beijing_date("k.v_exit_time")}, k.toll_unit_id, k.toll_unit_province, k.v_plate,
                k.v_plate_color, k.v_vehicle_class, k.v_exit_time, k.v_amount, k.v_pay_method, %(batch)s
            {_valid()} ORDER BY k.line_no
            ON CONFLICT (ticket_no, province) DO NOTHING RETURNING 1
        ) SELECT count(*) FROM ins
        """,
        {"batch": batch.pk},
    )
    return _count(cursor)


def taxi_rides_load(cursor: Any, batch: UploadBatch, _outcome: Outcome) -> int:
    """Taxi rides, with their company operator looked up or created."""
    _operators_upsert(cursor, batch, "taxi", "v_company_tax_id", "v_company_name")
    cursor.execute(
        f"""
        WITH ins AS (
            INSERT INTO tolling_taxiride (ride_id, service_date, company_id, province, taxi_plate, start_time,
                end_time, distance_m, amount, batch_id)
            SELECT k.v_ride_id, {_beijing_date("k.v_end_time")}, o.id, %(province)s, k.v_taxi_plate, k.v_start_time,
                k.v_end_time, k.v_distance_km, k.v_amount, %(batch)s
            {_valid("taxi", "v_company_tax_id")}
            ORDER BY k.line_no
            ON CONFLICT (ride_id, province) DO NOTHING RETURNING 1
        ) SELECT count(*) FROM ins
        """,
        {"province": batch.province, "batch": batch.pk},
    )
    return _count(cursor)


def toll_units_load(cursor: Any, batch: UploadBatch, _outcome: Outcome) -> int:
    """Toll units (created or updated) and their rates; a row that changes nothing is a duplicate."""
    _operators_upsert(cursor, batch, "road", "v_operator_tax_id", "v_operator_name")
    today = timezone.localdate()
    cursor.execute(
        f"""
        CREATE TEMP TABLE ingest_units ON COMMIT DROP AS
        SELECT DISTINCT ON (k.v_toll_unit) k.v_toll_unit AS code, k.v_name AS name, k.v_road_nature AS road_nature,
            k.v_tax_rate AS tax_rate, coalesce(k.v_valid_from, %(today)s) AS valid_from, o.id AS operator_id
        {_valid("road", "v_operator_tax_id")}
        ORDER BY k.v_toll_unit, k.line_no
        """,
        {"today": today, "province": batch.province},
    )
    cursor.execute(
        """
        INSERT INTO tolling_tollunit AS tu (code, name, province, operator_id, road_nature, created_at)
        SELECT code, name, %(province)s, operator_id, road_nature, now() FROM ingest_units
        ON CONFLICT (code) DO UPDATE SET name = excluded.name, operator_id = excluded.operator_id,
            road_nature = excluded.road_nature
        WHERE tu.province = excluded.province
            AND (tu.name, tu.operator_id, tu.road_nature) IS DISTINCT FROM
                (excluded.name, excluded.operator_id, excluded.road_nature)
        RETURNING code
        """,
        {"province": batch.province},
    )
    changed = {row[0] for row in cursor.fetchall()}
    cursor.execute(
        """
        INSERT INTO tolling_tollunitrate AS r (toll_unit_id, tax_rate, valid_from)
        SELECT tu.id, u.tax_rate, u.valid_from FROM ingest_units u JOIN tolling_tollunit tu ON tu.code = u.code
        WHERE u.tax_rate IS NOT NULL
        ON CONFLICT (toll_unit_id, valid_from) DO UPDATE SET tax_rate = excluded.tax_rate
        WHERE r.tax_rate <> excluded.tax_rate
        RETURNING (SELECT code FROM tolling_tollunit WHERE id = r.toll_unit_id)
        """
    )
    changed |= {row[0] for row in cursor.fetchall()}
    return len(changed)


LOADS: dict[str, Callable[[Any, UploadBatch, Outcome], int]] = {
    UploadKind.TOLL_UNITS: toll_units_load,
    UploadKind.SEGMENTS: segments_load,
    UploadKind.TOPUPS: topups_load,
    UploadKind.AUDIT_CHARGES: audit_charges_load,
    UploadKind.PAPER_TICKETS: paper_tickets_load,
    UploadKind.TAXI_RIDES: taxi_rides_load,
}
"""The set-based load of each upload kind: (cursor, batch, what the conflict step found) → rows accepted; run
after the checks."""
