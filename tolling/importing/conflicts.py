"""Conflicts: a valid row whose natural key is already taken is never silently dropped (issues #18, #19).

Run in the chunk's turn, just before its load (``loader.Loader.chunk_load``): every chunk before it has committed,
so the fact tables hold everything earlier in the file. For each valid row of the checked chunk:

- **same key, same values** (in the database, or earlier in the chunk): a duplicate, counted as today;
- **same key, other values** (a province re-sending a corrected row): rejected, with a reason naming every
  differing column, ``冲突：应收金额（pay_fee）35.00 ≠ 已有 30.00``; the batch counts it in ``rows_conflict`` (and in
  ``rows_rejected``: it is in the error file);
- **segments only** — the trip registry and segment keys are national (a passage crosses provinces):
  a row naming a pass id already registered with another card, plate or plate colour is rejected with a neutral
  reason, never merged into that trip; a key held by another province's segment is rejected with the same neutral
  reason, never counted as a duplicate, and nothing of the other province's row is shown.

With ``mode=correct`` a changed row replaces its stored row instead, unless a live document holds it
(``_corrections_apply``); apps that aggregate facts are told (``CORRECTED``).

Top-ups, back-charges, paper tickets and taxi rides have natural keys per province (``…_province_uniq``): another
province's equal key is simply another row, so the sender learns nothing.
"""

# SQL is built from constant table and column names and the contract's labels; values are always parameters
# ruff: noqa: S608
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _

from tolling.contract import column
from tolling.importing.chunks import CHECKED, TIMEZONE
from tolling.models import UploadBatch, UploadKind, UploadMode
from tolling.partitions import PARTITIONED


@dataclass(frozen=True)
class Compared:
    """One column compared between the checked row ``k`` and the stored row ``e``: SQL of each value, and how
    both are written in the reason (``text``, ``money`` in fen, ``time``, ``km`` in metres)."""

    name: str
    new: str
    old: str
    shape: str = "text"
    assign: str = ""  # a correction (mode=correct) sets this: "column = value"; empty: not correctable


def _shown(expression: str, shape: str) -> str:
    if shape == "money":
        return f"to_char(({expression}) / 100.0, 'FM999999999999990.00')"
    if shape == "time":
        return f"to_char(({expression}) AT TIME ZONE '{TIMEZONE}', 'YYYY-MM-DD HH24:MI:SS')"
    if shape == "km":
        return f"to_char(({expression}) / 1000.0, 'FM999999990.000')"
    return f"coalesce(({expression})::text, '')"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# the row codes of the error file and the rows API beside each reason (validation.row_codes lists them)
CONFLICT_CODE = "codes = ARRAY['row.conflict']::text[]"
TAKEN_CODE = "codes = ARRAY['row.key_taken']::text[]"
INVOICED_CODE = "codes = ARRAY['row.invoiced']::text[]"

_TOLL_UNIT_CODE = "(SELECT code FROM tolling_tollunit WHERE id = {})"
_UNIT_ASSIGN = "toll_unit_id = k.toll_unit_id"


@dataclass(frozen=True)
class KeySpec:
    table: str
    key: tuple[tuple[str, str], ...]  # (stored column, checked value)
    compared: tuple[Compared, ...]
    national: bool = False  # the key is unique across provinces (segments)
    derived: tuple[str, ...] = ()  # further assignments of a correction (the business date)
    item_kind: str = ""  # what invoicing calls these items (HOLDERS)

    @property
    def correctable(self) -> bool:
        return bool(self.item_kind)

    @property
    def match(self) -> str:
        """The checked row ``k`` and the stored row ``e`` share the natural key."""
        return " AND ".join(f"e.{stored} = {value}" for stored, value in self.key)


