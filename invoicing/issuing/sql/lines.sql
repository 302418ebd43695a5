-- Issuing, step 2: the grouping of domain.md §4.7, the one place for it, for every kind of item. Reads issue_rows
-- (step 1, <kind>_rows.sql) and makes issue_lines, one row per printed line:
--
-- * one document per (kind, seller, buyer title version, rate), `grp` in that order (rate: none first) — which
--   fixes the order numbers are taken in, so a run numbers the same way each time;
-- * lines by (plate, vehicle type) within it, with the date range, in the order of their first item (`rank`);
-- * a group of more than %(lines_per_document)s lines (tax.SAFE_LINES_PER_INVOICE) is split into documents of that
--   many lines (`part`);
-- * the tax split per line after aggregation (domain.md §3): net = round_half_up(gross / (1 + r)) in fen, tax =
--   gross − net. PostgreSQL's round(numeric) rounds halves away from zero, which is half up for the non-negative
--   amounts issued here (tests/invoicing/test_issuing_consistency.py compares it with tax.split_gross for every
--   amount up to ¥2,000 at each rate). No rate (不征税, fiscal receipt): net = gross. tax.check_invoice cannot fail
--   for a document of at most SAFE_LINES_PER_INVOICE lines at the rates of tax.TAX_RATES (proved in invoicing.tax).
CREATE TEMP TABLE issue_lines ON COMMIT DROP AS
SELECT l.*, l.rank / %(lines_per_document)s::int AS part, mod(l.rank, %(lines_per_document)s::int) + 1 AS line_no,
    CASE WHEN l.rate IS NULL THEN l.gross ELSE round(l.gross / (1 + l.rate))::bigint END AS net,
    nextval(pg_get_serial_sequence('invoicing_documentline', 'id')) AS line_id
FROM (
    SELECT kind, seller, title_id, rate, plate, vtype, sum(amount)::bigint AS gross,
        min(service_date) AS date_from, max(service_date) AS date_to, min(card_no) AS card_min,
        max(card_no) AS card_max, count(*) AS items,
        dense_rank() OVER (ORDER BY kind, seller, title_id, rate NULLS FIRST) AS grp,
        row_number() OVER (PARTITION BY kind, seller, title_id, rate ORDER BY min(id)) - 1 AS rank
    FROM issue_rows
    GROUP BY kind, seller, title_id, rate, plate, vtype
) l
