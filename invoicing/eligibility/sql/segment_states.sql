-- The invoicing state of segments (the rules: invoicing/eligibility/__init__.py). One row per chosen segment: what
-- issuing needs, and `blockers`, every reason it cannot be invoiced now in priority order (empty: eligible; the
-- values are eligibility.Reason's). segment_states reads it for given segments, set-based issuing issues the rows
-- with no blockers, and the daily and monthly runs pick their work with it over a service-date range.
--
-- Chosen by %(ids)s (comma-separated segment ids) and/or %(card_no)s, within service dates [%(date_from)s,
-- %(date_to)s] and %(province)s; each NULL: any. %(cutoff)s: the latest service date invoiceable today (day 7,
-- eligibility.trip_cutoff). %(all_rows)s true: every chosen row with every blocker (what support shows); false
-- (issuing, a run picking its work): only the rows not held, with a fee and due, i.e. the ones that may be eligible. The NULL tests fold away when the statement is planned (values are bound client-side),
-- so the planner sees only the conditions given: ids probe the primary key, a date range the BRIN
-- segment_date_brin, a card segment_card_date_idx.
WITH chosen AS NOT MATERIALIZED (
    SELECT s.* FROM tolling_segment s
    WHERE (%(ids)s::text IS NULL OR s.id = ANY(string_to_array(%(ids)s::text, ',')::bigint[]))
      AND (%(card_no)s::varchar IS NULL OR s.card_no = %(card_no)s::varchar)
      AND (%(date_from)s::date IS NULL OR s.service_date >= %(date_from)s::date)
      AND (%(date_to)s::date IS NULL OR s.service_date <= %(date_to)s::date)
      AND (%(province)s::varchar IS NULL OR s.province = %(province)s::varchar)
),
-- the chosen prepaid cards, found once for both FIFO reasons (each read of `chosen` probes its partitions again)
prepaid AS MATERIALIZED (SELECT ARRAY(SELECT DISTINCT c.card_no FROM chosen c WHERE c.card_type = 22) AS cards)
SELECT s.id, s.card_no, s.card_type, s.exit_time, s.service_date, s.fee, s.plate, s.vehicle_class,
    u.road_nature AS nature, u.operator_id AS seller, r.tax_rate AS rate, b.customer_id, b.title_id,
    array_remove(ARRAY[
        CASE WHEN held.item_id IS NOT NULL THEN 'in_document' END,
        CASE WHEN s.fee = 0 THEN 'zero_fee' END,
        CASE WHEN s.id IN (  -- FIFO, over the chosen prepaid cards
            SELECT invoicing_fifo_paid_by_invoiced_topups((SELECT p.cards FROM prepaid p))
        ) THEN 'topup_invoiced' END,
        CASE WHEN s.id IN (  -- FIFO: paid from a top-up the card chose to invoice at top-up, not invoiced yet
            SELECT invoicing_fifo_paid_by_chosen_topups((SELECT p.cards FROM prepaid p))
        ) THEN 'topup_chosen' END,
        CASE WHEN s.service_date > %(cutoff)s::date THEN 'not_yet' END,
        CASE WHEN u.road_nature = 1 AND r.tax_rate IS NULL THEN 'no_rate' END,  -- commercial road: a rate in force
        CASE WHEN b.title_id IS NULL THEN 'no_buyer' END
    ], NULL) AS blockers
FROM chosen s
JOIN tolling_tollunit u ON u.id = s.toll_unit_id
-- at most one live item per segment (document_item_one_live_per_item)
LEFT JOIN invoicing_documentitem held ON held.item_kind = 'segment' AND held.item_id = s.id AND held.live
LEFT JOIN LATERAL invoicing_rate_at(s.toll_unit_id, s.service_date) r ON true
LEFT JOIN LATERAL invoicing_buyer_at(s.card_no, s.exit_time) b ON true
-- without %(all_rows)s, the rows a cheap blocker stops are left out before the dearer lookups (rate, buyer, FIFO)
WHERE %(all_rows)s::boolean OR (s.fee > 0 AND s.service_date <= %(cutoff)s::date AND held.item_id IS NULL)