SPECS: dict[str, KeySpec] = {
    UploadKind.SEGMENTS: KeySpec(
        "tolling_segment",
        (("pass_id", "k.v_pass_id"), ("segment_no", "k.v_segment_no")),
        (
            Compared("card_no", "k.v_card_no", "e.card_no"),  # who and which vehicle: never corrected
            Compared("card_type", "k.v_card_type", "e.card_type", assign="card_type = k.v_card_type"),
            Compared("plate", "k.v_plate", "e.plate"),
            Compared("plate_color", "k.v_plate_color", "e.plate_color"),
            Compared(
                "vehicle_class", "k.v_vehicle_class", "e.vehicle_class", assign="vehicle_class = k.v_vehicle_class"
            ),
            Compared(
                "toll_unit",
                "k.v_toll_unit",
                _TOLL_UNIT_CODE.format("e.toll_unit_id"),
                assign=_UNIT_ASSIGN,
            ),
            Compared("entry_time", "k.v_entry_time", "e.entry_time", "time", "entry_time = k.v_entry_time"),
            Compared("exit_time", "k.v_exit_time", "e.exit_time", "time", "exit_time = k.v_exit_time"),
            Compared(
                "entry_station", "k.v_entry_station", "e.entry_station", assign="entry_station = k.v_entry_station"
            ),
            Compared(
                "exit_station",
                "coalesce(k.v_exit_station, '')",
                "e.exit_station",
                assign="exit_station = coalesce(k.v_exit_station, '')",
            ),
            Compared("pay_fee", "k.v_pay_fee", "e.pay_fee", "money", "pay_fee = k.v_pay_fee"),
            Compared("discount_fee", "k.v_discount_fee", "e.discount_fee", "money", "discount_fee = k.v_discount_fee"),
            Compared("fee", "k.v_fee", "e.fee", "money", "fee = k.v_fee"),
        ),
        national=True,
        derived=(f"service_date = (k.v_exit_time AT TIME ZONE '{TIMEZONE}')::date",),
        item_kind="segment",
    ),
    UploadKind.TOPUPS: KeySpec(
        "tolling_topup",
        (("topup_id", "k.v_topup_id"),),
        (
            Compared("card_no", "k.v_card_no", "e.card_no"),
            Compared("amount", "k.v_amount", "e.amount", "money"),
            Compared("topped_up_at", "k.v_topped_up_at", "e.topped_up_at", "time"),
            Compared(
                "issuer_tax_id", "k.v_issuer_tax_id", "(SELECT tax_id FROM tolling_operator WHERE id = e.issuer_id)"
            ),
            Compared("channel", "coalesce(k.v_channel, '')", "e.channel"),
        ),
    ),
    UploadKind.AUDIT_CHARGES: KeySpec(
        "tolling_auditcharge",
        (("charge_id", "k.v_charge_id"),),
        (
            Compared("pass_id", "coalesce(k.v_pass_id, '')", "e.pass_id"),
            Compared("card_no", "coalesce(k.v_card_no, '')", "e.card_no"),
            Compared("plate", "k.v_plate", "e.plate"),
            Compared("plate_color", "k.v_plate_color", "e.plate_color"),
            Compared("toll_unit", "k.v_toll_unit", _TOLL_UNIT_CODE.format("e.toll_unit_id"), assign=_UNIT_ASSIGN),
            Compared("reason", "k.v_reason", "e.reason", assign="reason = k.v_reason"),
            Compared("amount", "k.v_amount", "e.amount", "money", "amount = k.v_amount"),
            Compared("paid_at", "k.v_paid_at", "e.paid_at", "time", "paid_at = k.v_paid_at"),
        ),
        derived=(f"service_date = (k.v_paid_at AT TIME ZONE '{TIMEZONE}')::date",),
        item_kind="audit",
    ),
    UploadKind.PAPER_TICKETS: KeySpec(
        "tolling_paperticket",
        (("ticket_no", "k.v_ticket_no"),),
        (
            Compared("toll_unit", "k.v_toll_unit", _TOLL_UNIT_CODE.format("e.toll_unit_id"), assign=_UNIT_ASSIGN),
            Compared("plate", "k.v_plate", "e.plate"),  # what the customer claims it with: never corrected
            Compared("plate_color", "k.v_plate_color", "e.plate_color"),
            Compared(
                "vehicle_class", "k.v_vehicle_class", "e.vehicle_class", assign="vehicle_class = k.v_vehicle_class"
            ),
            Compared("exit_time", "k.v_exit_time", "e.exit_time", "time", "exit_time = k.v_exit_time"),
            Compared("amount", "k.v_amount", "e.amount", "money", "amount = k.v_amount"),
            Compared("pay_method", "k.v_pay_method", "e.pay_method", assign="pay_method = k.v_pay_method"),
        ),
        derived=(f"service_date = (k.v_exit_time AT TIME ZONE '{TIMEZONE}')::date",),
        item_kind="paper",
    ),
    UploadKind.TAXI_RIDES: KeySpec(
        "tolling_taxiride",
        (("ride_id", "k.v_ride_id"),),
        (
            Compared(
                "company_tax_id", "k.v_company_tax_id", "(SELECT tax_id FROM tolling_operator WHERE id = e.company_id)"
            ),
            Compared("taxi_plate", "k.v_taxi_plate", "e.taxi_plate"),
            Compared("start_time", "k.v_start_time", "e.start_time", "time"),
            Compared("end_time", "k.v_end_time", "e.end_time", "time"),
            Compared("distance_km", "k.v_distance_km", "e.distance_m", "km"),
            Compared("amount", "k.v_amount", "e.amount", "money"),
        ),
    ),
}


