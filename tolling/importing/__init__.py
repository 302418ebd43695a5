"""The ingest engine of provincial batch uploads (product.md §4): stream, validate in SQL, load set-based.

Modules: ``batches`` (claim, process, finish, cancel), ``chunks`` (reading rows into chunks, read-ahead),
``loader`` (staging by COPY, checks in SQL, two connections taking turns), ``validation`` (the per-kind checks as
SQL), ``conflicts`` (keys taken with other values), ``loads`` (the per-kind ``INSERT … SELECT``), ``vectorised`` (with
``INGEST_VECTORISED``: segment rows certainly valid recognised and typed by polars in the worker, the SQL checking
only the others, so every reason stays the SQL's; off by default, docs/benchmarks.md § Ingest). Import from
``tolling.importing``: public names are re-exported.

``batch_process(batch_id=…)`` claims a batch with a conditional UPDATE (queued, or running with a stale heartbeat:
its worker died), opens the file (``tolling.reading``: the whole-file checks refuse it before anything loads),
and then works in chunks of ``INGEST_CHUNK_ROWS`` data rows. Per chunk, in ONE transaction:

1. the rows are streamed with ``COPY`` into a temporary all-text staging table (cells cleaned by the reader:
   trimmed, full-width folded, un-neutralised; plain CSV records go through as their own text);
2. one set-based ``SELECT`` casts every cell (guarded by cheap shape checks, so a bad cell never raises) and
   builds the array of **every** reason a row is rejected, each naming its column
   (``ETC卡号（card_no）：卡号必须是20位数字``); low-cardinality columns that need a checksum (taxpayer ids) are
   checked in Python once per distinct value with ``piaogen.identifiers``; rejected rows (cells + reasons) are
   stored;
3. when the chunk before it has committed, ``conflicts`` rejects the valid rows whose key is taken with other values
   (in the database or earlier in the file: a conflict naming each differing column, never a silent duplicate) or,
   for segments, whose pass id belongs to another card or vehicle or whose key is another province's (one neutral
   reason); then ``INSERT … SELECT … ON CONFLICT DO NOTHING`` loads the valid rows (first occurrence wins; segments of
   new pass ids with a key of their own go in without the arbiter, falling back to it on a unique violation); what
   was not inserted is an identical duplicate; dimension rows are upserted set-based (trips, cards, vehicles for
   segments; operators of the uploader's province for the other kinds);
4. the batch's counters and heartbeat are updated (only if ``rows_done`` is still where this run left it: a worker
   that was taken over stops) and the transaction commits.

Chunks alternate between two connections (``INGEST_WORKERS``): while one inserts chunk k, the other COPYs and
checks chunk k+1, and a thread of Python parses chunk k+2. Commits stay in file order, and only one transaction at
a time inserts into the fact tables, so ``rows_done`` always counts a prefix of the file. A worker killed at any
point loses only its open chunks; the retry skips the first ``rows_done`` data rows (the reading order is
deterministic) and goes on: nothing lost, nothing doubled. ``cancel_requested`` is checked before each chunk loads.

Decisions (documented in docs/benchmarks.md and CONTRIBUTING's upload checklist):

- province scope on writes (docs/security.md): a toll unit that does not exist and one of another province get the
  same reason (no inference across provinces); ``toll_units`` rows must carry the uploader's province, in the row
  and in the code's characters 6–7; sellers are looked up in the uploader's province; top-up, back-charge, ticket
  and ride keys are per province;
- ``topups``: the card number's province (its first two digits) must be the uploader's; the issuer operator is
  looked up or created by taxpayer id in the uploader's province;
- ``taxi_rides``: the company is looked up or created by taxpayer id in the uploader's province; the business
  date is the Beijing date of the end of the ride; ``distance_km`` (at most three decimals) → integer metres;
- ``toll_units``: a row is a duplicate when the unit (name, operator, road nature) and its rate at ``valid_from``
  (default: the Beijing date of processing) are already stored as sent; otherwise it is accepted (created or
  updated). Operators keep the name they were first created with.
"""

from __future__ import annotations

from tolling.importing.batches import (
    batch_claim,
    batch_process,
)
from tolling.importing.chunks import (
    BAD_VALUES,
    CHECKED,
    DEFAULT_CHUNK_ROWS,
    STAGING,
    TIMEZONE,
    Chunk,
)
from tolling.importing.loader import (
    Loader,
    Turns,
)
from tolling.importing.loads import (
    LOADS,
    audit_charges_load,
    paper_tickets_load,
    segments_load,
    taxi_rides_load,
    toll_units_load,
    topups_load,
)
from tolling.importing.validation import (
    DATE_RE,
    TIME_RE,
    Field,
)

__all__ = [
    "BAD_VALUES",
    "CHECKED",
    "DATE_RE",
    "DEFAULT_CHUNK_ROWS",
    "LOADS",
    "STAGING",
    "TIMEZONE",
    "TIME_RE",
    "Chunk",
    "Field",
    "Loader",
    "Turns",
    "audit_charges_load",
    "batch_claim",
    "batch_process",
    "paper_tickets_load",
    "segments_load",
    "taxi_rides_load",
    "toll_units_load",
    "topups_load",
]
