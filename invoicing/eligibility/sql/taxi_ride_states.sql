-- The invoicing state of taxi rides (the rules: invoicing/eligibility/__init__.py): eligible on request only,
-- invoiced by the taxi company at its own rate (NULL: not set). One row per ride of %(ids)s (comma-separated) with
-- `blockers` in priority order (empty: eligible; eligibility.Reason's values).
SELECT x.id, x.amount, x.service_date, x.company_id AS seller, o.tax_rate AS rate,
    array_remove(ARRAY[
        CASE WHEN EXISTS (
            SELECT 1 FROM invoicing_documentitem di WHERE di.item_kind = 'taxi' AND di.item_id = x.id AND di.live
        ) THEN 'in_document' END,
        CASE WHEN o.tax_rate IS NULL THEN 'no_rate' END
    ], NULL) AS blockers
FROM tolling_taxiride x
JOIN tolling_operator o ON o.id = x.company_id
WHERE x.id = ANY(string_to_array(%(ids)s::text, ',')::bigint[])