CORRECTED: list[Callable[[Any, int, list[int]], None]] = []
"""Called as ``hook(cursor, batch_id, line_numbers)`` in the chunk's transaction after a correction replaced stored
rows (their before/after are in ``tolling_correction``): apps that keep aggregates of facts (the statistics
rollup, ``support.stats_rollup``) register here and adjust them. Tolling imports no app."""

HOLDERS: dict[str, str] = {}
"""Item kind → SQL giving the number of the live document holding item ``{id}`` (or no row). Registered by the
invoicing app (``invoicing.apps``): tolling does not import invoicing, and knows no document table."""


_VALID = "cardinality(k.reasons) = 0"  # a checked row ``k`` no rule or conflict has rejected yet


def taken_reason() -> str:
    """The one reason for a key this province may not use: says nothing of who holds it or with what values."""
    return _("通行标识：该通行已登记为其他卡或车辆，或其拆分序号已被占用；请核对通行标识、拆分序号、卡号和车牌")


def _old(c: Compared, alias: str) -> str:
    """The stored value (``e``), or the same column of an earlier checked row (another alias)."""
    return c.old if alias == "e" else c.new.replace("k.", f"{alias}.")


def _conflict_sql(kind: str, spec: KeySpec, alias: str) -> str:
    """The reason (SQL text) for a row ``k`` whose key is held by ``alias`` with other values."""
    existing = _("已有")
    parts = [
        f"CASE WHEN ({c.new}) IS DISTINCT FROM ({_old(c, alias)})"
        f" THEN {_literal(column(kind, c.name).label + ' ')} || {_shown(c.new, c.shape)}"
        f" || {_literal(' ≠ ' + existing + ' ')} || {_shown(_old(c, alias), c.shape)} END"
        for c in spec.compared
    ]
    prefix = _("冲突（该主键已有不同的数据，未覆盖）：")
    return f"{_literal(prefix)} || concat_ws('；', {', '.join(parts)})"


def _differs(spec: KeySpec, alias: str) -> str:
    return " OR ".join(f"({c.new}) IS DISTINCT FROM ({_old(c, alias)})" for c in spec.compared)


def keys_lock(cursor: Any, table: str, province: str) -> None:
    """Keys per province on a partitioned table (top-ups): no unique index spans the dates, so the chunks of one
    province's uploads take their key check and load one at a time (until the chunk commits); a key two uploads
    send at once on two dates is then compared with what the first stored (ADR 0010 decision 3). The chunks of one
    upload already take turns, so only uploads of one province overlapping in time wait."""
    cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"ingest-keys:{table}:{province}"])


