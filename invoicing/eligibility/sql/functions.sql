-- Eligibility's two shared lookups, as SQL functions so that every statement using them is whole and can be run
-- as it stands (psql: SELECT * FROM invoicing_fifo_matches(ARRAY['32010000000000000001'])). Installed by migration
-- invoicing 0010; a change here needs a migration that runs this file again (tests/invoicing/test_eligibility_sql.py
-- fails until the database holds what this file says). Both are STABLE LANGUAGE sql: the planner inlines them
-- into the calling statement where their arguments are plain columns, so they cost what a join would.

-- The buyer of a transaction on card `card` at `at` (domain.md §4.4, §4.11): the customer whose binding covered
-- `at` (from `covers_from` — binding reaches back — or else `bound_at`, until `unbound_at`) and that customer's
-- title then: the latest version in force at `at`, card-specific before the default; for a transaction before the
-- customer's first title (one a binding brought in), that first title (later versions still apply forward only).
-- A title typed for one reissued document only (`one_document`, ADR 0008) is never in force. No row: no binding;
-- title_id NULL: a binding but no title. Per call two index probes (card_binding_card_idx, then the customer's few
-- titles): cost in proportion to the rows asked about, not to the account tables (docs/benchmarks.md § Issuing).
CREATE OR REPLACE FUNCTION invoicing_buyer_at(card varchar, at timestamptz)
RETURNS TABLE (customer_id bigint, title_id bigint)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT b.customer_id, t.id
    FROM (
        SELECT cb.customer_id FROM invoicing_cardbinding cb
        WHERE cb.card_no = card AND coalesce(cb.covers_from, cb.bound_at) <= at
          AND (cb.unbound_at IS NULL OR cb.unbound_at > at)
        ORDER BY cb.bound_at DESC LIMIT 1
    ) b
    LEFT JOIN LATERAL (
        SELECT t.id FROM invoicing_buyertitle t
        WHERE t.customer_id = b.customer_id AND t.card_no IN (card, '') AND NOT t.one_document
        ORDER BY t.valid_from <= at DESC,
                 CASE WHEN t.valid_from <= at THEN t.card_no = '' END,
                 CASE WHEN t.valid_from <= at THEN t.valid_from END DESC,
                 t.valid_from, t.card_no = ''
        LIMIT 1
    ) t ON true
$$;

