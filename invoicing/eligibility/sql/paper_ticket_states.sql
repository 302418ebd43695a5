-- The invoicing state of paper tickets (纸改电; the rules: invoicing/eligibility/__init__.py): eligible on request
-- only (the claiming customer brings the buyer), like a segment of their toll unit, the day-7 rule included (a paper
-- ticket is a trip). One row per ticket of %(ids)s (comma-separated) with `blockers` in priority order (empty:
-- eligible; eligibility.Reason's values). %(cutoff)s: the latest service date invoiceable today (trip_cutoff).
SELECT p.id, p.amount, p.service_date, u.road_nature AS nature, u.operator_id AS seller, r.tax_rate AS rate,
    array_remove(ARRAY[
        CASE WHEN EXISTS (
            SELECT 1 FROM invoicing_documentitem di WHERE di.item_kind = 'paper' AND di.item_id = p.id AND di.live
        ) THEN 'in_document' END,
        CASE WHEN p.service_date > %(cutoff)s::date THEN 'not_yet' END,
        CASE WHEN u.road_nature = 1 AND r.tax_rate IS NULL THEN 'no_rate' END  -- commercial road: a rate in force
    ], NULL) AS blockers
FROM tolling_paperticket p
JOIN tolling_tollunit u ON u.id = p.toll_unit_id
LEFT JOIN LATERAL invoicing_rate_at(p.toll_unit_id, p.service_date) r ON true
WHERE p.id = ANY(string_to_array(%(ids)s::text, ',')::bigint[])
