-- Issuing taxi rides, step 1: the call's eligible rides as issue_rows (see segment_rows.sql). A ride is invoiced
-- by its taxi company at the company's rate (domain.md §2), as a 数电 invoice (%(kind)s), to the claiming
-- customer's %(title)s; lines by taxi plate, no 类型, no card.
--
-- {states}: eligibility/sql/taxi_ride_states.sql for the call's rides, put here by the loader.
CREATE TEMP TABLE issue_rows ON COMMIT DROP AS
SELECT st.id, ''::varchar AS card_no, st.service_date, st.amount, x.taxi_plate AS plate, ''::varchar AS vtype,
    st.seller, %(title)s::bigint AS title_id, %(kind)s::varchar AS kind, st.rate
FROM ({states}) st
JOIN tolling_taxiride x ON x.id = st.id
WHERE st.blockers = '{}'
