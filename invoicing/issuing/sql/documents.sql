-- Issuing, step 3: one row per document (grp, part) of issue_lines into issue_docs, with its totals, its period
-- (the lines' date range), its card (the one card all its items share, else blank) and `n`, its place in its number
-- series (kind, the seller's province) in document order. Ids are drawn in document order.
CREATE TEMP TABLE issue_docs ON COMMIT DROP AS
SELECT nextval(pg_get_serial_sequence('invoicing_document', 'id')) AS id, d.*
FROM (
    SELECT l.grp, l.part, min(l.kind) AS kind, min(l.seller) AS seller, min(l.title_id) AS title_id,
        min(l.rate) AS rate, min(o.province) AS province, sum(l.gross)::bigint AS gross, sum(l.net)::bigint AS net,
        min(l.date_from) AS period_start, max(l.date_to) AS period_end,
        CASE WHEN min(l.card_min) = max(l.card_max) THEN min(l.card_min) ELSE '' END AS card_no,
        sum(l.items)::bigint AS items,
        row_number() OVER (PARTITION BY min(l.kind), min(o.province) ORDER BY l.grp, l.part) AS n
    FROM issue_lines l JOIN tolling_operator o ON o.id = l.seller
    GROUP BY l.grp, l.part
    ORDER BY l.grp, l.part
) d