def conflicts_reject(cursor: Any, batch: UploadBatch) -> Outcome:
    """Mark the valid rows of the checked chunk that conflict (see the module docstring) as rejected, or apply them
    as corrections (``mode=correct``), and return both sets of line numbers (the caller stores the rejected ones in
    the error file); the load that follows skips both.

    Each probe runs only on the rows that can meet what it looks for, found first by a cheap set-based pass:
    for segments, the rows whose pass id is registered (a stored segment always registered its pass id in the same
    statement, ``loads.segments_load``, so a row of a new pass id cannot meet a stored row); in the chunk, the pass
    ids named with more than one card or vehicle and the keys sent more than once. A fresh chunk so costs two hash
    aggregates and one registry lookup per pass id (``trip_pass_id_uniq``) instead of probes of the fact table and
    the registry per row, and sorts of the whole chunk."""
    spec = SPECS.get(batch.kind)
    if spec is None:  # toll units are master data: a changed row updates the unit (loads.toll_units_load)
        return Outcome([], [], probed=False)
    if not spec.national and spec.table in PARTITIONED:
        keys_lock(cursor, spec.table, batch.province)
    valid, key_match = _VALID, spec.match
    params: dict[str, Any] = {"province": batch.province, "taken": taken_reason()}
    rejected: set[int] = set()

    def mark(sql: str) -> None:
        cursor.execute(sql, params)
        rejected.update(row[0] for row in cursor.fetchall())

    def values(sql: str) -> list[Any]:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]

    corrected: list[int] = []
    if batch.mode == UploadMode.CORRECT and spec.correctable:
        held, corrected = _corrections_apply(cursor, batch, spec, params)
        rejected.update(held)
    scope = ""
    if spec.national:
        # once per pass id of the chunk: is it registered (only its rows can meet a stored segment), and is it named
        # with more than one card or vehicle (the LIMIT keeps the probe an index lookup, never a hash of the registry)
        cursor.execute(
            f"SELECT v_pass_id, registered, mixed FROM (SELECT k.v_pass_id,"
            f" (SELECT true FROM tolling_trip t WHERE t.pass_id = k.v_pass_id LIMIT 1) AS registered,"
            ' min(k.v_card_no COLLATE "C") <> max(k.v_card_no COLLATE "C")'
            ' OR min(k.v_plate COLLATE "C") <> max(k.v_plate COLLATE "C")'
            f" OR min(k.v_plate_color) <> max(k.v_plate_color) AS mixed"
            f" FROM {CHECKED} k WHERE {valid} GROUP BY k.v_pass_id) g WHERE registered OR mixed"
        )
        passes = cursor.fetchall()
        params["registered"] = [pass_id for pass_id, registered, _mixed in passes if registered]
        params["mixed"] = [pass_id for pass_id, _registered, mixed in passes if mixed]
        scope = " AND k.v_pass_id = ANY(%(registered)s)"
        if params["registered"]:
            # the registered trips locked before any key is compared, in pass id order (two uploads never wait on
            # each other in a circle): an upload sending segments of the same passages meanwhile waits here until
            # this chunk commits, and then compares its keys with what this one stored — a key sent again on
            # another date is a conflict, which no unique index catches across partitions (ADR 0010 decision 3)
            cursor.execute(
                'SELECT 1 FROM tolling_trip WHERE pass_id = ANY(%(registered)s) ORDER BY pass_id COLLATE "C"'
                " FOR NO KEY UPDATE",
                params,
            )
    if not spec.national or params["registered"]:
        # against the stored row of this province: the differing columns, both values
        mark(
            f"UPDATE {CHECKED} k SET reasons = ARRAY[{_conflict_sql(batch.kind, spec, 'e')}]::text[], {CONFLICT_CODE}"
            f" FROM {spec.table} e WHERE {valid}{scope} AND {key_match} AND e.province = %(province)s"
            f" AND ({_differs(spec, 'e')}) RETURNING k.line_no"
        )
    if spec.national and params["registered"]:
        # a pass id registered with another card or vehicle, or a key held by another province: one neutral reason
        mark(
            f"UPDATE {CHECKED} k SET reasons = ARRAY[%(taken)s]::text[], {TAKEN_CODE} WHERE {valid}{scope} AND ("
            f" EXISTS (SELECT 1 FROM tolling_trip t WHERE t.pass_id = k.v_pass_id AND (t.card_no, t.plate,"
            f" t.plate_color) IS DISTINCT FROM (k.v_card_no, k.v_plate, k.v_plate_color))"  # trip_pass_id_uniq
            f" OR EXISTS (SELECT 1 FROM {spec.table} e WHERE {key_match} AND e.province <> %(province)s))"
            f" RETURNING k.line_no"
        )
    if spec.national and params["mixed"]:
        # a new pass id named with several cards or vehicles in the chunk: the first row's wins
        mark(
            f"UPDATE {CHECKED} k SET reasons = ARRAY[%(taken)s]::text[], {TAKEN_CODE}"
            f" FROM (SELECT DISTINCT ON (v_pass_id) line_no, v_pass_id, v_card_no, v_plate, v_plate_color"
            f" FROM {CHECKED} WHERE cardinality(reasons) = 0 AND v_pass_id = ANY(%(mixed)s)"
            f" ORDER BY v_pass_id, line_no) f"
            f" WHERE {valid} AND f.v_pass_id = k.v_pass_id AND f.line_no < k.line_no AND (f.v_card_no, f.v_plate,"
            f" f.v_plate_color) IS DISTINCT FROM (k.v_card_no, k.v_plate, k.v_plate_color) RETURNING k.line_no"
        )
    # against the first valid row of the same key earlier in the chunk (keys sent more than once only)
    keys = ", ".join(value.removeprefix("k.") for _stored, value in spec.key)
    first = " AND ".join(f"f.{value.removeprefix('k.')} = {value}" for _stored, value in spec.key)
    twice = " AND ".join(f"d.{value.removeprefix('k.')} = {value}" for _stored, value in spec.key)
    params["twice"] = values(
        f"SELECT k.line_no FROM {CHECKED} k JOIN (SELECT {keys} FROM {CHECKED} WHERE cardinality(reasons) = 0"
        f" GROUP BY {keys} HAVING count(*) > 1) d ON {twice} WHERE {valid}"
    )
    if params["twice"]:
        mark(
            f"UPDATE {CHECKED} k SET reasons = ARRAY[{_conflict_sql(batch.kind, spec, 'f')}]::text[], {CONFLICT_CODE}"
            f" FROM (SELECT DISTINCT ON ({keys}) * FROM {CHECKED} WHERE cardinality(reasons) = 0"
            f" AND line_no = ANY(%(twice)s) ORDER BY {keys}, line_no) f"
            f" WHERE {valid} AND k.line_no = ANY(%(twice)s) AND {first} AND f.line_no < k.line_no"
            f" AND ({_differs(spec, 'f')}) RETURNING k.line_no"
        )
        # the copies left after the first valid row of their key: equal to it in every column (a copy that differs
        # was rejected just above), duplicates that the load skips
        params["copies"] = values(
            f"SELECT line_no FROM (SELECT line_no, row_number() OVER (PARTITION BY {keys} ORDER BY line_no) AS n"
            f" FROM {CHECKED} WHERE cardinality(reasons) = 0 AND line_no = ANY(%(twice)s)) c WHERE n > 1"
        )
    return Outcome(
        sorted(rejected),
        corrected,
        probed=spec.national,
        registered=params.get("registered", []),
        copies=params.get("copies", []),
    )


