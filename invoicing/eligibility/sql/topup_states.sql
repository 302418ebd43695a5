-- The invoicing state of top-ups (the rules: invoicing/eligibility/__init__.py): invoiceable at once as a
-- non-taxable invoice from the card issuer, unless a live document holds it, trips it paid are invoiced (FIFO), or
-- no title was in force at the top-up. One row per chosen top-up with `blockers` in priority order (empty:
-- eligible; eligibility.Reason's values), `mode` (eligibility.TopUpMode) and `prepaid_choice`, the card holder's
-- choice in force at the top-up (PrepaidChoice; NULL: none made, i.e. per trip; card_prepaid_choice_version_uniq).
--
-- Chosen by %(ids)s (comma-separated top-up ids) and/or %(card_no)s, within service dates [%(date_from)s,
-- %(date_to)s] and %(province)s; each NULL: any (the NULL tests fold away when the statement is planned).
WITH chosen AS NOT MATERIALIZED (
    SELECT t.* FROM tolling_topup t
    WHERE (%(ids)s::text IS NULL OR t.id = ANY(string_to_array(%(ids)s::text, ',')::bigint[]))
      AND (%(card_no)s::varchar IS NULL OR t.card_no = %(card_no)s::varchar)
      AND (%(date_from)s::date IS NULL OR t.service_date >= %(date_from)s::date)
      AND (%(date_to)s::date IS NULL OR t.service_date <= %(date_to)s::date)
      AND (%(province)s::varchar IS NULL OR t.province = %(province)s::varchar)
),
judged AS (
    SELECT t.id, t.card_no, t.topped_up_at, t.amount, t.issuer_id, t.service_date, b.customer_id, b.title_id,
        EXISTS (
            SELECT 1 FROM invoicing_documentitem di WHERE di.item_kind = 'topup' AND di.item_id = t.id AND di.live
        ) AS held,
        t.id IN (  -- FIFO, over the chosen cards
            SELECT invoicing_fifo_topups_spent_on_invoiced_segments(ARRAY(SELECT DISTINCT c.card_no FROM chosen c))
        ) AS spent,
        invoicing_prepaid_choice_at(t.card_no, t.topped_up_at) AS prepaid_choice
    FROM chosen t
    LEFT JOIN LATERAL invoicing_buyer_at(t.card_no, t.topped_up_at) b ON true
)
SELECT id, card_no, topped_up_at, amount, issuer_id, service_date, customer_id, title_id, prepaid_choice,
    CASE WHEN held THEN 'topup' WHEN spent THEN 'trips' ELSE 'open' END AS mode,
    array_remove(ARRAY[
        CASE WHEN held THEN 'in_document' END,
        CASE WHEN spent THEN 'trips_invoiced' END,
        CASE WHEN title_id IS NULL THEN 'no_buyer' END
    ], NULL) AS blockers
FROM judged
