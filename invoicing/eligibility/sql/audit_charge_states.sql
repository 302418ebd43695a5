-- The invoicing state of back-charges (稽核补费; the rules: invoicing/eligibility/__init__.py): their own items,
-- invoiced at once by the underpaid toll unit's operator at its rate on the service date (commercial roads) or as a
-- fiscal receipt (loan roads); the buyer is found through the card when there is one (none: the buyer comes with
-- a claim). One row per chosen charge with `blockers` in priority order (empty: eligible; eligibility.Reason's).
--
-- Chosen by %(ids)s (comma-separated charge ids), within service dates up to %(date_to)s and %(province)s; each
-- NULL: any (the NULL tests fold away when the statement is planned).
WITH chosen AS NOT MATERIALIZED (
    SELECT a.* FROM tolling_auditcharge a
    WHERE (%(ids)s::text IS NULL OR a.id = ANY(string_to_array(%(ids)s::text, ',')::bigint[]))
      AND (%(date_to)s::date IS NULL OR a.service_date <= %(date_to)s::date)
      AND (%(province)s::varchar IS NULL OR a.province = %(province)s::varchar)
)
SELECT a.id, a.card_no, a.paid_at, a.amount, a.service_date, u.road_nature AS nature, u.operator_id AS seller,
    r.tax_rate AS rate, b.customer_id, b.title_id,
    array_remove(ARRAY[
        CASE WHEN EXISTS (
            SELECT 1 FROM invoicing_documentitem di
            WHERE di.item_kind = 'audit' AND di.item_id = a.id AND di.live
        ) THEN 'in_document' END,
        CASE WHEN u.road_nature = 1 AND r.tax_rate IS NULL THEN 'no_rate' END,  -- commercial road: a rate in force
        CASE WHEN b.title_id IS NULL THEN 'no_buyer' END
    ], NULL) AS blockers
FROM chosen a
JOIN tolling_tollunit u ON u.id = a.toll_unit_id
LEFT JOIN LATERAL invoicing_rate_at(a.toll_unit_id, a.service_date) r ON true
LEFT JOIN LATERAL invoicing_buyer_at(nullif(a.card_no, ''), a.paid_at) b ON true