-- The tax rate of toll unit `toll_unit` in force on `day` (domain.md §2): its latest TollUnitRate valid from that day
-- or earlier. No row: none in force (a commercial road's item then waits for master data, Reason no_rate).
CREATE OR REPLACE FUNCTION invoicing_rate_at(toll_unit bigint, day date)
RETURNS TABLE (tax_rate numeric)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT r.tax_rate FROM tolling_tollunitrate r
    WHERE r.toll_unit_id = toll_unit AND r.valid_from <= day
    ORDER BY r.valid_from DESC LIMIT 1
$$;

-- FIFO (domain.md §4.3, assumed): how the top-ups of prepaid cards `cards` paid their segments. Each card's money
-- is a line of fen: first the opening balance (the least that keeps the balance ≥ 0 at every event, top-ups
-- counted before segments at the same instant), then its top-ups in (topped_up_at, id) order. Segments with a fee
-- spend it in (exit_time, pass_id, segment_no) order. A segment overlaps the top-ups its fen interval [lo, hi)
-- meets; `fen` is the overlap. Indexes: topup_card_time_idx, segment_card_date_idx. Each table is read once, into
-- `events` (the cards' rows are in every partition, so each read is planned and probed over all of them).
CREATE OR REPLACE FUNCTION invoicing_fifo_matches(cards varchar[])
RETURNS TABLE (segment_id bigint, topup_id bigint, fen bigint)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH events AS MATERIALIZED (  -- ord 0: a top-up (delta: −amount), 1: a segment (delta: its fee)
        SELECT t.card_no, t.topped_up_at AS at, 0 AS ord, -t.amount AS delta, t.id,
            NULL::varchar AS pass_id, NULL::smallint AS segment_no
        FROM tolling_topup t WHERE t.card_no = ANY(cards)
        UNION ALL
        SELECT s.card_no, s.exit_time, 1, s.fee, s.id, s.pass_id, s.segment_no
        FROM tolling_segment s WHERE s.card_no = ANY(cards) AND s.card_type = 22 AND s.fee > 0
    ),
    deficits AS (
        SELECT card_no, sum(delta) OVER (PARTITION BY card_no ORDER BY at, ord ROWS UNBOUNDED PRECEDING) AS deficit
        FROM events
    ),
    opening AS (SELECT card_no, greatest(0, max(deficit)) AS opening FROM deficits GROUP BY card_no),
    topup_spans AS (
        SELECT e.card_no, e.id, o.opening + sum(-e.delta) OVER w + e.delta AS lo, o.opening + sum(-e.delta) OVER w AS hi
        FROM events e JOIN opening o ON o.card_no = e.card_no
        WHERE e.ord = 0
        WINDOW w AS (PARTITION BY e.card_no ORDER BY e.at, e.id ROWS UNBOUNDED PRECEDING)
    ),
    segment_spans AS (
        SELECT e.card_no, e.id, sum(e.delta) OVER w - e.delta AS lo, sum(e.delta) OVER w AS hi
        FROM events e
        WHERE e.ord = 1
        WINDOW w AS (PARTITION BY e.card_no ORDER BY e.at, e.pass_id, e.segment_no ROWS UNBOUNDED PRECEDING)
    )
    SELECT s.id, t.id, (least(s.hi, t.hi) - greatest(s.lo, t.lo))::bigint
    FROM segment_spans s JOIN topup_spans t ON t.card_no = s.card_no AND s.lo < t.hi AND t.lo < s.hi
$$;

-- Segments of prepaid cards `cards` (NULL: every card) any fen of which was paid from a top-up held by a live
-- document: ineligible for ever (domain.md §4.3). Only a card with such a top-up can have one; those cards are
-- found through the partial unique index on live document items (document_item_one_live_per_item): from the given
-- cards' own rows when there are cards, which does not read every live item of the country.
CREATE OR REPLACE FUNCTION invoicing_fifo_paid_by_invoiced_topups(cards varchar[])
RETURNS SETOF bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT DISTINCT m.segment_id
    FROM invoicing_fifo_matches(ARRAY(
        -- the cards given: their top-ups by topup_card_time_idx, each probed for a live item
        SELECT t.card_no FROM tolling_topup t
        WHERE cards IS NOT NULL AND t.card_no = ANY(cards)
          AND EXISTS (
            SELECT 1 FROM invoicing_documentitem di WHERE di.item_kind = 'topup' AND di.item_id = t.id AND di.live
          )
        UNION
        -- every card: from the live top-up items
        SELECT t.card_no FROM invoicing_documentitem di
        JOIN tolling_topup t ON t.id = di.item_id AND t.service_date = di.service_date  -- one partition (ADR 0010)
        WHERE cards IS NULL AND di.item_kind = 'topup' AND di.live
    )) m
    WHERE EXISTS (
        SELECT 1 FROM invoicing_documentitem di WHERE di.item_kind = 'topup' AND di.item_id = m.topup_id AND di.live
    )
$$;

-- Top-ups of cards `cards` (NULL: every card) any fen of which paid a segment held by a live document: the customer
-- chose "by consumption" for that money, so the top-up can no longer be invoiced (domain.md §4.3).
CREATE OR REPLACE FUNCTION invoicing_fifo_topups_spent_on_invoiced_segments(cards varchar[])
RETURNS SETOF bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT DISTINCT m.topup_id
    FROM invoicing_fifo_matches(ARRAY(
        -- the cards given: their prepaid segments by segment_card_date_idx, each probed for a live item
        SELECT s.card_no FROM tolling_segment s
        WHERE cards IS NOT NULL AND s.card_no = ANY(cards) AND s.card_type = 22
          AND EXISTS (
            SELECT 1 FROM invoicing_documentitem di WHERE di.item_kind = 'segment' AND di.item_id = s.id AND di.live
          )
        UNION
        -- every card: from the live segment items (a card filter here read every item: 5.7 s for 50 cards at 10 M)
        SELECT s.card_no FROM invoicing_documentitem di
        JOIN tolling_segment s ON s.id = di.item_id AND s.service_date = di.service_date  -- one partition (ADR 0010)
        WHERE cards IS NULL AND di.item_kind = 'segment' AND di.live AND s.card_type = 22
    )) m
    WHERE EXISTS (
        SELECT 1 FROM invoicing_documentitem di WHERE di.item_kind = 'segment' AND di.item_id = m.segment_id AND di.live
    )
$$;

-- The prepaid choice of card `card` in force at `at` (domain.md §4.12): its latest CardPrepaidChoice version valid
-- from then or earlier; NULL (none) means "per trip". Index: card_prepaid_choice_version_uniq (card_no, valid_from).
CREATE OR REPLACE FUNCTION invoicing_prepaid_choice_at(card varchar, at timestamptz)
RETURNS varchar
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT c.choice FROM invoicing_cardprepaidchoice c
    WHERE c.card_no = card AND c.valid_from <= at
    ORDER BY c.valid_from DESC LIMIT 1
$$;

-- Segments of prepaid cards `cards` any fen of which was paid from a top-up not yet invoiced whose card had chosen
-- "at top-up" (card_prepaid_choice in force at the top-up's time, domain.md §4.12): that money is the top-up's
-- invoice, which the daily run issues, so no trip document may take it first (Reason topup_chosen). Without this
-- the trip and the top-up race: whichever run reaches its item first wins, and the customer's choice loses when the
-- trip's province runs before the card issuer's (seen in bench/national_day.py). Only cards with an "at top-up"
-- version are matched.
CREATE OR REPLACE FUNCTION invoicing_fifo_paid_by_chosen_topups(cards varchar[])
RETURNS SETOF bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH open_topups AS MATERIALIZED (  -- chosen "at top-up" (the version in force then), not invoiced yet
        SELECT t.id, t.card_no FROM tolling_topup t
        WHERE t.card_no = ANY(cards)
          AND invoicing_prepaid_choice_at(t.card_no, t.topped_up_at) = 'topup'
          AND NOT EXISTS (
            SELECT 1 FROM invoicing_documentitem di WHERE di.item_kind = 'topup' AND di.item_id = t.id AND di.live
          )
    ),
    m AS MATERIALIZED (SELECT * FROM invoicing_fifo_matches(ARRAY(SELECT DISTINCT card_no FROM open_topups)))
    SELECT DISTINCT m.segment_id FROM m JOIN open_topups o ON o.id = m.topup_id
    -- a top-up already partly invoiced as trips can never be invoiced itself: its other trips stay invoiceable.
    -- (invoicing_fifo_topups_spent_on_invoiced_segments says the same, but would match the cards a second time.)
    WHERE NOT EXISTS (
        SELECT 1 FROM m spent
        JOIN invoicing_documentitem di ON di.item_kind = 'segment' AND di.item_id = spent.segment_id AND di.live
        WHERE spent.topup_id = m.topup_id
    )
$$;
