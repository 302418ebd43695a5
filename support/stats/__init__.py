"""Query statistics (查询统计): count and sum passages, documents, top-ups, back-charges, paper tickets and taxi rides
along one or two dimensions, for any filter set, and the rows behind every number.

A number and its drill-down come from the same queryset (``subject_rows``) and, where the invoice state is asked
for, from the same state computation (``invoicing.eligibility``'s ``*_states``, not re-implemented here): a cell's
count is the count of the rows its link opens (style rule 27). Without the state, counting is one ``GROUP BY`` in
PostgreSQL; with it, the matching items' states are computed in chunks and counted here.

Every query starts from ``piaogen.access.scoped``: a province-bound user's query is pinned to their province,
whatever the URL says, and the base querysets are bounded again.

Modules: ``subjects`` (what is counted: subjects, measures, invoice states, dimensions), ``query`` (the URL's query and
the filter bar), ``counting`` (rows, groups, labels). The rows behind a cell and the export files are in
support/stats_rows.py, the figures in support/stats_charts.py, the segment rollup in support/stats_rollup.py.
"""

from support.stats.counting import (
    Cell,
    Statistics,
    dimension_label,
    item_states,
    matching_ids,
    row_count,
    statistics,
    subject_rows,
)
from support.stats.query import StatsForm, StatsQuery, query_from, stats_form
from support.stats.subjects import (
    DIMENSIONS,
    MAX_GROUPS,
    STATE_GROUP_LABELS,
    STATE_GROUPS,
    STATE_LABELS,
    STATE_LIMIT,
    SUBJECTS,
    StatsTooBroad,
    state_group,
    state_key,
    state_matches,
)

__all__ = [
    "DIMENSIONS",
    "MAX_GROUPS",
    "STATE_GROUPS",
    "STATE_GROUP_LABELS",
    "STATE_LABELS",
    "STATE_LIMIT",
    "SUBJECTS",
    "Cell",
    "Statistics",
    "StatsForm",
    "StatsQuery",
    "StatsTooBroad",
    "dimension_label",
    "item_states",
    "matching_ids",
    "query_from",
    "row_count",
    "state_group",
    "state_key",
    "state_matches",
    "statistics",
    "stats_form",
    "subject_rows",
]
