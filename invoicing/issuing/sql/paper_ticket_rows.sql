-- Issuing paper tickets (纸改电), step 1: the call's eligible tickets as issue_rows (see segment_rows.sql). A paper
-- ticket is grouped like a segment of its toll unit (domain.md §2), the buyer being the claiming customer's
-- %(title)s; it has no card.
--
-- {states}: eligibility/sql/paper_ticket_states.sql for the call's tickets, put here by the loader.
-- %(natures)s / %(kinds)s, %(classes)s / %(vehicle_types)s, %(loan)s: as in segment_rows.sql. A ticket's vehicle
-- class has no CHECK constraint: one outside the enum gets no 类型, and the line's insert refuses it (NOT NULL).
CREATE TEMP TABLE issue_rows ON COMMIT DROP AS
SELECT st.id, ''::varchar AS card_no, st.service_date, st.amount, p.plate, v.vtype, st.seller,
    %(title)s::bigint AS title_id, k.kind, CASE WHEN st.nature = %(loan)s THEN NULL ELSE st.rate END AS rate
FROM ({states}) st
JOIN tolling_paperticket p ON p.id = st.id
JOIN unnest(%(natures)s::int[], %(kinds)s::varchar[]) AS k(nature, kind) ON k.nature = st.nature
LEFT JOIN unnest(%(classes)s::int[], %(vehicle_types)s::varchar[]) AS v(class, vtype) ON v.class = p.vehicle_class
WHERE st.blockers = '{}'
