-- Issuing back-charges (稽核补费), step 1: the call's eligible charges as issue_rows (see segment_rows.sql). A
-- back-charge is grouped like a segment of the underpaid toll unit (domain.md §2): its operator, the document kind
-- of its road, the unit's rate on the service date (none on a loan road); the buyer is the title in force at
-- payment for its card or, on a claim, %(title)s (then a charge with no buyer of its own is eligible too). It
-- carries no vehicle class: its line has the plate and no 类型.
--
-- {states}: eligibility/sql/audit_charge_states.sql for the call's charges, put here by the loader.
-- %(natures)s / %(kinds)s, %(loan)s: as in segment_rows.sql.
CREATE TEMP TABLE issue_rows ON COMMIT DROP AS
SELECT st.id, st.card_no, st.service_date, st.amount, a.plate, ''::varchar AS vtype, st.seller,
    coalesce(%(title)s::bigint, st.title_id) AS title_id, k.kind,
    CASE WHEN st.nature = %(loan)s THEN NULL ELSE st.rate END AS rate
FROM ({states}) st
JOIN tolling_auditcharge a ON a.id = st.id
JOIN unnest(%(natures)s::int[], %(kinds)s::varchar[]) AS k(nature, kind) ON k.nature = st.nature
WHERE st.blockers = '{}' OR (%(title)s::bigint IS NOT NULL AND st.blockers = '{no_buyer}')
