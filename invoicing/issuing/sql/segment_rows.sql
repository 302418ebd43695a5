-- Issuing trips, step 1 of grouping.sql's order: the call's eligible segments as the rows the grouping statements
-- read (temp table issue_rows, one row per item: id, card_no, service_date, amount, plate, vtype, seller, title_id,
-- kind, rate). A segment is grouped by its toll unit's operator (seller), the buyer title in force at its exit time,
-- the document kind of its road and the unit's rate on its service date (none on a loan road: a fiscal receipt),
-- and lined up by plate and the printed 类型 of its vehicle class.
--
-- {states}: the eligible segments, eligibility.eligible_segment_rows_sql (the rows of
-- eligibility/sql/segment_states.sql with no blocker), put here by the loader (invoicing.statements).
-- %(natures)s / %(kinds)s: each road nature's document kind (eligibility.document_kind_for); %(classes)s /
-- %(vehicle_types)s: each vehicle class's printed 类型 (issuing.vehicle_type); %(loan)s: the loan road nature.
-- Both columns have a CHECK constraint on the enum's values, so every row finds its entry.
CREATE TEMP TABLE issue_rows ON COMMIT DROP AS
SELECT e.i AS id, e.card_no, e.service_date, e.fee AS amount, e.plate, v.vtype, e.seller, e.title_id, k.kind,
    CASE WHEN e.nature = %(loan)s THEN NULL ELSE e.rate END AS rate
FROM ({states}) e
JOIN unnest(%(natures)s::int[], %(kinds)s::varchar[]) AS k(nature, kind) ON k.nature = e.nature
JOIN unnest(%(classes)s::int[], %(vehicle_types)s::varchar[]) AS v(class, vtype) ON v.class = e.vehicle_class