@dataclass(frozen=True)
class Outcome:
    rejected: list[int]  # line numbers: conflicts, stored in the error file by the caller
    corrected: list[int]  # line numbers whose stored row this batch replaced (mode=correct)
    # segments (``probed``): the pass ids of the chunk already registered, and the lines repeating a key sent earlier
    # in the chunk with the same values. Every other valid row has a new pass id and a key of its own in what is
    # loaded, so it cannot meet a stored row (``loads.segments_load`` inserts those without an ON CONFLICT arbiter,
    # and falls back if one does)
    probed: bool = False
    registered: list[str] = field(default_factory=list)
    copies: list[int] = field(default_factory=list)


def _corrections_apply(
    cursor: Any, batch: UploadBatch, spec: KeySpec, params: dict[str, Any]
) -> tuple[list[int], list[int]]:
    """mode=correct: a row differing from the stored row of this province only in correctable columns replaces
    it — unless a live document holds the item: then it is refused with that document's number (reverse it
    first: 红冲). Every replacement is kept with its before/after (``tolling_correction``), and the corrected
    rows leave the chunk (they are neither loaded nor counted as duplicates). Returns the line numbers refused
    (held by a document) and those corrected."""
    valid, key_match = _VALID, spec.match
    fixed = [c for c in spec.compared if not c.assign]
    same_identity = " AND ".join(f"({c.new}) IS NOT DISTINCT FROM ({c.old})" for c in fixed) or "true"
    candidates = (
        f"{valid} AND {key_match} AND e.province = %(province)s AND ({_differs(spec, 'e')}) AND {same_identity}"
    )
    holder = HOLDERS.get(spec.item_kind)
    if holder is not None:
        refusal = _("已开具在票据%(number)s中，不能更正；请先红冲该票据，再上传更正") % {"number": "%s"}
        cursor.execute(
            f"UPDATE {CHECKED} k SET reasons = ARRAY[format(%(held)s, h.number)]::text[], {INVOICED_CODE}"
            f" FROM {spec.table} e, LATERAL ({holder.format(id='e.id')}) h(number)"
            f" WHERE {candidates} RETURNING k.line_no",
            {**params, "held": refusal},
        )
        held = [row[0] for row in cursor.fetchall()]
    else:
        held = []
    assignments = ", ".join([c.assign for c in spec.compared if c.assign] + list(spec.derived))
    cursor.execute(
        f"""
        WITH old AS (
            SELECT k.line_no, e.id, to_jsonb(e) AS before FROM {CHECKED} k JOIN {spec.table} e ON {key_match}
            WHERE {candidates} FOR UPDATE OF e
        ), upd AS (
            UPDATE {spec.table} e SET {assignments} FROM old JOIN {CHECKED} k USING (line_no)
            WHERE e.id = old.id RETURNING e.id, old.line_no, old.before, to_jsonb(e) AS after
        )
        INSERT INTO tolling_correction (batch_id, item_kind, item_id, line_no, before, after, corrected_at)
        SELECT %(batch)s, %(kind)s, id, line_no, before, after, now() FROM upd RETURNING line_no
        """,
        {**params, "batch": batch.pk, "kind": spec.item_kind},
    )
    corrected = sorted(row[0] for row in cursor.fetchall())
    if corrected:
        cursor.execute(f"DELETE FROM {CHECKED} WHERE line_no = ANY(%s)", [corrected])
        for hook in CORRECTED:
            hook(cursor, batch.pk, corrected)
        if spec.national:  # the trip's span follows its segments
            cursor.execute(
                "UPDATE tolling_trip t SET entry_time = s.entry, exit_time = s.exit FROM (SELECT pass_id,"
                " min(entry_time) AS entry, max(exit_time) AS exit FROM tolling_segment WHERE pass_id IN"
                " (SELECT pass_id FROM tolling_segment WHERE id IN (SELECT item_id FROM tolling_correction"
                " WHERE batch_id = %s AND line_no = ANY(%s))) GROUP BY pass_id) s WHERE t.pass_id = s.pass_id",
                [batch.pk, corrected],
            )
    return held, corrected
